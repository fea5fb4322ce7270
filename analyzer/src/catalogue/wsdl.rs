//! WSDL 1.1 declarations in the catalogue: each SOAP port of a `.wsdl` file becomes one API
//! ([`SpecVersion::Wsdl`]) with one operation, `POST <path of soap:address>` on its host, the
//! HTTP endpoint every call of the port goes through; the port's SOAP operations (action, body
//! element) are kept in [`Catalogue::soap`] for the SOAP diff (`diff/soap.rs`).
//!
//! The files a WSDL imports (`wsdl:import`, `xsd:import`, `xsd:include`) are read through the
//! caller's loader, by names joined to the importing file's like OpenAPI `$ref`s, at most
//! [`MAX_WSDL_DOCUMENTS`] per set; absolute URLs are never fetched. A file that cannot be read is
//! a problem, and the rest still loads.

use super::refs::join_relative;
use super::{Catalogue, CatalogueError, Problem, SpecVersion};
use crate::soap::wsdl::{self, SoapPort, WsdlDoc};
use serde_json::json;

/// Most documents one WSDL pulls in (itself included).
pub const MAX_WSDL_DOCUMENTS: usize = 32;

/// A declared SOAP port and the catalogue operation of its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSoapPort {
    /// Index into `Catalogue::operations` of the port's `POST` endpoint.
    pub operation: usize,
    pub port: SoapPort,
}

/// Whether a file name is a WSDL catalogue file.
pub fn is_wsdl_file(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("wsdl"))
}

impl Catalogue {
    /// Add the SOAP ports of a WSDL document; `load` reads the files it imports (see the module
    /// docs). Errors name the file and the byte offset.
    pub fn add_wsdl(
        &mut self,
        source: &str,
        text: &str,
        load: impl Fn(&str) -> Result<String, String>,
    ) -> Result<(), CatalogueError> {
        let fail = |message: String| CatalogueError::new(source, "", message);
        let root = wsdl::parse(text).map_err(fail)?;
        if !root.is_wsdl {
            return Err(fail(
                "not a WSDL 1.1 document: the document element is not wsdl:definitions".into(),
            ));
        }
        let mut docs: Vec<(String, WsdlDoc)> = vec![(source.to_string(), root)];
        let mut i = 0;
        while i < docs.len() {
            let imports = docs[i].1.imports.clone();
            let from = docs[i].0.clone();
            for location in imports {
                let problem = |message: String| Problem {
                    source: from.clone(),
                    pointer: String::new(),
                    message: format!("import `{location}`: {message}"),
                };
                let Some(name) = join_relative(&from, &location) else {
                    self.problems
                        .push(problem("absolute URLs are not fetched".into()));
                    continue;
                };
                if docs.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                if docs.len() >= MAX_WSDL_DOCUMENTS {
                    self.problems.push(problem(format!(
                        "more than {MAX_WSDL_DOCUMENTS} documents imported"
                    )));
                    continue;
                }
                match load(&name).and_then(|t| wsdl::parse(&t).map_err(|e| format!("{name}: {e}")))
                {
                    Ok(doc) => docs.push((name, doc)),
                    Err(why) => self.problems.push(problem(why)),
                }
            }
            i += 1;
        }
        let mut problems = Vec::new();
        let parsed: Vec<WsdlDoc> = docs.into_iter().map(|(_, d)| d).collect();
        for d in &parsed {
            if d.dropped > 0 {
                problems.push(format!(
                    "{} declarations past the cap of {} were not read",
                    d.dropped,
                    wsdl::MAX_ENTRIES
                ));
            }
        }
        let ports = wsdl::resolve(&parsed, &mut problems);
        self.problems
            .extend(problems.into_iter().map(|message| Problem {
                source: source.to_string(),
                pointer: String::new(),
                message,
            }));
        for port in ports {
            self.add_soap_port(source, port)?;
        }
        Ok(())
    }

    /// One API with the port's endpoint, through the OpenAPI form (so host coverage, lookup and
    /// exports treat it like any declared endpoint).
    fn add_soap_port(&mut self, source: &str, port: SoapPort) -> Result<(), CatalogueError> {
        let (server, path) = split_address(port.address.as_deref());
        let media = if port.version == "1.2" {
            "application/soap+xml"
        } else {
            "text/xml"
        };
        let title = format!("{}.{}", port.service, port.port);
        let mut doc = json!({
            "openapi": "3.0.3",
            "info": {"title": title, "version": "wsdl"},
            "paths": {path: {"post": {
                "operationId": title,
                "requestBody": {"content": {media: {}}},
                "responses": {},
            }}},
        });
        if let Some(url) = server {
            doc["servers"] = json!([{ "url": url }]);
        }
        let first = self.operations.len();
        self.add_document(source, &doc.to_string())?;
        if let Some(api) = self.apis.last_mut() {
            api.spec_version = SpecVersion::Wsdl;
            api.version = format!("SOAP {}", port.version);
        }
        if first < self.operations.len() {
            self.soap.push(DeclaredSoapPort {
                operation: first,
                port,
            });
        }
        Ok(())
    }

    /// The SOAP ports (indices into `soap`) declared on the endpoint of catalogue operation
    /// `op`: several ports may share one address.
    pub fn soap_ports_of(&self, op: &super::Operation) -> Vec<usize> {
        self.soap
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                self.operations.get(p.operation).is_some_and(|o| {
                    o.method == op.method && o.path == op.path && o.hosts == op.hosts
                })
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Whether catalogue operation `op` is a WSDL port's endpoint.
    pub fn is_soap_endpoint(&self, op: &super::Operation) -> bool {
        self.apis
            .get(op.api)
            .is_some_and(|a| a.spec_version == SpecVersion::Wsdl)
    }
}

/// `http://h:8080/soap/x?wsdl` -> (`http://h:8080`, `/soap/x`); a relative or missing address
/// serves on any host at its path (`/` when none).
fn split_address(address: Option<&str>) -> (Option<String>, String) {
    let Some(address) = address else {
        return (None, "/".into());
    };
    let address = address.split(['?', '#']).next().unwrap_or("");
    let (server, path) = match address.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (Some(format!("{scheme}://{authority}")), path)
        }
        None => (None, address),
    };
    let path = path.trim_end_matches('/');
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    (server, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::wsdl::tests::PAYMENTS_WSDL;

    const PAIN: &str = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
        targetNamespace="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">
        <xs:include schemaLocation="../../../outside.xsd"/></xs:schema>"#;

    #[test]
    fn a_wsdl_declares_one_endpoint_per_port_and_keeps_its_operations() {
        let mut cat = Catalogue::default();
        let asked = std::cell::RefCell::new(Vec::new());
        cat.add_wsdl("cat/payments.wsdl", PAYMENTS_WSDL, |name| {
            asked.borrow_mut().push(name.to_string());
            match name {
                "cat/xsd/pain.001.001.03.xsd" => Ok(PAIN.to_string()),
                _ => Err(format!("document `{name}` is outside the catalogue roots")),
            }
        })
        .expect("loads");
        assert_eq!(
            *asked.borrow(),
            ["cat/xsd/pain.001.001.03.xsd", "../outside.xsd"]
        );
        assert_eq!(cat.apis.len(), 2);
        assert_eq!(cat.apis[0].title, "PaymentService.PaymentsPort");
        assert_eq!(cat.apis[0].spec_version, SpecVersion::Wsdl);
        assert_eq!(cat.apis[1].version, "SOAP 1.2");
        let op = cat
            .find_operation("payments.bank.example:8080", "POST", "/soap/payments")
            .expect("declared");
        assert_eq!(op.request_content_types, ["text/xml"]);
        assert!(op.responses.is_empty());
        assert!(cat.is_soap_endpoint(op));
        let ports = cat.soap_ports_of(op);
        assert_eq!(ports.len(), 1);
        assert_eq!(cat.soap[ports[0]].port.operations.len(), 2);
        assert!(!cat.covers_host("other.example"));
        let messages: Vec<&str> = cat.problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "import `../../../outside.xsd`: document `../outside.xsd` is outside the catalogue roots",
                "port `Broken` of service `PaymentService`: binding `{urn:corebank:payments}Missing` is not declared",
            ]
        );
    }

    #[test]
    fn addresses_split_into_server_and_path_and_bad_files_are_errors() {
        assert_eq!(
            split_address(Some("http://h:8080/soap/x/?wsdl")),
            (Some("http://h:8080".into()), "/soap/x".into())
        );
        assert_eq!(
            split_address(Some("https://h")),
            (Some("https://h".into()), "/".into())
        );
        assert_eq!(split_address(Some("svc")), (None, "/svc".into()));
        assert_eq!(split_address(None), (None, "/".into()));
        let mut cat = Catalogue::default();
        let e = cat
            .add_wsdl("x.wsdl", "<schema/>", |_| Err("no".into()))
            .expect_err("not wsdl");
        assert_eq!(e.source_name, "x.wsdl");
        let e = cat
            .add_wsdl("y.wsdl", "<a><b></a>", |_| Err("no".into()))
            .expect_err("broken");
        assert!(e.message.starts_with("invalid XML at byte"), "{e}");
        assert!(is_wsdl_file("a/B.WSDL"));
        assert!(!is_wsdl_file("a.xsd"));
    }
}
