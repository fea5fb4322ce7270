//! The floor of `scripts/bench.sh`: how fast a capture file can merely be read, by libpcap
//! (`pcap_next_ex` in a loop) and by shadowtap's own file reader, touching every frame's
//! length and nothing more. Prints one line per reader: `reader frames bytes seconds`.
//!
//! Usage: `read_floor FILE`

use agent::source::{FileSource, FrameSource};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: read_floor FILE")?;
    let start = Instant::now();
    let mut cap = pcap::Capture::from_file(&path)?;
    let (mut frames, mut bytes) = (0u64, 0u64);
    loop {
        match cap.next_packet() {
            Ok(p) => {
                frames += 1;
                bytes += p.data.len() as u64;
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!(
        "libpcap {frames} {bytes} {:.6}",
        start.elapsed().as_secs_f64()
    );

    let start = Instant::now();
    let mut source = FileSource::open(std::path::Path::new(&path))?;
    let (mut frames, mut bytes) = (0u64, 0u64);
    while let Some(f) = source.next_frame()? {
        frames += 1;
        bytes += f.data.len() as u64;
    }
    println!(
        "shadowtap {frames} {bytes} {:.6}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
