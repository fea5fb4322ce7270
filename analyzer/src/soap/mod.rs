//! SOAP operations: what an endpoint's SOAP calls were (the [`SoapRecord`] on its inventory
//! record) and what a WSDL declares (`wsdl`, read into the catalogue by `catalogue/wsdl.rs`).
//!
//! The operation of one exchange is its SOAP action (`SOAPAction` for SOAP 1.1, the `action`
//! content-type parameter for SOAP 1.2) when the request names one, else the first child of
//! the request's SOAP `Body` as `{namespace}Local` when the body was learned. A call with
//! neither (an empty `SOAPAction` and a body not walked) is counted as unnamed: never guessed.

pub mod wsdl;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most operations kept per endpoint; more are counted in `overflow`.
pub const MAX_OPERATIONS: usize = 256;

/// Calls of one SOAP operation on one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoapOperationStat {
    pub calls: u64,
    /// Calls answered with a SOAP fault (an HTTP 5xx, as SOAP 1.1 and 1.2 send faults, or a
    /// learned response whose `Body` holds a `Fault`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub faults: u64,
}

/// What one endpoint's SOAP calls showed: the protocol marker the outputs read. Merges like the
/// rest of the record (sums, capped maps), so inventories combine in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoapRecord {
    /// SOAP version (`1.1`, `1.2`) -> calls.
    pub versions: BTreeMap<String, u64>,
    /// Operation (the action as written, or `{namespace}Local` of the body) -> calls.
    pub operations: BTreeMap<String, SoapOperationStat>,
    /// Calls whose operation could not be named (no action, body not learned).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unnamed: u64,
    /// Operations past [`MAX_OPERATIONS`] (calls not itemised).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflow: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one exchange tells about SOAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoapCall<'a> {
    /// `1.1` or `1.2`.
    pub version: &'static str,
    pub operation: Option<&'a str>,
    pub fault: bool,
}

/// The SOAP call an exchange was, if it was one. `media` is the request's media type, `action`
/// the SOAP action the head named, `request_labels` and `response_labels` the document kinds
/// of the learned bodies (`soap1.1:{ns}Local`, see `engine::learn`), `status` the response's.
pub fn call_of<'a>(
    media: Option<&str>,
    action: Option<&'a str>,
    request_labels: &'a [String],
    response_labels: &[String],
    status: Option<u16>,
) -> Option<SoapCall<'a>> {
    let body = request_labels.iter().find_map(|l| soap_label(l));
    let version = match (body, media) {
        (Some((v, _)), _) => v,
        (None, Some("application/soap+xml")) => "1.2",
        (None, Some("text/xml")) if action.is_some() => "1.1",
        _ => return None,
    };
    let fault = status.is_some_and(|s| s >= 500)
        || response_labels
            .iter()
            .filter_map(|l| soap_label(l))
            .any(|(_, element)| is_fault(element));
    Some(SoapCall {
        version,
        operation: action.or(body.map(|(_, element)| element)),
        fault,
    })
}

/// `soap1.1:{ns}Local` -> (`1.1`, `{ns}Local`).
fn soap_label(label: &str) -> Option<(&'static str, &str)> {
    if let Some(rest) = label.strip_prefix("soap1.1:") {
        Some(("1.1", rest))
    } else {
        label.strip_prefix("soap1.2:").map(|rest| ("1.2", rest))
    }
}

fn is_fault(element: &str) -> bool {
    element == format!("{{{}}}Fault", crate::walk::xml::SOAP11_NS)
        || element == format!("{{{}}}Fault", crate::walk::xml::SOAP12_NS)
}

impl SoapRecord {
    /// Count one call.
    pub fn call(&mut self, call: &SoapCall<'_>) {
        let mut one = SoapRecord::default();
        one.versions.insert(call.version.to_string(), 1);
        match call.operation {
            Some(op) => {
                let stat = SoapOperationStat {
                    calls: 1,
                    faults: u64::from(call.fault),
                };
                one.operations.insert(op.to_string(), stat);
            }
            None => one.unnamed = 1,
        }
        self.merge(&one);
    }

    /// Calls in all.
    pub fn calls(&self) -> u64 {
        self.versions
            .values()
            .fold(0u64, |a, n| a.saturating_add(*n))
    }

    /// Merge another record of the same endpoint (counts from other agents: saturating).
    pub fn merge(&mut self, other: &SoapRecord) {
        for (v, n) in &other.versions {
            // Two versions at most are written by `call`; a batch may say more: capped.
            if let Some(c) = self.versions.get_mut(v) {
                *c = c.saturating_add(*n);
            } else if self.versions.len() < 4 {
                self.versions.insert(v.clone(), *n);
            } else {
                self.overflow = self.overflow.saturating_add(1);
            }
        }
        for (op, stat) in &other.operations {
            if let Some(mine) = self.operations.get_mut(op) {
                mine.calls = mine.calls.saturating_add(stat.calls);
                mine.faults = mine.faults.saturating_add(stat.faults);
            } else if self.operations.len() < MAX_OPERATIONS {
                self.operations.insert(op.clone(), *stat);
            } else {
                self.overflow = self.overflow.saturating_add(1);
            }
        }
        self.unnamed = self.unnamed.saturating_add(other.unnamed);
        self.overflow = self.overflow.saturating_add(other.overflow);
    }
}

/// The SOAP operation of one request seen whole (for `shadowtap exchanges`): the action its
/// head names (`SOAPAction` on `text/xml`, `action` on `application/soap+xml`), else the first
/// child of its envelope's `Body`. `carries_data` says whether an action is a value (a data
/// class in it): such an action is withheld, as on the inventory's count path.
pub fn request_operation(
    content_type: Option<&str>,
    soap_action: Option<&str>,
    body: &[u8],
    carries_data: impl Fn(&str) -> bool,
) -> Option<String> {
    let ct = content_type?;
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let action = match media.as_str() {
        "text/xml" => soap_action,
        "application/soap+xml" => ct.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("action").then_some(v)
        }),
        _ => return None,
    }
    .map(|a| a.trim().trim_matches('"').trim())
    .filter(|a| !a.is_empty());
    if let Some(a) = action {
        return Some(if carries_data(a) {
            crate::engine::WITHHELD_SOAP_ACTION.to_string()
        } else {
            a.to_string()
        });
    }
    struct Nothing;
    impl crate::walk::Visitor for Nothing {
        fn field(&mut self, _: &crate::walk::Field<'_>) {}
    }
    let mut paths = crate::walk::Paths::new(crate::walk::PathLimits::default());
    let limits = crate::walk::WalkLimits::default();
    crate::walk::walk_xml(body, &mut paths, &limits, &mut Nothing)
        .ok()
        .filter(|s| s.soap.is_some())
        .and_then(|s| s.soap_body)
}

/// One line for reports: `SOAP 1.1 operations (calls/faults): A (3), B (1/1); 2 unnamed`.
pub fn summary(r: &SoapRecord) -> String {
    let versions: Vec<&str> = r.versions.keys().map(String::as_str).collect();
    let ops: Vec<String> = r
        .operations
        .iter()
        .map(|(name, s)| match s.faults {
            0 => format!("{name} ({})", s.calls),
            f => format!("{name} ({}/{f} faults)", s.calls),
        })
        .collect();
    let mut line = format!(
        "SOAP {} operations (calls): {}",
        versions.join("+"),
        if ops.is_empty() {
            "-".to_string()
        } else {
            ops.join(", ")
        }
    );
    if r.unnamed > 0 {
        line.push_str(&format!("; {} unnamed", r.unnamed));
    }
    if r.overflow > 0 {
        line.push_str(&format!("; {} past the cap", r.overflow));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_names_the_call_else_the_body_else_none() {
        let labels = vec!["soap1.1:{urn:b}GetCustomer".to_string()];
        let c = call_of(Some("text/xml"), Some("urn:b#Get"), &labels, &[], Some(200));
        assert_eq!(c.map(|c| c.operation), Some(Some("urn:b#Get")));
        let c = call_of(Some("text/xml"), None, &labels, &[], Some(200)).expect("soap");
        assert_eq!(
            (c.version, c.operation),
            ("1.1", Some("{urn:b}GetCustomer"))
        );
        // SOAP 1.2 by media type alone: a call, unnamed.
        let c = call_of(Some("application/soap+xml"), None, &[], &[], None).expect("soap");
        assert_eq!((c.version, c.operation), ("1.2", None));
        // Plain XML is not SOAP.
        assert_eq!(call_of(Some("text/xml"), None, &[], &[], Some(200)), None);
        let iso = vec!["iso20022:pain.001.001.03".to_string()];
        assert_eq!(
            call_of(Some("application/xml"), None, &iso, &[], None),
            None
        );
        let fault = vec![format!("soap1.1:{{{}}}Fault", crate::walk::xml::SOAP11_NS)];
        let c = call_of(Some("text/xml"), Some("a"), &[], &fault, Some(200)).expect("soap");
        assert!(c.fault);
    }

    #[test]
    fn a_request_names_its_operation_by_action_else_body() {
        let env = format!(
            "<s:Envelope xmlns:s=\"{}\"><s:Body><GetX xmlns=\"urn:b\"/></s:Body></s:Envelope>",
            crate::walk::xml::SOAP11_NS
        );
        let no = |_: &str| false;
        let op = |ct, action, body: &str| request_operation(ct, action, body.as_bytes(), no);
        assert_eq!(
            op(Some("text/xml"), Some("\"A\""), &env).as_deref(),
            Some("A")
        );
        assert_eq!(
            op(Some("text/xml"), Some("\"\""), &env).as_deref(),
            Some("{urn:b}GetX")
        );
        assert_eq!(
            op(Some("application/soap+xml; action=\"urn:b#X\""), None, "").as_deref(),
            Some("urn:b#X")
        );
        assert_eq!(op(Some("application/json"), Some("A"), &env), None);
        assert_eq!(op(Some("text/xml"), None, "<a/>"), None);
        let withheld = request_operation(Some("text/xml"), Some("4111"), b"", |_| true);
        assert_eq!(
            withheld.as_deref(),
            Some(crate::engine::WITHHELD_SOAP_ACTION)
        );
    }

    #[test]
    fn records_merge_in_any_order_and_cap_operations() {
        let call = |op: Option<&'static str>, fault| SoapCall {
            version: "1.1",
            operation: op,
            fault,
        };
        let mut a = SoapRecord::default();
        a.call(&call(Some("A"), false));
        a.call(&call(None, false));
        let mut b = SoapRecord::default();
        b.call(&call(Some("A"), true));
        b.call(&call(Some("B"), false));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(
            ab.operations["A"],
            SoapOperationStat {
                calls: 2,
                faults: 1
            }
        );
        assert_eq!((ab.unnamed, ab.calls()), (1, 4));
        let mut full = SoapRecord::default();
        for i in 0..MAX_OPERATIONS + 3 {
            let name = format!("op{i}");
            full.call(&SoapCall {
                version: "1.1",
                operation: Some(&name),
                fault: false,
            });
        }
        assert_eq!(full.operations.len(), MAX_OPERATIONS);
        assert_eq!(full.overflow, 3);
    }
}
