//! The protocol the server chose (RFC 7301 section 3.1): the ALPN extension of a TLS 1.2
//! ServerHello, which travels in clear. TLS 1.3 sends it in EncryptedExtensions, so it stays
//! unknown there. A server that chose `h2` speaks HTTP/2 on the connection.

/// ALPN extension type.
const ALPN: usize = 16;

/// The protocol the ServerHello at the start of a server flight selected, if it says.
pub fn server_selected(stream: &[u8]) -> Option<String> {
    let hs = super::handshake_bytes(stream);
    // ServerHello (type 2): length (24), version (2), random (32), session id (8-bit length),
    // cipher suite (2), compression (1), extensions (16-bit length).
    if *hs.first()? != 2 {
        return None;
    }
    let body = hs.get(4..)?;
    let sid = usize::from(*body.get(34)?);
    let mut at = 35 + sid + 3;
    let ext_len = super::be16(body, at)?;
    at += 2;
    let end = (at + ext_len).min(body.len());
    while at + 4 <= end {
        let ty = super::be16(body, at)?;
        let len = super::be16(body, at + 2)?;
        let data = body.get(at + 4..at + 4 + len)?;
        if ty == ALPN {
            // protocol_name_list: a 16-bit length, then exactly one 8-bit-length name.
            let n = usize::from(*data.get(2)?);
            let name = data.get(3..3 + n)?;
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        at += 4 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS 1.2 ServerHello record with `exts` as its extensions.
    fn server_hello(exts: &[u8]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(4);
        body.extend_from_slice(&[1, 2, 3, 4]);
        body.extend_from_slice(&[0xc0, 0x2f, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(exts);
        let mut hs = vec![2, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 3];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    fn alpn_ext(name: &[u8]) -> Vec<u8> {
        let mut e = vec![0, 16];
        e.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        e.extend_from_slice(&((name.len() + 1) as u16).to_be_bytes());
        e.push(name.len() as u8);
        e.extend_from_slice(name);
        e
    }

    /// Through a connection's flights into the TLS inventory: the host is marked HTTP/2 when
    /// its server chose `h2`, and not when it chose `http/1.1`.
    #[test]
    fn a_host_whose_server_chose_h2_is_marked_http2() {
        use crate::flow::Dir;
        use analyzer::tls::{TlsInventory, TlsLimits, TlsObservation};
        let mut inventory = TlsInventory::new(TlsLimits::default());
        for (sni, proto) in [
            ("grpc.bank.example", &b"h2"[..]),
            ("web.bank.example", b"http/1.1"),
        ] {
            let obs = TlsObservation {
                ts: analyzer::time::Timestamp(1),
                sni: Some(sni.to_string()),
                alpn: vec!["h2".into(), "http/1.1".into()],
                ja4: "t".into(),
                server_cert_subject: None,
                client_cert_subject: None,
                consumer: "addr:10.0.0.1".into(),
                server_alpn: None,
            };
            let mut stats = super::super::flight::FlightStats {
                budget: 1 << 20,
                ..Default::default()
            };
            let mut flights =
                super::super::flight::TlsFlights::new(obs, Dir::ToServer, b"", &mut stats);
            let mut flight = server_hello(&alpn_ext(proto));
            flight.extend_from_slice(&[20, 3, 3, 0, 1, 1]);
            flights.data(Dir::ToClient, &flight, &mut stats);
            let (obs, _) = flights.finish(&mut stats);
            assert_eq!(obs.server_alpn.as_deref().map(str::as_bytes), Some(proto));
            inventory.add(&obs);
        }
        assert_eq!(inventory.hosts["grpc.bank.example"].http2, 1);
        assert_eq!(inventory.hosts["web.bank.example"].http2, 0);
        let json = serde_json::to_value(&inventory).unwrap_or_default();
        assert_eq!(json["hosts"]["grpc.bank.example"]["http2"], 1);
        assert!(json["hosts"]["web.bank.example"].get("http2").is_none());
    }

    #[test]
    fn selected_protocol_from_a_server_hello() {
        let renegotiation = [0xff, 0x01, 0, 1, 0];
        let exts = [&renegotiation[..], &alpn_ext(b"h2")].concat();
        assert_eq!(server_selected(&server_hello(&exts)).as_deref(), Some("h2"));
        assert_eq!(
            server_selected(&server_hello(&alpn_ext(b"http/1.1"))).as_deref(),
            Some("http/1.1")
        );
        assert_eq!(server_selected(&server_hello(&renegotiation)), None);
        assert_eq!(server_selected(b""), None);
        // Every cut and a flipped byte at every offset: no panic.
        let full = server_hello(&exts);
        for cut in 0..full.len() {
            let _ = server_selected(&full[..cut]);
        }
        for at in 0..full.len() {
            let mut v = full.clone();
            v[at] ^= 0xff;
            let _ = server_selected(&v);
        }
    }
}
