//! XML bodies on the wire: an ISO 20022 payment initiation and a SOAP call give their field
//! shapes, data classes and document kinds through the whole pipeline (frames, reassembly,
//! HTTP, the learn path), and a body with a DTD gives nothing but its count.

mod frames_support;

use agent::analysis::AnalysisSink;
use agent::pipeline::{Pipeline, PipelineConfig};
use agent::source::memory::MemorySource;
use analyzer::engine::policy::LearnMode;
use analyzer::engine::WITHHELD_SOAP_ACTION;
use analyzer::inventory::{EndpointRecord, Inventory, InventoryLimits};
use analyzer::observe::Observer;
use frames_support::http_connection;

const PAIN001: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">
  <CstmrCdtTrfInitn>
    <GrpHdr><MsgId>MSG-0001</MsgId><NbOfTxs>1</NbOfTxs></GrpHdr>
    <PmtInf>
      <Dbtr><Nm>Erika Mustermann</Nm></Dbtr>
      <DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
      <CdtTrfTxInf><Amt><InstdAmt Ccy="EUR">1250.00</InstdAmt></Amt>
        <CdtrAcct><Id><IBAN>GB82WEST12345698765432</IBAN></Id></CdtrAcct>
      </CdtTrfTxInf>
    </PmtInf>
  </CstmrCdtTrfInitn>
</Document>"#;

const SOAP: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
<s:Body><b:GetCustomer xmlns:b="urn:corebank:customers"><b:Email>erika@example.com</b:Email></b:GetCustomer></s:Body>
</s:Envelope>"#;

const SOAP12: &str = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><a:Close xmlns:a="urn:corebank:accounts"/></e:Body></e:Envelope>"#;

const BOMB: &str = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "DE89370400440532013000">]><r><IBAN>&a;</IBAN></r>"#;

fn post(path: &str, content_type: &str, body: &str) -> Vec<u8> {
    post_with(path, content_type, "", body)
}

fn post_with(path: &str, content_type: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: pay.bank.example\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn ok() -> Vec<u8> {
    b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n".to_vec()
}

fn scan() -> Inventory {
    scan_counting().0
}

/// The inventory, and the engine's counters (`engine_*`).
fn scan_counting() -> (Inventory, Vec<(&'static str, u64)>) {
    let exchanges = vec![
        (post("/iso/payments", "application/xml", PAIN001), ok()),
        (
            post("/soap/customers", "text/xml; charset=utf-8", SOAP),
            ok(),
        ),
        (post("/xml/echo", "application/xml", BOMB), ok()),
        (
            post_with(
                "/soap/customers",
                "text/xml",
                "SOAPAction: \"urn:corebank:customers#GetCustomer\"\r\n",
                SOAP,
            ),
            ok(),
        ),
        (
            post_with("/soap/customers", "text/xml", "SOAPAction: \"\"\r\n", SOAP),
            ok(),
        ),
        (
            post(
                "/soap12/accounts",
                "application/soap+xml; charset=utf-8; action=\"urn:corebank:accounts#Close\"",
                SOAP12,
            ),
            ok(),
        ),
        // An action that is a value (here a card number) is withheld, never kept raw.
        (
            post_with(
                "/soap/customers",
                "text/xml",
                "SOAPAction: \"urn:x#Pay/4111111111111111\"\r\n",
                SOAP,
            ),
            ok(),
        ),
        // A SOAPAction on a JSON request is not a SOAP action.
        (
            post_with("/json/thing", "application/json", "SOAPAction: x\r\n", "{}"),
            ok(),
        ),
    ];
    let frames = http_connection(
        ([10, 1, 0, 9], 41_000),
        ([10, 1, 0, 1], 80),
        &exchanges,
        1_772_442_000_000_000,
    );
    let mut observer = Observer::new(
        analyzer::template::Templater::default(),
        analyzer::classify::Classifier::builtin(),
        analyzer::consumer::ConsumerConfig::new(b"xml", false),
    );
    observer.learn = LearnMode::All;
    let sink = AnalysisSink::new(&observer, InventoryLimits::default());
    let mut p = Pipeline::new(PipelineConfig::default(), sink);
    p.run(&mut MemorySource::new(frames), &mut |_| {})
        .expect("memory source");
    let sink = p.finish().0;
    let counters = sink.builder.counters();
    (sink.into_inventory(), counters)
}

fn endpoint<'a>(inv: &'a Inventory, path: &str) -> &'a EndpointRecord {
    inv.endpoints
        .iter()
        .find(|(k, _)| k.path == path)
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no endpoint {path}: {:?}", inv.endpoints.keys()))
}

#[test]
fn an_iso_20022_payment_gives_its_message_type_fields_and_ibans() {
    let inv = scan();
    let pay = endpoint(&inv, "/iso/payments");
    assert_eq!(
        pay.messages.iter().collect::<Vec<_>>(),
        vec![(&"iso20022:pain.001.001.03".to_string(), &1)]
    );
    assert!(pay
        .request_fields
        .contains_key("CstmrCdtTrfInitn.PmtInf.DbtrAcct.Id.IBAN"));
    assert!(pay
        .request_fields
        .contains_key("CstmrCdtTrfInitn.PmtInf.CdtTrfTxInf.Amt.InstdAmt.@Ccy"));
    let ibans = pay.data_classes.get("iban").expect("IBANs classified");
    let locations: Vec<&str> = ibans.keys().map(String::as_str).collect();
    assert_eq!(
        locations,
        vec![
            "request.body.CstmrCdtTrfInitn.PmtInf.CdtTrfTxInf.CdtrAcct.Id.IBAN",
            "request.body.CstmrCdtTrfInitn.PmtInf.DbtrAcct.Id.IBAN",
        ]
    );
    // Masked previews only: the raw IBAN is nowhere in the inventory.
    let all = format!("{inv:?}");
    assert!(!all.contains("DE89370400440532013000") && !all.contains("GB82WEST12345698765432"));
}

#[test]
fn a_soap_call_names_its_operation_and_its_fields_are_classified() {
    let inv = scan();
    let soap = endpoint(&inv, "/soap/customers");
    assert_eq!(
        soap.messages.iter().collect::<Vec<_>>(),
        vec![(
            &"soap1.1:{urn:corebank:customers}GetCustomer".to_string(),
            &4
        )]
    );
    assert!(
        soap.data_classes.contains_key("email"),
        "{:?}",
        soap.data_classes
    );
    assert!(soap.request_fields.contains_key("Body.GetCustomer.Email"));
}

#[test]
fn soap_actions_are_counted_per_exchange_from_the_request_head() {
    let inv = scan();
    let soap = endpoint(&inv, "/soap/customers");
    assert_eq!(soap.exchanges, 4);
    // The empty SOAPAction and the one without the header name no action; the one carrying a
    // card number is withheld.
    assert_eq!(
        soap.soap_actions.iter().collect::<Vec<_>>(),
        vec![
            (&WITHHELD_SOAP_ACTION.to_string(), &1),
            (&"urn:corebank:customers#GetCustomer".to_string(), &1)
        ]
    );
    assert!(!format!("{inv:?}").contains("4111111111111111"));
    let v12 = endpoint(&inv, "/soap12/accounts");
    assert_eq!(
        v12.soap_actions.keys().collect::<Vec<_>>(),
        vec!["urn:corebank:accounts#Close"]
    );
    assert_eq!(
        v12.messages.keys().collect::<Vec<_>>(),
        vec!["soap1.2:{urn:corebank:accounts}Close"]
    );
    assert!(endpoint(&inv, "/json/thing").soap_actions.is_empty());
}

#[test]
fn a_body_with_a_dtd_is_counted_but_not_read() {
    let (inv, counters) = scan_counting();
    // The refusal is counted, not silent.
    assert!(
        counters.contains(&("engine_xml_dtds_refused", 1)),
        "{counters:?}"
    );
    let echo = endpoint(&inv, "/xml/echo");
    assert_eq!(echo.exchanges, 1);
    assert!(echo.request_fields.is_empty() && echo.messages.is_empty());
    // The IBAN declared in the DTD's entity is never expanded into a field value.
    assert!(
        !echo.data_classes.contains_key("iban"),
        "{:?}",
        echo.data_classes
    );
}
