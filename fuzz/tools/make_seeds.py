#!/usr/bin/python3
"""Builds the fuzz seed corpora from the JSON test vectors (stdlib only).

    make_seeds.py [--vectors vectors] [--out build-fuzz/corpus] [--zip-dir DIR]

Writes one file per vector into OUT/<target>/ (file name = vector id; seeds
derived from a vector carry a prefix: "ws-server-<id>") and, with --zip-dir,
DIR/<target>_seed_corpus.zip for OSS-Fuzz. Each target's directory is emptied
first, so a removed vector leaves no stale seed behind. A few built-in seeds
(RFC 6455 examples, a CONNECT) make sure no corpus is ever empty.

Input layout each target expects (see the comment at the top of its source):
  fuzz_handshake          the raw request or response
  fuzz_frame              1 prefix byte (bit 0 role: 1 = client; bits 1-7 k:
                          max_message = 4k, 0 = default) + frame bytes
  fuzz_mqtt_packet_v311   one packet, decoded as MQTT 3.1.1
  fuzz_mqtt_packet_v5     one packet, decoded as MQTT 5.0
  fuzz_stream             1 prefix byte (bit 0 role: 1 = client; bit 1 raw MQTT
                          transport; bit 2 MQTT 5.0; bits 3-7 k: packet buffer =
                          16k, 0 = 65536) + bytes
"""
import argparse
import json
import os
import sys
import zipfile

TARGETS = ["fuzz_handshake", "fuzz_frame", "fuzz_mqtt_packet_v311", "fuzz_mqtt_packet_v5",
           "fuzz_stream"]

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 5.7 example key


def frame_prefix(role, max_message):
    k = 0
    if max_message and max_message % 4 == 0 and 0 < max_message // 4 < 128:
        k = max_message // 4
    return bytes([(1 if role == "client" else 0) | (k << 1)])


def stream_prefix(role, tcp, v5, max_packet):
    k = 0
    if max_packet and max_packet != 65536:
        k = min(31, max(1, -(-max_packet // 16)))  # round up to a multiple of 16
    return bytes([(1 if role == "client" else 0) | (2 if tcp else 0) | (4 if v5 else 0) | (k << 3)])


def ws_frame(opcode, payload, fin=True, mask=None):
    """One RFC 6455 frame, minimal length form, masked when mask is given."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        hdr = bytes([b0, m | n])
    elif n < 65536:
        hdr = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        hdr += mask
    return hdr + payload


def test_input(test):
    if "text" in test:
        return test["text"].encode("utf-8")
    if "input" in test:
        return bytes.fromhex(test["input"])
    if "chunks" in test:
        return b"".join(bytes.fromhex(c) for c in test["chunks"])
    return None


def builtin_seeds():
    """Seeds that exist whatever the vectors hold (RFC 6455 examples, MQTT basics)."""
    req = (b"GET /mqtt HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Version: 13\r\n\r\n")
    resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
    connect4 = bytes.fromhex("100c00044d5154540402003c0000")
    connect5 = bytes.fromhex("101000044d5154540502003c032100140000")  # Receive Maximum 20
    publish = bytes.fromhex("300c0005612f622f633132333435")  # "a/b/c", "12345"
    subscribe5 = bytes.fromhex("82090001000003612f2b01")  # id 1, "a/+" QoS 1
    hello_masked = bytes.fromhex("818537fa213d7f9f4d5158")
    hello_frag = bytes.fromhex("010348656c80026c6f")
    seeds = {
        "fuzz_handshake": {"builtin-rfc6455-request": req, "builtin-rfc6455-response": resp},
        "fuzz_frame": {"builtin-rfc6455-hello-masked": b"\x00" + hello_masked,
                       "builtin-rfc6455-hello-fragmented": b"\x01" + hello_frag},
        "fuzz_mqtt_packet_v311": {"builtin-connect": connect4, "builtin-publish": publish},
        "fuzz_mqtt_packet_v5": {"builtin-connect": connect5, "builtin-subscribe": subscribe5},
        "fuzz_stream": {
            "builtin-ws-connect": stream_prefix("server", False, False, None)
            + ws_frame(2, connect4, mask=MASK),
            "builtin-ws-split": stream_prefix("server", False, False, None)
            + ws_frame(2, publish[:5], fin=False, mask=MASK) + ws_frame(0, publish[5:], mask=MASK),
            "builtin-tcp-two": stream_prefix("server", True, True, None) + connect5 + subscribe5,
        },
    }
    return seeds


def collect(vectors_dir):
    corpus = {t: {} for t in TARGETS}
    counts = {}
    files = []
    for root, _dirs, names in os.walk(vectors_dir):
        for name in sorted(names):
            if name.endswith(".json") and "schema" not in root.split(os.sep):
                files.append(os.path.join(root, name))
    for path in sorted(files):
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print("make_seeds: skipping %s: %s" % (path, e), file=sys.stderr)
            continue
        if not isinstance(doc, dict) or "testGroups" not in doc:
            continue
        kind = doc.get("kind")
        for group in doc.get("testGroups", []):
            params = group.get("params") or {}
            for test in group.get("tests", []):
                tid = test.get("id")
                data = test_input(test)
                if not tid or data is None:
                    continue
                added = add_vector(corpus, kind, params, test, tid, data)
                counts[kind] = counts.get(kind, 0) + added
    return corpus, counts


def add_vector(corpus, kind, params, test, tid, data):
    if kind in ("handshake_request", "handshake_response"):
        corpus["fuzz_handshake"][tid] = data
        return 1
    if kind == "ws_frames":
        corpus["fuzz_frame"][tid] = frame_prefix(params.get("role", "server"),
                                                 params.get("max_message")) + data
        return 1
    if kind == "mqtt_packet":
        v5 = params.get("version") == 5
        corpus["fuzz_mqtt_packet_v5" if v5 else "fuzz_mqtt_packet_v311"][tid] = data
        if test.get("result") == "invalid" or not data:
            return 1
        # the same packet as it arrives over WebSocket and TCP (MQTT-6.0.0-2)
        s = corpus["fuzz_stream"]
        s["ws-server-" + tid] = stream_prefix("server", False, v5, None) + ws_frame(2, data, mask=MASK)
        s["ws-client-" + tid] = stream_prefix("client", False, v5, None) + ws_frame(2, data)
        if len(data) >= 2:
            half = len(data) // 2
            s["ws-split-" + tid] = (stream_prefix("server", False, v5, None)
                                    + ws_frame(2, data[:half], fin=False, mask=MASK)
                                    + ws_frame(9, b"", mask=MASK)
                                    + ws_frame(0, data[half:], mask=MASK))
        s["tcp-" + tid] = stream_prefix("server", True, v5, None) + data + data
        return 1
    if kind == "stream":
        tcp = params.get("transport", "ws") == "tcp"
        corpus["fuzz_stream"][tid] = stream_prefix(params.get("role", "server"), tcp, False,
                                                   params.get("max_packet")) + data
        return 1
    return 0


def write(corpus, out_dir, zip_dir):
    for target in TARGETS:
        tdir = os.path.join(out_dir, target)
        os.makedirs(tdir, exist_ok=True)
        for old in os.listdir(tdir):
            p = os.path.join(tdir, old)
            if os.path.isfile(p):
                os.unlink(p)
        for name, data in sorted(corpus[target].items()):
            with open(os.path.join(tdir, name), "wb") as f:
                f.write(data)
        if zip_dir:
            os.makedirs(zip_dir, exist_ok=True)
            zpath = os.path.join(zip_dir, target + "_seed_corpus.zip")
            with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
                for name, data in sorted(corpus[target].items()):
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, data)  # fixed timestamps: reproducible zips


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vectors", default="vectors")
    ap.add_argument("--out", default="build-fuzz/corpus")
    ap.add_argument("--zip-dir", default=None,
                    help="also write <target>_seed_corpus.zip files here (OSS-Fuzz $OUT)")
    args = ap.parse_args()

    corpus, counts = collect(args.vectors)
    for target, seeds in builtin_seeds().items():
        for name, data in seeds.items():
            corpus[target].setdefault(name, data)
    write(corpus, args.out, args.zip_dir)
    kinds = ", ".join("%s %d" % kv for kv in sorted(counts.items())) or "none"
    print("make_seeds: vectors used: %s" % kinds)
    print("make_seeds: " + ", ".join("%s %d" % (t, len(corpus[t])) for t in TARGETS)
          + " -> " + args.out + ("" if not args.zip_dir else " and " + args.zip_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
