use super::*;
use crate::walk::{Field, PathLimits};

#[derive(Default)]
struct Seen {
    fields: Vec<(String, FieldType, Option<String>, String)>,
    root: Vec<String>,
}

impl Visitor for Seen {
    fn field(&mut self, f: &Field<'_>) {
        self.fields.push((
            f.text.to_string(),
            f.ty,
            f.scalar.map(|s| String::from_utf8_lossy(s).into_owned()),
            f.name.to_string(),
        ));
    }
    fn root_scalar(&mut self, _ty: FieldType, scalar: &[u8]) {
        self.root.push(String::from_utf8_lossy(scalar).into_owned());
    }
}

fn walk(doc: &str) -> (Result<XmlSummary, XmlError>, Seen) {
    let mut paths = Paths::new(PathLimits::default());
    let mut seen = Seen::default();
    let r = walk_xml(
        doc.as_bytes(),
        &mut paths,
        &WalkLimits::default(),
        &mut seen,
    );
    (r, seen)
}

fn field<'a>(
    seen: &'a Seen,
    path: &str,
) -> Option<&'a (String, FieldType, Option<String>, String)> {
    seen.fields.iter().find(|f| f.0 == path)
}

const PAIN001: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <CstmrCdtTrfInitn>
    <GrpHdr><MsgId>MSG-0001</MsgId><NbOfTxs>1</NbOfTxs></GrpHdr>
    <PmtInf>
      <DbtrAcct><Id><IBAN>DE89370400440532013000</IBAN></Id></DbtrAcct>
      <DbtrAgt><FinInstnId><BIC>COBADEFFXXX</BIC></FinInstnId></DbtrAgt>
      <CdtTrfTxInf>
        <Amt><InstdAmt Ccy="EUR">1250.00</InstdAmt></Amt>
        <RmtInf><Ustrd>Invoice 4 &amp; 5 &#8364;</Ustrd></RmtInf>
        <Purp/>
      </CdtTrfTxInf>
    </PmtInf>
  </CstmrCdtTrfInitn>
</Document>"#;

#[test]
fn an_iso_20022_document_gives_its_message_type_paths_and_values() {
    let (r, seen) = walk(PAIN001);
    let summary = r.expect("valid document");
    assert_eq!(summary.iso20022.as_deref(), Some("pain.001.001.03"));
    assert_eq!(
        summary.root.as_deref(),
        Some("{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}Document")
    );
    assert_eq!(summary.soap, None);
    let iban = field(&seen, "CstmrCdtTrfInitn.PmtInf.DbtrAcct.Id.IBAN").expect("iban field");
    assert_eq!(
        (iban.1, iban.2.as_deref(), iban.3.as_str()),
        (FieldType::String, Some("DE89370400440532013000"), "IBAN")
    );
    let ccy = field(
        &seen,
        "CstmrCdtTrfInitn.PmtInf.CdtTrfTxInf.Amt.InstdAmt.@Ccy",
    )
    .expect("attr");
    assert_eq!(ccy.2.as_deref(), Some("EUR"));
    let amt = field(&seen, "CstmrCdtTrfInitn.PmtInf.CdtTrfTxInf.Amt.InstdAmt").expect("amount");
    assert_eq!(amt.2.as_deref(), Some("1250.00"));
    // Predefined entities and character references resolve; nothing else is expanded.
    let ustrd = field(&seen, "CstmrCdtTrfInitn.PmtInf.CdtTrfTxInf.RmtInf.Ustrd").expect("text");
    assert_eq!(ustrd.2.as_deref(), Some("Invoice 4 & 5 €"));
    assert_eq!(
        field(&seen, "CstmrCdtTrfInitn.PmtInf.CdtTrfTxInf.Purp").map(|f| f.1),
        Some(FieldType::Null)
    );
    assert_eq!(
        field(&seen, "CstmrCdtTrfInitn.PmtInf").map(|f| f.1),
        Some(FieldType::Object)
    );
    // Namespace declarations are not fields; the document element is the root, not a field.
    assert!(seen
        .fields
        .iter()
        .all(|f| !f.0.contains("xmlns") && !f.0.starts_with("Document")));
}

#[test]
fn a_soap_envelope_names_its_version_and_body_operation() {
    let doc = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:b="urn:bank:accounts">
      <soap:Header><b:Trace>t-1</b:Trace></soap:Header>
      <soap:Body><b:GetBalance><b:AccountId>12345678</b:AccountId></b:GetBalance></soap:Body>
    </soap:Envelope>"#;
    let (r, seen) = walk(doc);
    let s = r.expect("valid envelope");
    assert_eq!(s.soap, Some(SoapVersion::V1_1));
    assert_eq!(
        s.soap_body.as_deref(),
        Some("{urn:bank:accounts}GetBalance")
    );
    assert_eq!(s.iso20022, None);
    assert!(field(&seen, "Body.GetBalance.AccountId").is_some());
    let v12 = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><Ping/></e:Body></e:Envelope>"#;
    let (r, _) = walk(v12);
    let s = r.expect("valid 1.2 envelope");
    assert_eq!(
        (s.soap, s.soap_body.as_deref()),
        (Some(SoapVersion::V1_2), Some("Ping"))
    );
    // An Envelope in another namespace is not SOAP.
    let (r, _) = walk(r#"<Envelope><Body><Ping/></Body></Envelope>"#);
    assert_eq!(r.map(|s| (s.soap, s.soap_body)), Ok((None, None)));
}

#[test]
fn a_dtd_is_refused_and_never_expanded() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>"#;
    let (r, seen) = walk(bomb);
    assert!(matches!(r, Err(XmlError::Doctype(_))), "{r:?}");
    assert!(seen.fields.is_empty() && seen.root.is_empty());
    let external = r#"<!DOCTYPE x SYSTEM "file:///etc/passwd"><x>&xxe;</x>"#;
    assert!(matches!(walk(external).0, Err(XmlError::Doctype(_))));
    // An undeclared entity without a DTD is an error, not an empty string.
    assert!(matches!(walk("<x>&xxe;</x>").0, Err(XmlError::Syntax(_))));
}

#[test]
fn broken_documents_are_errors_with_their_offset() {
    assert_eq!(
        walk("<a><b></a>")
            .0
            .map(|_| ())
            .map_err(|e| matches!(e, XmlError::Syntax(_))),
        Err(true)
    );
    assert_eq!(walk("<a><b>x</b>").0, Err(XmlError::Eof));
    assert_eq!(walk("").0, Err(XmlError::Empty));
    assert!(matches!(walk("<a/><b/>").0, Err(XmlError::Syntax(_))));
    assert!(matches!(walk("<a/>trailing").0, Err(XmlError::Syntax(_))));
    let deep = "<a>".repeat(NESTING_LIMIT + 1);
    assert!(matches!(walk(&deep).0, Err(XmlError::Nesting(_))));
}

#[test]
fn limits_bound_what_is_reported() {
    let mut paths = Paths::new(PathLimits::default());
    let mut seen = Seen::default();
    let limits = WalkLimits {
        max_depth: 2,
        max_fields: 3,
    };
    let doc = "<r><a><b><c>deep</c></b></a><d>1</d><e>2</e><f>3</f><g>4</g></r>";
    walk_xml(doc.as_bytes(), &mut paths, &limits, &mut seen).expect("valid");
    assert!(
        seen.fields.iter().all(|f| f.0.split('.').count() <= 2),
        "{:?}",
        seen.fields
    );
    assert_eq!(seen.fields.len(), 3, "{:?}", seen.fields);
    // A document element named past the summary's bound is cut on a character boundary.
    let name = "é".repeat(MAX_NAME * 2);
    let (r, _) = walk(&format!("<{name}/>"));
    let root = r.expect("valid").root.expect("root");
    assert!(root.len() <= MAX_NAME * 2 && root.starts_with('é'));
    // Text beyond MAX_TEXT is cut, not kept whole, and the cut is counted.
    let long = format!("<r><t>{}</t></r>", "x".repeat(MAX_TEXT * 2));
    let (r, seen) = walk(&long);
    assert_eq!(r.map(|s| s.texts_cut), Ok(1));
    assert_eq!(
        field(&seen, "t")
            .and_then(|f| f.2.as_ref())
            .map(String::len),
        Some(MAX_TEXT)
    );
}

#[test]
fn every_truncation_and_flipped_byte_is_an_answer_not_a_panic() {
    let doc = PAIN001.as_bytes();
    for cut in 0..doc.len() {
        let mut paths = Paths::new(PathLimits::default());
        let _ = walk_xml(
            &doc[..cut],
            &mut paths,
            &WalkLimits::default(),
            &mut Seen::default(),
        );
    }
    for at in 0..doc.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = doc.to_vec();
            bad[at] ^= flip;
            let mut paths = Paths::new(PathLimits::default());
            let _ = walk_xml(
                &bad,
                &mut paths,
                &WalkLimits::default(),
                &mut Seen::default(),
            );
        }
    }
}

#[test]
fn message_types_are_recognised_by_shape() {
    assert!(is_message_type("pacs.008.001.08"));
    assert!(is_message_type("camt.053.001.02"));
    assert!(!is_message_type("pacs.008.001"));
    assert!(!is_message_type("pacs.008.001.008"));
    assert!(!is_message_type("PACS.008.001.08"));
    assert!(!is_message_type("pacs.008.001.08.1"));
}
