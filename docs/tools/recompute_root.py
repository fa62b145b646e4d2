#!/usr/bin/env python3
"""Recompute a cairn log's leaf hashes, stream chains and Merkle root without cairn's code.

Reads the output of `cairn read-all --limit 0 --json` (one JSON object per line) on stdin.
Standard library only. It does NOT verify checkpoint signatures (Ed25519 is not in the
standard library): check those with openssl or the `cryptography` package (docs/auditing.md).

usage: cairn read-all --limit 0 --json | python3 recompute_root.py [--checkpoint NOTE_FILE]...

For each event it checks data_hash and metadata_hash against the bytes, re-encodes the v1 entry
(docs/formats.md), recomputes the leaf hash, and checks the stream chain. Then it prints the
root of the whole log and compares the root at the size of every checkpoint given.
Exit status: 0 when everything matches, 1 otherwise.
"""
import base64
import hashlib
import json
import struct
import sys

TOMBSTONE = "$streamDeleted"


def sha256(b):
    return hashlib.sha256(b).digest()


def lp(b):  # str = u32 big-endian length + bytes
    return struct.pack(">I", len(b)) + b


def field_bytes(ev, name):  # the stored bytes: a UTF-8 JSON string, or NAME_base64
    if name in ev:
        return ev[name].encode("utf-8")
    return base64.b64decode(ev[name + "_base64"], validate=True)


def encode_entry(ev):
    event_id = bytes.fromhex(ev["id"].replace("-", ""))
    assert len(event_id) == 16
    return (struct.pack(">BQ", 1, ev["position"])
            + lp(ev["stream"].encode("utf-8"))
            + struct.pack(">Q", ev["version"])
            + event_id
            + lp(ev["type"].encode("utf-8"))
            + lp(ev["content_type"].encode("utf-8"))
            + struct.pack(">q", ev["recorded_at_ns"])
            + bytes.fromhex(ev["metadata_hash"])
            + bytes.fromhex(ev["data_hash"])
            + bytes.fromhex(ev["stream_prev"]))


def root_of(stack):  # fold the full subtrees on the right edge, right to left (RFC 9162 MTH)
    if not stack:
        return sha256(b"")
    root = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        root = sha256(b"\x01" + h + root)
    return root


def read_checkpoint(path):  # "<origin>\n<size>\n<base64 root>\n\n— <name> <sig>\n"
    lines = open(path, encoding="utf-8").read().split("\n")
    return int(lines[1]), base64.b64decode(lines[2], validate=True), path


def main(argv):
    checkpoints = []
    args = argv[1:]
    while args:
        if args[0] == "--checkpoint" and len(args) > 1:
            checkpoints.append(read_checkpoint(args[1]))
            args = args[2:]
        else:
            sys.exit(__doc__)
    roots = {0: sha256(b"")}
    wanted = {size for size, _, _ in checkpoints}
    stack = []   # (number of leaves, hash) of the full subtrees on the right edge
    chains = {}  # stream -> (next version, last leaf hash, deleted)
    errors = 0
    n = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        ev = json.loads(line)
        pos = ev["position"]

        def bad(what):
            nonlocal errors
            errors += 1
            print(f"position {pos}: {what}")

        if pos != n:
            sys.exit(f"expected position {n}, got {pos}: feed the whole log from position 0")
        data, metadata = field_bytes(ev, "data"), field_bytes(ev, "metadata")
        if sha256(data).hex() != ev["data_hash"]:
            bad("data_hash is not SHA-256 of the data")
        if sha256(metadata).hex() != ev["metadata_hash"]:
            bad("metadata_hash is not SHA-256 of the metadata")
        leaf = sha256(b"\x00" + encode_entry(ev))
        if leaf.hex() != ev["leaf_hash"]:
            bad(f"recomputed leaf hash {leaf.hex()} differs from {ev['leaf_hash']}")
        version, prev, deleted = chains.get(ev["stream"], (0, bytes(32), False))
        if deleted:
            bad(f"event after the tombstone of stream {ev['stream']!r}")
        if ev["version"] != version:
            bad(f"stream {ev['stream']!r}: version {ev['version']}, expected {version}")
        if bytes.fromhex(ev["stream_prev"]) != prev:
            bad(f"stream {ev['stream']!r}: stream_prev does not link to the previous event")
        chains[ev["stream"]] = (version + 1, leaf, ev["type"] == TOMBSTONE)
        # Append the recomputed leaf to the compact range (merge equal-size subtrees).
        stack.append((1, leaf))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            (size, left), (_, right) = stack[-2], stack[-1]
            stack[-2:] = [(2 * size, sha256(b"\x01" + left + right))]
        n += 1
        if n in wanted:
            roots[n] = root_of(stack)
    root = root_of(stack)
    print(f"{n} events, {len(chains)} streams")
    print(f"root at size {n}: {root.hex()} (base64 {base64.b64encode(root).decode()})")
    for size, cp_root, path in checkpoints:
        if size not in roots:
            errors += 1
            print(f"checkpoint {path}: size {size} is beyond the {n} events read")
        elif roots[size] != cp_root:
            errors += 1
            print(f"checkpoint {path}: root at size {size} DIFFERS from the recomputed root")
        else:
            print(f"checkpoint {path}: root at size {size} matches")
    print("OK" if errors == 0 else f"FAILED: {errors} problem(s)")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
