//! Test helpers: hand-built pcap / pcapng byte streams and PacketBuilder frames.
//!
//! Test-only (compiled under `cfg(test)`); not a capture writer for production use.

use etherparse::PacketBuilder;

/// A TCP/IPv4 Ethernet frame with the given payload.
pub fn eth_tcp4(src_port: u16, dst_port: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(src_port, dst_port, seq, 65535);
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder
        .write(&mut out, payload)
        .expect("writing to a Vec cannot fail");
    out
}

/// Legacy pcap writer. `nanos` picks the nanosecond magic; `big_endian` the byte order.
pub struct PcapWriter {
    pub bytes: Vec<u8>,
    big_endian: bool,
}

impl PcapWriter {
    pub fn new(linktype: u32, nanos: bool, big_endian: bool) -> PcapWriter {
        let mut w = PcapWriter {
            bytes: Vec::new(),
            big_endian,
        };
        w.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        w.u16(2);
        w.u16(4);
        w.u32(0); // thiszone
        w.u32(0); // sigfigs
        w.u32(65535); // snaplen
        w.u32(linktype);
        w
    }

    fn u16(&mut self, v: u16) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.bytes.extend_from_slice(&b);
    }

    fn u32(&mut self, v: u32) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.bytes.extend_from_slice(&b);
    }

    /// One record; `frac` is µs or ns depending on the magic.
    pub fn record(&mut self, secs: u32, frac: u32, data: &[u8], wire_len: u32) -> &mut Self {
        self.u32(secs);
        self.u32(frac);
        self.u32(data.len() as u32);
        self.u32(wire_len);
        self.bytes.extend_from_slice(data);
        self
    }
}

/// Little-endian pcapng writer.
#[derive(Default)]
pub struct PcapNgWriter {
    pub bytes: Vec<u8>,
}

impl PcapNgWriter {
    pub fn new() -> PcapNgWriter {
        let mut w = PcapNgWriter::default();
        w.shb();
        w
    }

    fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Self {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        self.bytes.extend_from_slice(&block_type.to_le_bytes());
        self.bytes.extend_from_slice(&total.to_le_bytes());
        self.bytes.extend_from_slice(body);
        self.bytes.resize(self.bytes.len() + padded - body.len(), 0);
        self.bytes.extend_from_slice(&total.to_le_bytes());
        self
    }

    /// Section header block (starts a new interface table).
    pub fn shb(&mut self) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&0x1a2b_3c4d_u32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&(-1i64).to_le_bytes());
        self.block(0x0a0d_0d0a, &body)
    }

    /// Interface description block with optional `if_tsresol` and `if_tsoffset`.
    pub fn idb(&mut self, linktype: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&linktype.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes()); // snaplen: unlimited
        if let Some(r) = tsresol {
            body.extend_from_slice(&9u16.to_le_bytes());
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(off) = tsoffset {
            body.extend_from_slice(&14u16.to_le_bytes());
            body.extend_from_slice(&8u16.to_le_bytes());
            body.extend_from_slice(&off.to_le_bytes());
        }
        if tsresol.is_some() || tsoffset.is_some() {
            body.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        }
        self.block(1, &body)
    }

    /// Enhanced packet block; `ts` in the interface's units.
    pub fn epb(&mut self, if_id: u32, ts: u64, data: &[u8], wire_len: u32) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&if_id.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&wire_len.to_le_bytes());
        body.extend_from_slice(data);
        body.resize(body.len().div_ceil(4) * 4, 0);
        self.block(6, &body)
    }

    /// Simple packet block.
    pub fn spb(&mut self, data: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    /// A name resolution block (to be skipped by readers).
    pub fn nrb(&mut self) -> &mut Self {
        self.block(4, &[0, 0, 0, 0])
    }
}
