//! The count path and the learn path: exchange heads (and the bodies worth it) in, an
//! [`Inventory`] out.
//!
//! An [`InventoryBuilder`] is one capture worker's analysis. For every exchange it takes the
//! borrowed heads the HTTP layer parsed and:
//!
//! - **counts** it, always, without allocating in steady state: the endpoint (host, method and
//!   raw path resolved through a route cache, `routes.rs`), status, consumer and auth scheme
//!   (the credential resolved once per credential, `consumers.rs`), parameter names (one
//!   interned set per request shape, `params.rs`), media types, sizes, timing and anomalies,
//!   into per-endpoint aggregates keyed by ids (`aggregate.rs`);
//! - **learns** from it when the body policy says so (`policy.rs`: dense first, then sampled
//!   while nothing new appears): header and query values classified, the body decoded and
//!   walked for field shapes and data classes (`learn.rs`). Bodies not learned are still
//!   framed by the HTTP layer; identity-coded ones are scanned by the prefilter
//!   ([`crate::classify`]) so that a data class new to the endpoint sends the body to the walk
//!   anyway.
//!
//! The id-keyed aggregates become the string-keyed [`Inventory`] only when a window is sealed
//! ([`InventoryBuilder::take`]) or the scan ends ([`InventoryBuilder::finish`]).
//!
//! Not here: HTTP parsing and framing (the agent), cardinality learning across the inventory
//! ([`crate::cardinality`]), the diff against the catalogue ([`crate::diff`]).

pub mod aggregate;
mod consumers;
pub mod graphql;
pub mod grpc;
mod heads;
pub mod intern;
pub mod learn;
pub mod params;
pub mod policy;
pub mod routes;
pub mod target;

use crate::classify::prefilter::BodyScan;
use crate::classify::ClassSet;
use crate::exchange::{
    header_value, AnomalySet, BodyDepth, BodyEnd, BodyShape, RequestView, ResponseView,
};
use crate::inventory::{Inventory, InventoryLimits};
use crate::observe::Observer;
use crate::time::Timestamp;
use crate::FastMap;
use aggregate::{EndpointAgg, HostAgg, Names};
use consumers::Consumers;
use heads::HeadScanner;
use intern::{ByteCache, Interner};
use learn::{Job, Learned, Learner, Prefix};
use params::ParamSets;
use policy::{BodyPolicy, LearnMode, PolicyKey, Side};
use routes::{Route, Routes};
use std::net::{IpAddr, SocketAddr};

/// Distinct media types per worker.
const MAX_MEDIA: usize = 4096;
/// Distinct raw `Content-Type` values remembered.
const MEDIA_CACHE: usize = 4096;
/// Distinct SOAP actions per worker.
const MAX_SOAP_ACTIONS: usize = 4096;
/// The label of a SOAP action that carried a data class (never kept as written).
pub const WITHHELD_SOAP_ACTION: &str = "(withheld: carries a data class)";
/// Longest SOAP action kept (longer ones are cut).
const MAX_SOAP_ACTION_LEN: usize = 256;
/// Minutes of timeline kept before trimming (twice what the inventory keeps).
const TIMELINE_SLACK: usize = 2 * crate::inventory::TIMELINE_MINUTES;

/// What the builder keeps about one message (request or response) until its exchange is
/// counted: ids, the learn decision, and what learning found. No raw value.
#[derive(Debug)]
pub struct Message {
    side: Side,
    route: Option<Route>,
    consumer: u32,
    auth: u32,
    params: Option<u32>,
    media: Option<u32>,
    /// The SOAP action a request named (see [`InventoryBuilder::soap_action_of`]).
    soap_action: Option<u32>,
    status: Option<u16>,
    /// The policy picked this message for learning.
    learn: bool,
    depth: BodyDepth,
    body_present: bool,
    wire_len: u64,
    /// Values the exchange may still classify (shared by request and response).
    budget: usize,
    learned: Option<Box<Learned>>,
    scan: Option<Box<Scan>>,
    prefiltered: bool,
    /// What the open-banking lens read from the request head (lens on only).
    openbanking: Option<Box<crate::openbanking::lens::Facts>>,
    /// A response: whether it echoed the request's FAPI interaction id (lens on only).
    echoed: Option<bool>,
    /// A message of a gRPC call (`grpc.rs`).
    grpc: Option<Box<grpc::GrpcMessage>>,
    /// A message of a GraphQL exchange (`graphql.rs`).
    graphql: Option<Box<graphql::GraphqlMessage>>,
    /// The lens reads this message's body for a consent id (lens on only).
    ob_read_body: bool,
    /// A response: keyed fingerprint of the consent its body created (lens on only).
    ob_created: Option<String>,
}

impl Message {
    /// A message as the count path knows it: nothing learned, its body framed only.
    fn counted(
        side: Side,
        route: Option<Route>,
        media: Option<u32>,
        budget: usize,
        body: BodyShape,
    ) -> Message {
        Message {
            side,
            route,
            consumer: 0,
            auth: 0,
            params: None,
            media,
            soap_action: None,
            status: None,
            learn: false,
            depth: BodyDepth::Frame,
            body_present: body.present,
            wire_len: 0,
            budget,
            learned: None,
            scan: None,
            prefiltered: false,
            openbanking: None,
            echoed: None,
            grpc: None,
            graphql: None,
            ob_read_body: false,
            ob_created: None,
        }
    }
}

/// An identity body being scanned: the prefilter state and a bounded copy to walk if it
/// flags something new.
#[derive(Debug, Default)]
struct Scan {
    prefilter: BodyScan,
    copy: Vec<u8>,
    truncated: bool,
}

/// One worker's count and learn paths; see the module docs.
pub struct InventoryBuilder<'o> {
    observer: &'o Observer,
    limits: InventoryLimits,
    routes: Routes,
    consumers: Consumers,
    params: ParamSets,
    media: Interner,
    media_cache: ByteCache<Option<u32>>,
    soap_actions: Interner,
    /// GraphQL operation names dropped for carrying a data class.
    graphql_names_withheld: u64,
    policy: BodyPolicy,
    learner: Learner,
    aggs: Vec<Option<EndpointAgg>>,
    hosts: Vec<Option<HostAgg>>,
    timeline: FastMap<i64, u64>,
    dropped: u64,
    /// Spare scan states. Boxed because they move in and out of messages, where a box keeps
    /// `Message` small; the pool only holds them between uses.
    #[allow(clippy::vec_box)]
    scans: Vec<Box<Scan>>,
    /// Classes the prefilter has already seen per (endpoint, side): a body showing only these
    /// is not walked.
    known: FastMap<(u32, Side), ClassSet>,
    /// The head prefilter, with the classes heads showed per (endpoint, side).
    heads: HeadScanner,
    /// Heads classified because the policy picked the exchange, and because the head
    /// prefilter flagged a class new to the endpoint.
    heads_learned: u64,
    heads_flagged: u64,
    sample_cap: usize,
    /// The open-banking lens's caches, when the observer has the lens on.
    openbanking: Option<crate::openbanking::lens::LensState>,
}

impl std::fmt::Debug for InventoryBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InventoryBuilder")
            .field("endpoints", &self.routes.endpoint_count())
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// Most scan buffers kept for reuse.
const SCAN_POOL: usize = 64;

impl<'o> InventoryBuilder<'o> {
    pub fn new(observer: &'o Observer, limits: InventoryLimits) -> Self {
        InventoryBuilder {
            observer,
            routes: Routes::new(limits.max_endpoints),
            limits,
            consumers: Consumers::new(&observer.consumers),
            params: ParamSets::new(observer.consumers.hash_seed()),
            media: Interner::new(MAX_MEDIA),
            media_cache: ByteCache::new(MEDIA_CACHE),
            soap_actions: Interner::new(MAX_SOAP_ACTIONS),
            graphql_names_withheld: 0,
            policy: BodyPolicy::new(observer.learn),
            learner: Learner::default(),
            aggs: Vec::new(),
            hosts: Vec::new(),
            timeline: FastMap::default(),
            dropped: 0,
            scans: Vec::new(),
            known: FastMap::default(),
            heads: HeadScanner::new(observer.consumers.hash_seed()),
            heads_learned: 0,
            heads_flagged: 0,
            sample_cap: observer.limits.max_body_sample,
            openbanking: observer.openbanking.as_ref().map(|lens| {
                crate::openbanking::lens::LensState::new(lens.clone(), &observer.consumers)
            }),
        }
    }

    /// The media type of a `Content-Type` value (without parameters, lowercase), interned.
    fn media_of(&mut self, value: Option<&[u8]>) -> Option<u32> {
        let raw = value?;
        if let Some(id) = self.media_cache.get(raw) {
            return id;
        }
        let id = std::str::from_utf8(raw)
            .ok()
            .and_then(|v| v.trim().split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty())
            .and_then(|m| self.media.intern(&m));
        self.media_cache.insert(raw, id);
        id
    }

    /// The SOAP action of a request, read on the count path: the `SOAPAction` header of a
    /// `text/xml` request (SOAP 1.1), or the `action` parameter of an `application/soap+xml`
    /// content type (SOAP 1.2). Only XML requests are looked at, so other traffic pays one
    /// comparison. Quotes are dropped; an empty action (`""`, allowed by SOAP 1.1) is none.
    fn soap_action_of<H: crate::exchange::HeaderLike>(
        &mut self,
        media: Option<u32>,
        content_type: Option<&[u8]>,
        headers: &[H],
    ) -> Option<u32> {
        let raw = match self.media.get(media?) {
            "text/xml" => header_value(headers, "soapaction")?,
            "application/soap+xml" => soap12_action(content_type?)?,
            _ => return None,
        };
        let text = std::str::from_utf8(raw)
            .ok()?
            .trim()
            .trim_matches('"')
            .trim();
        if text.is_empty() {
            return None;
        }
        let mut end = text.len().min(MAX_SOAP_ACTION_LEN);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let action = &text[..end];
        // The action is kept as written, so it must not be a value: one the prefilter sees a
        // data class in (a card number, a token) is withheld, as a path's values are templated.
        let classes = self
            .heads
            .classes_in(&self.observer.classifier, action.as_bytes());
        if classes.is_empty() {
            self.soap_actions.intern(action)
        } else {
            self.soap_actions.intern(WITHHELD_SOAP_ACTION)
        }
    }

    fn depth(&mut self, learn: bool, body: BodyShape) -> BodyDepth {
        if !body.present {
            BodyDepth::Frame
        } else if learn {
            BodyDepth::Learn
        } else if body.identity && matches!(self.policy.mode(), LearnMode::Sampled(_)) {
            BodyDepth::Scan
        } else {
            BodyDepth::Frame
        }
    }

    /// A scan for a body of `endpoint`, seeded with the classes the endpoint's bodies already
    /// showed: a trigger for a known class is dropped before any window is classified, and
    /// only a class new to the endpoint costs a look (and a walk).
    fn scan_buffer(&mut self, endpoint: Option<u32>, side: Side) -> Box<Scan> {
        let mut scan = self.scans.pop().unwrap_or_default();
        let known = endpoint.and_then(|e| self.known.get(&(e, side)));
        scan.prefilter
            .restart(known.copied().unwrap_or(ClassSet::EMPTY));
        scan
    }

    fn give_back(&mut self, mut scan: Box<Scan>) {
        if self.scans.len() < SCAN_POOL {
            // A finished scan takes no more bytes: start the next body afresh (this also
            // overwrites the seam of body bytes the old one held).
            scan.prefilter.restart(ClassSet::EMPTY);
            scan.copy.clear();
            scan.truncated = false;
            self.scans.push(scan);
        }
    }

    /// A request head: count-path facts, the learn decision, and how deep to parse its body.
    pub fn request(
        &mut self,
        client: IpAddr,
        server: SocketAddr,
        head: &RequestView<'_>,
        body: BodyShape,
        ts: Timestamp,
    ) -> (Message, BodyDepth) {
        let limits = &self.observer.limits;
        let target = target::split(head.target);
        let host_header = header_value(head.headers, "host")
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim);
        let fallback;
        let host = match target.authority.or(host_header).filter(|h| !h.is_empty()) {
            Some(h) => h,
            None => {
                fallback = server_authority(server);
                &fallback
            }
        };
        let route = self
            .routes
            .resolve(&self.observer.templater, host, head.method, target.path);
        let (mut consumer, auth) = self.consumers.of(
            &self.observer.consumers,
            head.headers,
            target.query,
            limits.max_params,
            client,
        );
        let openbanking = self.openbanking.as_mut().map(|lens| {
            let mut facts = lens.request(
                &self.observer.consumers,
                head.headers,
                client,
                head.method,
                target.path,
            );
            // A certificate that names a TPP outranks the header credential as the consumer
            // (the credential's client is kept under the TPP).
            if let Some(info) = &facts.cert {
                facts.client = Some(self.consumers.name(consumer).to_string());
                consumer = self.consumers.named(&info.tpp);
            }
            Box::new(facts)
        });
        let params = self
            .params
            .of(target.query, head.headers, limits.max_params);
        let content_type = header_value(head.headers, "content-type");
        let media = self.media_of(content_type);
        let soap_action = self.soap_action_of(media, content_type, head.headers);
        let ob_read_body = openbanking
            .as_deref()
            .is_some_and(|f| crate::openbanking::lens::LensState::wants_body(f, false));
        let message = Message {
            consumer,
            auth,
            params,
            openbanking,
            soap_action,
            grpc: grpc::GrpcMessage::request(head.version, head.headers),
            graphql: graphql::GraphqlMessage::request(
                head.method,
                target.path,
                target.query,
                content_type,
            ),
            ob_read_body,
            ..Message::counted(
                Side::Request,
                route,
                media,
                limits.max_classified_values,
                body,
            )
        };
        self.decide(message, head.headers, target.query, body, ts)
    }

    /// A final response head, with the request it answers (`None`: unpaired).
    pub fn response(
        &mut self,
        request: Option<&Message>,
        head: &ResponseView<'_>,
        body: BodyShape,
        ts: Timestamp,
    ) -> (Message, BodyDepth) {
        let media = self.media_of(header_value(head.headers, "content-type"));
        let echoed = match (
            self.openbanking.as_ref(),
            request.and_then(|r| r.openbanking.as_deref()),
        ) {
            (Some(lens), Some(facts)) => lens.echoed(facts, head.headers),
            _ => None,
        };
        let route = request.and_then(|r| r.route);
        let budget = request.map_or(0, |r| r.budget);
        let grpc = request
            .and_then(|r| r.grpc.as_ref())
            .map(|_| grpc::GrpcMessage::response(head.headers));
        let ob_read_body = request
            .and_then(|r| r.openbanking.as_deref())
            .is_some_and(|f| crate::openbanking::lens::LensState::wants_body(f, true));
        let graphql = request
            .and_then(|r| r.graphql.as_ref())
            .map(|_| Box::<graphql::GraphqlMessage>::default());
        let message = Message {
            status: Some(head.status),
            echoed,
            grpc,
            graphql,
            ob_read_body,
            ..Message::counted(Side::Response, route, media, budget, body)
        };
        self.decide(message, head.headers, "", body, ts)
    }

    /// The learn path's part of a message whose count-path fields are set: the policy's
    /// decision (with the head classified when learned or flagged), and how deep its body is
    /// read.
    fn decide<H: crate::exchange::HeaderLike>(
        &mut self,
        mut message: Message,
        headers: &[H],
        query: &str,
        body: BodyShape,
        ts: Timestamp,
    ) -> (Message, BodyDepth) {
        let endpoint = message.route.and_then(|r| r.endpoint);
        let (learn, learned) = self.decide_and_learn_head(
            endpoint,
            message.side,
            message.media,
            headers,
            query,
            &mut message.budget,
            ts,
        );
        let mut depth = self.depth(learn, body);
        // The open-banking lens reads a consent id from this body: keep a copy of it.
        if message.ob_read_body && depth == BodyDepth::Frame && body.present && body.identity {
            depth = BodyDepth::Scan;
        }
        // A GraphQL request's body names its operations: keep a copy of it.
        if message.graphql.as_deref().is_some_and(|g| g.read_body)
            && depth == BodyDepth::Frame
            && body.present
            && body.identity
        {
            depth = BodyDepth::Scan;
        }
        message.learn = learn;
        message.learned = learned;
        message.depth = depth;
        // A gRPC body is read as it arrives whatever the decision: its messages are counted
        // on the count path, and its kept prefix is walked at its end when learned.
        let wire = if message.grpc.is_some() && body.present {
            BodyDepth::Scan
        } else {
            depth
        };
        message.scan = (wire == BodyDepth::Scan).then(|| self.scan_buffer(endpoint, message.side));
        (message, wire)
    }

    /// The learn decision for one message of `endpoint` (whether its body is learned), and
    /// what its head says when it is learned or when the head prefilter flags a class new to
    /// the endpoint: its header values (and a request's query values) classified.
    #[allow(clippy::too_many_arguments)]
    fn decide_and_learn_head<H: crate::exchange::HeaderLike>(
        &mut self,
        endpoint: Option<u32>,
        side: Side,
        media: Option<u32>,
        headers: &[H],
        query: &str,
        budget: &mut usize,
        ts: Timestamp,
    ) -> (bool, Option<Box<Learned>>) {
        let Some(endpoint) = endpoint else {
            return (false, None);
        };
        let key = PolicyKey {
            endpoint,
            side,
            media: media.unwrap_or(u32::MAX),
        };
        let learn = self.policy.decide(key, ts);
        if learn {
            self.heads_learned += 1;
        } else if self.heads.shows_new_class(
            &self.observer.classifier,
            endpoint,
            side,
            headers,
            query,
            self.observer.limits.max_params,
        ) {
            self.heads_flagged += 1;
        } else {
            return (false, None);
        }
        let mut out = Box::<Learned>::default();
        let mut job = Job {
            classifier: &self.observer.classifier,
            limits: &self.observer.limits,
            budget,
        };
        let prefix = match side {
            Side::Request => Prefix::Request,
            Side::Response => Prefix::Response,
        };
        if side == Side::Request {
            self.learner.query(&mut job, query, &mut out);
        }
        self.learner.headers(&mut job, headers, prefix, &mut out);
        (learn, Some(out))
    }

    /// Body bytes of a [`BodyDepth::Scan`] body, as they arrive.
    pub fn body_data(&mut self, message: &mut Message, bytes: &[u8]) {
        if let Some(g) = message.grpc.as_mut() {
            g.frames.push(bytes);
        }
        if let Some(scan) = message.scan.as_mut() {
            scan.prefilter.push(&self.observer.classifier, bytes);
            let room = self.sample_cap.saturating_sub(scan.copy.len());
            let take = room.min(bytes.len());
            scan.copy
                .extend_from_slice(bytes.get(..take).unwrap_or_default());
            scan.truncated |= take < bytes.len();
        }
    }

    /// A message's body ended: walk it when it was learned (or when the prefilter flags it).
    pub fn body_end(&mut self, message: &mut Message, end: &BodyEnd<'_>) {
        message.wire_len = end.wire_len;
        let mut scan = message.scan.take();
        // A scanned body is walked when the prefilter lit a class new to its endpoint. A copy
        // cut at the sample cap is not a whole document: the walk could not read it (a
        // learned body is cut the same way).
        let flagged = match scan.as_deref_mut() {
            Some(scan) if end.decoded.is_none() => {
                let new = self.scan_shows_new_class(message, scan);
                new && end.complete && !scan.truncated
            }
            _ => false,
        };
        let body = match (end.decoded, &scan) {
            (Some(decoded), _) => Some(decoded.sample.as_slice()),
            (None, Some(scan)) if flagged => Some(scan.copy.as_slice()),
            (None, Some(scan)) if message.learn && message.grpc.is_some() => {
                Some(scan.copy.as_slice())
            }
            _ => None,
        };
        if let Some(g) = message.grpc.as_mut() {
            g.body_end(end.decoded.map(|d| d.sample.as_slice()));
        }
        if let Some(body) = body {
            let side = match message.side {
                Side::Request => Prefix::Request,
                Side::Response => Prefix::Response,
            };
            let media = message.media.map(|m| self.media.get(m));
            let learned = message.learned.get_or_insert_with(Default::default);
            let mut job = Job {
                classifier: &self.observer.classifier,
                limits: &self.observer.limits,
                budget: &mut message.budget,
            };
            match message.grpc.as_deref() {
                Some(g) => {
                    let schema = grpc::message_type(
                        self.observer.grpc.as_deref(),
                        message
                            .route
                            .and_then(|r| r.endpoint)
                            .and_then(|e| self.routes.endpoint(e))
                            .map(|(k, _)| k.path.as_str()),
                        message.side == Side::Response,
                    );
                    self.learner
                        .grpc(&mut job, body, g.gzip, schema, side, learned)
                }
                None => self.learner.body(&mut job, body, media, side, learned),
            }
            message.prefiltered |= flagged;
        }
        if message.graphql.is_some() {
            let bytes = match (end.decoded, scan.as_deref()) {
                (Some(decoded), _) if !decoded.truncated => Some(decoded.sample.as_slice()),
                (None, Some(scan)) if !scan.truncated && end.complete => Some(scan.copy.as_slice()),
                _ => None,
            };
            self.graphql_body(message, bytes);
        }
        if message.ob_read_body {
            let bytes = match (end.decoded, scan.as_deref()) {
                (Some(decoded), _) => Some(decoded.sample.as_slice()),
                (None, Some(scan)) => Some(scan.copy.as_slice()),
                (None, None) => None,
            };
            if let Some(bytes) = bytes {
                self.openbanking_body(message, bytes);
            }
        }
        if let Some(scan) = scan {
            self.give_back(scan);
        }
    }

    /// Trailer fields that followed a message's body (HTTP/2): a gRPC call's `grpc-status`.
    pub fn trailers<H: crate::exchange::HeaderLike>(
        &mut self,
        message: &mut Message,
        fields: &[H],
    ) {
        if let Some(g) = message.grpc.as_mut() {
            g.trailers(fields);
        }
    }

    /// A GraphQL message's body (`None`: not kept whole): a request's operations, a
    /// response's `errors`.
    fn graphql_body(&mut self, message: &mut Message, bytes: Option<&[u8]>) {
        let Some(g) = message.graphql.as_deref_mut() else {
            return;
        };
        match message.side {
            Side::Request => g.request_body(bytes),
            Side::Response => {
                if let Some(b) = bytes {
                    g.response_body(b);
                }
            }
        }
    }

    /// Operation names are kept as written, so they must not be values: a name in which the
    /// prefilter sees a data class is dropped (the operation is then known by its document's
    /// hash), as a SOAP action is withheld.
    fn withhold_graphql_names(&mut self, extracted: &mut crate::graphql::Extracted) {
        for op in &mut extracted.ops {
            if let Some(name) = &op.name {
                let classes = self
                    .heads
                    .classes_in(&self.observer.classifier, name.as_bytes());
                if !classes.is_empty() {
                    op.name = None;
                    self.graphql_names_withheld += 1;
                }
            }
        }
    }

    /// A body the open-banking lens asked for: the consent id it names or created.
    fn openbanking_body(&self, message: &mut Message, bytes: &[u8]) {
        use crate::openbanking::lens;
        let cfg = &self.observer.consumers;
        match message.side {
            Side::Request => {
                if let Some(facts) = message.openbanking.as_deref_mut() {
                    lens::request_body(cfg, facts, bytes);
                }
            }
            // Only a success created the consent its body names.
            Side::Response if message.status.is_some_and(|s| (200..300).contains(&s)) => {
                message.ob_created = lens::created_consent(cfg, bytes);
            }
            Side::Response => {}
        }
    }

    /// Finish a body's prefilter scan: whether it lit a class its endpoint had not shown
    /// (which the endpoint now has).
    fn scan_shows_new_class(&mut self, message: &Message, scan: &mut Scan) -> bool {
        let classes = scan.prefilter.finish(&self.observer.classifier);
        let Some(endpoint) = message.route.and_then(|r| r.endpoint) else {
            return false;
        };
        let known = self.known.entry((endpoint, message.side)).or_default();
        let new = !classes.difference(*known).is_empty();
        *known = known.union(classes);
        new
    }

    /// Count a finished exchange. `request` is `None` for a lone response, which says nothing
    /// about an endpoint and is only counted by the HTTP layer.
    pub fn exchange(
        &mut self,
        request: Option<Message>,
        response: Option<Message>,
        ts: Timestamp,
        anomalies: AnomalySet,
        response_delay_micros: Option<i64>,
    ) {
        let Some(mut req) = request else {
            if let Some(scan) = response.and_then(|mut r| r.scan.take()) {
                self.give_back(scan);
            }
            return;
        };
        if let Some(g) = req.graphql.as_deref_mut() {
            self.withhold_graphql_names(&mut g.extracted);
        }
        let Some(route) = req.route else {
            self.dropped += 1;
            return;
        };
        let host = slot(&mut self.hosts, route.host, || HostAgg {
            exchanges: 0,
            first_seen: ts,
            last_seen: ts,
        });
        host.exchanges += 1;
        host.first_seen = host.first_seen.min(ts);
        host.last_seen = host.last_seen.max(ts);
        let minute = ts.micros().div_euclid(60 * Timestamp::MICROS_PER_SEC);
        *self.timeline.entry(minute).or_default() += 1;
        if self.timeline.len() > TIMELINE_SLACK {
            trim(&mut self.timeline);
        }
        let Some(endpoint) = route.endpoint else {
            self.dropped += 1;
            return;
        };
        let cap = self.limits.max_names;
        let source = self
            .routes
            .endpoint(endpoint)
            .map_or(crate::observation::TemplateSource::Learned, |(_, s)| *s);
        let agg = slot(&mut self.aggs, endpoint, || EndpointAgg::new(source, ts));
        let mut novel = false;
        agg.exchanges += 1;
        if !anomalies.lowers_confidence() {
            agg.complete += 1;
        }
        match response.as_ref().and_then(|r| r.status) {
            Some(s) => {
                novel |= agg.statuses.iter().all(|(k, _)| k != s);
                agg.statuses.bump(s, 1, usize::MAX);
            }
            None => agg.no_response += 1,
        }
        if let Some(p) = req.params {
            agg.param_sets.bump(p, 1, usize::MAX);
        }
        let mut overflow = 0;
        if let Some(m) = req.media {
            novel |= agg.request_media.iter().all(|(k, _)| k != m);
            overflow += agg.request_media.bump(m, 1, cap);
        }
        if let Some(m) = response.as_ref().and_then(|r| r.media) {
            novel |= agg.response_media.iter().all(|(k, _)| k != m);
            overflow += agg.response_media.bump(m, 1, cap);
        }
        if let Some(g) = req.graphql.as_deref().filter(|g| g.extracted.is_graphql()) {
            let errors = response
                .as_ref()
                .and_then(|r| r.graphql.as_deref())
                .map_or(&[][..], |r| r.errors.as_slice());
            agg.graphql.get_or_insert_default().exchange(
                &g.extracted,
                response.as_ref().and_then(|r| r.status),
                errors,
            );
        }
        if let Some(a) = req.soap_action {
            novel |= agg.soap_actions.iter().all(|(k, _)| k != a);
            overflow += agg.soap_actions.bump(a, 1, cap);
        }
        agg.consumer(req.consumer, cap);
        if let Some(facts) = req.openbanking.as_deref() {
            let mut facts = facts.clone();
            facts.echoed = response.as_ref().and_then(|r| r.echoed);
            facts.created = response.as_ref().and_then(|r| r.ob_created.clone());
            let actor = self.consumers.name(req.consumer);
            // What the consumer pulled: the classes of the response, when it was looked at.
            let looked = response
                .as_ref()
                .is_some_and(|r| r.depth == BodyDepth::Learn || r.prefiltered);
            let names = &self.learner.class_names;
            let classes: Vec<&str> = response
                .as_ref()
                .and_then(|r| r.learned.as_deref())
                .map(|l| l.hits.iter().map(|(c, _, _)| names.get(*c)).collect())
                .unwrap_or_default();
            let outcome = crate::openbanking::lens::Outcome {
                status: response.as_ref().and_then(|r| r.status),
                looked,
                classes: &classes,
            };
            crate::openbanking::lens::record(
                agg.openbanking.get_or_insert_default(),
                &facts,
                actor,
                ts,
                &outcome,
            );
        }
        {
            // The SOAP operation of the exchange: its action, else its learned body's.
            fn labels(m: Option<&Message>) -> &[String] {
                m.and_then(|m| m.learned.as_deref())
                    .map_or(&[], |l| l.messages.as_slice())
            }
            let call = crate::soap::call_of(
                req.media.map(|m| self.media.get(m)),
                req.soap_action.map(|a| self.soap_actions.get(a)),
                labels(Some(&req)),
                labels(response.as_ref()),
                response.as_ref().and_then(|r| r.status),
            );
            if let Some(call) = call {
                agg.soap.get_or_insert_default().call(&call);
            }
        }
        if let Some(g) = req.grpc.as_deref() {
            let facts = grpc::call_facts(g, response.as_ref().and_then(|r| r.grpc.as_deref()));
            let record = agg.grpc.get_or_insert_with(|| {
                let path = self
                    .routes
                    .endpoint(endpoint)
                    .map_or("", |(k, _)| k.path.as_str());
                let (service, method) = crate::grpc::service_method(path).unwrap_or((path, ""));
                Box::new(crate::grpc::GrpcRecord::new(service, method))
            });
            record.call(&facts);
        }
        novel |= agg.auth.iter().all(|(k, _)| k != req.auth);
        overflow += agg.auth.bump(req.auth, 1, cap);
        for a in anomalies.iter() {
            if let Some(n) = agg.anomalies.get_mut(a.index()) {
                *n += 1;
            }
        }
        agg.first_seen = agg.first_seen.min(ts);
        agg.last_seen = agg.last_seen.max(ts);
        agg.overflow += overflow;
        if let Some(d) = response_delay_micros {
            agg.delay_sum = agg.delay_sum.saturating_add(d);
            agg.delay_count += 1;
            agg.delay_max = agg.delay_max.max(d);
        }
        let mut messages = [Some(req), response];
        for m in messages.iter_mut().flatten() {
            let bodies = match m.side {
                Side::Request => &mut agg.request_bodies,
                Side::Response => &mut agg.response_bodies,
            };
            bodies.bytes += m.wire_len;
            if m.body_present {
                if m.depth == BodyDepth::Learn || m.prefiltered {
                    bodies.learned += 1;
                } else {
                    bodies.skipped += 1;
                }
                if m.prefiltered {
                    bodies.prefiltered += 1;
                }
            }
            let Some(learned) = m.learned.take() else {
                continue;
            };
            let response = m.side == Side::Response;
            let mut new_here = false;
            for (path, ty) in &learned.fields {
                new_here |= agg.field(response, *path, *ty, cap);
            }
            for (class, location, preview) in &learned.hits {
                new_here |= agg.class(*class, *location, preview, cap);
            }
            for label in &learned.messages {
                new_here |= agg.message(label, cap);
            }
            if new_here {
                novel = true;
            } else if m.learn {
                self.policy.nothing_new(PolicyKey {
                    endpoint,
                    side: m.side,
                    media: m.media.unwrap_or(u32::MAX),
                });
            }
        }
        for m in messages.iter_mut().flatten() {
            if let Some(scan) = m.scan.take() {
                self.give_back(scan);
            }
        }
        if novel {
            self.policy.something_new(endpoint);
        }
    }

    /// Seal a window: the inventory of everything counted since the last seal. Caches,
    /// interners and the body policy are kept for the next window.
    pub fn take(&mut self) -> Inventory {
        let names = BuilderNames {
            params: &self.params,
            media: &self.media,
            soap_actions: &self.soap_actions,
            consumers: &self.consumers,
            learner: &self.learner,
        };
        let cap = self.limits.max_names;
        let routes = &self.routes;
        let endpoints = self
            .aggs
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let agg = a.as_ref()?;
                let (key, _) = routes.endpoint(u32::try_from(i).ok()?)?;
                Some((key.clone(), agg.record(&names, cap)))
            })
            .collect::<Vec<_>>();
        let hosts = self
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let h = h.as_ref()?;
                let name = routes.hosts.get(u32::try_from(i).ok()?);
                Some((name.to_string(), h.clone()))
            })
            .collect::<Vec<_>>();
        let inventory = aggregate::inventory(
            &self.limits,
            endpoints.into_iter(),
            hosts.into_iter(),
            &self.timeline,
            self.dropped,
        );
        self.aggs.clear();
        self.hosts.clear();
        self.timeline.clear();
        self.dropped = 0;
        if self.routes.endpoint_count() >= self.limits.max_endpoints {
            self.routes.clear_endpoints();
            self.known.clear();
            self.heads.clear();
        }
        inventory
    }

    /// End of the scan: the inventory of everything counted.
    pub fn finish(mut self) -> Inventory {
        self.take()
    }

    /// The builder's own counters (`engine.*`): caches, interners, tables, policy.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("engine_route_cache_hits", self.routes.cache_hits),
            ("engine_route_cache_misses", self.routes.cache_misses),
            ("engine_route_cache_resets", self.routes.cache_resets()),
            ("engine_endpoints_full", self.routes.endpoints_full),
            ("engine_hosts_full", self.routes.hosts.overflow),
            (
                "engine_consumer_cache_resets",
                self.consumers.cache_resets(),
            ),
            ("engine_consumers_full", self.consumers.overflow()),
            ("engine_param_sets_full", self.params.overflow),
            ("engine_param_names_full", self.params.names.overflow),
            ("engine_media_full", self.media.overflow),
            ("engine_soap_actions_full", self.soap_actions.overflow),
            ("engine_graphql_names_withheld", self.graphql_names_withheld),
            ("engine_paths_full", self.learner.paths.overflow()),
            ("engine_locations_full", self.learner.locations.overflow),
            ("engine_policies_full", self.policy.overflow),
            ("engine_heads_learned", self.heads_learned),
            ("engine_heads_flagged", self.heads_flagged),
            ("engine_head_values_repeated", self.heads.values_repeated),
            ("engine_head_values_replaced", self.heads.values_replaced),
            ("engine_head_value_memo_resets", self.heads.memo_resets),
            ("engine_head_memo_resets", self.learner.memo_resets()),
            ("engine_xml_dtds_refused", self.learner.xml_dtds_refused),
            ("engine_xml_texts_cut", self.learner.xml_texts_cut),
            (
                "engine_openbanking_untrusted_cert_headers",
                self.openbanking.as_ref().map_or(0, |l| l.untrusted_headers),
            ),
            (
                "engine_openbanking_bad_certificates",
                self.openbanking.as_ref().map_or(0, |l| l.bad_certificates),
            ),
            (
                "engine_openbanking_cache_resets",
                self.openbanking.as_ref().map_or(0, |l| l.cache_resets),
            ),
        ]
    }
}

/// The `action` parameter of a SOAP 1.2 content type (`application/soap+xml;
/// charset=utf-8; action="urn:x#Op"`), raw.
fn soap12_action(content_type: &[u8]) -> Option<&[u8]> {
    content_type
        .split(|&b| b == b';')
        .skip(1)
        .find_map(|param| {
            let param = param.trim_ascii();
            let (name, value) = param.split_at(param.iter().position(|&b| b == b'=')?);
            name.trim_ascii()
                .eq_ignore_ascii_case(b"action")
                .then(|| value[1..].trim_ascii())
        })
}

/// The id-to-name side of a builder, borrowed for a conversion.
struct BuilderNames<'a> {
    params: &'a ParamSets,
    media: &'a Interner,
    soap_actions: &'a Interner,
    consumers: &'a Consumers,
    learner: &'a Learner,
}

impl Names for BuilderNames<'_> {
    fn param_set(&self, id: u32) -> (Vec<&str>, Vec<&str>) {
        match self.params.get(id) {
            Some(set) => (
                set.query
                    .iter()
                    .map(|n| self.params.names.get(*n))
                    .collect(),
                set.headers
                    .iter()
                    .map(|n| self.params.names.get(*n))
                    .collect(),
            ),
            None => (Vec::new(), Vec::new()),
        }
    }
    fn media(&self, id: u32) -> &str {
        self.media.get(id)
    }
    fn soap_action(&self, id: u32) -> &str {
        self.soap_actions.get(id)
    }
    fn consumer(&self, id: u32) -> &str {
        self.consumers.name(id)
    }
    fn auth(&self, id: u32) -> &str {
        self.consumers.auth_label(id)
    }
    fn path(&self, id: crate::walk::PathId) -> &str {
        self.learner.paths.text(id)
    }
    fn location(&self, id: u32) -> &str {
        self.learner.locations.get(id)
    }
    fn class(&self, id: u32) -> &str {
        self.learner.class_names.get(id)
    }
}

/// The entry of a dense id-indexed table, created on first use.
fn slot<T>(table: &mut Vec<Option<T>>, id: u32, new: impl FnOnce() -> T) -> &mut T {
    let i = id as usize;
    if table.len() <= i {
        table.resize_with(i + 1, || None);
    }
    let entry = &mut table[i];
    entry.get_or_insert_with(new)
}

/// Keep the latest [`crate::inventory::TIMELINE_MINUTES`] minutes.
fn trim(timeline: &mut FastMap<i64, u64>) {
    let mut minutes: Vec<i64> = timeline.keys().copied().collect();
    minutes.sort_unstable();
    let excess = minutes
        .len()
        .saturating_sub(crate::inventory::TIMELINE_MINUTES);
    for m in minutes.iter().take(excess) {
        timeline.remove(m);
    }
}

/// `ip:port` of the server, for requests without a Host header (HTTP/1.0, HTTP/0.9).
pub fn server_authority(server: SocketAddr) -> String {
    match server.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", server.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", server.port()),
    }
}
