#!/usr/bin/env python3
"""Write initial fuzz seeds into fuzz/corpus-work/<target>/ (gitignored) from the repo's
fixtures and small hand-made inputs, in each target's input layout (see agent/src/fuzz.rs and
analyzer/src/fuzz.rs). The kept corpora under fuzz/corpus/ are these seeds after fuzzing and
`cargo fuzz cmin`; run this only to start over.

    python3 fuzz/make_seeds.py
"""
import gzip
import hashlib
import os
import struct
import subprocess
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus-work")


def put(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pcap_frames(path, limit):
    d = open(os.path.join(ROOT, path), "rb").read()
    at, out = 24, []
    while at + 16 <= len(d) and len(out) < limit:
        _, _, incl, _ = struct.unpack("<IIII", d[at:at + 16])
        out.append(d[at + 16:at + 16 + incl])
        at += 16 + incl
    return out


def frame(link, data, extra=0):
    return bytes([link]) + struct.pack("<H", len(data)) + bytes([extra]) + data


# ---- decode -----------------------------------------------------------------------------
def ipv4(proto, payload, src=b"\x0a\x00\x00\x01", dst=b"\x0a\x00\x00\x02", flags_off=0, ident=1):
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags_off, 64, proto, 0,
                       src, dst) + payload


def tcp(sport, dport, seq, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport, dport, payload):
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth(ethertype, payload):
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack(">H", ethertype) + payload


def decode_seeds():
    demo = pcap_frames("fixtures/demo/openbanking.pcap", 40)
    for f in demo[:12]:
        put("decode", frame(0, f))
    put("decode", b"".join(frame(0, f) for f in demo[12:40]))
    for p in ["fixtures/pcap/ipv4_fragmented_request.pcap", "fixtures/pcap/tcp_fast_open.pcap"]:
        put("decode", b"".join(frame(0, f) for f in pcap_frames(p, 20)))
    req = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    ip = ipv4(6, tcp(40000, 80, 1, 0x18, req))
    # VLAN, QinQ
    put("decode", frame(0, eth(0x8100, b"\x00\x0a\x08\x00" + ip)))
    put("decode", frame(0, eth(0x88A8, b"\x00\x0a\x81\x00\x00\x0b\x08\x00" + ip)))
    # MPLS (bottom of stack), PPPoE session
    put("decode", frame(0, eth(0x8847, b"\x00\x01\x01\x40" + ip)))
    put("decode", frame(0, eth(0x8864, b"\x11\x00\x00\x01" + struct.pack(">H", len(ip) + 2) + b"\x00\x21" + ip)))
    # VXLAN on UDP 4789 around an Ethernet frame
    inner = eth(0x0800, ip)
    put("decode", frame(0, eth(0x0800, ipv4(17, udp(50000, 4789, b"\x08\x00\x00\x00\x00\x00\x01\x00" + inner)))))
    # GRE: IP in GRE, transparent Ethernet bridging, ERSPAN II
    put("decode", frame(0, eth(0x0800, ipv4(47, b"\x00\x00\x08\x00" + ip))))
    put("decode", frame(0, eth(0x0800, ipv4(47, b"\x00\x00\x65\x58" + inner))))
    put("decode", frame(0, eth(0x0800, ipv4(47, b"\x10\x00\x88\xbe\x00\x00\x00\x01" + b"\x10\x01\x00\x00\x00\x00\x00\x00" + inner))))
    # IPv6 TCP, raw IP, Linux SLL, Null
    ip6 = struct.pack(">IHBB16s16s", 0x60000000, 20 + len(req), 6, 64, b"\x20\x01" + b"\x00" * 13 + b"\x01",
                      b"\x20\x01" + b"\x00" * 13 + b"\x02") + tcp(40000, 80, 1, 0x18, req)
    put("decode", frame(0, eth(0x86DD, ip6)))
    put("decode", frame(3, ip) + frame(5, ip6))
    put("decode", frame(1, b"\x00\x00\x00\x01\x00\x06" + b"\x02" * 6 + b"\x00\x00\x08\x00" + ip))
    put("decode", frame(6, b"\x02\x00\x00\x00" + ip))
    # IPv4 fragments of one UDP datagram, and a snaplen cut
    body = udp(5000, 53, b"x" * 40)
    put("decode", frame(3, ipv4(17, body[:24], flags_off=0x2000, ident=7)) +
        frame(3, ipv4(17, body[24:], flags_off=3, ident=7)))
    put("decode", frame(0, eth(0x0800, ip)[:50], extra=30))


# ---- reassembly -------------------------------------------------------------------------
def seg(flags, delta, payload, tail=0, backwards=False):
    f = flags | (16 if backwards else 0)
    return bytes([f]) + struct.pack("<H", delta) + bytes([len(payload), tail]) + payload


SYN, FIN, RST, ACK = 2, 4, 8, 32


def reassembly_seeds():
    put("reassembly", b"\x00" + seg(SYN, 0, b"") + seg(1 | SYN | ACK, 0, b"") +
        seg(ACK, 1, b"GET / HTTP/1.1\r\n\r\n") + seg(1 | ACK, 1, b"HTTP/1.1 200 OK\r\n\r\n") +
        seg(FIN | ACK, 0, b"") + seg(1 | FIN | ACK, 0, b""))
    # out of order, retransmission with different bytes, gap, snaplen tail
    put("reassembly", b"\x01" + seg(SYN, 0, b"") + seg(0, 11, b"world") +
        seg(0, 10, b"hello", backwards=True) + seg(0, 5, b"HELLO", backwards=True) +
        seg(0, 100, b"late", tail=20) + seg(RST, 0, b""))
    put("reassembly", b"\x02" + b"".join(seg((i % 4) << 6, 3, b"abcdef"[: i % 6 + 1]) for i in range(40)))
    put("reassembly", b"\x00" + seg(ACK, 0, b"mid-stream") + seg(1 | ACK, 0x8000, b"reply") +
        seg(ACK, 0x8100, b"after idle"))


# ---- http -------------------------------------------------------------------------------
def transcript_events(text):
    """Parse fixtures/http/*.t roughly into (dir, bytes) / ('gap', dir, n) / ('end', dir)."""
    lines = text.split("\n")
    header = [l for l in lines if l.startswith("#")]
    eol = b"\n" if any(l.strip() == "# bare-lf" for l in header) else b"\r\n"
    events, d, data, started = [], None, b"", False
    for line in lines:
        if not started and line.startswith("#"):
            continue
        started = True
        if line.startswith(">>>") or line.startswith("<<<"):
            if d is not None and data:
                events.append(("data", d, data))
            d, data = (0 if line.startswith(">>>") else 1), b""
            continue
        if line.startswith("--- gap"):
            if data:
                events.append(("data", d, data))
                data = b""
            events.append(("gap", d, int(line.split()[2])))
            continue
        if line.startswith("--- end"):
            if data:
                events.append(("data", d, data))
                data = b""
            events.append(("end", d, 0))
            continue
        if line.startswith("---"):
            continue
        if line.endswith("\\"):
            data += line[:-1].encode()
        else:
            data += line.encode() + eol
    if d is not None and data:
        events.append(("data", d, data))
    return events


def http_ops(events, chunk):
    out = b""
    for kind, d, v in events:
        if kind == "data":
            for i in range(0, len(v), chunk):
                part = v[i:i + chunk]
                out += bytes([d | (0 << 1)]) + bytes([len(part)]) + part
        elif kind == "gap":
            out += bytes([d | (6 << 1) | (8 << 4)]) + struct.pack("<I", v)
        else:
            out += bytes([d | (6 << 1)]) + b"\x00"
    return out


def http_seeds():
    tdir = os.path.join(ROOT, "fixtures", "http")
    for name in sorted(os.listdir(tdir)):
        if not name.endswith(".t"):
            continue
        events = transcript_events(open(os.path.join(tdir, name)).read())
        put("http", b"\x00" + http_ops(events, 255))
        if name in ("chunked.t", "pipelined.t", "keepalive.t", "gap_in_body.t"):
            put("http", b"\x01" + http_ops(events, 7))
    gz = gzip.compress(b'{"id": 1, "name": "x"}' * 4)
    body = (b"%x\r\n" % len(gz)) + gz + b"\r\n0\r\n\r\n"
    put("http", b"\x00" + http_ops([("data", 0, b"GET /g HTTP/1.1\r\nHost: h\r\n\r\n"),
                                   ("data", 1, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                                               b"Transfer-Encoding: chunked\r\n\r\n" + body)], 200))


def tcp_payloads(path):
    """The TCP payloads of the first connection of a pcap (Ethernet or Linux loopback), in
    order, as ("data", direction, bytes): direction 0 from the side that sent the first SYN
    (else the first packet), 1 from the other."""
    d = open(os.path.join(ROOT, path), "rb").read()
    link = struct.unpack("<I", d[20:24])[0]
    at, out, client = 24, [], None
    while at + 16 <= len(d):
        incl = struct.unpack("<I", d[at + 8:at + 12])[0]
        pkt = d[at + 16:at + 16 + incl]
        at += 16 + incl
        if link == 1:
            ethertype, ip = struct.unpack(">H", pkt[12:14])[0], pkt[14:]
        elif link == 113:
            ethertype, ip = struct.unpack(">H", pkt[14:16])[0], pkt[16:]
        else:
            return out
        if ethertype == 0x0800:
            proto, hl, src, dst = ip[9], (ip[0] & 15) * 4, ip[12:16], ip[16:20]
        elif ethertype == 0x86DD:
            proto, hl, src, dst = ip[6], 40, ip[8:24], ip[24:40]
        else:
            continue
        if proto != 6:
            continue
        t = ip[hl:]
        sport, dport = struct.unpack(">HH", t[:4])
        flags, off = t[13], (t[12] >> 4) * 4
        if client is None and (flags & 0x12) == 0x02:
            client = (src, sport)
        if client is None:
            client = (src, sport)
        payload = t[off:]
        if ethertype == 0x0800:
            payload = t[off:struct.unpack(">H", ip[2:4])[0] - hl]
        if payload:
            out.append(("data", 0 if (src, sport) == client else 1, payload))
    return out


def http2_seeds():
    """HTTP/2 connections (the fixtures made with curl, nghttpd, hypercorn and grpcio) for the
    http target: the connection handler hands them to its HTTP/2 parser."""
    for name in ("h2c_prior_knowledge.pcap", "h2c_upgrade.pcap", "grpc_calls.pcap",
                 "grpc_mid_stream.pcap"):
        events = tcp_payloads(os.path.join("fixtures", "http2", name))
        for mode, chunk in ((b"\x01", 255), (b"\x03", 255), (b"\x00", 31)):
            put("http", mode + http_ops(events, chunk))


# ---- body -------------------------------------------------------------------------------
def chunked(data, size):
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\nX-T: 1\r\n\r\n"


def body_seeds():
    text = b'{"accounts": [{"id": "a1", "balance": 10.5}, {"id": "a2"}]}' * 3
    gz, zl, raw = gzip.compress(text), zlib.compress(text), zlib.compress(text)[2:-4]
    # codings byte: count in the top two bits, names in pairs of bits (0 gzip, 1 deflate,
    # 2 br, 3 identity); framing byte % 3: 0 chunked, 1 length, 2 until close.
    put("body", bytes([0x40, 0]) + b"\x05\x00" + chunked(gz, 17))
    put("body", bytes([0x41, 2]) + b"\x09\x00" + zl)
    put("body", bytes([0x41, 0]) + b"\x0b\x00" + chunked(raw, 40))
    put("body", bytes([0x80, 2]) + b"\x21\x00" + gzip.compress(gz))
    put("body", bytes([0x00, 0]) + b"\x03\x00" + chunked(text, 9))
    put("body", bytes([0x40, 129]) + b"\x07\x00" + gz)
    put("body", bytes([0x42, 2]) + b"\x01\x00" + b"\x1b\x03\x00\xf8\x25\x00\xa2\x4c\xb7\x09")
    put("body", bytes([0x40, 2]) + b"\x01\x00" + gzip.compress(b"\x00" * 200000))


# ---- tls --------------------------------------------------------------------------------
def ext(t, body):
    return struct.pack(">HH", t, len(body)) + body


def handshake(t, body):
    return bytes([t]) + struct.pack(">I", len(body))[1:] + body


def record(t, body):
    return bytes([t]) + b"\x03\x03" + struct.pack(">H", len(body)) + body


def client_hello():
    sni = b"api.example.com"
    exts = ext(0, struct.pack(">HBH", len(sni) + 3, 0, len(sni)) + sni)
    alpn = b"\x02h2\x08http/1.1"
    exts += ext(16, struct.pack(">H", len(alpn)) + alpn)
    exts += ext(43, b"\x04\x03\x04\x03\x03") + ext(10, b"\x00\x04\x00\x1d\x00\x17")
    exts += ext(13, b"\x00\x04\x04\x03\x08\x04") + ext(0x0a0a, b"")
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x06\x13\x01\xc0\x2f\x0a\x0a" + b"\x01\x00"
    body += struct.pack(">H", len(exts)) + exts
    return record(22, handshake(1, body))


def tls_seeds():
    hello = client_hello()
    der = b""
    try:
        der = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", "/dev/null", "-subj", "/CN=api.example.com/O=Example",
             "-days", "1", "-outform", "DER"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pass
    server_hello = handshake(2, b"\x03\x03" + b"\x22" * 32 + b"\x00" + b"\xc0\x2f\x00\x00\x00")
    certs = b""
    if der:
        chain = struct.pack(">I", len(der))[1:] + der
        certs = handshake(11, struct.pack(">I", len(chain))[1:] + chain)
    flight = record(22, server_hello + certs + handshake(14, b"")) + record(20, b"\x01")
    split = struct.pack("<H", len(hello))
    put("tls", b"\x00" + split + hello + flight)
    put("tls", b"\x93" + split + hello + flight)
    put("tls", b"\x02" + split + hello + record(22, server_hello) + record(20, b"\x01") + record(23, b"x" * 40))
    if der:
        put("tls", b"\x00" + b"\x00\x00" + der)


# ---- catalogue --------------------------------------------------------------------------
def catalogue_seeds():
    sep = b"\n#---8<---\n"
    for rel in ["fixtures/catalogue/petstore-v2.json", "fixtures/drift/relative-server.yaml",
                "fixtures/drift/bank-v1.yaml", "fixtures/catalogue/broken/bad-refs.yaml"]:
        put("catalogue", open(os.path.join(ROOT, rel), "rb").read())
    root = b"""openapi: 3.0.3
info: {title: t, version: '1'}
servers: [{url: 'https://api.example.com/v1'}]
paths:
  /accounts/{id}:
    $ref: 'paths/d1.yaml#/item'
  /pets:
    get:
      parameters: [{$ref: 'common/d2.json#/components/parameters/limit'}]
      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Pet'}}}}}
components:
  schemas:
    Pet: {type: object, properties: {id: {type: integer}, tags: {type: array, items: {$ref: '#/components/schemas/Pet'}}}}
"""
    d1 = b"""item:
  get:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    responses: {'200': {description: ok}}
"""
    d2 = b'{"components": {"parameters": {"limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}}}}'
    put("catalogue", root + sep + d1 + sep + d2)
    put("catalogue", b'{"swagger": "2.0", "info": {"title": "s", "version": "1"}, "host": "h", "basePath": "/b", '
                     b'"paths": {"/x/{y}": {"get": {"parameters": [{"name": "y", "in": "path", "type": "string"}], '
                     b'"responses": {"200": {"description": "ok"}}}}}}')


if __name__ == "__main__":
    decode_seeds()
    reassembly_seeds()
    http_seeds()
    http2_seeds()
    body_seeds()
    tls_seeds()
    catalogue_seeds()
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))))
