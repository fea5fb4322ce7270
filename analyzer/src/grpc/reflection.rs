//! gRPC server reflection dumps as declarations: what a reflection client saved of a server's
//! `ServerReflectionResponse`s, in protobuf's JSON mapping (what `json_format.MessageToJson`
//! or `MessageToDict` write, and `grpcurl`-style tools keep): a JSON array of responses, one
//! response object, or one response per line. Each `fileDescriptorResponse` carries
//! `fileDescriptorProto`, a list of base64 serialised `FileDescriptorProto`s; those are decoded
//! and read like a FileDescriptorSet's files ([`super::schema::from_files`]). Field names are
//! accepted in both JSON spellings (`fileDescriptorResponse`, `file_descriptor_response`).
//! Other responses (`listServicesResponse`, `errorResponse`) add nothing: the services are the
//! ones the descriptors declare. A file sent in several responses counts once.

use super::schema::{from_files, GrpcSchema};
use base64::Engine;
use prost::Message;
use serde_json::Value;
use std::collections::BTreeSet;

/// Most file descriptors read from one dump.
pub const MAX_FILES: usize = 10_000;

/// Whether a file name is a reflection dump (`*.reflection.json`).
pub fn is_reflection_dump(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".reflection.json")
}

/// Read a dump (see the module docs). Errors say which response and which entry.
pub fn from_dump(text: &str) -> Result<GrpcSchema, String> {
    let responses: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(v @ Value::Object(_)) => vec![v],
        Ok(_) => return Err("not a reflection dump: neither a JSON array nor an object".into()),
        // JSON lines: one response per line.
        Err(whole) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    if i == 0 {
                        format!("invalid JSON: {whole}")
                    } else {
                        format!("line {}: invalid JSON: {e}", i + 1)
                    }
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let mut files = Vec::new();
    let mut names = BTreeSet::new();
    let mut any = false;
    for (i, response) in responses.iter().enumerate() {
        let Some(fdr) = field(
            response,
            "fileDescriptorResponse",
            "file_descriptor_response",
        ) else {
            continue;
        };
        any = true;
        let list = field(fdr, "fileDescriptorProto", "file_descriptor_proto")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                format!("response {i}: fileDescriptorResponse without a fileDescriptorProto list")
            })?;
        for (j, entry) in list.iter().enumerate() {
            let at = || format!("response {i}, fileDescriptorProto {j}");
            let b64 = entry
                .as_str()
                .ok_or_else(|| format!("{}: not a string", at()))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("{}: not base64: {e}", at()))?;
            let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())
                .map_err(|e| format!("{}: not a FileDescriptorProto: {e}", at()))?;
            if !names.insert(file.name().to_string()) {
                continue;
            }
            if files.len() >= MAX_FILES {
                return Err(format!("more than {MAX_FILES} file descriptors"));
            }
            files.push(file);
        }
    }
    if !any {
        return Err("not a reflection dump: no fileDescriptorResponse in it".into());
    }
    Ok(from_files(&files))
}

fn field<'v>(v: &'v Value, camel: &str, snake: &str) -> Option<&'v Value> {
    v.get(camel).or_else(|| v.get(snake))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, service: &str, method: &str) -> String {
        let f = prost_types::FileDescriptorProto {
            name: Some(name.into()),
            package: Some("p".into()),
            service: vec![prost_types::ServiceDescriptorProto {
                name: Some(service.into()),
                method: vec![prost_types::MethodDescriptorProto {
                    name: Some(method.into()),
                    input_type: Some(".p.In".into()),
                    output_type: Some(".p.Out".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        base64::engine::general_purpose::STANDARD.encode(f.encode_to_vec())
    }

    #[test]
    fn dumps_in_each_json_form_declare_their_services_once() {
        let a = file("a.proto", "S", "M");
        let b = file("b.proto", "T", "N");
        let array = format!(
            r#"[{{"validHost":"h","listServicesResponse":{{"service":[{{"name":"p.S"}}]}}}},
               {{"fileDescriptorResponse":{{"fileDescriptorProto":["{a}"]}}}},
               {{"file_descriptor_response":{{"file_descriptor_proto":["{a}","{b}"]}}}}]"#
        );
        let lines = format!(
            "{{\"fileDescriptorResponse\":{{\"fileDescriptorProto\":[\"{a}\"]}}}}\n\n{{\"fileDescriptorResponse\":{{\"fileDescriptorProto\":[\"{b}\"]}}}}\n"
        );
        for text in [array, lines] {
            let s = from_dump(&text).expect("reads");
            assert_eq!(s.services.keys().collect::<Vec<_>>(), ["p.S", "p.T"]);
            assert!(s.method("/p.S/M").is_some());
        }
    }

    #[test]
    fn broken_dumps_say_where() {
        let e = from_dump(r#"{"fileDescriptorResponse":{"fileDescriptorProto":["%%"]}}"#)
            .expect_err("bad base64");
        assert!(
            e.starts_with("response 0, fileDescriptorProto 0: not base64"),
            "{e}"
        );
        let e = from_dump(r#"{"fileDescriptorResponse":{"fileDescriptorProto":["/////w=="]}}"#)
            .expect_err("bad proto");
        assert!(e.contains("not a FileDescriptorProto"), "{e}");
        assert!(from_dump(r#"{"listServicesResponse":{}}"#).is_err());
        assert!(from_dump("[1").is_err());
        assert!(from_dump("{}\nnope")
            .expect_err("line 2")
            .starts_with("line 2"));
        assert!(is_reflection_dump("x/Bank.Reflection.JSON"));
        assert!(!is_reflection_dump("x/openapi.json"));
    }
}
