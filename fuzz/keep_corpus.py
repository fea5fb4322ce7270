#!/usr/bin/env python3
"""Choose the small corpus kept in the repo for one target: at most MAX files (default 50) that
cover as many coverage edges as possible, picked greedily from what libFuzzer reports per file.

    python3 fuzz/keep_corpus.py TARGET [MAX]

Reads fuzz/corpus/TARGET and fuzz/corpus-work/TARGET (what scripts/fuzz.sh found), runs the
instrumented target once with -set_cover_merge=1 -use_counters=0 to learn each file's edges
(its control file lists all of a file's features as an `FT` line), and replaces
fuzz/corpus/TARGET with the chosen files, named by content hash. Files over 8 KiB are left out. Needs a prior `cargo +nightly fuzz build TARGET`.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_FILE = 8 * 1024


def main():
    target = sys.argv[1]
    keep = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    binary = os.path.join(HERE, "target", "x86_64-unknown-linux-gnu", "release", target)
    inputs = [os.path.join(HERE, d, target) for d in ("corpus", "corpus-work")]
    inputs = [d for d in inputs if os.path.isdir(d)]
    with tempfile.TemporaryDirectory() as tmp:
        small = os.path.join(tmp, "in")
        os.makedirs(small)
        for d in inputs:
            for name in os.listdir(d):
                path = os.path.join(d, name)
                if os.path.isfile(path) and os.path.getsize(path) <= MAX_FILE:
                    data = open(path, "rb").read()
                    with open(os.path.join(small, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
                        f.write(data)
        out = os.path.join(tmp, "out")
        os.makedirs(out)
        control = os.path.join(tmp, "control")
        subprocess.run(["nice", "-n", "19", binary, "-set_cover_merge=1", "-use_counters=0",
                        f"-merge_control_file={control}", "-rss_limit_mb=2048", "-timeout=10",
                        out, small], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        lines = open(control).read().split("\n")
        n = int(lines[0])
        files = lines[2:2 + n]
        cov, size = {}, {}
        for line in lines[2 + n:]:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "FT":
                cov[int(parts[1])] = set(parts[2:])
            elif len(parts) >= 3 and parts[0] == "STARTED":
                size[int(parts[1])] = int(parts[2])
        covered, chosen = set(), []
        while len(chosen) < keep:
            best = max(cov, key=lambda i: (len(cov[i] - covered), -size.get(i, 0)), default=None)
            if best is None or not cov[best] - covered:
                break
            covered |= cov.pop(best)
            chosen.append(files[best])
        total = set().union(covered, *cov.values())
        dest = os.path.join(HERE, "corpus", target)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        for path in chosen:
            shutil.copy(path, os.path.join(dest, os.path.basename(path)))
        nbytes = sum(os.path.getsize(os.path.join(dest, f)) for f in os.listdir(dest))
        print(f"{target}: kept {len(chosen)} files, {nbytes} bytes, "
              f"{len(covered)} of {len(total)} edges")


if __name__ == "__main__":
    main()
