//! `demogen --out PATH [--scale N] [--seed S] [--expected PATH] [--profile default|openbanking]`

use std::fs::File;
use std::io::BufWriter;

use anyhow::{bail, Context};

fn usage() -> &'static str {
    "usage: demogen --out PATH [--scale N] [--seed S] [--expected PATH] [--profile P]\n\
     Writes a deterministic open-banking demo capture (legacy pcap, Ethernet).\n\
     --profile P      default (the demo) or openbanking (TPPs behind a certificate-forwarding\n\
                      ingress, planted lens findings; --scale and --expected do not apply)\n\
     --scale N        repeat the ~10-minute traffic pattern N times (default 1)\n\
     --seed S         PRNG seed, decimal or 0x-hex (default 20260302)\n\
     --expected PATH  also write the expected.json describing the capture"
}

fn parse_u64(s: &str) -> anyhow::Result<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).context("bad hex number"),
        None => s.parse().context("bad number"),
    }
}

fn main() -> anyhow::Result<()> {
    let mut cfg = demogen::Config::default();
    let mut out = None;
    let mut expected = None;
    let mut profile = "default".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--out" | "-o" => out = Some(val()?),
            "--scale" => cfg.scale = u32::try_from(parse_u64(&val()?)?)?,
            "--seed" => cfg.seed = parse_u64(&val()?)?,
            "--expected" => expected = Some(val()?),
            "--profile" => profile = val()?,
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{}", usage()),
        }
    }
    let Some(out) = out else {
        bail!("--out is required\n{}", usage());
    };
    let file = File::create(&out).with_context(|| format!("creating {out}"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    match profile.as_str() {
        "default" => {}
        "openbanking" => {
            let stats = demogen::openbanking::generate(cfg.seed, &mut w)?;
            eprintln!(
                "{out}: {} bytes, {} records, {} HTTP exchanges",
                stats.bytes, stats.records, stats.exchanges
            );
            return Ok(());
        }
        other => bail!("unknown profile {other}\n{}", usage()),
    }
    let stats = demogen::generate(&cfg, &mut w)?;
    drop(w);
    eprintln!(
        "{out}: {} bytes, {} records, {} HTTP exchanges, {} TCP connections ({} mid-stream, {} pipelined), {} retransmitted segments, {} reordered responses, {} non-HTTP flows",
        stats.bytes,
        stats.records,
        stats.http_exchanges,
        stats.tcp_connections,
        stats.midstream_connections,
        stats.pipelined_connections,
        stats.retransmitted_segments,
        stats.reordered_responses,
        stats.noise_flows
    );
    if let Some(path) = expected {
        let name = std::path::Path::new(&out)
            .file_name()
            .map_or_else(|| out.clone(), |n| n.to_string_lossy().into_owned());
        let v = demogen::expected_json(&cfg, &stats, &name);
        std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}
