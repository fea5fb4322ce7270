//! Stable smoke test of the fuzz targets (the coverage-guided fuzzing itself needs nightly; see
//! `fuzz/` and `scripts/fuzz.sh`).
//!
//! Every target's body (`agent::fuzz`, `analyzer::fuzz`, the same functions the libFuzzer
//! targets call) runs over every file of `fuzz/corpus/<target>/` (the minimised corpus) and
//! `fuzz/regressions/<target>/` (inputs that once crashed, hung or blew up memory), then over
//! deterministic pseudo-random mutations of them: bit flips, byte inserts and deletes, runs
//! of a repeated byte, splices of two inputs. The functions assert their own bounds (buffer
//! caps, sample sizes, round trips); here any panic fails the test, naming the input and
//! saving it under the system temp directory for `cargo fuzz run <target> <file>`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Mutations per target: ten thousand runs keep the whole test well under a minute in
/// release mode (and the slowest target, the catalogue, to a few seconds).
const MUTATIONS: usize = 10_000;
/// Largest mutated input; the kept corpora are small files.
const MAX_LEN: usize = 64 * 1024;

/// xorshift64*: deterministic, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(7) {
            0 | 1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            2 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = 1 + rng.below(16.min(v.len() - i));
                v.drain(i..i + n);
            }
            4 if !v.is_empty() => {
                // An interesting byte: lengths and flags love 0x00, 0x7f, 0x80 and 0xff.
                let i = rng.below(v.len());
                v[i] = [0x00, 0x01, 0x7f, 0x80, 0xff, b'\r', b'\n', b'0'][rng.below(8)];
            }
            5 => {
                let i = rng.below(v.len() + 1);
                let b = rng.next() as u8;
                let n = 1 + rng.below(64);
                v.splice(i..i, std::iter::repeat_n(b, n));
            }
            _ => {
                // Splice: a prefix of this input and a suffix of another.
                let i = rng.below(v.len() + 1);
                let j = rng.below(other.len() + 1);
                v.truncate(i);
                v.extend_from_slice(&other[j..]);
            }
        }
    }
    v.truncate(MAX_LEN);
    v
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect();
    out.sort();
    out
}

fn run_one(target: &str, f: fn(&[u8]), origin: &str, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
        let saved: PathBuf = std::env::temp_dir().join(format!(
            "shadowtap-fuzz-{target}-{:016x}",
            input
                .iter()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b))
                    .wrapping_mul(0x100_0000_01b3))
        ));
        let _ = std::fs::write(&saved, input);
        panic!(
            "fuzz target `{target}` panicked on {origin} (input saved to {})",
            saved.display()
        );
    }
}

fn smoke(target: &str, f: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = files(&root.join("corpus").join(target));
    let regressions = files(&root.join("regressions").join(target));
    assert!(
        !corpus.is_empty(),
        "no corpus for `{target}` under {}",
        root.display()
    );
    let all: Vec<&(String, Vec<u8>)> = corpus.iter().chain(regressions.iter()).collect();
    for (name, data) in &all {
        run_one(target, f, name, data);
    }
    // Seeded by the target's name, so each target gets its own mutation sequence.
    let mut rng = Rng(target.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
        h.rotate_left(5) ^ u64::from(b)
    }) | 1);
    for i in 0..MUTATIONS {
        let (name, base) = all[rng.below(all.len())];
        let (_, other) = all[rng.below(all.len())];
        let input = mutate(&mut rng, base, other);
        run_one(target, f, &format!("mutation {i} of {name}"), &input);
    }
    // The empty input and a few degenerate ones.
    for input in [&[][..], &[0xff; 64][..], &[0; 4096][..]] {
        run_one(target, f, "a degenerate input", input);
    }
}

#[test]
fn fuzz_decode() {
    smoke("decode", agent::fuzz::decode_frames);
}

#[test]
fn fuzz_reassembly() {
    smoke("reassembly", agent::fuzz::reassembly);
}

#[test]
fn fuzz_http() {
    smoke("http", agent::fuzz::http_connection);
}

#[test]
fn fuzz_body() {
    smoke("body", agent::fuzz::body_decoding);
}

#[test]
fn fuzz_tls() {
    smoke("tls", agent::fuzz::tls_handshake);
}

#[test]
fn fuzz_catalogue() {
    smoke("catalogue", analyzer::fuzz::catalogue);
}

#[test]
fn fuzz_wire() {
    smoke("wire", analyzer::fuzz::wire_batch);
}

#[test]
fn fuzz_xml() {
    smoke("xml", analyzer::fuzz::xml_body);
}

#[test]
fn fuzz_graphql() {
    smoke("graphql", analyzer::fuzz::graphql);
}
