//! Live capture from an AF_PACKET TPACKET_V3 ring, one ring per capture worker, all rings of an
//! interface in one `PACKET_FANOUT` group (Linux only).
//!
//! [`AfPacketSource`] is the fast live path: each worker opens its own socket and ring, joins
//! the interface's fanout group with `PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG`, and reads
//! frames in place from the ring (no copy: a [`Frame`] borrows the ring block). The kernel
//! spreads packets over the workers by a *symmetric* flow hash, so both directions of a TCP
//! connection reach the same worker, and with the defrag flag it reassembles IPv4 fragments
//! before hashing, so a fragmented datagram reaches one worker, whole (see "Fragments" below).
//! libpcap stays in use for compiling BPF filter expressions (attached as a classic BPF socket
//! filter to every worker's socket), for capture files and as the portable fallback
//! ([`super::LiveSource`]).
//!
//! It is not a capture engine by itself: sharding flows by hash after capture, decoding and the
//! worker threads are the pipeline's business. It does not transmit and does not support the
//! `any` pseudo-interface (use [`super::LiveSource`] for that).
//!
//! ## Opening
//!
//! ```no_run
//! # use agent::source::afpacket::{AfPacketConfig, AfPacketSource};
//! # use agent::source::FrameSource;
//! let config = AfPacketConfig::new("eth1"); // fanout group id derived from pid + interface
//! let workers = AfPacketSource::open_group(&config, 4)?; // 4 rings, one fanout group
//! let stop = workers[0].stop_handle(); // shared by the whole group
//! for mut src in workers {
//!     std::thread::spawn(move || while let Ok(Some(frame)) = src.next_frame() { /* ... */ });
//! }
//! stop.stop(); // every worker's next_frame returns Ok(None), even on an idle link
//! # Ok::<(), agent::source::SourceError>(())
//! ```
//!
//! Open all workers of a group before relying on flow affinity: the kernel maps a flow to
//! `hash % members`, so while members join (or leave) a flow's packets can move between workers.
//! Each socket starts with a drop-all filter and gets its real filter only once it has joined
//! the group, so no frame is ever delivered twice, not even while the group is being built.
//!
//! ## Waiting, stopping and idle links
//!
//! The kernel hands over a block when it is full or when the block timeout
//! ([`AfPacketConfig::block_timeout_ms`]) expires, so a frame is visible at most that long after
//! it arrived. While no block is ready the source sleeps in `poll(2)` on the socket *and* an
//! eventfd owned by the [`AfPacketStopHandle`]:
//! - [`FrameSource::next_frame`] waits until a frame arrives or the source is stopped
//!   (`Ok(None)`); it never returns on an idle link otherwise.
//! - [`AfPacketSource::next_frame_timeout`] waits at most the given duration and returns
//!   [`NextFrame::Idle`] when no frame came, without ending the stream: this is how a worker on
//!   a quiet link gets control back to flush windows and expire flows (a zero timeout is a
//!   non-blocking try).
//! - [`AfPacketStopHandle::stop`] (any thread) sets the stop flag and signals the eventfd: a
//!   worker blocked in `poll` wakes at once and returns `Ok(None)` / [`NextFrame::Stopped`].
//!   One handle serves a whole group ([`AfPacketSource::open_group`], or
//!   [`AfPacketSource::open_with_stop`] with a clone).
//!
//! ## Block ownership (the protocol with the kernel)
//!
//! A block belongs to user space from the moment its status word has `TP_STATUS_USER` (read
//! with acquire ordering, pairing with the kernel's write barrier before it sets the status)
//! until we store `TP_STATUS_KERNEL` into it (release ordering: all our reads of the block
//! happen before the kernel may overwrite it). We never form a reference to a block the kernel
//! owns. A frame borrows the source (`&mut self`), so it cannot outlive the next call, and a
//! block is given back only at the call *after* the one that returned its last frame.
//! Headers inside a block are validated by the safe walker in [`block`] before any slicing: a
//! corrupt header skips the rest of its block (counted in [`AfPacketStats::corrupt_blocks`]),
//! it never makes us read outside the mapping.
//!
//! ## Statistics
//!
//! [`AfPacketSource::stats`] reads the kernel counters (`PACKET_STATISTICS`, which resets them
//! on each read; the source accumulates) and adds what the source itself counted. Sum the
//! workers' [`AfPacketStats`] with `+=` for an interface total.
//!
//! ## What the frames look like
//!
//! - Timestamps are the kernel's receive time from the packet header (nanoseconds, truncated
//!   to the microseconds of [`Timestamp`]), never the time we read the ring.
//! - `wire_len` is `tp_len`, `data` is the `tp_snaplen` captured bytes, at most
//!   [`AfPacketConfig::snaplen`] (the snap length is enforced by the socket filter's return
//!   value, so the kernel copies no more than that into the ring).
//! - Link type: Ethernet for Ethernet and loopback interfaces (on loopback the outgoing copy of
//!   each packet is ignored, so each is seen once). Other interfaces (tun, GRE, ...)
//!   are opened `SOCK_DGRAM` and deliver raw IP ([`LinkType::RawIp`]).
//! - VLAN: Linux strips the outer 802.1Q/802.1ad tag of every received frame into packet
//!   metadata before capture. Like libpcap, the source puts it back in front of the EtherType
//!   (in place, in the ring), so frames look as they did on the wire.
//!
//! ## Caveats
//!
//! - Fragments: with `PACKET_FANOUT_FLAG_DEFRAG` the kernel reassembles IPv4 fragments before
//!   fanout, so a fragmented datagram is delivered once, as one reassembled frame, to one
//!   worker; a datagram whose fragments never all arrive is not delivered at all. IPv6
//!   fragments are not reassembled; they are hashed on the address pair only.
//! - Filters are compiled on a libpcap "dead" handle, i.e. against the frame bytes. Because the
//!   kernel has already stripped the outer VLAN tag when the filter runs, `vlan` primitives do
//!   not match, while plain primitives (`tcp port 80`) match tagged and untagged traffic alike.
//! - Encapsulated mirror feeds (VXLAN, ERSPAN, GRE) hash on the outer headers: one tunnel is
//!   one flow for the kernel, so all its traffic lands on one worker.
//! - Turn off GRO/LRO on the capture interface (`ethtool -K IF gro off lro off`): merged
//!   super-frames can exceed the snap length and do not match the wire.
//! - The fanout group id is per network namespace; two interfaces (or two processes) must not
//!   share one. [`AfPacketConfig::new`] derives it from the process id and interface name.
//! - An interface going down ends the capture with an error ("the interface went down"), as
//!   with libpcap; reopen to resume. Kernel requirements: TPACKET_V3 (3.2), fanout defrag
//!   (3.1); on loopback `PACKET_FANOUT_FLAG_IGNORE_OUTGOING` (4.20).

use super::{Frame, FrameSource, LinkType, SourceError, SourceErrorKind};
use analyzer::time::Timestamp;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod block;
mod sys;

use self::block::{
    parse_block_header, parse_packet, reinsert_vlan, vlan_reinsert_start, RingError,
};

/// How to open one AF_PACKET capture worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// Interface name (`eth1`, a veth, ...). `any` is not supported.
    pub interface: String,
    /// This worker's index (names it in messages; the kernel assigns packets by hash, not by
    /// index).
    pub worker: usize,
    /// `PACKET_FANOUT` group id shared by every worker of this interface (and by nothing
    /// else in the network namespace).
    pub fanout_group: u16,
    /// Bytes per ring block: a multiple of the page size, larger than the biggest frame
    /// (default 1 MiB).
    pub block_size: u32,
    /// Blocks in the ring (default 64: a 64 MiB ring per worker).
    pub block_count: u32,
    /// `tp_frame_size`: a multiple of 16 dividing `block_size` (default 2048). TPACKET_V3 packs
    /// frames of any length into blocks; the kernel only checks this for consistency.
    pub frame_size: u32,
    /// Bytes kept per frame (default 65535).
    pub snaplen: u32,
    /// The kernel retires a partly filled block after this long (ms; default 10; 0 lets the
    /// kernel pick from the link speed). Bounds the delay before a frame becomes visible.
    pub block_timeout_ms: u32,
    /// Optional BPF filter expression (tcpdump syntax), compiled with libpcap.
    pub bpf: Option<String>,
    /// Promiscuous mode (default true; membership-based, dropped when the socket closes).
    pub promiscuous: bool,
    /// How often [`FrameSource::next_frame`] re-checks a stop flag set without the handle (ms;
    /// default 100). [`AfPacketStopHandle::stop`] wakes a waiting worker at once regardless.
    pub poll_timeout_ms: u32,
}

impl AfPacketConfig {
    /// Defaults for `interface`, worker 0, with a fanout group id derived from the process id
    /// and the interface name (distinct interfaces of one process get distinct ids).
    pub fn new(interface: impl Into<String>) -> AfPacketConfig {
        let interface = interface.into();
        let fanout_group = default_fanout_group(&interface);
        AfPacketConfig {
            interface,
            worker: 0,
            fanout_group,
            block_size: 1 << 20,
            block_count: 64,
            frame_size: 2048,
            snaplen: 65_535,
            block_timeout_ms: 10,
            bpf: None,
            promiscuous: true,
            poll_timeout_ms: 100,
        }
    }

    /// The same configuration for worker `worker`.
    pub fn for_worker(&self, worker: usize) -> AfPacketConfig {
        AfPacketConfig {
            worker,
            ..self.clone()
        }
    }

    /// Check the ring geometry before asking the kernel, with a message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let page = page_size();
        if self.interface.is_empty() || self.interface == "any" {
            return Err(format!(
                "interface {:?}: the AF_PACKET source needs a named interface (use the libpcap source for `any`)",
                self.interface
            ));
        }
        if self.block_size == 0
            || !self.block_size.is_multiple_of(page)
            || self.block_size > i32::MAX as u32
        {
            return Err(format!(
                "block_size {} must be a positive multiple of the page size ({page}) below 2 GiB",
                self.block_size
            ));
        }
        if self.block_count == 0 {
            return Err("block_count must be at least 1".to_string());
        }
        let min_frame = (block::TPACKET3_HDRLEN + block::VLAN_TAG_LEN) as u32;
        if self.frame_size < min_frame || !self.frame_size.is_multiple_of(16) {
            return Err(format!(
                "frame_size {} must be a multiple of 16 and at least {min_frame}",
                self.frame_size
            ));
        }
        if self.frame_size > self.block_size || !self.block_size.is_multiple_of(self.frame_size) {
            return Err(format!(
                "frame_size {} must divide block_size {}",
                self.frame_size, self.block_size
            ));
        }
        let frames_per_block = self.block_size / self.frame_size;
        if frames_per_block.checked_mul(self.block_count).is_none()
            || (self.block_size as usize)
                .checked_mul(self.block_count as usize)
                .is_none_or(|total| total > isize::MAX as usize)
        {
            return Err(format!(
                "ring of {} blocks x {} bytes is too large",
                self.block_count, self.block_size
            ));
        }
        if self.snaplen == 0 {
            return Err("snaplen must be at least 1".to_string());
        }
        if self.poll_timeout_ms == 0 {
            return Err("poll_timeout_ms must be at least 1".to_string());
        }
        Ok(())
    }
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        AfPacketConfig::new("eth0")
    }
}

/// A group id that differs between processes and between interfaces of one process (FNV-1a
/// of the interface name, folded with the pid). Collisions are possible but unlikely; the join
/// error names the id when one happens.
pub fn default_fanout_group(interface: &str) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in interface.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let pid = std::process::id();
    ((h ^ (h >> 16) ^ pid ^ (pid >> 16)) & 0xffff) as u16
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// Counters of one worker (sum workers with `+=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfPacketStats {
    /// Frames that passed the filter and were meant for this socket, dropped ones included
    /// (kernel `tp_packets`, accumulated).
    pub packets: u64,
    /// Frames the kernel dropped because this worker's ring was full (kernel `tp_drops`).
    pub drops: u64,
    /// Times the kernel found every block still owned by user space and froze the ring
    /// (kernel `tp_freeze_q_cnt`): a sign the worker is not keeping up.
    pub freeze_q: u64,
    /// Frames handed out by `next_frame` / `next_frame_timeout`.
    pub delivered: u64,
    /// Captured bytes handed out.
    pub bytes: u64,
    /// Ring blocks consumed.
    pub blocks: u64,
    /// Blocks whose headers failed validation; their remaining frames were skipped. Stays 0
    /// unless the ring is corrupt.
    pub corrupt_blocks: u64,
}

impl std::ops::AddAssign for AfPacketStats {
    fn add_assign(&mut self, o: AfPacketStats) {
        self.packets += o.packets;
        self.drops += o.drops;
        self.freeze_q += o.freeze_q;
        self.delivered += o.delivered;
        self.bytes += o.bytes;
        self.blocks += o.blocks;
        self.corrupt_blocks += o.corrupt_blocks;
    }
}

/// Stops every [`AfPacketSource`] opened with it (clones share the flag and the wake-up), from
/// any thread, waking workers that wait on an idle link.
#[derive(Clone)]
pub struct AfPacketStopHandle {
    inner: Arc<StopInner>,
}

struct StopInner {
    flag: AtomicBool,
    /// An eventfd in every worker's poll set. Written once by `stop` and never read, so it
    /// stays readable: every worker waiting now or later wakes at once.
    wake: File,
}

impl AfPacketStopHandle {
    /// A fresh handle (creates its eventfd).
    pub fn new() -> io::Result<AfPacketStopHandle> {
        let fd: OwnedFd = sys::eventfd()?;
        Ok(AfPacketStopHandle {
            inner: Arc::new(StopInner {
                flag: AtomicBool::new(false),
                wake: File::from(fd),
            }),
        })
    }

    /// Stop: every source opened with this handle returns `Ok(None)` (or
    /// [`NextFrame::Stopped`]) from its next call, and a call waiting in `poll` returns now.
    pub fn stop(&self) {
        self.inner.flag.store(true, Ordering::Release);
        // An eventfd write adds to its counter; it only fails (EAGAIN) if the counter would
        // overflow, which leaves the fd readable anyway.
        let _ = (&self.inner.wake).write(&1u64.to_ne_bytes());
    }

    /// Whether `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.flag.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for AfPacketStopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacketStopHandle")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

/// What [`AfPacketSource::next_frame_timeout`] found.
#[derive(Debug, Clone, Copy)]
pub enum NextFrame<'a> {
    /// A frame, borrowing the ring until the next call.
    Frame(Frame<'a>),
    /// No frame became available within the timeout. The capture goes on: call again.
    Idle,
    /// The source was stopped (or failed earlier): no more frames will come.
    Stopped,
}

impl<'a> NextFrame<'a> {
    /// The frame, if this is one.
    pub fn frame(self) -> Option<Frame<'a>> {
        match self {
            NextFrame::Frame(f) => Some(f),
            NextFrame::Idle | NextFrame::Stopped => None,
        }
    }
}

/// Where the current block's walk stands.
#[derive(Debug, Clone, Copy)]
struct Current {
    index: usize,
    used: usize,
    offset: usize,
    remaining: u32,
}

/// A frame located in the ring, not yet borrowed (so the wait loop holds no borrow).
#[derive(Debug, Clone, Copy)]
struct FrameLoc {
    start: usize,
    len: usize,
    ts: Timestamp,
    wire_len: u32,
}

enum Step {
    Frame(FrameLoc),
    Idle,
    Stopped,
}

/// One capture worker: an AF_PACKET socket with its TPACKET_V3 ring, in the interface's fanout
/// group. See the module documentation for the protocol, stopping and idle handling.
pub struct AfPacketSource {
    // `ring` is declared before `sock`, so it is unmapped before the socket closes.
    ring: sys::Mapping,
    sock: OwnedFd,
    stop: AfPacketStopHandle,
    interface: String,
    worker: usize,
    fanout_group: u16,
    link: LinkType,
    reinsert_vlan: bool,
    snaplen: usize,
    block_size: usize,
    block_count: usize,
    poll_timeout_ms: u32,
    /// The block to look at when `cur` is `None`.
    next_block: usize,
    /// The block user space owns and is walking, if any.
    cur: Option<Current>,
    /// Kernel counters accumulated so far plus our own.
    stats: AfPacketStats,
    /// Set after an error: further calls end the stream.
    finished: bool,
}

impl std::fmt::Debug for AfPacketSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacketSource")
            .field("interface", &self.interface)
            .field("worker", &self.worker)
            .field("fanout_group", &self.fanout_group)
            .field("link", &self.link)
            .field("blocks", &self.block_count)
            .field("block_size", &self.block_size)
            .finish_non_exhaustive()
    }
}

// SAFETY: the source exclusively owns its socket and its ring mapping; the raw pointer inside
// `Mapping` is not shared with any other Rust object and carries no thread affinity, and the
// kernel side of the ring does not care which thread reads it. Moving the whole source to
// another thread (the worker thread) is therefore sound. It is not `Sync`: reading frames
// needs `&mut self`.
unsafe impl Send for AfPacketSource {}

const FANOUT_MODE: u32 = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;

/// `BPF_RET | BPF_K`.
const BPF_RET_K: u16 = 0x06;

/// A one-instruction classic BPF program returning `k` (0: drop every packet; n: accept,
/// truncated to n bytes).
fn ret_k(k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k,
    }
}

/// Compile a tcpdump-syntax filter with libpcap for frames of `link` (Ethernet or raw IP) and
/// return it as a socket filter program whose accepting returns keep `snaplen` bytes.
///
/// The program comes out of a libpcap "dead" handle (no device, no privilege). Its
/// instructions are read through their `Display` form ("code jt jf k"), which avoids depending
/// on the `pcap` crate's private layout.
pub fn compile_bpf(
    expr: &str,
    link: LinkType,
    snaplen: u32,
) -> Result<Vec<libc::sock_filter>, String> {
    let dlt = match link {
        LinkType::Ethernet => pcap::Linktype::ETHERNET,
        // DLT_RAW (12 on Linux): what gencode knows raw IP as.
        LinkType::RawIp => pcap::Linktype(12),
        other => return Err(format!("no BPF compilation for link type {other:?}")),
    };
    let dead = pcap::Capture::dead(dlt).map_err(|e| format!("libpcap: {e}"))?;
    let prog = dead
        .compile(expr, true)
        .map_err(|e| format!("BPF filter {expr:?}: {e}"))?;
    let mut out = Vec::with_capacity(prog.get_instructions().len());
    for insn in prog.get_instructions() {
        let text = insn.to_string();
        let mut it = text.split_ascii_whitespace();
        let mut field = || -> Result<u64, String> {
            it.next()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| format!("unexpected BPF instruction text {text:?}"))
        };
        let bad = |_| format!("BPF instruction out of range: {text:?}");
        let code = u16::try_from(field()?).map_err(bad)?;
        let jt = u8::try_from(field()?).map_err(bad)?;
        let jf = u8::try_from(field()?).map_err(bad)?;
        let mut k = u32::try_from(field()?).map_err(bad)?;
        // The dead handle's snapshot length (65535) is baked into every accepting return;
        // make the kernel keep exactly our snap length instead.
        if code == BPF_RET_K && k != 0 {
            k = snaplen;
        }
        out.push(libc::sock_filter { code, jt, jf, k });
    }
    if out.is_empty() || out.len() > usize::from(u16::MAX) {
        return Err(format!(
            "BPF filter {expr:?} compiled to {} instructions",
            out.len()
        ));
    }
    Ok(out)
}

impl AfPacketSource {
    /// Open one worker with its own stop handle (see [`AfPacketSource::stop_handle`]).
    pub fn open(config: &AfPacketConfig) -> Result<AfPacketSource, SourceError> {
        let stop = AfPacketStopHandle::new().map_err(|e| {
            step_error(
                &config.interface,
                config.worker,
                "creating the stop eventfd",
                &e,
            )
        })?;
        AfPacketSource::open_with_stop(config, stop)
    }

    /// Open `workers` workers (indices 0..workers) of one fanout group, sharing one stop
    /// handle. On error the workers opened so far are closed again.
    pub fn open_group(
        config: &AfPacketConfig,
        workers: usize,
    ) -> Result<Vec<AfPacketSource>, SourceError> {
        let stop = AfPacketStopHandle::new()
            .map_err(|e| step_error(&config.interface, 0, "creating the stop eventfd", &e))?;
        (0..workers.max(1))
            .map(|w| AfPacketSource::open_with_stop(&config.for_worker(w), stop.clone()))
            .collect()
    }

    /// Open one worker stopped by `stop` (share a handle across the workers of a group).
    pub fn open_with_stop(
        config: &AfPacketConfig,
        stop: AfPacketStopHandle,
    ) -> Result<AfPacketSource, SourceError> {
        let name = config.interface.as_str();
        let w = config.worker;
        config.validate().map_err(|m| {
            SourceError::new(
                name,
                0,
                SourceErrorKind::Capture(format!("AF_PACKET worker {w}: {m}")),
            )
        })?;

        let ifindex = sys::if_index(name).map_err(|e| {
            let step = if matches!(e.raw_os_error(), Some(libc::ENODEV) | Some(libc::ENXIO)) {
                "interface not found"
            } else {
                "looking up the interface"
            };
            step_error(name, w, step, &e)
        })?;
        let arphrd = sys::if_arphrd(name)
            .map_err(|e| step_error(name, w, "reading the interface's link type", &e))?;
        let (sock_type, link) = match arphrd {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => (libc::SOCK_RAW, LinkType::Ethernet),
            _ => (libc::SOCK_DGRAM, LinkType::RawIp),
        };
        let ethernet = link == LinkType::Ethernet;
        let filter = match &config.bpf {
            Some(expr) => {
                compile_bpf(expr, link, config.snaplen).map_err(|m| capture_error(name, w, &m))?
            }
            None => vec![ret_k(config.snaplen)],
        };

        let sock = sys::packet_socket(sock_type).map_err(|e| {
            let step = if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
                "opening an AF_PACKET socket needs root or CAP_NET_RAW"
            } else {
                "opening an AF_PACKET socket"
            };
            step_error(name, w, step, &e)
        })?;
        let fd = sock.as_fd();
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        sys::set_opt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)
            .map_err(|e| step_error(name, w, "selecting TPACKET_V3 (needs Linux 3.2+)", &e))?;
        if ethernet {
            // Room in front of each frame to put a stripped VLAN tag back (as libpcap does).
            let reserve = block::VLAN_TAG_LEN as libc::c_uint;
            sys::set_opt(fd, libc::SOL_PACKET, libc::PACKET_RESERVE, &reserve)
                .map_err(|e| step_error(name, w, "reserving VLAN tag room (PACKET_RESERVE)", &e))?;
        }
        // Drop everything until the socket is in the fanout group: between bind and join it
        // would otherwise see every packet of the interface, duplicating the group's.
        sys::attach_filter(fd, &[ret_k(0)])
            .map_err(|e| step_error(name, w, "attaching the initial drop-all filter", &e))?;

        let frames_per_block = config.block_size / config.frame_size;
        let req = libc::tpacket_req3 {
            tp_block_size: config.block_size,
            tp_block_nr: config.block_count,
            tp_frame_size: config.frame_size,
            tp_frame_nr: frames_per_block * config.block_count,
            tp_retire_blk_tov: config.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sys::set_opt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::ENOMEM) {
                " (not enough memory: lower block_count or block_size)"
            } else {
                ""
            };
            step_error(
                name,
                w,
                &format!(
                    "setting up the TPACKET_V3 ring ({} blocks x {} bytes, frame size {}){hint}",
                    config.block_count, config.block_size, config.frame_size
                ),
                &e,
            )
        })?;
        let block_size = config.block_size as usize;
        let block_count = config.block_count as usize;
        let ring = sys::Mapping::new(fd, block_size * block_count).map_err(|e| {
            step_error(
                name,
                w,
                &format!("mapping the {} byte ring", block_size * block_count),
                &e,
            )
        })?;
        debug_assert_eq!(ring.len(), block_size * block_count);

        sys::bind_all(fd, ifindex)
            .map_err(|e| step_error(name, w, "binding to the interface", &e))?;
        // Binding to a down interface "succeeds" but leaves ENETDOWN pending and the socket
        // detached (the fanout join would then fail with a confusing EINVAL).
        match sys::socket_error(fd) {
            Ok(0) => {}
            Ok(errno) => {
                let e = io::Error::from_raw_os_error(errno);
                let step = if errno == libc::ENETDOWN {
                    "binding to the interface: it is down (ip link set IF up)"
                } else {
                    "binding to the interface"
                };
                return Err(step_error(name, w, step, &e));
            }
            Err(e) => return Err(step_error(name, w, "checking the bound socket", &e)),
        }
        if config.promiscuous {
            // SAFETY: packet_mreq is a plain C struct of integers; all-zero is valid.
            let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mreq.mr_ifindex = libc::c_int::try_from(ifindex).unwrap_or(0);
            mreq.mr_type = libc::PACKET_MR_PROMISC as libc::c_ushort;
            sys::set_opt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(|e| step_error(name, w, "enabling promiscuous mode", &e))?;
        }
        // On loopback every packet passes twice (sent, then received): keep one copy, as
        // libpcap does. All members of a group use the same flags.
        let mode = if arphrd == libc::ARPHRD_LOOPBACK {
            FANOUT_MODE | libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING
        } else {
            FANOUT_MODE
        };
        let fanout_arg: u32 = u32::from(config.fanout_group) | (mode << 16);
        sys::set_opt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &fanout_arg).map_err(|e| {
            step_error(
                name,
                w,
                &format!(
                    "joining PACKET_FANOUT group {} (hash + defrag) failed; the id may be in use on another interface or with another mode",
                    config.fanout_group
                ),
                &e,
            )
        })?;
        sys::attach_filter(fd, &filter)
            .map_err(|e| step_error(name, w, "attaching the BPF filter", &e))?;

        Ok(AfPacketSource {
            ring,
            sock,
            stop,
            interface: config.interface.clone(),
            worker: w,
            fanout_group: config.fanout_group,
            link,
            reinsert_vlan: ethernet,
            snaplen: config.snaplen as usize,
            block_size,
            block_count,
            poll_timeout_ms: config.poll_timeout_ms,
            next_block: 0,
            cur: None,
            stats: AfPacketStats::default(),
            finished: false,
        })
    }

    /// A handle that stops this source (and every source sharing it) from any thread.
    pub fn stop_handle(&self) -> AfPacketStopHandle {
        self.stop.clone()
    }

    /// The link type of the frames.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// This worker's index.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The fanout group id this worker joined.
    pub fn fanout_group(&self) -> u16 {
        self.fanout_group
    }

    /// Read (and reset) the kernel counters, add them to the totals, and return the totals
    /// since open together with this source's own counters.
    pub fn stats(&mut self) -> Result<AfPacketStats, SourceError> {
        let st = sys::packet_stats(self.sock.as_fd()).map_err(|e| {
            step_error(
                &self.interface,
                self.worker,
                "reading PACKET_STATISTICS",
                &e,
            )
        })?;
        self.stats.packets += u64::from(st.tp_packets);
        self.stats.drops += u64::from(st.tp_drops);
        self.stats.freeze_q += u64::from(st.tp_freeze_q_cnt);
        Ok(self.stats)
    }

    /// The next frame, waiting at most `timeout` for one. [`NextFrame::Idle`] when none came
    /// (the stream goes on), [`NextFrame::Stopped`] once the source is stopped. A zero timeout
    /// does not block. Frames become visible when the kernel retires their block (full, or
    /// after `block_timeout_ms`), so an idle answer can be up to that late.
    pub fn next_frame_timeout(&mut self, timeout: Duration) -> Result<NextFrame<'_>, SourceError> {
        let deadline = Instant::now().checked_add(timeout);
        match self.step(Some(deadline.unwrap_or_else(far_future)))? {
            Step::Frame(loc) => Ok(NextFrame::Frame(self.frame_at(loc))),
            Step::Idle => Ok(NextFrame::Idle),
            Step::Stopped => Ok(NextFrame::Stopped),
        }
    }

    fn frame_at(&self, loc: FrameLoc) -> Frame<'_> {
        let ptr = self.ring.ptr().as_ptr().wrapping_add(loc.start);
        // SAFETY: `loc` was produced by `step` from a packet validated by the block walker:
        // `start .. start + len` lies inside the used bytes of a block (index < block_count,
        // so inside the `block_count * block_size` mapping) that user space owns (status
        // TP_STATUS_USER, not yet given back). The block is given back only by a later call
        // of `step`, which needs `&mut self`, so the returned slice (borrowing `self`) cannot
        // be alive then; the mapping itself lives as long as `self`.
        let data = unsafe { std::slice::from_raw_parts(ptr, loc.len) };
        Frame {
            ts: loc.ts,
            link: self.link,
            data,
            wire_len: loc.wire_len,
        }
    }

    /// The status word of block `index` as an atomic.
    fn block_status(&self, index: usize) -> &AtomicU32 {
        debug_assert!(index < self.block_count);
        let at = index * self.block_size + block::BLOCK_STATUS_OFFSET;
        let ptr = self.ring.ptr().as_ptr().wrapping_add(at).cast::<u32>();
        // SAFETY: `index < block_count`, so `at + 4 <= block_count * block_size` is inside the
        // mapping, which lives as long as `&self`. Blocks start page-aligned and the status
        // word is at offset 8, so the pointer is 4-byte aligned. The kernel accesses this word
        // concurrently, which is why it is only ever accessed atomically from our side
        // (acquire loads, release stores), never through a plain reference while the kernel
        // owns the block.
        unsafe { AtomicU32::from_ptr(ptr) }
    }

    /// Block `index` as bytes.
    ///
    /// # Safety
    /// User space must own the block: its status was read as `TP_STATUS_USER` (acquire) and
    /// it has not been given back since. The slice must be dropped before the block is given
    /// back or written through another pointer.
    unsafe fn owned_block(&self, index: usize) -> &[u8] {
        debug_assert!(index < self.block_count);
        let ptr = self
            .ring
            .ptr()
            .as_ptr()
            .wrapping_add(index * self.block_size);
        // SAFETY: `index < block_count`: the block lies inside the mapping (alive as long as
        // `&self`). The caller guarantees the kernel does not write it while the slice lives.
        unsafe { std::slice::from_raw_parts(ptr, self.block_size) }
    }

    /// Hand block `index` back to the kernel.
    fn release(&mut self, index: usize) {
        // Release: every read of the block (and the VLAN rewrite) happens before the kernel
        // can observe the block as its own again.
        self.block_status(index)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }

    fn corrupt(&mut self, index: usize, e: RingError) {
        self.stats.corrupt_blocks += 1;
        tracing::warn!(
            interface = %self.interface,
            worker = self.worker,
            block = index,
            "AF_PACKET ring block failed validation, skipping the rest of it: {e}"
        );
    }

    /// Advance to the next frame: give back a finished block, take the next ready block, or
    /// wait in `poll` until one is ready, the deadline passes (`Idle`) or we are stopped.
    fn step(&mut self, deadline: Option<Instant>) -> Result<Step, SourceError> {
        if self.finished {
            return Ok(Step::Stopped);
        }
        loop {
            if self.stop.is_stopped() {
                return Ok(Step::Stopped);
            }
            if let Some(cur) = self.cur {
                if cur.remaining > 0 {
                    if let Some(loc) = self.take_packet(cur) {
                        return Ok(Step::Frame(loc));
                    }
                    continue;
                }
                // Every frame of this block was handed out and this is the next call: the
                // last frame's borrow has ended, the kernel may have the block back.
                self.release(cur.index);
                self.cur = None;
                self.next_block = (cur.index + 1) % self.block_count;
                continue;
            }
            let index = self.next_block;
            let status = self.block_status(index).load(Ordering::Acquire);
            if status & libc::TP_STATUS_USER != 0 {
                self.stats.blocks += 1;
                // SAFETY: the acquire load above saw TP_STATUS_USER: the block is ours until
                // `release`; the slice is dropped at the end of this statement.
                let parsed = parse_block_header(unsafe { self.owned_block(index) });
                self.cur = Some(match parsed {
                    Ok(h) => Current {
                        index,
                        used: h.used,
                        offset: h.first_offset,
                        remaining: h.num_pkts,
                    },
                    Err(e) => {
                        self.corrupt(index, e);
                        // Nothing to read: released on the next turn of the loop.
                        Current {
                            index,
                            used: 0,
                            offset: 0,
                            remaining: 0,
                        }
                    }
                });
                continue;
            }
            let wait_ms = match deadline {
                None => self.poll_timeout_ms,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Step::Idle);
                    }
                    // Round up so a sub-millisecond remainder sleeps instead of spinning.
                    let ms = left.as_micros().div_ceil(1000);
                    u32::try_from(ms)
                        .unwrap_or(u32::MAX)
                        .min(self.poll_timeout_ms)
                }
            };
            let revents = sys::poll2(
                self.sock.as_fd(),
                self.stop.inner.wake.as_fd(),
                libc::c_int::try_from(wait_ms).unwrap_or(libc::c_int::MAX),
            )
            .map_err(|e| self.fail("waiting for the ring (poll)", &e))?;
            if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
                let errno = sys::socket_error(self.sock.as_fd())
                    .map_err(|e| self.fail("reading the socket error", &e))?;
                if errno != 0 {
                    let step = match errno {
                        libc::ENETDOWN => "the interface went down",
                        libc::ENODEV => "the interface was removed",
                        _ => "socket error",
                    };
                    return Err(self.fail(step, &io::Error::from_raw_os_error(errno)));
                }
                if revents & libc::POLLNVAL != 0 {
                    return Err(self.fail(
                        "polling the socket",
                        &io::Error::from_raw_os_error(libc::EBADF),
                    ));
                }
            }
            // Loop: re-check the stop flag and the block status.
        }
    }

    /// Validate the current block's next packet and locate its frame; `None` when the block
    /// turned out corrupt (the rest of it is skipped).
    fn take_packet(&mut self, cur: Current) -> Option<FrameLoc> {
        let last = cur.remaining == 1;
        // SAFETY: `cur` is the block we own (taken after an acquire load saw TP_STATUS_USER,
        // not released yet); the slice is dropped at the end of this statement.
        let parsed = parse_packet(
            unsafe { self.owned_block(cur.index) },
            cur.used,
            cur.offset,
            last,
        );
        let pkt = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.corrupt(cur.index, e);
                self.cur = Some(Current {
                    remaining: 0,
                    ..cur
                });
                return None;
            }
        };
        self.cur = Some(match pkt.next {
            Some(next) => Current {
                offset: next,
                remaining: cur.remaining - 1,
                ..cur
            },
            None => Current {
                remaining: 0,
                ..cur
            },
        });

        let mut start = pkt.data_start;
        let mut len = pkt.data_len;
        let mut wire_len = pkt.wire_len;
        if self.reinsert_vlan {
            if let (Some(tag), Some(tag_start)) = (pkt.vlan, vlan_reinsert_start(&pkt)) {
                let region_len = pkt.data_start + pkt.data_len - tag_start;
                let ptr = self
                    .ring
                    .ptr()
                    .as_ptr()
                    .wrapping_add(cur.index * self.block_size + tag_start);
                // SAFETY: the walker validated `data_start + data_len <= used <= block_size`
                // and `tag_start >= packet offset + TPACKET3_HDRLEN`, so the region lies in
                // this block, after the packet's header area. We own the block (see above),
                // the mapping is writable, and no other reference into the block is alive
                // (the walker's slice was dropped, frames of earlier calls are no longer
                // borrowed because `self` is borrowed mutably).
                let region = unsafe { std::slice::from_raw_parts_mut(ptr, region_len) };
                if reinsert_vlan(region, tag) {
                    start = tag_start;
                    len += block::VLAN_TAG_LEN;
                    wire_len = wire_len.saturating_add(block::VLAN_TAG_LEN as u32);
                }
            }
        }
        let len = len.min(self.snaplen);
        self.stats.delivered += 1;
        self.stats.bytes += len as u64;
        let ts = Timestamp(
            i64::from(pkt.sec)
                .saturating_mul(Timestamp::MICROS_PER_SEC)
                .saturating_add(i64::from(pkt.nsec / 1000)),
        );
        Some(FrameLoc {
            start: cur.index * self.block_size + start,
            len,
            ts,
            wire_len,
        })
    }

    fn fail(&mut self, step: &str, e: &io::Error) -> SourceError {
        self.finished = true;
        step_error(&self.interface, self.worker, step, e)
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

fn capture_error(interface: &str, worker: usize, msg: &str) -> SourceError {
    SourceError::new(
        interface,
        0,
        SourceErrorKind::Capture(format!("AF_PACKET worker {worker}: {msg}")),
    )
}

fn step_error(interface: &str, worker: usize, step: &str, e: &io::Error) -> SourceError {
    capture_error(interface, worker, &format!("{step}: {e}"))
}

impl FrameSource for AfPacketSource {
    /// The next frame; waits on an idle link until one arrives or the source is stopped
    /// (`Ok(None)`). Use [`AfPacketSource::next_frame_timeout`] to get control back on idle.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        match self.step(None)? {
            Step::Frame(loc) => Ok(Some(self.frame_at(loc))),
            Step::Idle | Step::Stopped => Ok(None),
        }
    }

    /// Captured bytes handed out so far.
    fn bytes_consumed(&self) -> u64 {
        self.stats.bytes
    }

    fn name(&self) -> &str {
        &self.interface
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_valid_ring() {
        let c = AfPacketConfig::new("eth9");
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.snaplen, 65_535);
        assert!(c.promiscuous);
        assert!(u64::from(c.block_size) * u64::from(c.block_count) >= 32 << 20);
        assert_eq!(c.for_worker(3).worker, 3);
        assert_eq!(c.for_worker(3).fanout_group, c.fanout_group);
    }

    #[test]
    fn bad_geometry_is_named() {
        let base = AfPacketConfig::new("eth9");
        let cases = [
            (
                AfPacketConfig {
                    block_size: 1000,
                    ..base.clone()
                },
                "block_size",
            ),
            (
                AfPacketConfig {
                    block_count: 0,
                    ..base.clone()
                },
                "block_count",
            ),
            (
                AfPacketConfig {
                    frame_size: 100,
                    ..base.clone()
                },
                "frame_size",
            ),
            (
                AfPacketConfig {
                    frame_size: 48,
                    ..base.clone()
                },
                "frame_size",
            ),
            (
                AfPacketConfig {
                    frame_size: 3072,
                    ..base.clone()
                },
                "divide",
            ),
            (
                AfPacketConfig {
                    snaplen: 0,
                    ..base.clone()
                },
                "snaplen",
            ),
            (
                AfPacketConfig {
                    poll_timeout_ms: 0,
                    ..base.clone()
                },
                "poll_timeout_ms",
            ),
            (AfPacketConfig::new("any"), "named interface"),
        ];
        for (c, want) in cases {
            let err = c.validate().expect_err(want);
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }

    #[test]
    fn fanout_group_differs_by_interface() {
        assert_ne!(default_fanout_group("eth0"), default_fanout_group("eth1"));
        assert_eq!(default_fanout_group("eth0"), default_fanout_group("eth0"));
    }

    #[test]
    fn bpf_compiles_with_our_snap_length() {
        let prog = compile_bpf("tcp port 80", LinkType::Ethernet, 1500).expect("compiles");
        assert!(prog.len() > 3);
        let rets: Vec<u32> = prog
            .iter()
            .filter(|i| i.code == BPF_RET_K)
            .map(|i| i.k)
            .collect();
        assert!(rets.contains(&0), "a rejecting return");
        assert!(
            rets.contains(&1500),
            "accepting returns keep the snap length"
        );
        assert!(rets.iter().all(|&k| k == 0 || k == 1500), "{rets:?}");
        // The program is the one libpcap would run: check it against frames.
        let raw = compile_bpf("ip and udp", LinkType::RawIp, 100).expect("raw ip compiles");
        assert!(!raw.is_empty());
        let err = compile_bpf("tcp port", LinkType::Ethernet, 100).expect_err("syntax error");
        assert!(err.contains("tcp port"), "{err}");
        assert!(compile_bpf("ip", LinkType::LinuxSll2, 100).is_err());
    }

    #[test]
    fn missing_interface_is_named() {
        let err = AfPacketSource::open(&AfPacketConfig::new("no-such-if0")).expect_err("missing");
        let text = err.to_string();
        assert!(text.starts_with("no-such-if0: "), "{text}");
        assert!(text.contains("interface not found"), "{text}");
        assert!(text.contains("worker 0"), "{text}");
        let err = AfPacketSource::open(&AfPacketConfig::new("any")).expect_err("any");
        assert!(err.to_string().contains("named interface"), "{err}");
    }

    #[test]
    fn bad_filter_fails_before_the_socket() {
        let c = AfPacketConfig {
            bpf: Some("not a filter (".to_string()),
            ..AfPacketConfig::new("lo")
        };
        let err = AfPacketSource::open(&c).expect_err("bad filter");
        assert!(err.to_string().contains("BPF filter"), "{err}");
    }

    #[test]
    fn stop_handle_is_shared_by_clones() {
        let h = AfPacketStopHandle::new().expect("eventfd");
        let h2 = h.clone();
        assert!(!h2.is_stopped());
        h.stop();
        h.stop();
        assert!(h2.is_stopped());
    }

    #[test]
    fn stats_add_up() {
        let mut a = AfPacketStats {
            packets: 3,
            drops: 1,
            freeze_q: 0,
            delivered: 2,
            bytes: 100,
            blocks: 1,
            corrupt_blocks: 0,
        };
        a += AfPacketStats {
            packets: 2,
            drops: 0,
            freeze_q: 1,
            delivered: 2,
            bytes: 50,
            blocks: 1,
            corrupt_blocks: 1,
        };
        assert_eq!(a.packets, 5);
        assert_eq!(a.drops, 1);
        assert_eq!(a.freeze_q, 1);
        assert_eq!(a.delivered, 4);
        assert_eq!(a.bytes, 150);
        assert_eq!(a.corrupt_blocks, 1);
    }

    /// A source over an anonymous mapping playing the kernel's ring, and a UDP socket that
    /// never becomes readable standing in for the packet socket.
    fn fake_source(block_size: usize, block_count: usize) -> AfPacketSource {
        let ring = sys::Mapping::anonymous(block_size * block_count).expect("mmap");
        let sock: OwnedFd = std::net::UdpSocket::bind("127.0.0.1:0")
            .expect("udp")
            .into();
        AfPacketSource {
            ring,
            sock,
            stop: AfPacketStopHandle::new().expect("eventfd"),
            interface: "fake0".to_string(),
            worker: 0,
            fanout_group: 1,
            link: LinkType::Ethernet,
            reinsert_vlan: true,
            snaplen: 65_535,
            block_size,
            block_count,
            poll_timeout_ms: 5,
            next_block: 0,
            cur: None,
            stats: AfPacketStats::default(),
            finished: false,
        }
    }

    /// The "kernel" side of the fake ring: fill a block it owns and hand it over.
    fn kernel_fill(src: &AfPacketSource, index: usize, bytes: &[u8]) {
        let status = src.block_status(index);
        assert_eq!(status.load(Ordering::Acquire), libc::TP_STATUS_KERNEL);
        assert_eq!(bytes.len(), src.block_size);
        let mut body = bytes.to_vec();
        body[block::BLOCK_STATUS_OFFSET..block::BLOCK_STATUS_OFFSET + 4]
            .copy_from_slice(&0u32.to_ne_bytes());
        let dst = src.ring.ptr().as_ptr().wrapping_add(index * src.block_size);
        // SAFETY: (test) the block is kernel-owned (status 0), so the source holds no
        // reference into it; `dst .. dst + block_size` is inside the mapping.
        unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), dst, body.len()) };
        status.store(libc::TP_STATUS_USER, Ordering::Release);
    }

    fn status_of(src: &AfPacketSource, index: usize) -> u32 {
        src.block_status(index).load(Ordering::Acquire)
    }

    fn frame_bytes(r: NextFrame<'_>) -> Vec<u8> {
        match r {
            NextFrame::Frame(f) => f.data.to_vec(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn fake_ring_hands_blocks_back_only_after_their_last_frame() {
        use block::fake::{build_block, FakePacket};
        let bs = 4096;
        let mut src = fake_source(bs, 2);
        let p = |data: &'static [u8]| FakePacket {
            sec: 10,
            nsec: 5_000,
            data,
            wire_len: data.len() as u32 + 100,
            vlan: None,
        };
        let zero = Duration::ZERO;
        assert!(matches!(src.next_frame_timeout(zero), Ok(NextFrame::Idle)));

        kernel_fill(
            &src,
            0,
            &build_block(bs, &[p(b"frame-a"), p(b"frame-b")], 1),
        );
        let f = src.next_frame_timeout(zero).expect("read");
        if let NextFrame::Frame(f) = f {
            assert_eq!(f.data, b"frame-a");
            assert_eq!(f.wire_len, 107);
            assert_eq!(f.ts, Timestamp(10_000_005));
            assert_eq!(f.link, LinkType::Ethernet);
        } else {
            panic!("{f:?}");
        }
        assert_eq!(
            frame_bytes(src.next_frame_timeout(zero).expect("read")),
            b"frame-b"
        );
        // The last frame of block 0 is out, but it is still borrowed until the next call.
        assert_eq!(
            status_of(&src, 0) & libc::TP_STATUS_USER,
            libc::TP_STATUS_USER
        );
        assert!(matches!(src.next_frame_timeout(zero), Ok(NextFrame::Idle)));
        assert_eq!(status_of(&src, 0), libc::TP_STATUS_KERNEL, "given back");

        // Block 1, then wrap around to block 0 again.
        kernel_fill(&src, 1, &build_block(bs, &[p(b"frame-c")], 1));
        kernel_fill(&src, 0, &build_block(bs, &[p(b"frame-d")], 1));
        assert_eq!(
            frame_bytes(src.next_frame_timeout(zero).expect("read")),
            b"frame-c"
        );
        assert_eq!(
            frame_bytes(src.next_frame_timeout(zero).expect("read")),
            b"frame-d"
        );
        assert_eq!(status_of(&src, 1), libc::TP_STATUS_KERNEL);
        assert!(matches!(src.next_frame_timeout(zero), Ok(NextFrame::Idle)));
        assert_eq!(status_of(&src, 0), libc::TP_STATUS_KERNEL);

        let s = src.stats;
        assert_eq!(s.delivered, 4);
        assert_eq!(s.blocks, 3);
        assert_eq!(s.bytes, 28);
        assert_eq!(s.corrupt_blocks, 0);
    }

    #[test]
    fn fake_ring_skips_corrupt_blocks_and_counts_them() {
        use block::fake::{build_block, FakePacket};
        let bs = 4096;
        let mut src = fake_source(bs, 4);
        let p = |data: &'static [u8]| FakePacket {
            sec: 1,
            nsec: 0,
            data,
            wire_len: data.len() as u32,
            vlan: None,
        };
        // Block 0: a descriptor pointing outside the block.
        let mut bad = build_block(bs, &[p(b"lost")], 1);
        bad[16..20].copy_from_slice(&u32::MAX.to_ne_bytes());
        kernel_fill(&src, 0, &bad);
        // Block 1: first packet fine, second with a snap length running off the block.
        let mut half = build_block(bs, &[p(b"kept"), p(b"gone")], 1);
        let second = u32::from_ne_bytes([half[48], half[49], half[50], half[51]]) as usize + 48;
        half[second + 12..second + 16].copy_from_slice(&100_000u32.to_ne_bytes());
        kernel_fill(&src, 1, &half);
        // Block 2: healthy.
        kernel_fill(&src, 2, &build_block(bs, &[p(b"after")], 1));

        let zero = Duration::ZERO;
        assert_eq!(
            frame_bytes(src.next_frame_timeout(zero).expect("read")),
            b"kept"
        );
        assert_eq!(
            frame_bytes(src.next_frame_timeout(zero).expect("read")),
            b"after"
        );
        assert!(matches!(src.next_frame_timeout(zero), Ok(NextFrame::Idle)));
        for i in 0..3 {
            assert_eq!(status_of(&src, i), libc::TP_STATUS_KERNEL, "block {i}");
        }
        assert_eq!(src.stats.corrupt_blocks, 2);
        assert_eq!(src.stats.delivered, 2);
    }

    #[test]
    fn fake_ring_restores_vlan_tags_and_clips_to_snaplen() {
        use block::fake::{build_block, FakePacket};
        let bs = 4096;
        let mut src = fake_source(bs, 2);
        let mut frame = vec![0xaa; 6];
        frame.extend_from_slice(&[0xbb; 6]);
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45; 46]);
        let tag = block::VlanTag {
            tpid: 0x88a8,
            tci: 0x0123,
        };
        let pkts = [FakePacket {
            sec: 1,
            nsec: 0,
            data: &frame,
            wire_len: frame.len() as u32,
            vlan: Some(tag),
        }];
        kernel_fill(&src, 0, &build_block(bs, &pkts, 1));
        let r = src.next_frame_timeout(Duration::ZERO).expect("read");
        let NextFrame::Frame(f) = r else {
            panic!("{r:?}")
        };
        assert_eq!(f.wire_len as usize, frame.len() + 4);
        assert_eq!(f.data.len(), frame.len() + 4);
        assert_eq!(&f.data[12..18], &[0x88, 0xa8, 0x01, 0x23, 0x08, 0x00]);

        src.snaplen = 20;
        kernel_fill(&src, 1, &build_block(bs, &pkts, 1));
        let r = src.next_frame_timeout(Duration::ZERO).expect("read");
        let NextFrame::Frame(f) = r else {
            panic!("{r:?}")
        };
        assert_eq!(f.data.len(), 20);
        assert_eq!(f.wire_len as usize, frame.len() + 4);
    }

    #[test]
    fn fake_ring_stop_ends_the_stream_and_idle_waits_its_timeout() {
        let mut src = fake_source(4096, 2);
        let t = Instant::now();
        let r = src
            .next_frame_timeout(Duration::from_millis(30))
            .expect("idle");
        assert!(matches!(r, NextFrame::Idle));
        assert!(t.elapsed() >= Duration::from_millis(30));
        let stop = src.stop_handle();
        let (tx, rx) = std::sync::mpsc::channel();
        let th = std::thread::spawn(move || {
            let r = src.next_frame().map(|f| f.is_none());
            let again = src
                .next_frame_timeout(Duration::ZERO)
                .map(|n| matches!(n, NextFrame::Stopped));
            let _ = tx.send((r.ok(), again.ok()));
        });
        stop.stop();
        let got = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("stopped reader returns");
        assert_eq!(got, (Some(true), Some(true)));
        let _ = th.join();
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
    }

    /// On loopback (always there, always up): open a worker, see our own UDP datagrams, get
    /// Idle when nothing comes, and stop a blocked reader from another thread.
    #[test]
    fn root_loopback_frames_idle_and_stop() {
        if !is_root() {
            println!("SKIP root_loopback_frames_idle_and_stop: needs root (AF_PACKET socket)");
            return;
        }
        let port = {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let config = AfPacketConfig {
            bpf: Some(format!("udp dst port {port}")),
            block_size: 1 << 16,
            block_count: 4,
            block_timeout_ms: 5,
            fanout_group: default_fanout_group("lo-unit-test"),
            ..AfPacketConfig::new("lo")
        };
        let mut src = AfPacketSource::open(&config).expect("open lo");
        assert_eq!(src.link_type(), LinkType::Ethernet);
        // Nothing sent yet: idle, not stopped.
        let r = src
            .next_frame_timeout(Duration::from_millis(30))
            .expect("poll");
        assert!(matches!(r, NextFrame::Idle), "{r:?}");

        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        for i in 0..5u8 {
            udp.send_to(&[b'a', b'f', b'p', i], ("127.0.0.1", port))
                .expect("send");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        let mut last_ts = Timestamp(0);
        while seen.len() < 5 && Instant::now() < deadline {
            if let NextFrame::Frame(f) = src
                .next_frame_timeout(Duration::from_millis(200))
                .expect("read")
            {
                assert!(f.data.len() >= 14 + 20 + 8 + 4, "{}", f.data.len());
                assert_eq!(f.wire_len as usize, f.data.len());
                assert!(f.ts >= last_ts);
                last_ts = f.ts;
                seen.push(f.data[f.data.len() - 1]);
            }
        }
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        assert!((last_ts.0 / Timestamp::MICROS_PER_SEC - now).abs() < 60);
        let s = src.stats().expect("stats");
        assert_eq!(s.delivered, 5);
        assert!(s.packets >= 5, "{s:?}");
        assert_eq!(s.drops, 0);

        // A reader blocked on the idle link returns Ok(None) once stopped.
        let stop = src.stop_handle();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let r = src.next_frame().map(|f| f.is_none());
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        stop.stop();
        let r = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a blocked read must return once stopped");
        assert_eq!(r, Ok(true));
        let _ = t.join();
    }
}
