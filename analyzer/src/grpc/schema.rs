//! Declared gRPC services and messages, from a FileDescriptorSet (binary, `protoc
//! --descriptor_set_out`, decoded with `prost-types`) or from `.proto` sources (`proto_source`:
//! a small bounded reader of package, message, enum and service declarations). No `protoc` at
//! runtime.
//!
//! A [`GrpcSchema`] names message fields for the protobuf walk ([`Schema`]) and becomes
//! catalogue operations through [`GrpcSchema::openapi`]: one OpenAPI 3.0 document per service
//! (`POST /package.Service/Method`, `application/grpc`, the messages as object schemas whose
//! properties are the declared field names), so shadow, orphaned and field-drift findings come
//! from the same diff REST endpoints go through.

use super::protobuf::{Schema, SchemaField};
use crate::observation::FieldType;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Caps on one schema (per catalogue): past them declarations are dropped and counted.
pub const MAX_MESSAGES: usize = 20_000;
pub const MAX_FIELDS_PER_MESSAGE: usize = 4_096;
pub const MAX_SERVICES: usize = 4_096;
pub const MAX_METHODS_PER_SERVICE: usize = 4_096;

/// One declared rpc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodDecl {
    /// Fully qualified message types, no leading dot.
    pub input: String,
    pub output: String,
    pub client_streaming: bool,
    pub server_streaming: bool,
}

impl MethodDecl {
    pub fn streaming(&self) -> super::StreamingKind {
        super::StreamingKind::from_flags(self.client_streaming, self.server_streaming)
    }
}

/// One declared message field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDecl {
    pub name: String,
    pub ty: FieldType,
    /// The message type of a message-typed field (fully qualified, no leading dot).
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcSchema {
    /// `package.Service` -> method name -> declaration.
    pub services: BTreeMap<String, BTreeMap<String, MethodDecl>>,
    /// Message type -> field number -> declaration.
    pub messages: BTreeMap<String, BTreeMap<u32, FieldDecl>>,
    /// Declarations dropped at a cap.
    pub dropped: u64,
}

impl Schema for GrpcSchema {
    fn field(&self, message: &str, number: u32) -> Option<SchemaField<'_>> {
        let f = self.messages.get(message)?.get(&number)?;
        Some(SchemaField {
            name: &f.name,
            ty: f.ty,
            message: f.message.as_deref(),
        })
    }
}

impl GrpcSchema {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.messages.is_empty()
    }

    /// The rpc a request path `/package.Service/Method` calls, if declared.
    pub fn method(&self, path: &str) -> Option<&MethodDecl> {
        let (service, method) = super::service_method(path)?;
        self.services.get(service)?.get(method)
    }

    pub fn add_service(&mut self, name: String, methods: BTreeMap<String, MethodDecl>) {
        let caps = (MAX_SERVICES, MAX_METHODS_PER_SERVICE);
        self.dropped += add_capped(&mut self.services, name, methods, caps);
    }

    pub fn add_message(&mut self, name: String, fields: BTreeMap<u32, FieldDecl>) {
        let caps = (MAX_MESSAGES, MAX_FIELDS_PER_MESSAGE);
        self.dropped += add_capped(&mut self.messages, name, fields, caps);
    }

    /// Fold another schema in (later files add to earlier ones).
    pub fn merge(&mut self, other: &GrpcSchema) {
        for (name, methods) in &other.services {
            self.add_service(name.clone(), methods.clone());
        }
        for (name, fields) in &other.messages {
            self.add_message(name.clone(), fields.clone());
        }
        self.dropped = self.dropped.saturating_add(other.dropped);
    }

    /// The messages `service`'s methods reach (inputs, outputs and their message fields).
    fn reachable(&self, service: &str) -> BTreeSet<&str> {
        let mut todo: Vec<&str> = self
            .services
            .get(service)
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|m| [m.input.as_str(), m.output.as_str()])
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if seen.len() >= MAX_MESSAGES || !seen.insert(name) {
                continue;
            }
            if let Some(fields) = self.messages.get(name) {
                todo.extend(fields.values().filter_map(|f| f.message.as_deref()));
            }
        }
        seen
    }

    /// `service` as an OpenAPI 3.0 document (see the module docs). A field is declared under
    /// its name with its element type (the protobuf walk reports each element of a repeated
    /// field as the field); a message type not declared anywhere is free-form.
    pub fn openapi(&self, service: &str) -> Value {
        let schema_ref = |name: &str| {
            if self.messages.contains_key(name) {
                json!({ "$ref": format!("#/components/schemas/{}", pointer_escape(name)) })
            } else {
                json!({ "type": "object" })
            }
        };
        let mut paths = Map::new();
        for (method, decl) in self.services.get(service).into_iter().flatten() {
            let body = |ty: &str| json!({ "application/grpc": { "schema": schema_ref(ty) } });
            paths.insert(
                format!("/{service}/{method}"),
                json!({ "post": {
                    "operationId": format!("{service}.{method}"),
                    "x-grpc-streaming": decl.streaming().as_str(),
                    "requestBody": { "content": body(&decl.input) },
                    "responses": { "200": { "description": "gRPC", "content": body(&decl.output) } },
                }}),
            );
        }
        let mut schemas = Map::new();
        for name in self.reachable(service) {
            let Some(fields) = self.messages.get(name) else {
                continue;
            };
            let mut props = Map::new();
            for f in fields.values() {
                let prop = match &f.message {
                    Some(m) => schema_ref(m),
                    None => json!({ "type": f.ty.as_str() }),
                };
                props.insert(f.name.clone(), prop);
            }
            schemas.insert(
                name.to_string(),
                json!({ "type": "object", "properties": props }),
            );
        }
        json!({
            "openapi": "3.0.3",
            "info": { "title": service, "version": "grpc" },
            "paths": paths,
            "components": { "schemas": schemas },
        })
    }
}

/// Add `items` under `name` with at most `caps.0` names and `caps.1` items per name; returns
/// how many were dropped.
fn add_capped<K: Ord, V>(
    map: &mut BTreeMap<String, BTreeMap<K, V>>,
    name: String,
    items: BTreeMap<K, V>,
    caps: (usize, usize),
) -> u64 {
    if map.len() >= caps.0 && !map.contains_key(&name) {
        return 1;
    }
    let mine = map.entry(name).or_default();
    let mut dropped = 0;
    for (k, v) in items {
        if mine.len() >= caps.1 && !mine.contains_key(&k) {
            dropped += 1;
            continue;
        }
        mine.insert(k, v);
    }
    dropped
}

/// A JSON pointer token (RFC 6901): `~` and `/` escaped.
fn pointer_escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The observed type of a protobuf scalar type name (`.proto` spelling), `None` for a message
/// or enum name.
pub fn scalar_type(name: &str) -> Option<FieldType> {
    Some(match name {
        "double" | "float" => FieldType::Number,
        "int32" | "int64" | "uint32" | "uint64" | "sint32" | "sint64" | "fixed32" | "fixed64"
        | "sfixed32" | "sfixed64" => FieldType::Integer,
        "bool" => FieldType::Boolean,
        "string" | "bytes" => FieldType::String,
        _ => return None,
    })
}

/// Decode a FileDescriptorSet. Errors name what failed to decode.
pub fn from_descriptor_set(bytes: &[u8]) -> Result<GrpcSchema, String> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(bytes)
        .map_err(|e| format!("not a FileDescriptorSet: {e}"))?;
    Ok(from_files(&set.file))
}

/// The declarations of decoded file descriptors (a FileDescriptorSet's, or those a server
/// reflection dump carries: `grpc::reflection`).
pub fn from_files(files: &[prost_types::FileDescriptorProto]) -> GrpcSchema {
    use prost_types::field_descriptor_proto::Type;
    let mut out = GrpcSchema::default();
    fn messages(
        out: &mut GrpcSchema,
        scope: &str,
        list: &[prost_types::DescriptorProto],
        depth: usize,
    ) {
        if depth > 32 {
            out.dropped += 1;
            return;
        }
        for m in list {
            let name = qualify(scope, m.name());
            let mut fields = BTreeMap::new();
            for f in &m.field {
                let Ok(number) = u32::try_from(f.number()) else {
                    continue;
                };
                let (ty, message) = match f.r#type() {
                    Type::Double | Type::Float => (FieldType::Number, None),
                    Type::Bool => (FieldType::Boolean, None),
                    Type::String | Type::Bytes => (FieldType::String, None),
                    Type::Message | Type::Group => (
                        FieldType::Object,
                        Some(f.type_name().trim_start_matches('.').to_string()),
                    ),
                    _ => (FieldType::Integer, None),
                };
                fields.insert(
                    number,
                    FieldDecl {
                        name: f.name().to_string(),
                        ty,
                        message,
                    },
                );
            }
            out.add_message(name.clone(), fields);
            messages(out, &name, &m.nested_type, depth + 1);
        }
    }
    for file in files {
        let package = file.package();
        messages(&mut out, package, &file.message_type, 0);
        for s in &file.service {
            let methods = s
                .method
                .iter()
                .map(|m| {
                    (
                        m.name().to_string(),
                        MethodDecl {
                            input: m.input_type().trim_start_matches('.').to_string(),
                            output: m.output_type().trim_start_matches('.').to_string(),
                            client_streaming: m.client_streaming(),
                            server_streaming: m.server_streaming(),
                        },
                    )
                })
                .collect();
            out.add_service(qualify(package, s.name()), methods);
        }
    }
    out
}

/// `scope.name`, or `name` at the top.
pub fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}
