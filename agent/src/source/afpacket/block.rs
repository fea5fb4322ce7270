//! The TPACKET_V3 block walker: safe, pure functions over one ring block as `&[u8]`.
//!
//! A TPACKET_V3 ring is `block_count` blocks of `block_size` bytes. The kernel fills a block
//! with packets, then hands it to user space by setting `TP_STATUS_USER` in the block's status
//! word; user space reads every packet and hands it back with `TP_STATUS_KERNEL`. A block is:
//!
//! ```text
//! struct tpacket_block_desc (48 bytes)            packet i (at offset_to_first_pkt, then
//!   version, offset_to_priv,                        + tp_next_offset each):
//!   block_status @8, num_pkts @12,                   struct tpacket3_hdr (48 bytes)
//!   offset_to_first_pkt @16, blk_len @20,            ... sockaddr_ll, padding ...
//!   seq_num @24, ts_first/last @32/@40               frame bytes at + tp_mac, tp_snaplen long
//! ```
//!
//! Nothing here trusts the ring: every offset and length read from a header is checked against
//! the block before any slicing (checked arithmetic, no panics), so a corrupt or hostile header
//! yields a [`RingError`], never a read outside the block. The unsafe part (the mapping, the
//! ownership handshake with the kernel) lives in `super::sys` and `super`; this module only
//! ever sees a `&[u8]` (or, for VLAN tag reinsertion, a `&mut [u8]`) that user space owns.

use std::fmt;

/// `sizeof(struct tpacket_block_desc)` with the `tpacket_hdr_v1` variant.
pub(crate) const BLOCK_HDR_LEN: usize = 48;
/// Offset of `hdr.bh1.block_status` in the block descriptor.
pub(crate) const BLOCK_STATUS_OFFSET: usize = 8;
/// `sizeof(struct tpacket3_hdr)`.
pub(crate) const PKT_HDR_LEN: usize = 48;
/// `TPACKET3_HDRLEN`: `TPACKET_ALIGN(sizeof(tpacket3_hdr)) + sizeof(sockaddr_ll)`. The kernel
/// never places frame bytes (`tp_mac`) before this.
pub(crate) const TPACKET3_HDRLEN: usize = 68;
/// Bytes of an 802.1Q tag.
pub(crate) const VLAN_TAG_LEN: usize = 4;

// The byte offsets below must match the kernel's (and libc's) struct layouts.
const _: () = {
    assert!(std::mem::size_of::<libc::tpacket3_hdr>() == PKT_HDR_LEN);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_next_offset) == 0);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_sec) == 4);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_nsec) == 8);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_snaplen) == 12);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_len) == 16);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_status) == 20);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_mac) == 24);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_net) == 26);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, hv1) == 28);
    assert!(std::mem::offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tci) == 4);
    assert!(std::mem::offset_of!(libc::tpacket_hdr_variant1, tp_vlan_tpid) == 8);
    assert!(std::mem::size_of::<libc::tpacket_block_desc>() == BLOCK_HDR_LEN);
    assert!(std::mem::offset_of!(libc::tpacket_block_desc, hdr) == BLOCK_STATUS_OFFSET);
    assert!(std::mem::offset_of!(libc::tpacket_hdr_v1, num_pkts) == 4);
    assert!(std::mem::offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt) == 8);
    assert!(std::mem::offset_of!(libc::tpacket_hdr_v1, blk_len) == 12);
    assert!(std::mem::offset_of!(libc::tpacket_hdr_v1, seq_num) == 16);
    assert!(libc::TPACKET3_HDRLEN == TPACKET3_HDRLEN);
};

/// A ring header failed validation. Carries the offending values for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The block is shorter than its own descriptor.
    BlockTooShort { len: usize },
    /// `blk_len` (bytes in use) is below the descriptor size or beyond the block.
    BadBlockLen { blk_len: u32, block_size: usize },
    /// `offset_to_first_pkt` does not leave room for a packet header inside `blk_len`.
    BadFirstOffset { offset: u32, blk_len: u32 },
    /// A packet header would extend past the used part of the block.
    HeaderOutOfBounds { offset: usize, used: usize },
    /// `tp_mac` points into the packet's own header area.
    BadMacOffset { offset: usize, mac: u16 },
    /// `tp_mac + tp_snaplen` extends past the used part of the block.
    DataOutOfBounds {
        offset: usize,
        mac: u16,
        snaplen: u32,
        used: usize,
    },
    /// A packet that is not the block's last has `tp_next_offset` 0 or pointing past the block.
    BadNextOffset {
        offset: usize,
        next: u32,
        used: usize,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RingError::BlockTooShort { len } => {
                write!(
                    f,
                    "block of {len} bytes is shorter than its {BLOCK_HDR_LEN}-byte descriptor"
                )
            }
            RingError::BadBlockLen {
                blk_len,
                block_size,
            } => write!(
                f,
                "blk_len {blk_len} outside [{BLOCK_HDR_LEN}, {block_size}]"
            ),
            RingError::BadFirstOffset { offset, blk_len } => write!(
                f,
                "offset_to_first_pkt {offset} leaves no packet header inside blk_len {blk_len}"
            ),
            RingError::HeaderOutOfBounds { offset, used } => write!(
                f,
                "packet header at {offset} extends past the {used} used bytes of the block"
            ),
            RingError::BadMacOffset { offset, mac } => write!(
                f,
                "packet at {offset}: tp_mac {mac} points into the packet header"
            ),
            RingError::DataOutOfBounds {
                offset,
                mac,
                snaplen,
                used,
            } => write!(
                f,
                "packet at {offset}: tp_mac {mac} + tp_snaplen {snaplen} extends past the {used} used bytes"
            ),
            RingError::BadNextOffset { offset, next, used } => write!(
                f,
                "packet at {offset}: tp_next_offset {next} does not lead to another packet inside {used} bytes"
            ),
        }
    }
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let bytes = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([bytes[0], bytes[1]]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(bytes);
    Some(u32::from_ne_bytes(a))
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(bytes);
    Some(u64::from_ne_bytes(a))
}

/// The validated descriptor of a block user space owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    pub status: u32,
    pub num_pkts: u32,
    /// Offset of the first packet header (meaningful when `num_pkts > 0`).
    pub first_offset: usize,
    /// Bytes of the block in use (descriptor included); packets lie below this.
    pub used: usize,
    pub seq: u64,
}

/// Read and validate a block descriptor. On success, `first_offset + PKT_HDR_LEN <= used <=
/// block.len()` whenever `num_pkts > 0`.
pub fn parse_block_header(block: &[u8]) -> Result<BlockHeader, RingError> {
    let too_short = RingError::BlockTooShort { len: block.len() };
    if block.len() < BLOCK_HDR_LEN {
        return Err(too_short);
    }
    let status = u32_at(block, BLOCK_STATUS_OFFSET).ok_or(too_short)?;
    let num_pkts = u32_at(block, 12).ok_or(too_short)?;
    let first = u32_at(block, 16).ok_or(too_short)?;
    let blk_len = u32_at(block, 20).ok_or(too_short)?;
    let seq = u64_at(block, 24).ok_or(too_short)?;
    let used = usize::try_from(blk_len).unwrap_or(usize::MAX);
    if used < BLOCK_HDR_LEN || used > block.len() {
        return Err(RingError::BadBlockLen {
            blk_len,
            block_size: block.len(),
        });
    }
    let first_offset = usize::try_from(first).unwrap_or(usize::MAX);
    if num_pkts > 0
        && (first_offset < BLOCK_HDR_LEN
            || first_offset
                .checked_add(PKT_HDR_LEN)
                .is_none_or(|end| end > used))
    {
        return Err(RingError::BadFirstOffset {
            offset: first,
            blk_len,
        });
    }
    Ok(BlockHeader {
        status,
        num_pkts,
        first_offset,
        used,
        seq,
    })
}

/// One validated packet of a block. All offsets are relative to the block start and lie within
/// the block's used bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// Offset of this packet's `tpacket3_hdr`.
    pub offset: usize,
    pub sec: u32,
    pub nsec: u32,
    /// `tp_len`: the frame's length on the wire.
    pub wire_len: u32,
    pub status: u32,
    /// Frame bytes: `data_start .. data_start + data_len` (`tp_mac`, `tp_snaplen`).
    pub data_start: usize,
    pub data_len: usize,
    /// `tp_vlan_tci` when `TP_STATUS_VLAN_VALID`.
    pub vlan: Option<VlanTag>,
    /// Offset of the next packet header (`tp_next_offset` from this one), when there is one.
    pub next: Option<usize>,
}

/// An 802.1Q/802.1ad tag the kernel stripped from the frame into packet metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    pub tpid: u16,
    pub tci: u16,
}

/// Read and validate the packet header at `offset` in a block whose first `used` bytes are in
/// use. `last` says whether this is the block's last packet (`num_pkts` reached): a non-last
/// packet must point at a next header inside the block.
pub fn parse_packet(
    block: &[u8],
    used: usize,
    offset: usize,
    last: bool,
) -> Result<PacketHeader, RingError> {
    let used = used.min(block.len());
    let oob = RingError::HeaderOutOfBounds { offset, used };
    let hdr_end = offset.checked_add(PKT_HDR_LEN).ok_or(oob)?;
    if hdr_end > used {
        return Err(oob);
    }
    let next_off = u32_at(block, offset).ok_or(oob)?;
    let sec = u32_at(block, offset + 4).ok_or(oob)?;
    let nsec = u32_at(block, offset + 8).ok_or(oob)?;
    let snaplen = u32_at(block, offset + 12).ok_or(oob)?;
    let wire_len = u32_at(block, offset + 16).ok_or(oob)?;
    let status = u32_at(block, offset + 20).ok_or(oob)?;
    let mac = u16_at(block, offset + 24).ok_or(oob)?;
    let vlan_tci = u32_at(block, offset + 32).ok_or(oob)?;
    let vlan_tpid = u16_at(block, offset + 36).ok_or(oob)?;

    if usize::from(mac) < PKT_HDR_LEN {
        return Err(RingError::BadMacOffset { offset, mac });
    }
    let data_oob = RingError::DataOutOfBounds {
        offset,
        mac,
        snaplen,
        used,
    };
    let data_start = offset.checked_add(usize::from(mac)).ok_or(data_oob)?;
    let data_len = usize::try_from(snaplen).map_err(|_| data_oob)?;
    let data_end = data_start.checked_add(data_len).ok_or(data_oob)?;
    if data_end > used {
        return Err(data_oob);
    }
    let next = if last {
        None
    } else {
        let bad_next = RingError::BadNextOffset {
            offset,
            next: next_off,
            used,
        };
        let step = usize::try_from(next_off).map_err(|_| bad_next)?;
        // A next header must start after this one (progress) and fit in the block.
        if step < PKT_HDR_LEN {
            return Err(bad_next);
        }
        let at = offset.checked_add(step).ok_or(bad_next)?;
        if at.checked_add(PKT_HDR_LEN).is_none_or(|end| end > used) {
            return Err(bad_next);
        }
        Some(at)
    };
    let vlan = (status & libc::TP_STATUS_VLAN_VALID != 0).then_some(VlanTag {
        tpid: if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 && vlan_tpid != 0 {
            vlan_tpid
        } else {
            0x8100
        },
        // The kernel stores the 16-bit TCI in a 32-bit field.
        tci: (vlan_tci & 0xffff) as u16,
    });
    Ok(PacketHeader {
        offset,
        sec,
        nsec,
        wire_len,
        status,
        data_start,
        data_len,
        vlan,
        next,
    })
}

/// Where the frame starts once the stripped VLAN tag is put back in front of the EtherType,
/// if there is room: the tag needs 4 bytes before `tp_mac` that are not part of the packet's
/// header area, and the frame must hold both MAC addresses. `None`: deliver as captured.
pub fn vlan_reinsert_start(pkt: &PacketHeader) -> Option<usize> {
    pkt.vlan?;
    if pkt.data_len < 12 {
        return None;
    }
    let start = pkt.data_start.checked_sub(VLAN_TAG_LEN)?;
    let header_end = pkt.offset.checked_add(TPACKET3_HDRLEN)?;
    (start >= header_end).then_some(start)
}

/// Put a stripped tag back: `frame` spans from the new start (4 bytes before `tp_mac`) to the
/// end of the captured bytes. The two MAC addresses move 4 bytes down and the tag goes where
/// they ended, in front of the original EtherType, as it was on the wire. Returns false (and
/// leaves `frame` untouched) when `frame` is too short to hold the addresses and the tag.
pub fn reinsert_vlan(frame: &mut [u8], tag: VlanTag) -> bool {
    if frame.len() < VLAN_TAG_LEN + 12 {
        return false;
    }
    frame.copy_within(VLAN_TAG_LEN..VLAN_TAG_LEN + 12, 0);
    frame[12..14].copy_from_slice(&tag.tpid.to_be_bytes());
    frame[14..16].copy_from_slice(&tag.tci.to_be_bytes());
    true
}

#[cfg(test)]
pub(crate) mod fake {
    //! A fake block builder for tests: lays packets out the way the kernel does.
    use super::*;

    pub struct FakePacket<'a> {
        pub sec: u32,
        pub nsec: u32,
        pub data: &'a [u8],
        pub wire_len: u32,
        pub vlan: Option<VlanTag>,
    }

    /// Kernel-like layout: first packet at 48, tp_mac at 82 (plus reserve), packets aligned to 8.
    pub fn build_block(block_size: usize, pkts: &[FakePacket<'_>], status: u32) -> Vec<u8> {
        let mut b = vec![0u8; block_size];
        let mac: usize = 82 + 4;
        let mut at = BLOCK_HDR_LEN;
        let mut prev: Option<usize> = None;
        for p in pkts {
            if let Some(pv) = prev {
                let step = (at - pv) as u32;
                b[pv..pv + 4].copy_from_slice(&step.to_ne_bytes());
            }
            b[at + 4..at + 8].copy_from_slice(&p.sec.to_ne_bytes());
            b[at + 8..at + 12].copy_from_slice(&p.nsec.to_ne_bytes());
            b[at + 12..at + 16].copy_from_slice(&(p.data.len() as u32).to_ne_bytes());
            b[at + 16..at + 20].copy_from_slice(&p.wire_len.to_ne_bytes());
            let mut st = libc::TP_STATUS_USER;
            if let Some(v) = p.vlan {
                st |= libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
                b[at + 32..at + 36].copy_from_slice(&u32::from(v.tci).to_ne_bytes());
                b[at + 36..at + 38].copy_from_slice(&v.tpid.to_ne_bytes());
            }
            b[at + 20..at + 24].copy_from_slice(&st.to_ne_bytes());
            b[at + 24..at + 26].copy_from_slice(&(mac as u16).to_ne_bytes());
            b[at + 26..at + 28].copy_from_slice(&((mac + 14) as u16).to_ne_bytes());
            b[at + mac..at + mac + p.data.len()].copy_from_slice(p.data);
            prev = Some(at);
            at = (at + mac + p.data.len() + 7) & !7;
        }
        b[BLOCK_STATUS_OFFSET..BLOCK_STATUS_OFFSET + 4].copy_from_slice(&status.to_ne_bytes());
        b[12..16].copy_from_slice(&(pkts.len() as u32).to_ne_bytes());
        b[16..20].copy_from_slice(&(BLOCK_HDR_LEN as u32).to_ne_bytes());
        b[20..24].copy_from_slice(&(at.min(block_size) as u32).to_ne_bytes());
        b[24..32].copy_from_slice(&7u64.to_ne_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;
    use proptest::prelude::*;

    fn walk(block: &[u8]) -> Result<Vec<PacketHeader>, RingError> {
        let h = parse_block_header(block)?;
        let mut out = Vec::new();
        let mut at = h.first_offset;
        for i in 0..h.num_pkts {
            let p = parse_packet(block, h.used, at, i + 1 == h.num_pkts)?;
            out.push(p);
            match p.next {
                Some(n) => at = n,
                None => break,
            }
        }
        Ok(out)
    }

    fn pkt(data: &[u8]) -> FakePacket<'_> {
        FakePacket {
            sec: 1_700_000_000,
            nsec: 123_456_789,
            data,
            wire_len: data.len() as u32,
            vlan: None,
        }
    }

    #[test]
    fn walks_a_well_formed_block() {
        let a = [1u8; 60];
        let b = [2u8; 1514];
        let c = [3u8; 42];
        let block = build_block(4096, &[pkt(&a), pkt(&b), pkt(&c)], libc::TP_STATUS_USER);
        let h = parse_block_header(&block).expect("header");
        assert_eq!(h.num_pkts, 3);
        assert_eq!(h.seq, 7);
        assert_eq!(h.status & libc::TP_STATUS_USER, libc::TP_STATUS_USER);
        let pkts = walk(&block).expect("walk");
        assert_eq!(pkts.len(), 3);
        for (p, want) in pkts.iter().zip([&a[..], &b[..], &c[..]]) {
            assert_eq!(&block[p.data_start..p.data_start + p.data_len], want);
            assert_eq!(p.sec, 1_700_000_000);
            assert_eq!(p.nsec, 123_456_789);
            assert_eq!(p.vlan, None);
        }
        assert_eq!(pkts[2].next, None);
    }

    #[test]
    fn empty_block_is_fine() {
        let block = build_block(4096, &[], libc::TP_STATUS_USER);
        let h = parse_block_header(&block).expect("header");
        assert_eq!(h.num_pkts, 0);
        assert!(walk(&block).expect("walk").is_empty());
    }

    #[test]
    fn rejects_short_block_and_bad_lengths() {
        assert_eq!(
            parse_block_header(&[0u8; 20]),
            Err(RingError::BlockTooShort { len: 20 })
        );
        let a = [1u8; 60];
        let mut block = build_block(4096, &[pkt(&a)], 1);
        block[20..24].copy_from_slice(&5000u32.to_ne_bytes());
        assert!(matches!(
            parse_block_header(&block),
            Err(RingError::BadBlockLen { .. })
        ));
        block[20..24].copy_from_slice(&10u32.to_ne_bytes());
        assert!(matches!(
            parse_block_header(&block),
            Err(RingError::BadBlockLen { .. })
        ));
        let mut block = build_block(4096, &[pkt(&a)], 1);
        block[16..20].copy_from_slice(&4090u32.to_ne_bytes());
        assert!(matches!(
            parse_block_header(&block),
            Err(RingError::BadFirstOffset { .. })
        ));
        block[16..20].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            parse_block_header(&block),
            Err(RingError::BadFirstOffset { .. })
        ));
        block[16..20].copy_from_slice(&4u32.to_ne_bytes());
        assert!(matches!(
            parse_block_header(&block),
            Err(RingError::BadFirstOffset { .. })
        ));
    }

    #[test]
    fn rejects_snaplen_and_mac_beyond_the_block() {
        let a = [1u8; 60];
        let block = build_block(4096, &[pkt(&a)], 1);
        let first = BLOCK_HDR_LEN;
        let mut bad = block.clone();
        bad[first + 12..first + 16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(walk(&bad), Err(RingError::DataOutOfBounds { .. })));
        let mut bad = block.clone();
        bad[first + 24..first + 26].copy_from_slice(&u16::MAX.to_ne_bytes());
        assert!(matches!(walk(&bad), Err(RingError::DataOutOfBounds { .. })));
        let mut bad = block;
        bad[first + 24..first + 26].copy_from_slice(&10u16.to_ne_bytes());
        assert!(matches!(walk(&bad), Err(RingError::BadMacOffset { .. })));
    }

    #[test]
    fn rejects_next_offsets_that_loop_or_escape() {
        let a = [1u8; 60];
        let block = build_block(4096, &[pkt(&a), pkt(&a)], 1);
        let first = BLOCK_HDR_LEN;
        for next in [0u32, 1, 47, 4096, u32::MAX] {
            let mut bad = block.clone();
            bad[first..first + 4].copy_from_slice(&next.to_ne_bytes());
            assert!(
                matches!(walk(&bad), Err(RingError::BadNextOffset { .. })),
                "next {next}"
            );
        }
        // num_pkts larger than the chain: the last real packet's next offset is 0.
        let mut bad = block;
        bad[12..16].copy_from_slice(&3u32.to_ne_bytes());
        assert!(matches!(walk(&bad), Err(RingError::BadNextOffset { .. })));
    }

    #[test]
    fn header_at_the_very_end_is_out_of_bounds() {
        let block = vec![0u8; 100];
        assert!(matches!(
            parse_packet(&block, 100, 60, true),
            Err(RingError::HeaderOutOfBounds { .. })
        ));
        assert!(matches!(
            parse_packet(&block, 100, usize::MAX - 3, true),
            Err(RingError::HeaderOutOfBounds { .. })
        ));
        // `used` larger than the block is clamped to the block.
        assert!(matches!(
            parse_packet(&block, 10_000, 80, true),
            Err(RingError::HeaderOutOfBounds { .. })
        ));
    }

    #[test]
    fn vlan_tag_is_put_back_in_front_of_the_ethertype() {
        let mut frame = Vec::new();
        frame.extend_from_slice(&[0xaa; 6]);
        frame.extend_from_slice(&[0xbb; 6]);
        frame.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
        let tag = VlanTag {
            tpid: 0x8100,
            tci: 0x2064,
        };
        let block = build_block(
            4096,
            &[FakePacket {
                vlan: Some(tag),
                ..pkt(&frame)
            }],
            1,
        );
        let p = walk(&block).expect("walk")[0];
        assert_eq!(p.vlan, Some(tag));
        let start = vlan_reinsert_start(&p).expect("room for the tag");
        assert_eq!(start + VLAN_TAG_LEN, p.data_start);
        let mut block = block;
        assert!(reinsert_vlan(
            &mut block[start..p.data_start + p.data_len],
            tag
        ));
        let out = &block[start..p.data_start + p.data_len];
        assert_eq!(&out[..12], &[[0xaa; 6], [0xbb; 6]].concat()[..]);
        assert_eq!(&out[12..16], &[0x81, 0x00, 0x20, 0x64]);
        assert_eq!(&out[16..], &[0x08, 0x00, 0x45, 0x00]);
    }

    #[test]
    fn vlan_without_room_or_too_short_is_left_alone() {
        let p = PacketHeader {
            offset: 48,
            sec: 0,
            nsec: 0,
            wire_len: 60,
            status: 0,
            data_start: 48 + 70,
            data_len: 60,
            vlan: Some(VlanTag {
                tpid: 0x8100,
                tci: 1,
            }),
            next: None,
        };
        // tp_mac 70: the tag would overlap the header area (68 bytes) -> no reinsertion.
        assert_eq!(vlan_reinsert_start(&p), None);
        let short = PacketHeader { data_len: 8, ..p };
        assert_eq!(vlan_reinsert_start(&short), None);
        let mut tiny = [0u8; 10];
        assert!(!reinsert_vlan(
            &mut tiny,
            VlanTag {
                tpid: 0x8100,
                tci: 1
            }
        ));
    }

    proptest! {
        /// Whatever the bytes, walking never panics and every frame it yields lies inside the
        /// block's used bytes.
        #[test]
        fn arbitrary_blocks_never_escape(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            num in 0u32..64,
            first in 0u32..2100,
            blk_len in 0u32..2100,
        ) {
            let mut block = bytes;
            if block.len() >= BLOCK_HDR_LEN {
                block[12..16].copy_from_slice(&num.to_ne_bytes());
                block[16..20].copy_from_slice(&first.to_ne_bytes());
                block[20..24].copy_from_slice(&blk_len.to_ne_bytes());
            }
            if let Ok(h) = parse_block_header(&block) {
                prop_assert!(h.used <= block.len());
                let mut at = h.first_offset;
                for i in 0..h.num_pkts {
                    match parse_packet(&block, h.used, at, i + 1 == h.num_pkts) {
                        Ok(p) => {
                            prop_assert!(p.data_start + p.data_len <= h.used);
                            prop_assert!(p.data_start >= p.offset + PKT_HDR_LEN);
                            if let Some(s) = vlan_reinsert_start(&p) {
                                prop_assert!(s >= p.offset + TPACKET3_HDRLEN);
                            }
                            match p.next { Some(n) => { prop_assert!(n > at); at = n; } None => break }
                        }
                        Err(_) => break,
                    }
                }
            }
        }

        /// Well-formed blocks round-trip: every packet comes back with its bytes.
        #[test]
        fn built_blocks_round_trip(
            sizes in proptest::collection::vec(14usize..1600, 0..30),
        ) {
            let datas: Vec<Vec<u8>> = sizes.iter().enumerate()
                .map(|(i, &n)| vec![i as u8; n]).collect();
            let pkts: Vec<FakePacket<'_>> = datas.iter().map(|d| pkt(d)).collect();
            let block = build_block(1 << 16, &pkts, 1);
            let got = walk(&block).expect("walk");
            prop_assert_eq!(got.len(), datas.len());
            for (p, d) in got.iter().zip(&datas) {
                prop_assert_eq!(&block[p.data_start..p.data_start + p.data_len], &d[..]);
            }
        }
    }
}
