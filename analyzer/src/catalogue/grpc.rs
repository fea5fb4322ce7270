//! gRPC declarations in the catalogue: a FileDescriptorSet (`*.pb`, `*.desc`, `*.binpb`), a
//! `.proto` source or a server reflection dump (`*.reflection.json`) becomes one API per service ([`SpecVersion::Grpc`]) whose operations are its
//! rpcs (`POST /package.Service/Method`), through the OpenAPI form
//! [`GrpcSchema::openapi`] gives; the declarations themselves are kept in
//! [`Catalogue::grpc`] to name message fields when gRPC bodies are walked.

use super::{Catalogue, CatalogueError, SpecVersion};
use crate::grpc::schema::{self, GrpcSchema};

/// What a gRPC catalogue file holds, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcFileKind {
    /// A binary FileDescriptorSet.
    DescriptorSet,
    /// A `.proto` source.
    Proto,
    /// A server reflection dump in protobuf's JSON mapping (`*.reflection.json`,
    /// `grpc::reflection`).
    ReflectionDump,
}

impl GrpcFileKind {
    /// The kind a file name says (`None`: not a gRPC catalogue file).
    pub fn of(name: &str) -> Option<GrpcFileKind> {
        if crate::grpc::reflection::is_reflection_dump(name) {
            return Some(GrpcFileKind::ReflectionDump);
        }
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "pb" | "desc" | "binpb" | "protoset" => Some(GrpcFileKind::DescriptorSet),
            "proto" => Some(GrpcFileKind::Proto),
            _ => None,
        }
    }
}

impl Catalogue {
    /// Add the services of a gRPC catalogue file (`bytes` as read). Errors name the file and,
    /// for a `.proto`, the line.
    pub fn add_grpc_file(
        &mut self,
        source: &str,
        kind: GrpcFileKind,
        bytes: &[u8],
    ) -> Result<(), CatalogueError> {
        let fail = |message: String| CatalogueError::new(source, "", message);
        let parsed = match kind {
            GrpcFileKind::DescriptorSet => schema::from_descriptor_set(bytes).map_err(fail)?,
            GrpcFileKind::Proto | GrpcFileKind::ReflectionDump => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|e| fail(format!("not UTF-8 text at byte {}", e.valid_up_to())))?;
                if kind == GrpcFileKind::Proto {
                    crate::grpc::proto_source::parse(text).map_err(fail)?
                } else {
                    crate::grpc::reflection::from_dump(text).map_err(fail)?
                }
            }
        };
        self.add_grpc(source, &parsed)
    }

    /// Add declared gRPC services (see the module docs).
    pub fn add_grpc(&mut self, source: &str, parsed: &GrpcSchema) -> Result<(), CatalogueError> {
        self.grpc.merge(parsed);
        for service in parsed.services.keys() {
            let doc = self.grpc.openapi(service);
            self.add_document(source, &doc.to_string())?;
            if let Some(api) = self.apis.last_mut() {
                api.spec_version = SpecVersion::Grpc;
                api.version = "proto".to_string();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANK: &str = include_str!("../../../fixtures/http2/bank.proto");

    #[test]
    fn a_proto_declares_one_api_per_service_and_its_rpcs() {
        let mut cat = Catalogue::default();
        cat.add_grpc_file("bank.proto", GrpcFileKind::Proto, BANK.as_bytes())
            .expect("loads");
        assert_eq!(cat.apis.len(), 1);
        assert_eq!(cat.apis[0].title, "demo.bank.Accounts");
        assert_eq!(cat.apis[0].spec_version, SpecVersion::Grpc);
        let op = cat
            .find_operation(
                "any.host:50051",
                "POST",
                "/demo.bank.Accounts/ListTransactions",
            )
            .expect("declared");
        assert_eq!(
            op.operation_id.as_deref(),
            Some("demo.bank.Accounts.ListTransactions")
        );
        assert_eq!(op.request_content_types, ["application/grpc"]);
        assert!(cat.problems.is_empty(), "{:?}", cat.problems);
        assert!(cat
            .find_operation("h", "POST", "/demo.bank.Accounts/Nope")
            .is_none());
        assert_eq!(
            cat.grpc
                .method("/demo.bank.Accounts/UploadPayments")
                .map(|m| m.streaming()),
            Some(crate::grpc::StreamingKind::ClientStreaming)
        );
    }

    /// The dump grpcio-reflection gave for grpc_demo.py's server declares exactly what
    /// bank.proto does: the same services, rpcs, streaming and messages.
    #[test]
    fn a_reflection_dump_declares_exactly_the_proto_methods() {
        const DUMP: &str =
            include_str!("../../../fixtures/http2/catalog_reflection/bank.reflection.json");
        let mut from_dump = Catalogue::default();
        from_dump
            .add_grpc_file(
                "bank.reflection.json",
                GrpcFileKind::ReflectionDump,
                DUMP.as_bytes(),
            )
            .expect("loads");
        let mut from_proto = Catalogue::default();
        from_proto
            .add_grpc_file("bank.proto", GrpcFileKind::Proto, BANK.as_bytes())
            .expect("loads");
        let ops = |c: &Catalogue| {
            c.operations
                .iter()
                .map(|o| format!("{} {}", o.method, o.path))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ops(&from_dump),
            [
                "POST /demo.bank.Accounts/Exchange",
                "POST /demo.bank.Accounts/GetAccount",
                "POST /demo.bank.Accounts/ListTransactions",
                "POST /demo.bank.Accounts/UploadPayments",
            ]
        );
        assert_eq!(ops(&from_dump), ops(&from_proto));
        assert_eq!(from_dump.grpc.services, from_proto.grpc.services);
        assert_eq!(from_dump.grpc.messages, from_proto.grpc.messages);
        assert_eq!(
            GrpcFileKind::of("catalog/bank.reflection.json"),
            Some(GrpcFileKind::ReflectionDump)
        );
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let mut cat = Catalogue::default();
        let e = cat
            .add_grpc_file("x.pb", GrpcFileKind::DescriptorSet, b"\xff\xff\xff")
            .expect_err("not a descriptor set");
        assert_eq!(e.source_name, "x.pb");
        let e = cat
            .add_grpc_file("y.proto", GrpcFileKind::Proto, b"message {")
            .expect_err("broken proto");
        assert!(e.message.starts_with("line 1:"), "{e}");
        assert_eq!(GrpcFileKind::of("a/b.PROTO"), Some(GrpcFileKind::Proto));
        assert_eq!(
            GrpcFileKind::of("set.binpb"),
            Some(GrpcFileKind::DescriptorSet)
        );
        assert_eq!(GrpcFileKind::of("api.yaml"), None);
    }
}
