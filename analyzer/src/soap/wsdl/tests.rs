use super::*;

pub(crate) const PAYMENTS_WSDL: &str = r#"<?xml version="1.0"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="urn:corebank:payments"
    xmlns:p="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
    targetNamespace="urn:corebank:payments">
  <wsdl:types>
    <xsd:schema targetNamespace="urn:corebank:payments">
      <xsd:import namespace="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03" schemaLocation="xsd/pain.001.001.03.xsd"/>
      <xsd:element name="SubmitPayment"/>
      <xsd:element name="SubmitPaymentResponse"/>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="SubmitIn"><wsdl:part name="body" element="tns:SubmitPayment"/></wsdl:message>
  <wsdl:message name="SubmitOut"><wsdl:part name="body" element="tns:SubmitPaymentResponse"/></wsdl:message>
  <wsdl:message name="StatusIn"><wsdl:part name="id" type="xsd:string"/></wsdl:message>
  <wsdl:portType name="Payments">
    <wsdl:operation name="SubmitPayment">
      <wsdl:input message="tns:SubmitIn"/><wsdl:output message="tns:SubmitOut"/>
    </wsdl:operation>
    <wsdl:operation name="GetStatus"><wsdl:input message="tns:StatusIn"/></wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="PaymentsSoap" type="tns:Payments">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="SubmitPayment">
      <soap:operation soapAction="urn:corebank:payments#SubmitPayment"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
    </wsdl:operation>
    <wsdl:operation name="GetStatus">
      <soap:operation soapAction="" style="rpc"/>
      <wsdl:input><soap:body use="literal" namespace="urn:corebank:payments"/></wsdl:input>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="PaymentsSoap12" type="tns:Payments">
    <soap12:binding style="document"/>
    <wsdl:operation name="SubmitPayment"><soap12:operation soapAction="urn:corebank:payments#SubmitPayment"/></wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="Nowhere" type="tns:Payments"/>
  <wsdl:service name="PaymentService">
    <wsdl:port name="PaymentsPort" binding="tns:PaymentsSoap">
      <soap:address location="http://payments.bank.example:8080/soap/payments"/>
    </wsdl:port>
    <wsdl:port name="Payments12" binding="tns:PaymentsSoap12">
      <soap12:address location="http://payments.bank.example:8080/soap12/payments"/>
    </wsdl:port>
    <wsdl:port name="Broken" binding="tns:Missing"/>
  </wsdl:service>
</wsdl:definitions>"#;

#[test]
fn a_wsdl_declares_ports_operations_actions_and_body_elements() {
    let doc = parse(PAYMENTS_WSDL).expect("parses");
    assert!(doc.is_wsdl);
    assert_eq!(doc.imports, ["xsd/pain.001.001.03.xsd"]);
    let mut problems = Vec::new();
    let ports = resolve(&[doc], &mut problems);
    assert_eq!(
        problems,
        ["port `Broken` of service `PaymentService`: binding `{urn:corebank:payments}Missing` is not declared"]
    );
    assert_eq!(ports.len(), 2);
    let p = &ports[0];
    assert_eq!(
        (p.service.as_str(), p.port.as_str(), p.version),
        ("PaymentService", "PaymentsPort", "1.1")
    );
    assert_eq!(
        p.address.as_deref(),
        Some("http://payments.bank.example:8080/soap/payments")
    );
    assert_eq!(p.iso20022.iter().collect::<Vec<_>>(), ["pain.001.001.03"]);
    assert_eq!(
        p.operations,
        [
            SoapOperationDecl {
                name: "SubmitPayment".into(),
                soap_action: Some("urn:corebank:payments#SubmitPayment".into()),
                input: Some("{urn:corebank:payments}SubmitPayment".into()),
                output: Some("{urn:corebank:payments}SubmitPaymentResponse".into()),
            },
            SoapOperationDecl {
                name: "GetStatus".into(),
                soap_action: None,
                input: Some("{urn:corebank:payments}GetStatus".into()),
                output: Some("{}GetStatusResponse".into()),
            },
        ]
    );
    assert!(p.operations[0].answers("urn:corebank:payments#SubmitPayment"));
    assert!(p.operations[1].answers("{urn:corebank:payments}GetStatus"));
    assert!(!p.operations[1].answers(""));
    assert_eq!(ports[1].version, "1.2");
    assert_eq!(ports[1].operations.len(), 1);
}

#[test]
fn hostile_documents_are_refused_with_where() {
    let dtd = r#"<!DOCTYPE d [<!ENTITY x "boom">]><d a="&x;"/>"#;
    assert!(parse(dtd)
        .expect_err("dtd")
        .starts_with("DOCTYPE at byte 0"));
    let deep = "<a>".repeat(MAX_NESTING + 1);
    assert!(parse(&deep).expect_err("deep").starts_with("nested deeper"));
    assert!(parse("<a><b></a>")
        .expect_err("bad")
        .starts_with("invalid XML at byte"));
    assert!(parse("<a>").is_err());
    // Every cut of a real document is an error or a document, never a panic.
    for cut in 0..PAYMENTS_WSDL.len() {
        if PAYMENTS_WSDL.is_char_boundary(cut) {
            let _ = parse(&PAYMENTS_WSDL[..cut]);
        }
    }
}
