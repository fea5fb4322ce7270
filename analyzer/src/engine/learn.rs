//! The learn path: what an exchange's values and bodies say (field shapes, data classes),
//! computed only for the exchanges the body policy picks (and the bodies the prefilter flags).
//!
//! Bodies are walked by the streaming JSON walk ([`crate::walk`]): paths interned, no value
//! tree. Values are classified through [`Classifier::classify_into`] with the field-name hints
//! computed once per distinct name (per interned path, per header name, per query parameter
//! name) instead of once per value. Names, paths and locations are interned per worker; a
//! learned message carries ids, masked previews and nothing else. Work per exchange is bounded
//! by [`ObserveLimits`].

use super::intern::Interner;
use crate::classify::{ClassId, Classifier, FieldHints, Hit, PlaceKind};
use crate::exchange::HeaderLike;
use crate::observation::FieldType;
use crate::observe::ObserveLimits;
use crate::walk::{self, Field, PathId, Paths, Visitor, WalkLimits};
use crate::FastMap;

/// Request and response headers whose values are never classified: their grammar (dates,
/// lengths, tokens of the protocol itself) cannot carry the data classes we look for.
/// Lowercase, sorted for binary search.
pub const NEVER_CLASSIFIED: &[&str] = &[
    "accept-encoding",
    "accept-ranges",
    "age",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "date",
    "expires",
    "if-modified-since",
    "if-unmodified-since",
    "keep-alive",
    "last-modified",
    "pragma",
    "te",
    "transfer-encoding",
    "vary",
];

/// Messages of one gRPC body walked (the first ones of a stream show its shapes).
pub const MAX_GRPC_MESSAGES: usize = 8;

/// Distinct locations and names per worker.
const MAX_LOCATIONS: usize = 1 << 18;
const MAX_NAMES: usize = 1 << 16;

/// What learning one message found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Learned {
    /// (field path, type), de-duplicated.
    pub fields: Vec<(PathId, FieldType)>,
    /// (class id, location id, masked preview), de-duplicated.
    pub hits: Vec<(u32, u32, String)>,
    /// What kind of document the body was, when that is more than its content type says
    /// (`iso20022:pain.001.001.03`, `soap1.1:{urn:bank}GetBalance`, `xml:{ns}root`).
    pub messages: Vec<String>,
}

impl Learned {
    fn field(&mut self, path: PathId, ty: FieldType) {
        if !self.fields.contains(&(path, ty)) {
            self.fields.push((path, ty));
        }
    }

    fn hit(&mut self, hit: (u32, u32, String)) {
        if !self.hits.contains(&hit) {
            self.hits.push(hit);
        }
    }

    fn absorb(&mut self, other: Learned) {
        for (p, t) in other.fields {
            self.field(p, t);
        }
        for h in other.hits {
            self.hit(h);
        }
        for m in other.messages {
            if !self.messages.contains(&m) {
                self.messages.push(m);
            }
        }
    }
}

/// Which side a value was on, for its location (`request.body.x`, `response.header.y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prefix {
    Request,
    Response,
}

impl Prefix {
    fn as_str(self) -> &'static str {
        match self {
            Prefix::Request => "request",
            Prefix::Response => "response",
        }
    }
}

/// A header or query parameter name as the learn path needs it, computed once per name.
#[derive(Debug, Clone)]
struct NameInfo {
    /// Its values are classified (not one of [`NEVER_CLASSIFIED`]).
    classified: bool,
    hints: FieldHints,
    /// Location ids for the request and the response side.
    location: [Option<u32>; 2],
}

/// One worker's learn-path state: interned paths and locations, hints per name.
#[derive(Debug)]
pub struct Learner {
    pub paths: Paths,
    pub locations: Interner,
    /// Hints per interned path (by path index).
    path_hints: Vec<Option<FieldHints>>,
    /// Location ids of body paths per side.
    path_locations: FastMap<(Prefix, PathId), u32>,
    /// Header names as sent and query parameter names (decoded), per place.
    headers: FastMap<Box<[u8]>, NameInfo>,
    query: FastMap<Box<str>, NameInfo>,
    /// Class ids of the rule set mapped to this worker's ids (the rule set's own order).
    pub class_names: Interner,
    class_ids: Vec<Option<u32>>,
    decoder: walk::Decoder,
    hits: Vec<Hit>,
    /// Header values classified before: the same credential, user agent or client id comes
    /// back on every request of a caller, and is classified once.
    memo: HeadMemo,
    /// XML bodies refused for declaring a DTD (never read: see `walk::xml`).
    pub xml_dtds_refused: u64,
    /// XML element texts classified on their first `walk::xml::MAX_TEXT` bytes only.
    pub xml_texts_cut: u64,
}

/// Classifications of head values by (location, keyed hash of the value): no raw value is
/// kept, only the hits (class and masked preview) it gave. Bounded: cleared when full.
#[derive(Debug, Default)]
struct HeadMemo {
    hasher: foldhash::fast::RandomState,
    hits: FastMap<(u32, u64, usize), Box<[Hit]>>,
    resets: u64,
}

/// Head values remembered per worker.
const MEMO_ENTRIES: usize = 4096;

impl HeadMemo {
    fn key(&self, location: u32, value: &[u8]) -> (u32, u64, usize) {
        use std::hash::BuildHasher;
        (location, self.hasher.hash_one(value), value.len())
    }

    fn remember(&mut self, key: (u32, u64, usize), hits: &[Hit]) {
        if self.hits.len() >= MEMO_ENTRIES {
            self.hits.clear();
            self.resets += 1;
        }
        self.hits.insert(key, hits.into());
    }
}

impl Default for Learner {
    fn default() -> Self {
        Learner {
            paths: Paths::default(),
            locations: Interner::new(MAX_LOCATIONS),
            path_hints: Vec::new(),
            path_locations: FastMap::default(),
            headers: FastMap::default(),
            query: FastMap::default(),
            class_names: Interner::new(crate::classify::rules::MAX_CLASSES),
            class_ids: Vec::new(),
            decoder: walk::Decoder::new(),
            hits: Vec::new(),
            memo: HeadMemo::default(),
            xml_dtds_refused: 0,
            xml_texts_cut: 0,
        }
    }
}

/// One learn job: the classifier, the limits, and the exchange's value budget.
pub struct Job<'a> {
    pub classifier: &'a Classifier,
    pub limits: &'a ObserveLimits,
    /// Values still allowed to be classified for this exchange.
    pub budget: &'a mut usize,
}

/// Classify `value` and record its hits at `location`, within the budget.
#[allow(clippy::too_many_arguments)]
fn classify(
    job: &mut Job<'_>,
    value: &[u8],
    place: PlaceKind,
    hints: &FieldHints,
    location: u32,
    scratch: &mut Vec<Hit>,
    class_ids: &mut Vec<Option<u32>>,
    class_names: &mut Interner,
    out: &mut Learned,
) {
    if *job.budget == 0 || value.is_empty() {
        return;
    }
    *job.budget -= 1;
    scratch.clear();
    job.classifier.classify_into(value, place, hints, scratch);
    for hit in scratch.drain(..) {
        let Some(class) = class_id(job.classifier, hit.class, class_ids, class_names) else {
            continue;
        };
        out.hit((class, location, hit.preview));
    }
}

/// This worker's id for a rule-set class.
fn class_id(
    classifier: &Classifier,
    class: ClassId,
    ids: &mut Vec<Option<u32>>,
    names: &mut Interner,
) -> Option<u32> {
    let i = class.index();
    if let Some(Some(id)) = ids.get(i) {
        return Some(*id);
    }
    let id = names.intern(classifier.class_name(class))?;
    if ids.len() <= i {
        ids.resize(i + 1, None);
    }
    if let Some(slot) = ids.get_mut(i) {
        *slot = Some(id);
    }
    Some(id)
}

impl Learner {
    fn name_info(
        locations: &mut Interner,
        classifier: &Classifier,
        kind: &str,
        name: &str,
        classified: bool,
    ) -> NameInfo {
        let location = |side: Prefix, locations: &mut Interner| {
            locations.intern(&format!("{}.{kind}.{name}", side.as_str()))
        };
        NameInfo {
            classified,
            hints: if classified {
                classifier.field_hints(name)
            } else {
                FieldHints::NONE
            },
            location: [
                location(Prefix::Request, locations),
                location(Prefix::Response, locations),
            ],
        }
    }

    /// Query values of a learned request.
    pub fn query(&mut self, job: &mut Job<'_>, query: &str, out: &mut Learned) {
        for pair in walk::pairs(query.as_bytes(), job.limits.max_params) {
            let name = self.decoder.decode(pair.name).to_string();
            if name.is_empty() {
                continue;
            }
            if !self.query.contains_key(name.as_str()) && self.query.len() < MAX_NAMES {
                let info =
                    Self::name_info(&mut self.locations, job.classifier, "query", &name, true);
                self.query.insert(name.as_str().into(), info);
            }
            let Some(info) = self.query.get(name.as_str()) else {
                continue;
            };
            let Some(location) = info.location[0] else {
                continue;
            };
            let value = self.decoder.decode(pair.value);
            classify(
                job,
                value.as_bytes(),
                PlaceKind::Query,
                &info.hints,
                location,
                &mut self.hits,
                &mut self.class_ids,
                &mut self.class_names,
                out,
            );
        }
    }

    /// Header values of a learned message.
    pub fn headers<H: HeaderLike>(
        &mut self,
        job: &mut Job<'_>,
        headers: &[H],
        side: Prefix,
        out: &mut Learned,
    ) {
        for h in headers.iter().take(job.limits.max_params) {
            let raw = h.name().as_bytes();
            if !self.headers.contains_key(raw) && self.headers.len() < MAX_NAMES {
                let name = h.name().to_ascii_lowercase();
                let classified = NEVER_CLASSIFIED.binary_search(&name.as_str()).is_err();
                let info = Self::name_info(
                    &mut self.locations,
                    job.classifier,
                    "header",
                    &name,
                    classified,
                );
                self.headers.insert(raw.into(), info);
            }
            let Some(info) = self.headers.get(raw) else {
                continue;
            };
            let location = info.location[usize::from(side == Prefix::Response)];
            let (true, Some(location)) = (info.classified, location) else {
                continue;
            };
            let Some(value) = std::str::from_utf8(h.value()).ok().map(str::trim) else {
                continue;
            };
            if *job.budget == 0 || value.is_empty() {
                continue;
            }
            *job.budget -= 1;
            let key = self.memo.key(location, value.as_bytes());
            let hits: &[Hit] = match self.memo.hits.get(&key) {
                Some(hits) => hits,
                None => {
                    self.hits.clear();
                    job.classifier.classify_into(
                        value.as_bytes(),
                        PlaceKind::Header,
                        &info.hints,
                        &mut self.hits,
                    );
                    self.memo.remember(key, &self.hits);
                    &self.hits
                }
            };
            for hit in hits {
                if let Some(class) = class_id(
                    job.classifier,
                    hit.class,
                    &mut self.class_ids,
                    &mut self.class_names,
                ) {
                    out.hit((class, location, hit.preview.clone()));
                }
            }
        }
    }

    /// Times the memo of head values was full and started over.
    pub fn memo_resets(&self) -> u64 {
        self.memo.resets
    }

    /// Field shapes of a JSON or form body, classifying leaf values on the way. A JSON body
    /// that does not parse whole (a truncated sample) gives nothing: its shapes stay unknown
    /// rather than guessed.
    pub fn body(
        &mut self,
        job: &mut Job<'_>,
        body: &[u8],
        content_type: Option<&str>,
        side: Prefix,
        out: &mut Learned,
    ) {
        if body.is_empty() {
            return;
        }
        let ct = content_type.unwrap_or("");
        let looks_json = ct.ends_with("json")
            || ct.ends_with("+json")
            || ct.is_empty() && matches!(first_byte(body), Some(b'{') | Some(b'['));
        if looks_json {
            let (paths, mut walker) = self.body_walk(job, side);
            let limits = walker.limits();
            if walk::walk_json(body, paths, &limits, &mut walker).is_ok() {
                out.absorb(walker.found);
            }
        } else if looks_xml(ct, body) {
            self.xml(job, body, side, out);
        } else if ct == "application/x-www-form-urlencoded" {
            self.form(job, body, side, out);
        }
    }

    /// Field shapes of the protobuf messages in a gRPC body's kept prefix (whole messages
    /// only, at most [`MAX_GRPC_MESSAGES`]; compressed ones inflated when the call said
    /// `grpc-encoding: gzip`), classifying string values on the way. With `schema` (the
    /// declarations and the message type of this side) fields get their declared names. A
    /// message that does not parse whole gives nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn grpc(
        &mut self,
        job: &mut Job<'_>,
        body: &[u8],
        gzip: bool,
        schema: Option<(&crate::grpc::schema::GrpcSchema, &str)>,
        side: Prefix,
        out: &mut Learned,
    ) {
        use crate::grpc::{frames, protobuf};
        for m in frames::messages(body).take(MAX_GRPC_MESSAGES) {
            let inflated;
            let bytes = match (m.compressed, gzip) {
                (false, _) => m.bytes,
                (true, true) => match frames::gunzip(m.bytes, job.limits.max_body_sample) {
                    Some(v) => {
                        inflated = v;
                        &inflated
                    }
                    None => continue,
                },
                (true, false) => continue,
            };
            let (paths, mut walker) = self.body_walk(job, side);
            let limits = walker.limits();
            if protobuf::walk_protobuf(bytes, paths, &limits, schema, &mut walker).is_ok() {
                out.absorb(walker.found);
            }
        }
    }

    /// A walk of one body on `side`, with the paths it interns into.
    fn body_walk<'s, 'j, 'a>(
        &'s mut self,
        job: &'j mut Job<'a>,
        side: Prefix,
    ) -> (&'s mut Paths, BodyWalk<'j, 'a, 's>) {
        (
            &mut self.paths,
            BodyWalk {
                job,
                side,
                found: Learned::default(),
                path_hints: &mut self.path_hints,
                path_locations: &mut self.path_locations,
                locations: &mut self.locations,
                hits: &mut self.hits,
                class_ids: &mut self.class_ids,
                class_names: &mut self.class_names,
            },
        )
    }

    fn xml(&mut self, job: &mut Job<'_>, body: &[u8], side: Prefix, out: &mut Learned) {
        let (paths, mut walker) = self.body_walk(job, side);
        let limits = walker.limits();
        // A document the walk cannot read (a DTD, a cut sample) gives nothing, as a JSON
        // body that does not parse.
        match walk::walk_xml(body, paths, &limits, &mut walker) {
            Ok(summary) => {
                let mut found = walker.found;
                found.messages = message_labels(&summary);
                out.absorb(found);
                self.xml_texts_cut += summary.texts_cut;
            }
            Err(walk::xml::XmlError::Doctype(_)) => self.xml_dtds_refused += 1,
            Err(_) => {}
        }
    }

    fn form(&mut self, job: &mut Job<'_>, body: &[u8], side: Prefix, out: &mut Learned) {
        for pair in walk::pairs(body, job.limits.max_fields) {
            let name = self.decoder.decode(pair.name).to_string();
            if name.is_empty() {
                continue;
            }
            let Some(path) = self.paths.key(PathId::ROOT, &name) else {
                continue;
            };
            out.field(path, FieldType::String);
            let Some(location) = body_location(
                &mut self.path_locations,
                &mut self.locations,
                side,
                path,
                self.paths.text(path),
            ) else {
                continue;
            };
            let hints = hints_for(&mut self.path_hints, path, &name, job.classifier);
            let value = self.decoder.decode(pair.value);
            classify(
                job,
                value.as_bytes(),
                PlaceKind::Body,
                hints,
                location,
                &mut self.hits,
                &mut self.class_ids,
                &mut self.class_names,
                out,
            );
        }
    }
}

/// The hints of a body path's name (`name`, its last key), computed once per path.
fn hints_for<'c>(
    cache: &'c mut Vec<Option<FieldHints>>,
    path: PathId,
    name: &str,
    classifier: &Classifier,
) -> &'c FieldHints {
    let i = path.index();
    if cache.len() <= i {
        cache.resize(i + 1, None);
    }
    static NO_HINTS: FieldHints = FieldHints::NONE;
    match cache.get_mut(i) {
        Some(slot) => slot.get_or_insert_with(|| classifier.field_hints(name)),
        None => &NO_HINTS,
    }
}

/// The location id of a body path on `side` (`text` is the path's text):
/// `response.body.Data.Iban`, `request.body[].x`, `response.body` for the root.
fn body_location(
    cache: &mut FastMap<(Prefix, PathId), u32>,
    locations: &mut Interner,
    side: Prefix,
    path: PathId,
    text: &str,
) -> Option<u32> {
    if let Some(&id) = cache.get(&(side, path)) {
        return Some(id);
    }
    let prefix = side.as_str();
    let location = if text.is_empty() {
        format!("{prefix}.body")
    } else if text.starts_with('[') {
        format!("{prefix}.body{text}")
    } else {
        format!("{prefix}.body.{text}")
    };
    let id = locations.intern(&location)?;
    cache.insert((side, path), id);
    Some(id)
}

/// The walk of one JSON body: shapes and classified values into `found`.
struct BodyWalk<'j, 'a, 'l> {
    job: &'j mut Job<'a>,
    side: Prefix,
    found: Learned,
    path_hints: &'l mut Vec<Option<FieldHints>>,
    path_locations: &'l mut FastMap<(Prefix, PathId), u32>,
    locations: &'l mut Interner,
    hits: &'l mut Vec<Hit>,
    class_ids: &'l mut Vec<Option<u32>>,
    class_names: &'l mut Interner,
}

impl BodyWalk<'_, '_, '_> {
    fn limits(&self) -> WalkLimits {
        WalkLimits {
            max_depth: self.job.limits.max_depth,
            max_fields: self.job.limits.max_fields,
        }
    }

    /// Classify a scalar at `path` (its last key `name`, its text `text`).
    fn scalar(&mut self, path: PathId, name: &str, text: &str, scalar: &[u8]) {
        let Some(location) =
            body_location(self.path_locations, self.locations, self.side, path, text)
        else {
            return;
        };
        let hints = hints_for(self.path_hints, path, name, self.job.classifier);
        classify(
            self.job,
            scalar,
            PlaceKind::Body,
            hints,
            location,
            self.hits,
            self.class_ids,
            self.class_names,
            &mut self.found,
        );
    }
}

/// XML by content type (`application/xml`, `text/xml`, `application/soap+xml`, any `+xml`),
/// or, without one, by a body that opens with `<`.
fn looks_xml(ct: &str, body: &[u8]) -> bool {
    ct.ends_with("/xml") || ct.ends_with("+xml") || ct.is_empty() && first_byte(body) == Some(b'<')
}

/// A body's first byte that is not whitespace: what it is, when no content type says.
fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// The labels an XML document's summary gives: its ISO 20022 message type, its SOAP operation,
/// else its document element.
fn message_labels(s: &walk::XmlSummary) -> Vec<String> {
    let mut labels = Vec::new();
    if let Some(kind) = &s.iso20022 {
        labels.push(format!("iso20022:{kind}"));
    }
    if let Some(version) = s.soap {
        let v = match version {
            walk::xml::SoapVersion::V1_1 => "soap1.1",
            walk::xml::SoapVersion::V1_2 => "soap1.2",
        };
        labels.push(format!(
            "{v}:{}",
            s.soap_body.as_deref().unwrap_or("(empty body)")
        ));
    }
    if labels.is_empty() {
        if let Some(root) = &s.root {
            labels.push(format!("xml:{root}"));
        }
    }
    labels
}

impl Visitor for BodyWalk<'_, '_, '_> {
    fn field(&mut self, field: &Field<'_>) {
        self.found.field(field.path, field.ty);
        if let Some(scalar) = field.scalar {
            self.scalar(field.path, field.name, field.text, scalar);
        }
    }

    fn root_scalar(&mut self, _ty: FieldType, scalar: &[u8]) {
        self.scalar(PathId::ROOT, "", "", scalar);
    }
}
