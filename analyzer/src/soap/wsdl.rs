//! WSDL 1.1 documents (and the XML Schemas they import) read into declared SOAP operations.
//!
//! One pull parse per document (quick-xml, namespaces resolved), kept to what the diff needs:
//! messages and their parts, port types and their operations, bindings (SOAP version, style,
//! `soapAction`, the rpc body namespace) and services with their ports and `soap:address`.
//! [`resolve`] joins them across every document of a set into [`SoapPort`]s.
//!
//! Hostile input as for XML bodies (`walk::xml`): a DOCTYPE refuses the document (no DTD is
//! read, so no entity is declared, expanded or fetched), nesting stops at [`MAX_NESTING`], and
//! a document stops at [`MAX_EVENTS`] events; each table has a cap and what did not fit is said.
//! Reading the files an import names is the caller's (`catalogue/wsdl.rs`): this is text in,
//! values out.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::NsReader;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP11_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";
pub const ISO20022_NS_PREFIX: &str = "urn:iso:std:iso:20022:tech:xsd:";

/// Deepest element nesting read.
pub const MAX_NESTING: usize = 128;
/// Most parse events one document may take (a runaway document stops with an error).
pub const MAX_EVENTS: usize = 2_000_000;
/// Most entries of each table (messages, port types, operations, bindings, ports) per set.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest name or attribute value kept.
const MAX_VALUE: usize = 2048;

/// A declared SOAP operation of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoapOperationDecl {
    pub name: String,
    /// `soapAction` of the binding operation (absent when empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soap_action: Option<String>,
    /// The request's `Body` child, `{namespace}Local`: the input part's element (document
    /// style) or the operation name in the body namespace (rpc style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The response's `Body` child, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl SoapOperationDecl {
    /// Whether an observed operation (a SOAP action or a `{namespace}Local` body element) is
    /// this one.
    pub fn answers(&self, observed: &str) -> bool {
        self.soap_action.as_deref() == Some(observed) || self.input.as_deref() == Some(observed)
    }
}

/// A `wsdl:port` with a SOAP binding: where it is served and what it declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoapPort {
    pub service: String,
    pub port: String,
    /// `1.1` or `1.2`, from the address or binding namespace.
    pub version: &'static str,
    /// `soap:address location`, as written (absent: served on any host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub operations: Vec<SoapOperationDecl>,
    /// ISO 20022 message types (`pain.001.001.03`) the WSDL and its schemas name by namespace.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub iso20022: BTreeSet<String>,
}

/// `{namespace}local`.
type QKey = String;

#[derive(Debug, Default)]
struct Binding {
    port_type: QKey,
    version: Option<&'static str>,
    style: Option<String>,
    /// Operation name -> (soapAction, style, input body namespace, output body namespace).
    operations: Vec<BindingOp>,
}

#[derive(Debug, Default, Clone)]
struct BindingOp {
    name: String,
    action: Option<String>,
    style: Option<String>,
    input_ns: Option<String>,
    output_ns: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct PortTypeOp {
    name: String,
    input: Option<QKey>,
    output: Option<QKey>,
}

#[derive(Debug, Default)]
struct Port {
    service: String,
    name: String,
    binding: QKey,
    address: Option<String>,
    version: Option<&'static str>,
}

/// One parsed document's declarations (names already qualified by its target namespace).
#[derive(Debug, Default)]
pub struct WsdlDoc {
    /// Message -> the element (or, without one, nothing) of its first part.
    messages: BTreeMap<QKey, Option<QKey>>,
    port_types: BTreeMap<QKey, Vec<PortTypeOp>>,
    bindings: BTreeMap<QKey, Binding>,
    ports: Vec<Port>,
    /// Locations that `wsdl:import`, `xsd:import` and `xsd:include` name, as written.
    pub imports: Vec<String>,
    /// ISO 20022 message types named by any namespace in the document.
    pub iso20022: BTreeSet<String>,
    /// Entries dropped at [`MAX_ENTRIES`].
    pub dropped: u64,
    /// Whether the document element is `wsdl:definitions` (else a schema or other XML).
    pub is_wsdl: bool,
}

/// Where the parse is, by the WSDL elements open above it.
#[derive(Debug, Clone, PartialEq)]
enum Ctx {
    Other,
    Message(QKey),
    PortType(QKey),
    PortTypeOp(QKey),
    Binding(QKey),
    BindingOp(QKey),
    BindingInput(QKey),
    BindingOutput(QKey),
    Service(String),
    Port,
}

/// Parse one WSDL or XSD document. Errors say the byte offset.
pub fn parse(text: &str) -> Result<WsdlDoc, String> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut doc = WsdlDoc::default();
    let mut tns = String::new();
    let mut stack: Vec<Ctx> = Vec::new();
    let mut events = 0usize;
    loop {
        let at = reader.buffer_position();
        events += 1;
        if events > MAX_EVENTS {
            return Err(format!("more than {MAX_EVENTS} XML events at byte {at}"));
        }
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ResolveResult::Bound(n), event)) => (
                Some(String::from_utf8_lossy(n.as_ref()).into_owned()),
                event,
            ),
            Ok((_, event)) => (None, event),
            Err(e) => {
                return Err(format!(
                    "invalid XML at byte {}: {e}",
                    reader.error_position()
                ))
            }
        };
        match event {
            Event::DocType(_) => {
                return Err(format!(
                    "DOCTYPE at byte {at}: a document with a DTD is not read"
                ))
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                if stack.len() >= MAX_NESTING {
                    return Err(format!("nested deeper than {MAX_NESTING} at byte {at}"));
                }
                let attrs = attributes(e, at)?;
                for value in attrs.values() {
                    if let Some(kind) = value.strip_prefix(ISO20022_NS_PREFIX) {
                        if doc.iso20022.len() < MAX_ENTRIES && !kind.is_empty() {
                            doc.iso20022.insert(kind.to_string());
                        }
                    }
                }
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if stack.is_empty() {
                    doc.is_wsdl = ns.as_deref() == Some(WSDL_NS) && local == "definitions";
                    if let Some(t) = attrs.get("targetNamespace") {
                        tns.clone_from(t);
                    }
                }
                let parent = stack.last().cloned().unwrap_or(Ctx::Other);
                let qualify = |name: &str| format!("{{{tns}}}{name}");
                let resolve = |value: &str| resolve_qname(&reader, value);
                let ctx = element(
                    &mut doc,
                    ns.as_deref(),
                    &local,
                    &attrs,
                    &parent,
                    &qualify,
                    &resolve,
                );
                if matches!(event, Event::Start(_)) {
                    stack.push(ctx);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err("the document ends before its document element closes".into());
                }
                return Ok(doc);
            }
            _ => {}
        }
    }
}

/// The attributes of an element by local name (namespace declarations included: their values
/// are where ISO 20022 namespaces are named), values unescaped and capped.
fn attributes(e: &BytesStart<'_>, at: u64) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|_| format!("invalid attribute at byte {at}"))?;
        let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|_| format!("invalid attribute value at byte {at}"))?;
        let mut value = value.trim().to_string();
        if value.len() > MAX_VALUE {
            let mut end = MAX_VALUE;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
        }
        if out.len() < 64 {
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// A QName attribute value (`tns:Customer`) as `{namespace}local`, by the declarations in
/// scope (an unprefixed one takes the default namespace, as XML Schema says).
fn resolve_qname(reader: &NsReader<&[u8]>, value: &str) -> QKey {
    let (ns, local) = reader.resolver().resolve(QName(value.as_bytes()), true);
    let local = String::from_utf8_lossy(local.as_ref()).into_owned();
    match ns {
        ResolveResult::Bound(n) => format!("{{{}}}{local}", String::from_utf8_lossy(n.as_ref())),
        _ => format!("{{}}{local}"),
    }
}

/// Record what one element declares; the context its children are read in.
fn element(
    doc: &mut WsdlDoc,
    ns: Option<&str>,
    local: &str,
    attrs: &BTreeMap<String, String>,
    parent: &Ctx,
    qualify: &dyn Fn(&str) -> QKey,
    resolve: &dyn Fn(&str) -> QKey,
) -> Ctx {
    let attr = |k: &str| attrs.get(k).filter(|v| !v.is_empty());
    let name = attr("name").cloned().unwrap_or_default();
    let room = |n: usize, dropped: &mut u64| {
        let ok = n < MAX_ENTRIES;
        if !ok {
            *dropped += 1;
        }
        ok
    };
    match (ns, local, parent) {
        (Some(WSDL_NS), "import", _) | (Some(XSD_NS), "import" | "include", _) => {
            let location = attr("location").or_else(|| attr("schemaLocation"));
            if let Some(l) = location {
                if room(doc.imports.len(), &mut doc.dropped) {
                    doc.imports.push(l.clone());
                }
            }
            Ctx::Other
        }
        (Some(WSDL_NS), "message", _) => {
            let key = qualify(&name);
            if room(doc.messages.len(), &mut doc.dropped) {
                doc.messages.entry(key.clone()).or_insert(None);
            }
            Ctx::Message(key)
        }
        (Some(WSDL_NS), "part", Ctx::Message(m)) => {
            let element = attr("element").map(|e| resolve(e));
            if let Some(slot) = doc.messages.get_mut(m) {
                if slot.is_none() {
                    *slot = element;
                }
            }
            Ctx::Other
        }
        (Some(WSDL_NS), "portType", _) => {
            let key = qualify(&name);
            if room(doc.port_types.len(), &mut doc.dropped) {
                doc.port_types.entry(key.clone()).or_default();
            }
            Ctx::PortType(key)
        }
        (Some(WSDL_NS), "operation", Ctx::PortType(pt)) => {
            if let Some(ops) = doc.port_types.get_mut(pt) {
                if room(ops.len(), &mut doc.dropped) {
                    ops.push(PortTypeOp {
                        name,
                        ..PortTypeOp::default()
                    });
                }
            }
            Ctx::PortTypeOp(pt.clone())
        }
        (Some(WSDL_NS), "input" | "output", Ctx::PortTypeOp(pt)) => {
            let message = attr("message").map(|m| resolve(m));
            if let Some(op) = doc.port_types.get_mut(pt).and_then(|ops| ops.last_mut()) {
                if local == "input" {
                    op.input = message;
                } else {
                    op.output = message;
                }
            }
            Ctx::Other
        }
        (Some(WSDL_NS), "binding", _) => {
            let key = qualify(&name);
            if room(doc.bindings.len(), &mut doc.dropped) {
                let binding = Binding {
                    port_type: attr("type").map(|t| resolve(t)).unwrap_or_default(),
                    ..Binding::default()
                };
                doc.bindings.insert(key.clone(), binding);
            }
            Ctx::Binding(key)
        }
        (Some(SOAP11_BINDING_NS | SOAP12_BINDING_NS), "binding", Ctx::Binding(b)) => {
            if let Some(binding) = doc.bindings.get_mut(b) {
                binding.version = version_of(ns);
                binding.style = attr("style").cloned();
            }
            Ctx::Other
        }
        (Some(WSDL_NS), "operation", Ctx::Binding(b)) => {
            if let Some(binding) = doc.bindings.get_mut(b) {
                if room(binding.operations.len(), &mut doc.dropped) {
                    binding.operations.push(BindingOp {
                        name,
                        ..BindingOp::default()
                    });
                }
            }
            Ctx::BindingOp(b.clone())
        }
        (Some(SOAP11_BINDING_NS | SOAP12_BINDING_NS), "operation", Ctx::BindingOp(b)) => {
            if let Some(op) = last_binding_op(doc, b) {
                op.action = attr("soapAction").cloned();
                op.style = attr("style").cloned();
            }
            Ctx::Other
        }
        (Some(WSDL_NS), "input", Ctx::BindingOp(b)) => Ctx::BindingInput(b.clone()),
        (Some(WSDL_NS), "output", Ctx::BindingOp(b)) => Ctx::BindingOutput(b.clone()),
        (
            Some(SOAP11_BINDING_NS | SOAP12_BINDING_NS),
            "body",
            Ctx::BindingInput(b) | Ctx::BindingOutput(b),
        ) => {
            let input = matches!(parent, Ctx::BindingInput(_));
            if let Some(op) = last_binding_op(doc, b) {
                let body_ns = attr("namespace").cloned();
                if input {
                    op.input_ns = body_ns;
                } else {
                    op.output_ns = body_ns;
                }
            }
            Ctx::Other
        }
        (Some(WSDL_NS), "service", _) => Ctx::Service(name),
        (Some(WSDL_NS), "port", Ctx::Service(service)) => {
            if room(doc.ports.len(), &mut doc.dropped) {
                doc.ports.push(Port {
                    service: service.clone(),
                    name,
                    binding: attr("binding").map(|b| resolve(b)).unwrap_or_default(),
                    address: None,
                    version: None,
                });
            }
            Ctx::Port
        }
        (Some(SOAP11_BINDING_NS | SOAP12_BINDING_NS), "address", Ctx::Port) => {
            if let Some(port) = doc.ports.last_mut() {
                port.address = attr("location").cloned();
                port.version = version_of(ns);
            }
            Ctx::Other
        }
        _ => Ctx::Other,
    }
}

fn last_binding_op<'d>(doc: &'d mut WsdlDoc, binding: &str) -> Option<&'d mut BindingOp> {
    doc.bindings
        .get_mut(binding)
        .and_then(|b| b.operations.last_mut())
}

fn version_of(ns: Option<&str>) -> Option<&'static str> {
    match ns {
        Some(SOAP11_BINDING_NS) => Some("1.1"),
        Some(SOAP12_BINDING_NS) => Some("1.2"),
        _ => None,
    }
}

/// Join the declarations of every document of a set into SOAP ports (ports whose binding is
/// not a SOAP one, or is not declared, are left out with a problem). The ISO 20022 message
/// types named anywhere in the set are the ports' declared ones.
pub fn resolve(docs: &[WsdlDoc], problems: &mut Vec<String>) -> Vec<SoapPort> {
    let mut messages = BTreeMap::new();
    let mut port_types = BTreeMap::new();
    let mut bindings = BTreeMap::new();
    let mut iso = BTreeSet::new();
    for d in docs {
        messages.extend(d.messages.iter());
        port_types.extend(d.port_types.iter());
        bindings.extend(d.bindings.iter());
        iso.extend(d.iso20022.iter().cloned());
    }
    let mut out = Vec::new();
    for port in docs.iter().flat_map(|d| &d.ports) {
        let Some(binding) = bindings.get(&port.binding) else {
            problems.push(format!(
                "port `{}` of service `{}`: binding `{}` is not declared",
                port.name, port.service, port.binding
            ));
            continue;
        };
        let Some(version) = port.version.or(binding.version) else {
            // An HTTP binding, or another transport: not SOAP.
            continue;
        };
        let pt_ops = port_types.get(&binding.port_type);
        if pt_ops.is_none() {
            problems.push(format!(
                "binding `{}`: port type `{}` is not declared",
                port.binding, binding.port_type
            ));
        }
        let element_of = |message: &Option<QKey>| {
            message
                .as_ref()
                .and_then(|m| messages.get(m))
                .and_then(|e| (*e).clone())
        };
        let operations = binding
            .operations
            .iter()
            .map(|op| {
                let pt = pt_ops.and_then(|ops| ops.iter().find(|p| p.name == op.name));
                let rpc = op.style.as_deref().or(binding.style.as_deref()) == Some("rpc");
                let (input, output) = if rpc {
                    let body = |ns: &Option<String>, suffix: &str| {
                        Some(format!(
                            "{{{}}}{}{suffix}",
                            ns.as_deref().unwrap_or(""),
                            op.name
                        ))
                    };
                    (body(&op.input_ns, ""), body(&op.output_ns, "Response"))
                } else {
                    (
                        pt.and_then(|p| element_of(&p.input)),
                        pt.and_then(|p| element_of(&p.output)),
                    )
                };
                SoapOperationDecl {
                    name: op.name.clone(),
                    soap_action: op.action.clone().filter(|a| !a.is_empty()),
                    input,
                    output,
                }
            })
            .collect();
        out.push(SoapPort {
            service: port.service.clone(),
            port: port.name.clone(),
            version,
            address: port.address.clone(),
            operations,
            iso20022: iso.clone(),
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
