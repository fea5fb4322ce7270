//! XML bodies walked like JSON ones: SOAP envelopes, ISO 20022 payment messages and plain XML
//! APIs give field shapes and data classes through the same [`Visitor`].
//!
//! - The document element is the root (not a field, as a JSON root object is not); its
//!   descendants join by local name with `.` (`CstmrCdtTrfInitn.PmtInf.DbtrAcct.Id.IBAN`);
//!   attributes are `@name` children (`InstdAmt.@Ccy`); namespace prefixes are dropped from
//!   paths (the namespaces that matter are in [`XmlSummary`]), `xmlns` declarations are not
//!   fields.
//! - An element with child elements is an `Object`; one with only text is a `String` whose
//!   scalar is the trimmed text (XML carries no number type; a schema would); an empty one is
//!   `Null`. Repeated siblings share one path, as XML does not say what is a list.
//! - Hostile input: a pull parse (quick-xml) over the bounded body sample; a DOCTYPE ends the
//!   walk with an error (no DTD is read, so no entity can be declared, expanded or fetched);
//!   only the five predefined entities and character references are resolved; element text
//!   is kept up to [`MAX_TEXT`] bytes; nesting past [`NESTING_LIMIT`] is an error, fields past
//!   `max_depth`/`max_fields` are not reported, as for JSON. The text scratch is zeroed after
//!   the walk: no value outlives it.
//!
//! Besides the fields, the walk returns what the document is ([`XmlSummary`]): its document
//! element, the SOAP version and the first child of the SOAP `Body` (the operation when the
//! request names none), and the ISO 20022 message type from the first element in an ISO 20022
//! namespace (`urn:iso:std:iso:20022:tech:xsd:pain.001.001.03` gives `pain.001.001.03`).

use super::{report, PathId, Paths, Visitor, WalkLimits, NESTING_LIMIT};
use crate::observation::FieldType;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const ISO20022_NS_PREFIX: &str = "urn:iso:std:iso:20022:tech:xsd:";
/// Most bytes of one element's text kept (longer text is classified on its first bytes).
pub const MAX_TEXT: usize = 8 * 1024;
/// Longest namespace or name kept in the summary.
const MAX_NAME: usize = 256;

/// The SOAP version an envelope's namespace says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    V1_1,
    V1_2,
}

/// What an XML document is, beyond its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlSummary {
    /// The document element as `{namespace}local` (just `local` without a namespace).
    pub root: Option<String>,
    pub soap: Option<SoapVersion>,
    /// The first child element of the SOAP `Body`, `{namespace}local`.
    pub soap_body: Option<String>,
    /// The ISO 20022 message type, e.g. `pain.001.001.03`.
    pub iso20022: Option<String>,
    /// Element texts longer than [`MAX_TEXT`], classified on their first bytes only.
    pub texts_cut: u64,
}

/// Why a body is not XML this walk reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("XML with a DTD at byte {0}: not read")]
    Doctype(u64),
    #[error("invalid XML at byte {0}")]
    Syntax(u64),
    #[error("XML ends before its document element closes")]
    Eof,
    #[error("XML nested deeper than {NESTING_LIMIT} at byte {0}")]
    Nesting(u64),
    #[error("no document element")]
    Empty,
}

/// An open element.
struct Open {
    path: Option<PathId>,
    depth: usize,
    children: bool,
    /// Where this element's own text starts in the text scratch.
    text_start: usize,
    /// Whether this element is the SOAP Body (its first child is the operation).
    soap_body: bool,
}

/// Walk `bytes` as an XML document; see the module docs.
pub fn walk_xml(
    bytes: &[u8],
    paths: &mut Paths,
    limits: &WalkLimits,
    visitor: &mut impl Visitor,
) -> Result<XmlSummary, XmlError> {
    paths.begin();
    let mut text = Vec::new();
    let result = walk(bytes, paths, limits, visitor, &mut text);
    super::zero(&mut text);
    result
}

fn walk(
    bytes: &[u8],
    paths: &mut Paths,
    limits: &WalkLimits,
    visitor: &mut impl Visitor,
    text: &mut Vec<u8>,
) -> Result<XmlSummary, XmlError> {
    let mut reader = NsReader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut summary = XmlSummary::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut closed_root = false;
    loop {
        let at = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (namespace(&ns), event),
            Err(_) => return Err(XmlError::Syntax(reader.error_position())),
        };
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype(at)),
            Event::Start(ref e) | Event::Empty(ref e) => {
                if closed_root {
                    return Err(XmlError::Syntax(at));
                }
                if stack.len() >= NESTING_LIMIT {
                    return Err(XmlError::Nesting(at));
                }
                let local = local_name(e, at)?;
                note(&mut summary, &stack, ns.as_deref(), &local);
                let (path, depth) = match stack.last_mut() {
                    None => (Some(PathId::ROOT), 0),
                    Some(parent) => {
                        parent.children = true;
                        let depth = parent.depth + 1;
                        let path = parent
                            .path
                            .filter(|_| depth <= limits.max_depth)
                            .and_then(|p| paths.key(p, &local));
                        (path, depth)
                    }
                };
                let soap_body = summary.soap.is_some()
                    && stack.len() == 1
                    && local == "Body"
                    && matches!(ns.as_deref(), Some(SOAP11_NS | SOAP12_NS));
                if let Some(p) = path {
                    attributes(e, at, paths, limits, visitor, p, depth + 1)?;
                }
                let open = Open {
                    path,
                    depth,
                    children: false,
                    text_start: text.len(),
                    soap_body,
                };
                if matches!(event, Event::Empty(_)) {
                    close(open, paths, limits, visitor, text);
                    closed_root |= stack.is_empty();
                } else {
                    stack.push(open);
                }
            }
            Event::End(_) => {
                let open = stack.pop().ok_or(XmlError::Syntax(at))?;
                close(open, paths, limits, visitor, text);
                closed_root |= stack.is_empty();
            }
            Event::Text(t) => {
                if !stack.is_empty() {
                    summary.texts_cut += keep_text(text, &stack, &t);
                } else if t.iter().any(|b| !b.is_ascii_whitespace()) {
                    return Err(XmlError::Syntax(at));
                }
            }
            Event::CData(t) => {
                if stack.is_empty() {
                    return Err(XmlError::Syntax(at));
                }
                summary.texts_cut += keep_text(text, &stack, &t);
            }
            Event::GeneralRef(r) => {
                if stack.is_empty() {
                    return Err(XmlError::Syntax(at));
                }
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => predefined(&r).ok_or(XmlError::Syntax(at))?,
                    Err(_) => return Err(XmlError::Syntax(at)),
                };
                let mut utf8 = [0u8; 4];
                let piece = resolved.encode_utf8(&mut utf8).as_bytes();
                summary.texts_cut += keep_text(text, &stack, piece);
            }
            Event::Eof => {
                return if !stack.is_empty() {
                    Err(XmlError::Eof)
                } else if summary.root.is_none() {
                    Err(XmlError::Empty)
                } else {
                    Ok(summary)
                };
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
}

/// Report a closed element: `Object` with children, else its text as a `String`, else `Null`.
fn close(
    open: Open,
    paths: &mut Paths,
    limits: &WalkLimits,
    visitor: &mut impl Visitor,
    text: &mut Vec<u8>,
) {
    let own = text.get(open.text_start..).unwrap_or_default();
    let trimmed = own.trim_ascii();
    if let Some(p) = open.path.filter(|_| paths.shapes < limits.max_fields) {
        if open.children {
            report(paths, visitor, p, open.depth, FieldType::Object, None);
        } else if trimmed.is_empty() {
            report(paths, visitor, p, open.depth, FieldType::Null, None);
        } else {
            report(
                paths,
                visitor,
                p,
                open.depth,
                FieldType::String,
                Some(trimmed),
            );
        }
    }
    // The element's text is done with: zero it before the parent reuses the space.
    if let Some(own) = text.get_mut(open.text_start..) {
        own.fill(0);
    }
    text.truncate(open.text_start);
}

/// Append text to the innermost element's, up to [`MAX_TEXT`] bytes of it; 1 when the piece
/// was cut there, so the walk counts it.
fn keep_text(text: &mut Vec<u8>, stack: &[Open], piece: &[u8]) -> u64 {
    let start = stack.last().map_or(0, |o| o.text_start);
    let room = MAX_TEXT.saturating_sub(text.len() - start);
    text.extend_from_slice(&piece[..piece.len().min(room)]);
    u64::from(piece.len() > room)
}

/// Report an element's attributes (not namespace declarations) as `@name` string fields.
fn attributes(
    e: &BytesStart<'_>,
    at: u64,
    paths: &mut Paths,
    limits: &WalkLimits,
    visitor: &mut impl Visitor,
    element: PathId,
    depth: usize,
) -> Result<(), XmlError> {
    for attr in e.attributes() {
        let attr = attr.map_err(|_| XmlError::Syntax(at))?;
        let key = attr.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        if depth > limits.max_depth || paths.shapes >= limits.max_fields {
            continue;
        }
        let local =
            std::str::from_utf8(key.local_name().into_inner()).map_err(|_| XmlError::Syntax(at))?;
        let name = format!("@{local}");
        let Some(p) = paths.key(element, &name) else {
            continue;
        };
        let value = attr.unescape_value().map_err(|_| XmlError::Syntax(at))?;
        report(
            paths,
            visitor,
            p,
            depth,
            FieldType::String,
            Some(value.trim().as_bytes()),
        );
    }
    Ok(())
}

fn local_name(e: &BytesStart<'_>, at: u64) -> Result<String, XmlError> {
    std::str::from_utf8(e.local_name().into_inner())
        .map(str::to_string)
        .map_err(|_| XmlError::Syntax(at))
}

fn namespace(ns: &ResolveResult<'_>) -> Option<String> {
    match ns {
        ResolveResult::Bound(n) => std::str::from_utf8(n.into_inner())
            .ok()
            .filter(|s| s.len() <= MAX_NAME)
            .map(str::to_string),
        _ => None,
    }
}

/// Record in the summary what an element says about the document.
fn note(summary: &mut XmlSummary, stack: &[Open], ns: Option<&str>, local: &str) {
    let qualified = || {
        let mut q = match ns {
            Some(ns) => format!("{{{ns}}}{local}"),
            None => local.to_string(),
        };
        let mut end = q.len().min(MAX_NAME * 2);
        while !q.is_char_boundary(end) {
            end -= 1;
        }
        q.truncate(end);
        q
    };
    if stack.is_empty() {
        summary.root = Some(qualified());
        if local == "Envelope" {
            summary.soap = match ns {
                Some(SOAP11_NS) => Some(SoapVersion::V1_1),
                Some(SOAP12_NS) => Some(SoapVersion::V1_2),
                _ => None,
            };
        }
    } else if stack.last().is_some_and(|o| o.soap_body) && summary.soap_body.is_none() {
        summary.soap_body = Some(qualified());
    }
    if summary.iso20022.is_none() {
        if let Some(kind) = ns.and_then(|n| n.strip_prefix(ISO20022_NS_PREFIX)) {
            if is_message_type(kind) {
                summary.iso20022 = Some(kind.to_string());
            }
        }
    }
}

/// `pain.001.001.03`: a business area of four letters, the message and variant numbers of
/// three digits, the version of two.
fn is_message_type(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    matches!(parts.as_slice(), [area, message, variant, version]
        if area.len() == 4
            && area.bytes().all(|b| b.is_ascii_lowercase())
            && digits(message, 3)
            && digits(variant, 3)
            && digits(version, 2))
}

/// The five entities XML predefines; any other is an error (no DTD declares one).
fn predefined(r: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    match &**r {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"apos" => Some('\''),
        b"quot" => Some('"'),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
