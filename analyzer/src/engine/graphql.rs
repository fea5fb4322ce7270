//! The engine's part of GraphQL ([`crate::graphql`]): what a GraphQL request and its response
//! carry until the exchange is counted. A GET's operation is read from its query string on the
//! count path. A POST candidate's body ([`crate::graphql::body_candidate`]) is kept whatever
//! the learn decision (the HTTP layer is asked for [`BodyDepth::Scan`] when it was not learned),
//! so operations are counted on every exchange; a response's `errors` are read when its body
//! was learned or kept.
//!
//! [`BodyDepth::Scan`]: crate::exchange::BodyDepth::Scan

use crate::graphql::{self, Extracted};

/// One message of a GraphQL exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphqlMessage {
    /// A request: its body is to be read for operations.
    pub read_body: bool,
    /// A request: `application/graphql` rather than JSON.
    pub document_body: bool,
    /// A request: its operations.
    pub extracted: Extracted,
    /// A response: per answered request (in batch order), whether it reported `errors`; empty
    /// when the body was not read.
    pub errors: Vec<bool>,
}

impl GraphqlMessage {
    /// A request head that carries GraphQL: a GET with a document in its query string, or a
    /// POST whose body is to be read.
    pub fn request(
        method: &str,
        path: &str,
        query: &str,
        content_type: Option<&[u8]>,
    ) -> Option<Box<GraphqlMessage>> {
        if method == "GET" && (query.contains("query=") || query.contains("extensions=")) {
            let extracted = graphql::from_query_string(query);
            return extracted.is_graphql().then(|| {
                Box::new(GraphqlMessage {
                    extracted,
                    ..GraphqlMessage::default()
                })
            });
        }
        graphql::body_candidate(method, path, content_type).then(|| {
            Box::new(GraphqlMessage {
                read_body: true,
                document_body: content_type.is_some_and(|c| {
                    c.get(..19)
                        .is_some_and(|p| p.eq_ignore_ascii_case(b"application/graphql"))
                }),
                ..GraphqlMessage::default()
            })
        })
    }

    /// The body of the message ended (`None`: not kept, or cut short).
    pub fn request_body(&mut self, body: Option<&[u8]>) {
        if !self.read_body {
            return;
        }
        let ct: Option<&[u8]> = self.document_body.then_some(b"application/graphql");
        self.extracted = match body {
            Some(b) => graphql::from_body(ct, b),
            None => Extracted::default(),
        };
        // A body sent to a GraphQL path that gave no operation (cut at the sample cap, not a
        // GraphQL request) is counted as unparsed rather than lost.
        if !self.extracted.is_graphql() {
            self.extracted.unparsed = 1;
        }
    }

    pub fn response_body(&mut self, body: &[u8]) {
        self.errors = graphql::response_errors(body);
    }
}
