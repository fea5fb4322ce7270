//! The observer: what turns an exchange into names, shapes and labels, and the bounds on that
//! work.
//!
//! Everything sensitive stops here. What leaves keeps parameter and field *names*, JSON
//! *types*, data-class *labels* with masked previews, and a keyed fingerprint of the
//! credential; never a value, a body or a token. The work itself is done by the count and
//! learn paths of [`crate::engine`]; [`Observer::observe`] runs them over one owned exchange and
//! materialises the result as an [`Observation`] (forensic views, tests).

use crate::classify::Classifier;
use crate::consumer::ConsumerConfig;
use crate::engine::policy::LearnMode;
use crate::engine::InventoryBuilder;
use crate::exchange::{AnomalySet, BodyDepth, BodyEnd, BodyShape, HttpExchange};
use crate::inventory::InventoryLimits;
use crate::observation::{Consumer, DataClassHit, FieldShape, Observation};
use crate::template::Templater;

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
    /// Body bytes kept for learning: a scanned body the prefilter flags is walked up to this
    /// much (the HTTP layer keeps the same for decoded bodies).
    pub max_body_sample: usize,
}

impl Default for ObserveLimits {
    fn default() -> Self {
        ObserveLimits {
            max_fields: 512,
            max_depth: 24,
            max_classified_values: 2048,
            max_params: 128,
            max_body_sample: 64 * 1024,
        }
    }
}

pub use crate::engine::params::STANDARD_HEADERS;

/// Turns exchanges into observations.
#[derive(Debug, Clone)]
pub struct Observer {
    pub templater: Templater,
    pub classifier: Classifier,
    pub consumers: ConsumerConfig,
    pub limits: ObserveLimits,
    /// Which bodies are learned (`--learn`).
    pub learn: LearnMode,
    /// The open-banking lens, when on (`[findings.openbanking]`).
    pub openbanking: Option<std::sync::Arc<crate::openbanking::Lens>>,
    /// Declared gRPC messages (from the catalogue): gRPC bodies' fields get their names.
    pub grpc: Option<std::sync::Arc<crate::grpc::schema::GrpcSchema>>,
}

impl Observer {
    pub fn new(templater: Templater, classifier: Classifier, consumers: ConsumerConfig) -> Self {
        Observer {
            templater,
            classifier,
            consumers,
            limits: ObserveLimits::default(),
            learn: LearnMode::default(),
            openbanking: None,
            grpc: None,
        }
    }

    /// Name gRPC message fields from the catalogue's gRPC declarations, when it has any.
    pub fn with_grpc_schema(mut self, catalogue: &crate::catalogue::Catalogue) -> Self {
        self.grpc =
            (!catalogue.grpc.is_empty()).then(|| std::sync::Arc::new(catalogue.grpc.clone()));
        self
    }

    /// The observation an exchange gives, every value and body learned, or `None` when there
    /// is no request to say which endpoint it concerns (a lone response is counted by the
    /// capture side instead).
    pub fn observe(&self, ex: &HttpExchange) -> Option<Observation> {
        let req = ex.request.as_ref()?;
        let mut all = self.clone();
        all.learn = LearnMode::All;
        let mut builder = InventoryBuilder::new(&all, InventoryLimits::default());
        let shape = |b: &crate::exchange::Body| BodyShape {
            present: b.wire_len > 0,
            identity: true,
        };
        let (mut request, _) = req.with_view(|v| {
            builder.request(ex.client.ip(), ex.server, v, shape(&ex.request_body), ex.ts)
        });
        let learned = |b| BodyEnd {
            wire_len: ex.request_body.wire_len,
            complete: true,
            decoded: Some(b),
        };
        builder.body_end(&mut request, &learned(&ex.request_body));
        let response = ex.response.as_ref().map(|r| {
            let (mut m, depth) = r.with_view(|v| {
                builder.response(Some(&request), v, shape(&ex.response_body), ex.ts)
            });
            debug_assert!(depth != BodyDepth::Scan);
            builder.body_end(
                &mut m,
                &BodyEnd {
                    wire_len: ex.response_body.wire_len,
                    complete: true,
                    decoded: Some(&ex.response_body),
                },
            );
            m
        });
        let anomalies: AnomalySet = ex.anomalies.iter().copied().collect();
        builder.exchange(
            Some(request),
            response,
            ex.ts,
            anomalies,
            ex.response_delay_micros,
        );
        let inventory = builder.finish();
        let (endpoint, rec) = inventory.endpoints.into_iter().next()?;
        let names = |m: &std::collections::BTreeMap<String, u64>| m.keys().cloned().collect();
        let fields = |m: &std::collections::BTreeMap<String, std::collections::BTreeSet<_>>| {
            m.iter()
                .flat_map(|(path, types)| {
                    types.iter().map(move |ty| FieldShape {
                        path: path.clone(),
                        ty: *ty,
                    })
                })
                .collect()
        };
        let consumer_id = rec.consumers.keys().next().cloned().unwrap_or_default();
        let consumer = match consumer_id.strip_prefix("addr:") {
            Some(address) => Consumer {
                address: address.to_string(),
                credential: None,
            },
            None => Consumer {
                address: crate::consumer::client_address(
                    &req.headers,
                    ex.client.ip(),
                    &self.consumers,
                ),
                credential: Some(consumer_id),
            },
        };
        let auth = rec
            .auth
            .keys()
            .next()
            .map_or(crate::observation::AuthScheme::None, |l| {
                crate::observation::AuthScheme::from_label(l)
            });
        Some(Observation {
            ts: ex.ts,
            endpoint,
            template_source: rec.template_source,
            status: rec.statuses.keys().next().copied(),
            request_content_type: rec.request_content_types.keys().next().cloned(),
            response_content_type: rec.response_content_types.keys().next().cloned(),
            query_params: names(&rec.query_params),
            header_params: names(&rec.header_params),
            request_fields: fields(&rec.request_fields),
            response_fields: fields(&rec.response_fields),
            data_classes: rec
                .data_classes
                .iter()
                .flat_map(|(class, locations)| {
                    locations.iter().map(move |(location, stat)| DataClassHit {
                        class: class.clone(),
                        location: location.clone(),
                        preview: stat.preview.clone(),
                    })
                })
                .collect(),
            auth,
            consumer,
            request_body_len: ex.request_body.decoded_len,
            response_body_len: ex.response_body.decoded_len,
            anomalies: ex.anomalies.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{Body, Header, HttpVersion, RequestHead, ResponseHead};
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
