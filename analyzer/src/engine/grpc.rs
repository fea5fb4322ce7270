//! The engine's part of gRPC ([`crate::grpc`]): what a message of a gRPC call carries until its
//! exchange is counted. Every body byte of a gRPC message goes through the count path's
//! length-prefix reader (the HTTP layer is asked for [`BodyDepth::Scan`]), so message counts
//! hold for every call, learned or not; the kept prefix is walked as protobuf only when the
//! policy picks the message.
//!
//! [`BodyDepth::Scan`]: crate::exchange::BodyDepth::Scan

use crate::exchange::{header_value, HeaderLike, HttpVersion};
use crate::grpc::frames::Frames;
use crate::grpc::{is_grpc_content_type, parse_status, CallFacts};

/// One message (request or response) of a gRPC call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcMessage {
    pub frames: Frames,
    /// `grpc-encoding: gzip`: compressed messages can be inflated.
    pub gzip: bool,
    /// `grpc-status` from a trailers-only response's headers or from the trailers.
    pub status: Option<u32>,
}

impl GrpcMessage {
    fn of<H: HeaderLike>(headers: &[H]) -> GrpcMessage {
        GrpcMessage {
            frames: Frames::default(),
            gzip: header_value(headers, "grpc-encoding")
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"gzip")),
            status: header_value(headers, "grpc-status").and_then(parse_status),
        }
    }

    /// A request head that opens a gRPC call: HTTP/2 with a gRPC content type.
    pub fn request<H: HeaderLike>(version: HttpVersion, headers: &[H]) -> Option<Box<GrpcMessage>> {
        (version == HttpVersion::Http2
            && header_value(headers, "content-type").is_some_and(is_grpc_content_type))
        .then(|| Box::new(GrpcMessage::of(headers)))
    }

    /// The response head of a gRPC call (its status when it is trailers-only).
    pub fn response<H: HeaderLike>(headers: &[H]) -> Box<GrpcMessage> {
        Box::new(GrpcMessage::of(headers))
    }

    /// Trailers that followed the message.
    pub fn trailers<H: HeaderLike>(&mut self, fields: &[H]) {
        if let Some(code) = header_value(fields, "grpc-status").and_then(parse_status) {
            self.status = Some(code);
        }
    }

    /// A body that was handed over decoded rather than as it arrived (forensic views): its
    /// kept bytes are counted here.
    pub fn body_end(&mut self, decoded: Option<&[u8]>) {
        if let (false, Some(bytes)) = (self.frames.fed, decoded) {
            self.frames.push(bytes);
        }
    }
}

/// What a finished call adds to its endpoint.
pub fn call_facts(request: &GrpcMessage, response: Option<&GrpcMessage>) -> CallFacts {
    CallFacts {
        request_messages: request.frames.messages,
        response_messages: response.map_or(0, |r| r.frames.messages),
        compressed_messages: request.frames.compressed
            + response.map_or(0, |r| r.frames.compressed),
        status: response.and_then(|r| r.status),
    }
}

/// The declarations and the message type one side of a call to `path` carries, when the
/// catalogue declares the method.
pub fn message_type<'s>(
    schema: Option<&'s crate::grpc::schema::GrpcSchema>,
    path: Option<&str>,
    response: bool,
) -> Option<(&'s crate::grpc::schema::GrpcSchema, &'s str)> {
    let schema = schema?;
    let method = schema.method(path?)?;
    let ty = if response {
        &method.output
    } else {
        &method.input
    };
    Some((schema, ty.as_str()))
}

#[cfg(test)]
mod tests {
    use crate::classify::Classifier;
    use crate::consumer::ConsumerConfig;
    use crate::exchange::{Body, Header, HttpExchange, HttpVersion, RequestHead, ResponseHead};
    use crate::observe::Observer;
    use crate::template::Templater;
    use crate::time::Timestamp;

    fn body(bytes: Vec<u8>) -> Body {
        Body {
            decoded_len: bytes.len() as u64,
            wire_len: bytes.len() as u64,
            sample: bytes,
            truncated: false,
        }
    }

    /// A gzip-compressed response message (flag 1, `grpc-encoding: gzip`) is inflated and
    /// walked: its fields by number, the IBAN classified at its field's location.
    #[test]
    fn compressed_messages_are_inflated_and_walked() {
        use std::io::Write;
        // demo.bank.Account { account_id: "acc-1", iban: "GB82WEST12345698765432" }
        let mut account = vec![0x0a, 5];
        account.extend_from_slice(b"acc-1");
        account.extend_from_slice(&[0x12, 22]);
        account.extend_from_slice(b"GB82WEST12345698765432");
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&account).unwrap();
        let packed = z.finish().unwrap();
        let grpc = |extra: &[(&str, &str)]| {
            let mut h = vec![Header::new("content-type", "application/grpc")];
            h.extend(extra.iter().map(|(n, v)| Header::new(*n, v.as_bytes())));
            h
        };
        let ex = HttpExchange {
            client: "10.0.0.2:50000".parse().unwrap(),
            server: "10.0.0.1:50051".parse().unwrap(),
            ts: Timestamp(1),
            request: Some(RequestHead {
                method: "POST".into(),
                target: "/demo.bank.Accounts/GetAccount".into(),
                version: HttpVersion::Http2,
                headers: grpc(&[("host", "bank:50051"), ("grpc-encoding", "gzip")]),
            }),
            response: Some(ResponseHead {
                status: 200,
                version: HttpVersion::Http2,
                headers: grpc(&[("grpc-encoding", "gzip"), ("grpc-status", "0")]),
            }),
            request_body: body(crate::grpc::frames::frame(0, b"\x0a\x05acc-1")),
            response_body: body(crate::grpc::frames::frame(1, &packed)),
            response_delay_micros: None,
            anomalies: vec![],
        };
        let observer = Observer::new(
            Templater::default(),
            Classifier::builtin(),
            ConsumerConfig::new(b"t", false),
        );
        let obs = observer.observe(&ex).expect("observation");
        let fields: Vec<String> = obs
            .response_fields
            .iter()
            .map(|f| format!("{}:{:?}", f.path, f.ty))
            .collect();
        assert_eq!(fields, ["1:String", "2:String"]);
        let ibans: Vec<&str> = obs
            .data_classes
            .iter()
            .filter(|d| d.class == "iban")
            .map(|d| d.location.as_str())
            .collect();
        assert_eq!(ibans, ["response.body.2"]);
        assert!(obs
            .data_classes
            .iter()
            .all(|d| !d.preview.contains("12345698765432")));
    }
}
