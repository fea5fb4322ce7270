//! Frames and TCP: a packet sink, simulated TCP connections, pcap records.

use std::io::Write;

use etherparse::{PacketBuilder, TcpOptionElement};

use crate::util::Rng;

/// Data bytes per TCP segment.
pub const MSS: usize = 1448;

/// Legacy pcap global header: microsecond resolution, LINKTYPE_ETHERNET.
pub fn write_pcap_header(out: &mut impl Write) -> std::io::Result<()> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    h.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
    h.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    out.write_all(&h)
}

/// One pcap record (16-byte header + frame); returns the bytes written.
pub fn write_pcap_record(out: &mut impl Write, ts_us: u64, frame: &[u8]) -> std::io::Result<u64> {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
    h[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
    h[8..12].copy_from_slice(&(frame.len() as u32).to_le_bytes());
    h[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
    out.write_all(&h)?;
    out.write_all(frame)?;
    Ok(16 + frame.len() as u64)
}

pub struct Pkt {
    pub ts: u64,
    pub ord: u64,
    pub frame: Vec<u8>,
}

/// Collects the frames of one traffic round; sorted by time before writing.
#[derive(Default)]
pub struct Sink {
    pub pkts: Vec<Pkt>,
    ord: u64,
    /// Visible retransmitted (duplicate) data segments.
    pub retransmits: u64,
}

impl Sink {
    pub fn push(&mut self, ts: u64, frame: Vec<u8>) {
        self.ord += 1;
        self.pkts.push(Pkt {
            ts,
            ord: self.ord,
            frame,
        });
    }

    pub fn max_ts(&self) -> u64 {
        self.pkts.iter().map(|p| p.ts).max().unwrap_or(0)
    }
}

/// A deterministic locally-administered MAC per IPv4 address.
pub fn mac(ip: [u8; 4]) -> [u8; 6] {
    [0x02, 0x42, ip[0], ip[1], ip[2], ip[3]]
}

#[derive(Clone, Copy, Debug)]
pub struct Ep {
    pub ip: [u8; 4],
    pub port: u16,
}

/// A UDP datagram frame.
pub fn udp_frame(src: Ep, dst: Ep, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(mac(src.ip), mac(dst.ip))
        .ipv4(src.ip, dst.ip, 64)
        .udp(src.port, dst.port);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("udp frame");
    v
}

const SYN: u8 = 1;
const FIN: u8 = 2;
const PSH: u8 = 4;

/// A simulated TCP connection between a client and a server endpoint.
pub struct Conn {
    pub c: Ep,
    pub s: Ep,
    cseq: u32,
    sseq: u32,
    /// Current time in microseconds (packet time).
    pub t: u64,
    /// False while the capture has "not yet seen" this connection (mid-stream start).
    pub visible: bool,
    /// Probability that a data segment is retransmitted (exact duplicate later).
    pub retransmit_p: f64,
}

impl Conn {
    fn frame(&self, from_client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (src, dst, ttl, win) = if from_client {
            (self.c, self.s, 64, 502)
        } else {
            (self.s, self.c, 63, 509)
        };
        let mut b = PacketBuilder::ethernet2(mac(src.ip), mac(dst.ip))
            .ipv4(src.ip, dst.ip, ttl)
            .tcp(src.port, dst.port, seq, win);
        if flags & SYN != 0 {
            b = b.syn();
            b = b
                .options(&[
                    TcpOptionElement::MaximumSegmentSize(1460),
                    TcpOptionElement::Noop,
                    TcpOptionElement::WindowScale(7),
                ])
                .expect("tcp options fit");
        }
        if !(flags & SYN != 0 && from_client) {
            b = b.ack(ack);
        }
        if flags & FIN != 0 {
            b = b.fin();
        }
        if flags & PSH != 0 {
            b = b.psh();
        }
        let mut v = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut v, payload).expect("tcp frame");
        v
    }

    fn emit(&self, sink: &mut Sink, frame: Vec<u8>) {
        if self.visible {
            sink.push(self.t, frame);
        }
    }

    fn emit_dup(&self, sink: &mut Sink, frame: Vec<u8>) {
        if self.visible {
            sink.retransmits += 1;
            sink.push(self.t, frame);
        }
    }

    /// Three-way handshake starting at `t`.
    pub fn open(sink: &mut Sink, rng: &mut Rng, c: Ep, s: Ep, t: u64, visible: bool) -> Conn {
        let mut conn = Conn {
            c,
            s,
            cseq: rng.next_u64() as u32,
            sseq: rng.next_u64() as u32,
            t,
            visible,
            retransmit_p: 0.01,
        };
        let f = conn.frame(true, conn.cseq, 0, SYN, &[]);
        conn.emit(sink, f);
        conn.cseq = conn.cseq.wrapping_add(1);
        conn.t += rng.range(60, 400);
        let f = conn.frame(false, conn.sseq, conn.cseq, SYN, &[]);
        conn.emit(sink, f);
        conn.sseq = conn.sseq.wrapping_add(1);
        conn.t += rng.range(60, 400);
        let f = conn.frame(true, conn.cseq, conn.sseq, 0, &[]);
        conn.emit(sink, f);
        conn
    }

    fn pure_ack(&self, sink: &mut Sink, from_client: bool, ack: u32) {
        let seq = if from_client { self.cseq } else { self.sseq };
        let f = self.frame(from_client, seq, ack, 0, &[]);
        self.emit(sink, f);
    }

    /// Sends `data` in MSS-sized segments. The receiver acknowledges every
    /// second segment and the end. With `reorder`, two adjacent segments go
    /// out swapped; each segment is retransmitted with `retransmit_p`.
    pub fn send(
        &mut self,
        sink: &mut Sink,
        rng: &mut Rng,
        from_client: bool,
        data: &[u8],
        reorder: bool,
    ) {
        if data.is_empty() {
            return;
        }
        let base = if from_client { self.cseq } else { self.sseq };
        let ack = if from_client { self.sseq } else { self.cseq };
        let n = data.len().div_ceil(MSS);
        let mut order: Vec<usize> = (0..n).collect();
        if reorder && n >= 4 {
            let k = 1 + rng.below(n as u64 - 2) as usize;
            order.swap(k, k + 1);
        }
        let mut delivered = vec![false; n];
        let mut contig = 0usize;
        let mut since_ack = 0;
        let mut pending_dup: Option<Vec<u8>> = None;
        for (j, &i) in order.iter().enumerate() {
            let chunk = &data[i * MSS..((i + 1) * MSS).min(data.len())];
            let flags = if i == n - 1 { PSH } else { 0 };
            let f = self.frame(
                from_client,
                base.wrapping_add((i * MSS) as u32),
                ack,
                flags,
                chunk,
            );
            self.t += rng.range(8, 30);
            let dup = rng.chance(self.retransmit_p).then(|| f.clone());
            self.emit(sink, f);
            if let Some(d) = pending_dup.take() {
                self.t += rng.range(20, 200);
                self.emit_dup(sink, d);
            }
            pending_dup = dup;
            delivered[i] = true;
            while contig < n && delivered[contig] {
                contig += 1;
            }
            since_ack += 1;
            if since_ack >= 2 && j + 1 < n {
                since_ack = 0;
                self.t += rng.range(5, 40);
                let acked = base.wrapping_add((contig * MSS).min(data.len()) as u32);
                self.pure_ack(sink, !from_client, acked);
            }
        }
        let end = base.wrapping_add(data.len() as u32);
        if from_client {
            self.cseq = end;
        } else {
            self.sseq = end;
        }
        self.t += rng.range(40, 250);
        self.pure_ack(sink, !from_client, end);
        if let Some(d) = pending_dup {
            // A late retransmission of an already acknowledged segment, and
            // the receiver's duplicate ACK.
            self.t += rng.range(180_000, 230_000);
            self.emit_dup(sink, d);
            self.t += rng.range(40, 250);
            self.pure_ack(sink, !from_client, end);
        }
    }

    /// Orderly close: client FIN, server FIN+ACK, client ACK.
    pub fn close(&mut self, sink: &mut Sink, rng: &mut Rng) {
        let f = self.frame(true, self.cseq, self.sseq, FIN, &[]);
        self.emit(sink, f);
        self.cseq = self.cseq.wrapping_add(1);
        self.t += rng.range(60, 400);
        let f = self.frame(false, self.sseq, self.cseq, FIN, &[]);
        self.emit(sink, f);
        self.sseq = self.sseq.wrapping_add(1);
        self.t += rng.range(60, 400);
        let f = self.frame(true, self.cseq, self.sseq, 0, &[]);
        self.emit(sink, f);
    }
}

/// A DNS A query and its answer.
pub fn dns_exchange(
    sink: &mut Sink,
    rng: &mut Rng,
    client: Ep,
    resolver: Ep,
    t: u64,
    name: &str,
    answer: [u8; 4],
) -> u64 {
    let id = rng.next_u64() as u16;
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    sink.push(t, udp_frame(client, resolver, &q));
    let mut r = q.clone();
    r[2] = 0x81;
    r[3] = 0x80;
    r[7] = 1; // ANCOUNT
    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4]);
    r.extend_from_slice(&answer);
    let t2 = t + rng.range(200, 1500);
    sink.push(t2, udp_frame(resolver, client, &r));
    t2
}

/// A TLS 1.2 ClientHello record carrying `sni`.
pub fn tls_client_hello(rng: &mut Rng, sni: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[0x03, 0x03]);
    body.extend_from_slice(&rng.bytes(32));
    body.push(32);
    body.extend_from_slice(&rng.bytes(32));
    let suites: [u16; 9] = [
        0xc02f, 0xc030, 0xc02b, 0xc02c, 0xcca8, 0xcca9, 0x009e, 0x009f, 0x00ff,
    ];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    let mut ext = Vec::new();
    // server_name
    let name = sni.as_bytes();
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    // supported_groups: x25519, secp256r1, secp384r1
    ext.extend_from_slice(&[0, 0x0a, 0, 8, 0, 6, 0, 0x1d, 0, 0x17, 0, 0x18]);
    // ec_point_formats
    ext.extend_from_slice(&[0, 0x0b, 0, 2, 1, 0]);
    // signature_algorithms
    ext.extend_from_slice(&[
        0, 0x0d, 0, 10, 0, 8, 0x08, 0x04, 0x04, 0x03, 0x04, 0x01, 0x05, 0x01,
    ]);
    // ALPN http/1.1
    ext.extend_from_slice(&[0, 0x10, 0, 11, 0, 9, 8]);
    ext.extend_from_slice(b"http/1.1");
    // extended_master_secret
    ext.extend_from_slice(&[0, 0x17, 0, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Server side of a TLS 1.2 handshake start: ServerHello and an opaque
/// certificate-sized handshake record.
pub fn tls_server_flight(rng: &mut Rng) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&rng.bytes(32));
    body.push(32);
    body.extend_from_slice(&rng.bytes(32));
    body.extend_from_slice(&[0xc0, 0x2f, 0]);
    body.extend_from_slice(&[0, 9, 0xff, 0x01, 0, 1, 0, 0, 0x17, 0, 0]);
    let mut hs = vec![2u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut out = vec![0x16, 0x03, 0x03];
    out.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    out.extend_from_slice(&hs);
    let len = rng.range(1800, 2600) as usize;
    let opaque = rng.bytes(len);
    out.extend_from_slice(&[0x16, 0x03, 0x03]);
    out.extend_from_slice(&(opaque.len() as u16).to_be_bytes());
    out.extend_from_slice(&opaque);
    out
}

/// A TLS application-data record of opaque bytes.
pub fn tls_app_data(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = vec![0x17, 0x03, 0x03];
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&rng.bytes(len));
    out
}

/// PostgreSQL StartupMessage (protocol 3.0).
pub fn pg_startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes());
    for (k, v) in [
        ("user", user),
        ("database", database),
        ("application_name", "legacy-cards"),
    ] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// PostgreSQL AuthenticationSASL (SCRAM-SHA-256).
pub fn pg_auth_sasl() -> Vec<u8> {
    let mut body = 10u32.to_be_bytes().to_vec();
    body.extend_from_slice(b"SCRAM-SHA-256\0\0");
    let mut out = vec![b'R'];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// An unencrypted SSH_MSG_KEXINIT binary packet (RFC 4253 section 7.1).
pub fn ssh_kexinit(rng: &mut Rng) -> Vec<u8> {
    let mut payload = vec![20u8];
    payload.extend_from_slice(&rng.bytes(16));
    let lists = [
        "curve25519-sha256,ecdh-sha2-nistp256,diffie-hellman-group16-sha512",
        "ssh-ed25519,rsa-sha2-512,rsa-sha2-256",
        "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr",
        "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr",
        "hmac-sha2-256-etm@openssh.com,hmac-sha2-512",
        "hmac-sha2-256-etm@openssh.com,hmac-sha2-512",
        "none,zlib@openssh.com",
        "none,zlib@openssh.com",
        "",
        "",
    ];
    for l in lists {
        payload.extend_from_slice(&(l.len() as u32).to_be_bytes());
        payload.extend_from_slice(l.as_bytes());
    }
    payload.push(0); // first_kex_packet_follows
    payload.extend_from_slice(&[0, 0, 0, 0]);
    // padding: at least 4 bytes, total (4 + 1 + payload + padding) a multiple of 8
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    let mut out = ((1 + payload.len() + pad) as u32).to_be_bytes().to_vec();
    out.push(pad as u8);
    out.extend_from_slice(&payload);
    out.extend_from_slice(&vec![0u8; pad]);
    out
}
