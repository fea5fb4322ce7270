//! Exchange -> observation: the step where raw traffic becomes names, shapes and labels.
//!
//! Everything sensitive stops here. The observation keeps parameter and field *names*, JSON
//! *types*, data-class *labels* with masked previews, and a keyed fingerprint of the
//! credential; never a value, a body or a token. Work per exchange is bounded by
//! [`ObserveLimits`].

use crate::classify::{Classifier, Place};
use crate::consumer::{self, ConsumerConfig};
use crate::exchange::{find_header, Body, Header, HttpExchange};
use crate::host::normalize_host;
use crate::observation::{DataClassHit, EndpointKey, FieldShape, FieldType, Observation};
use crate::template::Templater;
use percent_encoding::percent_decode_str;
use std::collections::BTreeSet;

/// Bounds on the work done for one exchange.
#[derive(Debug, Clone)]
pub struct ObserveLimits {
    /// Field paths recorded per body.
    pub max_fields: usize,
    /// JSON nesting followed.
    pub max_depth: usize,
    /// Values handed to the classifier per exchange.
    pub max_classified_values: usize,
    /// Query parameters and headers considered per request.
    pub max_params: usize,
}

impl Default for ObserveLimits {
    fn default() -> Self {
        ObserveLimits {
            max_fields: 512,
            max_depth: 24,
            max_classified_values: 2048,
            max_params: 128,
        }
    }
}

/// Request headers that are part of HTTP itself, not of an API's interface; they are not
/// reported as parameters (lowercase, sorted for binary search).
const STANDARD_HEADERS: &[&str] = &[
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "cookie",
    "date",
    "expect",
    "forwarded",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "keep-alive",
    "origin",
    "pragma",
    "proxy-authorization",
    "proxy-connection",
    "range",
    "referer",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "via",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
];

/// Turns exchanges into observations.
#[derive(Debug, Clone)]
pub struct Observer {
    pub templater: Templater,
    pub classifier: Classifier,
    pub consumers: ConsumerConfig,
    pub limits: ObserveLimits,
}

/// The request target split into its parts.
struct Target {
    /// Authority from an absolute-form target (`http://host/path`).
    authority: Option<String>,
    path: String,
    query: Vec<(String, String)>,
}

/// Per-exchange budget and sink for classifier hits.
struct Findings<'a> {
    classifier: &'a Classifier,
    budget: usize,
    hits: BTreeSet<DataClassHit>,
}

impl Findings<'_> {
    fn check(&mut self, value: &str, place: Place<'_>, location: impl FnOnce() -> String) {
        if self.budget == 0 || value.is_empty() {
            return;
        }
        self.budget -= 1;
        let detections = self.classifier.classify(value, place);
        if detections.is_empty() {
            return;
        }
        let location = location();
        for d in detections {
            self.hits.insert(DataClassHit {
                class: d.class,
                location: location.clone(),
                preview: d.preview,
            });
        }
    }
}

impl Observer {
    pub fn new(templater: Templater, classifier: Classifier, consumers: ConsumerConfig) -> Self {
        Observer {
            templater,
            classifier,
            consumers,
            limits: ObserveLimits::default(),
        }
    }

    /// The observation an exchange gives, or `None` when there is no request to say which
    /// endpoint it concerns (a lone response is counted by the capture side instead).
    pub fn observe(&self, ex: &HttpExchange) -> Option<Observation> {
        let req = ex.request.as_ref()?;
        let target = parse_target(&req.target, self.limits.max_params);
        let host = target
            .authority
            .clone()
            .or_else(|| {
                find_header(&req.headers, "host")
                    .and_then(Header::value_str)
                    .map(str::to_string)
            })
            .filter(|h| !h.is_empty())
            .map(|h| normalize_host(&h))
            .unwrap_or_else(|| normalize_host(&server_authority(ex)));
        let method = req.method.to_ascii_uppercase();
        let templated = self.templater.template(&host, &target.path);

        let mut found = Findings {
            classifier: &self.classifier,
            budget: self.limits.max_classified_values,
            hits: BTreeSet::new(),
        };

        let mut query_params = BTreeSet::new();
        for (name, value) in &target.query {
            query_params.insert(name.clone());
            found.check(value, Place::Query { name }, || {
                format!("request.query.{name}")
            });
        }

        let mut header_params = BTreeSet::new();
        for h in req.headers.iter().take(self.limits.max_params) {
            let name = h.name.to_ascii_lowercase();
            if STANDARD_HEADERS.binary_search(&name.as_str()).is_err() {
                header_params.insert(name.clone());
            }
            if let Some(value) = h.value_str() {
                found.check(value, Place::Header { name: &name }, || {
                    format!("request.header.{name}")
                });
            }
        }
        if let Some(resp) = &ex.response {
            for h in resp.headers.iter().take(self.limits.max_params) {
                let name = h.name.to_ascii_lowercase();
                if let Some(value) = h.value_str() {
                    found.check(value, Place::Header { name: &name }, || {
                        format!("response.header.{name}")
                    });
                }
            }
        }

        let request_content_type = media_type(&req.headers);
        let response_content_type = ex.response.as_ref().and_then(|r| media_type(&r.headers));
        let request_fields = self.body_fields(
            &ex.request_body,
            request_content_type.as_deref(),
            "request.body",
            &mut found,
        );
        let response_fields = self.body_fields(
            &ex.response_body,
            response_content_type.as_deref(),
            "response.body",
            &mut found,
        );

        let (consumer, auth) =
            consumer::identify(req, &target.query, ex.client.ip(), &self.consumers);

        Some(Observation {
            ts: ex.ts,
            endpoint: EndpointKey {
                host,
                method,
                path: templated.path,
            },
            template_source: templated.source,
            status: ex.response.as_ref().map(|r| r.status),
            request_content_type,
            response_content_type,
            query_params: query_params.into_iter().collect(),
            header_params: header_params.into_iter().collect(),
            request_fields,
            response_fields,
            data_classes: found.hits.into_iter().collect(),
            auth,
            consumer,
            request_body_len: ex.request_body.decoded_len,
            response_body_len: ex.response_body.decoded_len,
            anomalies: ex.anomalies.clone(),
        })
    }

    /// Field shapes of a JSON or form body, classifying leaf values on the way.
    fn body_fields(
        &self,
        body: &Body,
        content_type: Option<&str>,
        prefix: &str,
        found: &mut Findings<'_>,
    ) -> Vec<FieldShape> {
        if body.sample.is_empty() {
            return Vec::new();
        }
        let mut shapes = BTreeSet::new();
        let ct = content_type.unwrap_or("");
        let looks_json = ct.ends_with("json") || ct.ends_with("+json") || {
            let first = body.sample.iter().find(|b| !b.is_ascii_whitespace());
            ct.is_empty() && matches!(first, Some(b'{') | Some(b'['))
        };
        if looks_json {
            // A truncated sample does not parse; its shapes stay unknown rather than guessed.
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body.sample) {
                let mut walk = JsonWalk {
                    limits: &self.limits,
                    shapes: &mut shapes,
                    found,
                    prefix,
                };
                walk.value(&value, &mut String::new(), None, 0);
            }
        } else if ct == "application/x-www-form-urlencoded" {
            if let Ok(text) = std::str::from_utf8(&body.sample) {
                for (name, value) in parse_pairs(text, self.limits.max_fields) {
                    shapes.insert(FieldShape {
                        path: name.clone(),
                        ty: FieldType::String,
                    });
                    found.check(&value, Place::BodyField { name: &name }, || {
                        format!("{prefix}.{name}")
                    });
                }
            }
        }
        shapes.into_iter().collect()
    }
}

struct JsonWalk<'a, 'f> {
    limits: &'a ObserveLimits,
    shapes: &'a mut BTreeSet<FieldShape>,
    found: &'a mut Findings<'f>,
    prefix: &'a str,
}

impl JsonWalk<'_, '_> {
    /// Record `value` at `path` (`a.b[].c`), `name` being its last field name.
    fn value(
        &mut self,
        value: &serde_json::Value,
        path: &mut String,
        name: Option<&str>,
        depth: usize,
    ) {
        use serde_json::Value;
        if depth > self.limits.max_depth || self.shapes.len() >= self.limits.max_fields {
            return;
        }
        let ty = match value {
            Value::Null => FieldType::Null,
            Value::Bool(_) => FieldType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => FieldType::Integer,
            Value::Number(_) => FieldType::Number,
            Value::String(_) => FieldType::String,
            Value::Array(_) => FieldType::Array,
            Value::Object(_) => FieldType::Object,
        };
        if !path.is_empty() {
            self.shapes.insert(FieldShape {
                path: path.clone(),
                ty,
            });
        }
        let field = name.unwrap_or("");
        match value {
            Value::String(s) => {
                let prefix = self.prefix;
                self.found
                    .check(s, Place::BodyField { name: field }, || join(prefix, path));
            }
            Value::Number(n) => {
                let text = n.to_string();
                let prefix = self.prefix;
                self.found
                    .check(&text, Place::BodyField { name: field }, || {
                        join(prefix, path)
                    });
            }
            Value::Array(items) => {
                let len = path.len();
                path.push_str("[]");
                // Elements of one array share a path; walking them all merges their shapes.
                for item in items {
                    if self.shapes.len() >= self.limits.max_fields {
                        break;
                    }
                    self.value(item, path, name, depth + 1);
                }
                path.truncate(len);
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    self.value(item, path, Some(key), depth + 1);
                    path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

fn join(prefix: &str, path: &str) -> String {
    if path.is_empty() {
        prefix.to_string()
    } else if path.starts_with('[') {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}.{path}")
    }
}

/// Media type without parameters, lowercased.
fn media_type(headers: &[Header]) -> Option<String> {
    let v = find_header(headers, "content-type")?.value_str()?;
    let mt = v.split(';').next()?.trim().to_ascii_lowercase();
    (!mt.is_empty()).then_some(mt)
}

/// `ip:port` of the server, for requests without a Host header (HTTP/1.0, HTTP/0.9).
fn server_authority(ex: &HttpExchange) -> String {
    match ex.server.ip() {
        std::net::IpAddr::V4(ip) => format!("{ip}:{}", ex.server.port()),
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", ex.server.port()),
    }
}

fn parse_target(raw: &str, max_params: usize) -> Target {
    let (authority, rest) = match raw.find("://") {
        Some(i) if raw[..i].bytes().all(|b| b.is_ascii_alphabetic()) => {
            let after = &raw[i + 3..];
            let end = after.find(['/', '?']).unwrap_or(after.len());
            let auth = &after[..end];
            // Drop userinfo: it is a credential, not a host.
            let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
            (Some(auth.to_string()), &after[end..])
        }
        _ => (None, raw),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    Target {
        authority,
        path,
        query: parse_pairs(query, max_params),
    }
}

/// `a=1&b=2` pairs, percent- and plus-decoded, at most `max` of them.
fn parse_pairs(text: &str, max: usize) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .take(max)
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn decode_component(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{HttpVersion, RequestHead, ResponseHead};
    use crate::observation::AuthScheme;
    use crate::time::Timestamp;

    fn observer() -> Observer {
        Observer::new(
            Templater::default(),
            Classifier::builtin(),
            ConsumerConfig::new(b"t", false),
        )
    }

    fn exchange(
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
        resp_body: &str,
    ) -> HttpExchange {
        HttpExchange {
            client: "10.0.0.2:50000".parse().unwrap(),
            server: "10.0.0.1:8080".parse().unwrap(),
            ts: Timestamp(1),
            request: Some(RequestHead {
                method: "post".into(),
                target: target.into(),
                version: HttpVersion::Http11,
                headers: headers
                    .iter()
                    .map(|(n, v)| Header::new(*n, v.as_bytes()))
                    .collect(),
            }),
            response: Some(ResponseHead {
                status: 201,
                version: HttpVersion::Http11,
                headers: vec![Header::new(
                    "Content-Type",
                    "application/json; charset=utf-8",
                )],
            }),
            request_body: Body {
                sample: body.as_bytes().to_vec(),
                decoded_len: body.len() as u64,
                wire_len: body.len() as u64,
                truncated: false,
            },
            response_body: Body {
                sample: resp_body.as_bytes().to_vec(),
                decoded_len: resp_body.len() as u64,
                wire_len: resp_body.len() as u64,
                truncated: false,
            },
            response_delay_micros: None,
            anomalies: vec![],
        }
    }

    #[test]
    fn names_shapes_and_host_without_values() {
        let ex = exchange(
            "/payments?limit=10&from+date=2024-01-01",
            &[
                ("Host", "API.Bank.example:443"),
                ("Content-Type", "application/json"),
                ("X-Fapi-Id", "1"),
            ],
            r#"{"amount":{"value":12.5,"currency":"GBP"},"items":[{"id":1},{"id":2,"note":null}]}"#,
            r#"[{"ok":true}]"#,
        );
        let obs = observer().observe(&ex).unwrap();
        assert_eq!(obs.endpoint.host, "api.bank.example");
        assert_eq!(obs.endpoint.method, "POST");
        assert_eq!(obs.query_params, vec!["from date", "limit"]);
        assert_eq!(obs.header_params, vec!["x-fapi-id"]);
        assert_eq!(
            obs.request_content_type.as_deref(),
            Some("application/json")
        );
        assert_eq!(
            obs.response_content_type.as_deref(),
            Some("application/json")
        );
        let paths: Vec<String> = obs
            .request_fields
            .iter()
            .map(|f| format!("{}:{:?}", f.path, f.ty))
            .collect();
        assert_eq!(
            paths,
            vec![
                "amount:Object",
                "amount.currency:String",
                "amount.value:Number",
                "items:Array",
                "items[]:Object",
                "items[].id:Integer",
                "items[].note:Null",
            ]
        );
        assert_eq!(obs.response_fields[0].path, "[]");
        assert_eq!(obs.status, Some(201));
        assert_eq!(obs.auth, AuthScheme::None);
        assert_eq!(obs.consumer.address, "10.0.0.2");
    }

    #[test]
    fn host_falls_back_to_absolute_target_then_server_address() {
        let ex = exchange(
            "http://user:pw@Other.example:80/x?y",
            &[("Host", "ignored")],
            "",
            "",
        );
        assert_eq!(
            observer().observe(&ex).unwrap().endpoint.host,
            "other.example"
        );
        let ex = exchange("/x", &[], "", "");
        assert_eq!(
            observer().observe(&ex).unwrap().endpoint.host,
            "10.0.0.1:8080"
        );
    }

    #[test]
    fn lone_response_gives_no_observation() {
        let mut ex = exchange("/x", &[], "", "");
        ex.request = None;
        assert!(observer().observe(&ex).is_none());
    }

    #[test]
    fn field_count_is_bounded() {
        let mut obj = String::from("{");
        for i in 0..5000 {
            obj.push_str(&format!("\"f{i}\":{i},"));
        }
        obj.push_str("\"end\":0}");
        let ex = exchange("/x", &[("Content-Type", "application/json")], &obj, "");
        let obs = observer().observe(&ex).unwrap();
        assert_eq!(
            obs.request_fields.len(),
            ObserveLimits::default().max_fields
        );
    }

    #[test]
    fn form_bodies_give_field_names() {
        let ex = exchange(
            "/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "grant_type=client_credentials&scope=accounts+payments",
            "",
        );
        let obs = observer().observe(&ex).unwrap();
        let names: Vec<&str> = obs.request_fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, vec!["grant_type", "scope"]);
    }
}
