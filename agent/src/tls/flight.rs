//! The first handshake flight of each direction of one TLS connection, buffered (bounded) until
//! it ends, so a TLS 1.2 Certificate message can be read for its subject.
//!
//! In TLS 1.2 (RFC 5246 section 7.3) the server's first flight (ServerHello, Certificate, ...,
//! ServerHelloDone) and the client's second flight (Certificate when the server asked for one,
//! ClientKeyExchange, CertificateVerify) travel as handshake records (content type 22) in clear,
//! and end where the sender's ChangeCipherSpec (type 20) starts. TLS 1.3 (RFC 8446 section 5)
//! encrypts everything after the ServerHello: the next record is a compatibility
//! ChangeCipherSpec or application data (type 23), so the flight ends there with no certificate.
//!
//! A direction is *settled* when a non-handshake record starts, when its buffer reaches
//! [`MAX_FLIGHT_BYTES`], when the worker-wide buffer budget is spent, or when the direction
//! ends or loses bytes. Settled directions hold no buffer. Not here: anything after the
//! handshake.

use crate::flow::Dir;
use analyzer::openbanking::handshake::HandshakeTpp;
use analyzer::tls::TlsObservation;

/// Bytes buffered per direction. A certificate chain of a few intermediates fits well within it;
/// a longer flight keeps what fitted and is counted (`http_tls_flight_capped`).
pub const MAX_FLIGHT_BYTES: usize = 16 * 1024;

/// Counters of the flight buffers of one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlightStats {
    /// Directions whose flight reached [`MAX_FLIGHT_BYTES`] before it ended.
    pub capped: u64,
    /// Directions settled early because the worker-wide budget was spent.
    pub budget_exhausted: u64,
    /// Server certificate subjects read.
    pub server_certs: u64,
    /// Client certificate subjects read (mutual TLS).
    pub client_certs: u64,
    /// Client certificates that named a TPP (eIDAS organisation id or PSD2 QCStatement).
    pub client_tpps: u64,
    /// Bytes currently buffered across all connections (a gauge; never above the budget).
    pub buffered: usize,
    /// Worker-wide budget for `buffered`.
    pub budget: usize,
}

impl FlightStats {
    /// Every counter with a stable metric name.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("http_tls_flight_capped", self.capped),
            ("http_tls_flight_budget_exhausted", self.budget_exhausted),
            ("http_tls_server_certs", self.server_certs),
            ("http_tls_client_certs", self.client_certs),
            ("http_tls_client_tpps", self.client_tpps),
        ]
    }
}

#[derive(Debug, Default)]
struct Flight {
    buf: Vec<u8>,
    settled: bool,
}

impl Flight {
    /// Whether the records in `buf` show the handshake flight has ended: a record whose content
    /// type is not handshake (22) has started.
    fn ended(&self) -> bool {
        let mut at = 0usize;
        loop {
            let Some(&ty) = self.buf.get(at) else {
                return false;
            };
            if ty != 22 {
                return true;
            }
            let Some(len) = super::be16(&self.buf, at + 3) else {
                return false;
            };
            at += 5 + len;
        }
    }
}

/// One connection's TLS metadata in the making.
#[derive(Debug)]
pub struct TlsFlights {
    obs: TlsObservation,
    /// The raw direction that carried the ClientHello.
    client_dir: Dir,
    client: Flight,
    server: Flight,
    /// The TPP the client's certificate named, if any.
    client_tpp: Option<HandshakeTpp>,
}

impl TlsFlights {
    /// Start with the ClientHello's observation; `hello` is the first client segment.
    pub fn new(
        obs: TlsObservation,
        client_dir: Dir,
        hello: &[u8],
        stats: &mut FlightStats,
    ) -> Self {
        let mut t = TlsFlights {
            obs,
            client_dir,
            client: Flight::default(),
            server: Flight::default(),
            client_tpp: None,
        };
        t.data(client_dir, hello, stats);
        t
    }

    fn flight(&mut self, dir: Dir) -> (&mut Flight, bool) {
        if dir == self.client_dir {
            (&mut self.client, true)
        } else {
            (&mut self.server, false)
        }
    }

    /// In-order bytes of one direction.
    pub fn data(&mut self, dir: Dir, bytes: &[u8], stats: &mut FlightStats) {
        let (flight, _) = self.flight(dir);
        if flight.settled {
            return;
        }
        let room = MAX_FLIGHT_BYTES.saturating_sub(flight.buf.len());
        let budget = stats.budget.saturating_sub(stats.buffered);
        let take = bytes.len().min(room).min(budget);
        flight
            .buf
            .extend_from_slice(bytes.get(..take).unwrap_or_default());
        stats.buffered += take;
        if flight.ended() {
            self.settle(dir, stats);
        } else if take < bytes.len() {
            if take == room {
                stats.capped += 1;
            } else {
                stats.budget_exhausted += 1;
            }
            self.settle(dir, stats);
        }
    }

    /// The direction ends or lost bytes: read what it has and free it.
    pub fn settle(&mut self, dir: Dir, stats: &mut FlightStats) {
        let (flight, is_client) = self.flight(dir);
        if flight.settled {
            return;
        }
        flight.settled = true;
        let buf = std::mem::take(&mut flight.buf);
        stats.buffered = stats.buffered.saturating_sub(buf.len());
        if !is_client {
            self.obs.server_alpn = super::alpn::server_selected(&buf);
        }
        let der = super::first_certificate_der(&buf);
        let subject = der
            .as_deref()
            .and_then(super::cert_subject)
            .filter(|s| !s.is_empty());
        if is_client {
            self.client_tpp = der.as_deref().and_then(HandshakeTpp::from_der);
            stats.client_tpps += u64::from(self.client_tpp.is_some());
        }
        if subject.is_some() {
            if is_client {
                stats.client_certs += 1;
                self.obs.client_cert_subject = subject;
            } else {
                stats.server_certs += 1;
                self.obs.server_cert_subject = subject;
            }
        }
    }

    /// Both directions settled: the observation is complete.
    pub fn done(&self) -> bool {
        self.client.settled && self.server.settled
    }

    /// Settle both directions and hand out the observation, with the TPP the client's
    /// certificate named.
    pub fn finish(mut self, stats: &mut FlightStats) -> (TlsObservation, Option<HandshakeTpp>) {
        let client_dir = self.client_dir;
        let server_dir = match client_dir {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        };
        self.settle(client_dir, stats);
        self.settle(server_dir, stats);
        (self.obs, self.client_tpp)
    }
}

#[cfg(test)]
mod tests {
    //! Whole TLS 1.2 handshakes as TCP frames (etherparse `PacketBuilder`) through the real
    //! pipeline: the observation carries both certificate subjects, and the caps hold.

    use super::super::tests::{certificate_msg, hello};
    use super::MAX_FLIGHT_BYTES;
    use crate::http::Recorder;
    use crate::pipeline::{Pipeline, PipelineConfig};
    use crate::source::memory::OwnedFrame;
    use crate::source::LinkType;
    use analyzer::time::Timestamp;
    use analyzer::tls::TlsObservation;
    use etherparse::PacketBuilder;

    const CLIENT: [u8; 4] = [10, 0, 0, 1];
    const SERVER: [u8; 4] = [10, 0, 0, 2];

    /// One TCP segment; `from_client` picks the direction; `syn`/`ack` set those flags.
    fn seg(from_client: bool, seq: u32, ack: Option<u32>, syn: bool, payload: &[u8]) -> Vec<u8> {
        let (src, dst, sp, dp) = if from_client {
            (CLIENT, SERVER, 50_000, 443)
        } else {
            (SERVER, CLIENT, 443, 50_000)
        };
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .tcp(sp, dp, seq, 65_535);
        if syn {
            b = b.syn();
        }
        if let Some(a) = ack {
            b = b.ack(a);
        }
        let mut out = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut out, payload).expect("Vec write");
        out
    }

    /// Handshake messages in TLS 1.2 records of at most 16 KiB (RFC 5246 section 6.2.1).
    fn records(ty: u8, msgs: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in msgs.chunks(16_384) {
            out.extend_from_slice(&[ty, 3, 3]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    /// A TLS 1.2 mutual-TLS handshake: hello, server flight (ServerHello, `server_extra`
    /// padding message, Certificate, ServerHelloDone), client flight (Certificate, CKE, CCS),
    /// server CCS. Payload segments of at most 1400 bytes.
    fn handshake(server_extra: usize) -> Vec<OwnedFrame> {
        let mut frames = Vec::new();
        let mut t = 1_700_000_000 * Timestamp::MICROS_PER_SEC;
        let mut push = |f: Vec<u8>| {
            t += 1000;
            frames.push(OwnedFrame::new(Timestamp(t), LinkType::Ethernet, f));
        };
        let (mut cs, mut ss) = (1000u32, 5000u32);
        push(seg(true, cs, None, true, b""));
        push(seg(false, ss, Some(cs + 1), true, b""));
        cs += 1;
        ss += 1;
        push(seg(true, cs, Some(ss), false, b""));
        let mut send = |from_client: bool, data: &[u8], push: &mut dyn FnMut(Vec<u8>)| {
            for chunk in data.chunks(1400) {
                let (seq, ack) = if from_client {
                    (&mut cs, ss)
                } else {
                    (&mut ss, cs)
                };
                push(seg(from_client, *seq, Some(ack), false, chunk));
                *seq = seq.wrapping_add(chunk.len() as u32);
            }
        };
        send(true, &hello("api.bank.example"), &mut push);
        let mut server = vec![2, 0, 0, 2, 3, 3];
        if server_extra > 0 {
            // A CertificateStatus-sized message (type 22) before the certificate.
            server.push(22);
            server.extend_from_slice(&(server_extra as u32).to_be_bytes()[1..]);
            server.resize(server.len() + server_extra, 0);
        }
        server.extend_from_slice(&certificate_msg("api.bank.example", "Bank plc"));
        server.extend_from_slice(&[14, 0, 0, 0]);
        send(false, &records(22, &server), &mut push);
        let mut client = certificate_msg("tpp-001", "Fintech Ltd");
        client.extend_from_slice(&[16, 0, 0, 2, 0, 0]);
        let mut flight = records(22, &client);
        flight.extend_from_slice(&[20, 3, 3, 0, 1, 1]);
        send(true, &flight, &mut push);
        send(false, &[20, 3, 3, 0, 1, 1], &mut push);
        frames
    }

    fn run(
        frames: &[OwnedFrame],
    ) -> (
        Vec<TlsObservation>,
        Vec<TlsObservation>,
        crate::pipeline::PipelineStats,
    ) {
        let mut p = Pipeline::new(PipelineConfig::default(), Recorder::default());
        for f in frames {
            p.feed(&f.as_frame());
        }
        let before_finish = p.sink().tls.clone();
        let (sink, stats) = p.finish();
        (before_finish, sink.tls, stats)
    }

    #[test]
    fn tls12_certificates_fill_both_subjects() {
        let (early, all, stats) = run(&handshake(0));
        // Both flights ended with ChangeCipherSpec: emitted without waiting for the close.
        assert_eq!(early.len(), 1);
        assert_eq!(all.len(), 1);
        let o = &all[0];
        assert_eq!(o.sni.as_deref(), Some("api.bank.example"));
        assert_eq!(
            o.server_cert_subject.as_deref(),
            Some("CN=api.bank.example,O=Bank plc")
        );
        assert_eq!(
            o.client_cert_subject.as_deref(),
            Some("CN=tpp-001,O=Fintech Ltd")
        );
        assert_eq!(stats.counters["http.http_tls_server_certs"], 1);
        assert_eq!(stats.counters["http.http_tls_client_certs"], 1);
        assert_eq!(stats.counters["http.http_tls_flight_capped"], 0);
    }

    #[test]
    fn a_server_flight_beyond_the_cap_is_cut_and_counted() {
        // The certificate sits after MAX_FLIGHT_BYTES of other handshake bytes: not read.
        let (_, all, stats) = run(&handshake(MAX_FLIGHT_BYTES));
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].server_cert_subject, None);
        assert_eq!(
            all[0].client_cert_subject.as_deref(),
            Some("CN=tpp-001,O=Fintech Ltd")
        );
        assert_eq!(stats.counters["http.http_tls_flight_capped"], 1);
    }

    #[test]
    fn buffered_bytes_stay_within_the_budget() {
        let mut stats = super::FlightStats {
            budget: 100,
            ..Default::default()
        };
        let obs = TlsObservation {
            ts: Timestamp(0),
            sni: None,
            alpn: Vec::new(),
            ja4: String::new(),
            server_cert_subject: None,
            client_cert_subject: None,
            consumer: String::new(),
            server_alpn: None,
        };
        let first = hello("a.example");
        let mut a = super::TlsFlights::new(
            obs.clone(),
            crate::flow::Dir::ToServer,
            &first[..60],
            &mut stats,
        );
        let mut b =
            super::TlsFlights::new(obs, crate::flow::Dir::ToServer, &first[..60], &mut stats);
        assert!(stats.buffered <= 100);
        assert_eq!(stats.budget_exhausted, 1);
        a.data(crate::flow::Dir::ToClient, &[22, 3, 3, 0, 200], &mut stats);
        b.data(crate::flow::Dir::ToClient, &[22, 3, 3, 0, 200], &mut stats);
        assert!(stats.buffered <= 100);
        let _ = a.finish(&mut stats);
        let _ = b.finish(&mut stats);
        assert_eq!(stats.buffered, 0);
    }
}
