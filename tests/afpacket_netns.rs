//! AF_PACKET fanout capture on a veth pair (needs root; skips with a message otherwise).
//!
//! A network namespace holds one end of a veth pair; a python3 raw-socket sender in it
//! transmits a known set of Ethernet frames (TCP flows in both directions, one of them
//! VLAN-tagged, and fragmented UDP datagrams). Two `AfPacketSource` workers in one
//! `PACKET_FANOUT` group capture on the other end, in our namespace. Every frame must arrive
//! exactly once across the workers, byte for byte, both directions of each TCP connection on
//! the same worker, and all fragments of a datagram on one worker (the kernel's
//! `PACKET_FANOUT_FLAG_DEFRAG` reassembles them first, so each datagram arrives as one whole
//! frame).

mod root_support;

use agent::source::afpacket::{default_fanout_group, AfPacketConfig, AfPacketSource, NextFrame};
use root_support::{is_root, sh};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A namespace with one veth end (`peer`); the other end (`tap`) stays with us. Removed on drop,
/// also when the test fails (deleting the namespace deletes its end, and with it the pair).
struct VethNs {
    ns: String,
    tap: String,
    peer: String,
}

impl VethNs {
    fn create() -> VethNs {
        let pid = std::process::id() % 100_000;
        let me = VethNs {
            ns: format!("stafp-{pid}"),
            tap: format!("stafpa{pid}"),
            peer: format!("stafpb{pid}"),
        };
        // No addresses anywhere and IPv6 off: the only traffic on the link is what we send.
        let ok = sh(&["ip", "netns", "add", &me.ns])
            && sh(&[
                "ip", "link", "add", &me.tap, "type", "veth", "peer", "name", &me.peer,
            ])
            && sh(&["ip", "link", "set", &me.peer, "netns", &me.ns])
            && std::fs::write(
                format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", me.tap),
                "1",
            )
            .is_ok()
            && sh(&[
                "ip",
                "netns",
                "exec",
                &me.ns,
                "sh",
                "-c",
                &format!("echo 1 > /proc/sys/net/ipv6/conf/{}/disable_ipv6", me.peer),
            ])
            && sh(&["ip", "-n", &me.ns, "link", "set", &me.peer, "up"])
            && sh(&["ip", "link", "set", &me.tap, "up"]);
        assert!(
            ok,
            "running as root but could not build the namespace + veth pair"
        );
        me
    }
}

impl Drop for VethNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.tap]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    id: u16,
    frag: u16,
    payload_len: usize,
) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = checksum(&h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn ethernet(vlan: Option<u16>, from_client: bool) -> Vec<u8> {
    let (a, b) = ([0x02, 0, 0, 0, 0, 0x01], [0x02, 0, 0, 0, 0, 0x02]);
    let (dst, src) = if from_client { (b, a) } else { (a, b) };
    let mut e = Vec::new();
    e.extend_from_slice(&dst);
    e.extend_from_slice(&src);
    if let Some(vid) = vlan {
        e.extend_from_slice(&[0x81, 0x00]);
        e.extend_from_slice(&vid.to_be_bytes());
    }
    e.extend_from_slice(&[0x08, 0x00]);
    e
}

struct Endpoint {
    ip: Ipv4Addr,
    port: u16,
}

#[allow(clippy::too_many_arguments)]
fn tcp_frame(
    vlan: Option<u16>,
    from_client: bool,
    src: &Endpoint,
    dst: &Endpoint,
    id: u16,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&src.port.to_be_bytes());
    tcp.extend_from_slice(&dst.port.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&0u32.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.ip.octets());
    pseudo.extend_from_slice(&dst.ip.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(&tcp);
    let c = checksum(&pseudo, 0);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut f = ethernet(vlan, from_client);
    f.extend_from_slice(&ipv4_header(src.ip, dst.ip, 6, id, 0x4000, tcp.len()));
    f.extend_from_slice(&tcp);
    f
}

/// A UDP datagram of `payload` bytes cut into IPv4 fragments of at most 1480 bytes.
fn udp_fragments(src: &Endpoint, dst: &Endpoint, id: u16, payload: &[u8]) -> Vec<Vec<u8>> {
    let mut udp = Vec::new();
    udp.extend_from_slice(&src.port.to_be_bytes());
    udp.extend_from_slice(&dst.port.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]); // no checksum
    udp.extend_from_slice(payload);
    let mut out = Vec::new();
    let mut off = 0;
    while off < udp.len() {
        let end = (off + 1480).min(udp.len());
        let more = if end < udp.len() { 0x2000 } else { 0 };
        let mut f = ethernet(None, true);
        f.extend_from_slice(&ipv4_header(
            src.ip,
            dst.ip,
            17,
            id,
            more | (off / 8) as u16,
            end - off,
        ));
        f.extend_from_slice(&udp[off..end]);
        out.push(f);
        off = end;
    }
    out
}

/// A canonical (lower, higher) pair of (address, port) endpoints: the same for both directions.
type Tuple = ((Ipv4Addr, u16), (Ipv4Addr, u16));

/// What a captured frame is, from its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Parsed {
    proto: u8,
    tuple: Tuple,
    id: u16,
    frag: u16,
    ip_total: u16,
}

fn parse(frame: &[u8]) -> Option<Parsed> {
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    if ethertype == 0x8100 {
        at += 4;
        ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    }
    if ethertype != 0x0800 {
        return None;
    }
    let ip = frame.get(at + 2..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let ip_total = u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]);
    let id = u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]);
    let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff;
    let proto = *ip.get(9)?;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let (sp, dp) = if frag & 0x1fff == 0 {
        let l4 = ip.get(ihl..)?;
        (
            u16::from_be_bytes([*l4.first()?, *l4.get(1)?]),
            u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]),
        )
    } else {
        (0, 0)
    };
    let (a, b) = ((src, sp), (dst, dp));
    let tuple = if a <= b { (a, b) } else { (b, a) };
    Some(Parsed {
        proto,
        tuple,
        id,
        frag,
        ip_total,
    })
}

const SENDER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
n = 0
for line in open(sys.argv[2]):
    line = line.strip()
    if line:
        s.send(bytes.fromhex(line)); n += 1
print(n)
"#;

struct Captured {
    worker: usize,
    data: Vec<u8>,
    wire_len: u32,
}

#[test]
fn root_fanout_workers_split_flows_and_keep_datagrams_whole() {
    if !is_root() {
        println!("SKIP root_fanout_workers_split_flows_and_keep_datagrams_whole: needs root (netns, veth, AF_PACKET)");
        return;
    }
    let net = VethNs::create();

    // The known set of frames.
    let mut tcp_frames: Vec<Vec<u8>> = Vec::new();
    let mut id: u16 = 1;
    let mut next_id = || {
        id += 1;
        id
    };
    const FLOWS: u16 = 24;
    for i in 0..FLOWS {
        let c = Endpoint {
            ip: Ipv4Addr::new(10, 214, 1, 10 + (i % 7) as u8),
            port: 40_000 + i,
        };
        let s = Endpoint {
            ip: Ipv4Addr::new(10, 214, 2, 1 + (i % 3) as u8),
            port: if i % 2 == 0 { 80 } else { 8443 },
        };
        let vlan = (i == 5).then_some(42);
        let tag = format!("STAP-flow-{i}");
        tcp_frames.push(tcp_frame(vlan, true, &c, &s, next_id(), 0x02, 1000, b""));
        tcp_frames.push(tcp_frame(vlan, false, &s, &c, next_id(), 0x12, 5000, b""));
        tcp_frames.push(tcp_frame(vlan, true, &c, &s, next_id(), 0x10, 1001, b""));
        tcp_frames.push(tcp_frame(
            vlan,
            true,
            &c,
            &s,
            next_id(),
            0x18,
            1001,
            tag.as_bytes(),
        ));
        tcp_frames.push(tcp_frame(
            vlan,
            false,
            &s,
            &c,
            next_id(),
            0x18,
            5001,
            b"HTTP/1.1 200 OK\r\n\r\n",
        ));
        tcp_frames.push(tcp_frame(vlan, false, &s, &c, next_id(), 0x11, 5020, b""));
    }
    const DATAGRAMS: u16 = 6;
    let mut datagrams: Vec<(u16, usize, Vec<Vec<u8>>)> = Vec::new();
    for d in 0..DATAGRAMS {
        let src = Endpoint {
            ip: Ipv4Addr::new(10, 214, 3, 1 + d as u8),
            port: 5000 + d,
        };
        let dst = Endpoint {
            ip: Ipv4Addr::new(10, 214, 4, 1),
            port: 53,
        };
        let payload: Vec<u8> = (0..3000u32).map(|b| (b % 251) as u8).collect();
        let did = 0x7000 + d;
        datagrams.push((
            did,
            8 + payload.len(),
            udp_fragments(&src, &dst, did, &payload),
        ));
    }
    // Interleave fragments of different datagrams with the TCP frames.
    let mut to_send: Vec<Vec<u8>> = Vec::new();
    let mut frag_iters: Vec<_> = datagrams.iter().map(|(_, _, f)| f.iter()).collect();
    for (i, f) in tcp_frames.iter().enumerate() {
        to_send.push(f.clone());
        if i % 5 == 0 {
            for it in frag_iters.iter_mut() {
                if let Some(frag) = it.next() {
                    to_send.push(frag.clone());
                    break;
                }
            }
        }
    }
    for it in frag_iters.iter_mut() {
        to_send.extend(it.cloned());
    }
    let expected_frames = tcp_frames.len() + datagrams.len();

    // Two workers in one fanout group, filter compiled by libpcap.
    let config = AfPacketConfig {
        bpf: Some("net 10.214.0.0/16".to_string()),
        block_size: 1 << 18,
        block_count: 8,
        block_timeout_ms: 5,
        poll_timeout_ms: 20,
        fanout_group: default_fanout_group(&net.tap),
        ..AfPacketConfig::new(net.tap.clone())
    };
    let workers = AfPacketSource::open_group(&config, 2).expect("open two AF_PACKET workers");
    let stop = workers[0].stop_handle();
    let received = Arc::new(AtomicUsize::new(0));
    let drain = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for mut src in workers {
        let received = Arc::clone(&received);
        let drain = Arc::clone(&drain);
        threads.push(std::thread::spawn(move || {
            let worker = src.worker();
            let mut got = Vec::new();
            loop {
                let draining = drain.load(Ordering::Acquire);
                match src.next_frame_timeout(Duration::from_millis(50)) {
                    Ok(NextFrame::Frame(f)) => {
                        got.push(Captured {
                            worker,
                            data: f.data.to_vec(),
                            wire_len: f.wire_len,
                        });
                        received.fetch_add(1, Ordering::AcqRel);
                    }
                    // Asked to drain and the ring stayed empty for 10 block timeouts: done.
                    Ok(NextFrame::Idle) if draining => break,
                    Ok(NextFrame::Idle) => {}
                    Ok(NextFrame::Stopped) => break,
                    Err(e) => panic!("capture failed: {e}"),
                }
            }
            let stats = src.stats().expect("stats");
            (got, stats)
        }));
    }

    let frames_file = std::env::temp_dir().join(format!("stafp-frames-{}.hex", std::process::id()));
    let hex: String = to_send
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    std::fs::write(&frames_file, hex).expect("write frames");
    let out = Command::new("ip")
        .args(["netns", "exec", &net.ns, "python3", "-c", SENDER, &net.peer])
        .arg(&frames_file)
        .output()
        .expect("run the python3 sender");
    let _ = std::fs::remove_file(&frames_file);
    if !out.status.success() {
        stop.stop();
        panic!("sender failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let sent: usize = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert_eq!(sent, to_send.len(), "the sender sent every frame");

    // Wait for the frames (bounded), then let the workers drain their rings and finish.
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.load(Ordering::Acquire) < expected_frames && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drain.store(true, Ordering::Release);
    let guard_deadline = Instant::now() + Duration::from_secs(30);
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < guard_deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.stop();
    let mut captured = Vec::new();
    let mut total = agent::source::AfPacketStats::default();
    for t in threads {
        let (got, stats) = t.join().expect("worker thread");
        captured.extend(got);
        total += stats;
    }

    // Exactly once, byte for byte.
    assert_eq!(
        captured.len(),
        expected_frames,
        "frames received across both workers (expected {} TCP + {} reassembled datagrams)",
        tcp_frames.len(),
        datagrams.len()
    );
    let mut by_bytes: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    for c in &captured {
        assert_eq!(c.wire_len as usize, c.data.len(), "whole frames captured");
        by_bytes.entry(&c.data).or_default().push(c.worker);
    }
    for f in &tcp_frames {
        let seen = by_bytes.get(&f[..]).map(Vec::len).unwrap_or(0);
        assert_eq!(seen, 1, "TCP frame {:?} received {seen} times", parse(f));
    }

    // Both directions of each TCP connection on one worker.
    let mut flow_workers: BTreeMap<Tuple, BTreeSet<usize>> = BTreeMap::new();
    let mut per_worker = [0usize; 2];
    for c in &captured {
        per_worker[c.worker] += 1;
        let p = parse(&c.data).expect("an IPv4 frame");
        if p.proto == 6 {
            flow_workers.entry(p.tuple).or_default().insert(c.worker);
        }
    }
    assert_eq!(flow_workers.len(), usize::from(FLOWS));
    for (tuple, w) in &flow_workers {
        assert_eq!(w.len(), 1, "flow {tuple:?} split over workers {w:?}");
    }
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "fanout spread the flows over both workers: {per_worker:?}"
    );

    // Each fragmented datagram arrived once, reassembled, on one worker; no lone fragments.
    for (did, udp_len, frags) in &datagrams {
        let pieces: Vec<(&Captured, Parsed)> = captured
            .iter()
            .filter_map(|c| parse(&c.data).map(|p| (c, p)))
            .filter(|(_, p)| p.proto == 17 && p.id == *did)
            .collect();
        assert_eq!(
            pieces.len(),
            1,
            "datagram {did:#x} ({} fragments sent)",
            frags.len()
        );
        let (c, p) = &pieces[0];
        assert_eq!(p.frag, 0, "reassembled: no fragment offset or MF flag");
        assert_eq!(usize::from(p.ip_total), 20 + udp_len);
        assert_eq!(c.data.len(), 14 + 20 + udp_len);
    }

    // The kernel's counters agree: nothing dropped, everything that passed the filter read.
    assert_eq!(total.drops, 0, "{total:?}");
    assert_eq!(total.delivered as usize, expected_frames, "{total:?}");
    assert_eq!(total.packets, total.delivered + total.drops, "{total:?}");
    assert_eq!(total.corrupt_blocks, 0);
    drop(net);
}
