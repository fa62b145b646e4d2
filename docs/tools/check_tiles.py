#!/usr/bin/env python3
"""Recomputes a checkpoint's root from a log's C2SP tlog-tiles, with nothing but Python 3.

usage: check_tiles.py URL NOTE_FILE

URL is the log's tlog-tiles prefix (a cairn admin listener: http://127.0.0.1:7401).
NOTE_FILE is a checkpoint of that log whose signature you already checked (check_note.sh): its
size (line 2) and root (line 3, base64) are what the tiles must give.

It fetches every level 0 tile of that tree (N/256 requests: for logs of up to some millions of
events), recomputes the RFC 6962 root from the leaf hashes, and checks every level 1 and level 2
hash it can against the level below. Exit 0 when everything matches, 1 otherwise.
"""
import base64
import hashlib
import sys
import urllib.request

WIDTH = 256


def tile_path(level, index, width):
    """tile/<L>/<N>[.p/<W>] with N in 3-digit elements, all but the last prefixed with 'x'."""
    groups = []
    while True:
        groups.append("%03d" % (index % 1000))
        index //= 1000
        if index == 0:
            break
    elements = ["x" + g for g in reversed(groups[1:])] + [groups[0]]
    path = "tile/%d/%s" % (level, "/".join(elements))
    return path if width == WIDTH else path + ".p/%d" % width


def fetch_tile(url, level, index, width):
    with urllib.request.urlopen("%s/%s" % (url, tile_path(level, index, width)), timeout=10) as r:
        body = r.read(WIDTH * 32 + 1)
    if len(body) != width * 32:
        raise ValueError("%s: %d bytes, not %d" % (tile_path(level, index, width), len(body), width * 32))
    return [body[i:i + 32] for i in range(0, len(body), 32)]


def mth(hashes):
    """RFC 6962 Merkle tree hash over leaf hashes (split at the largest power of two below n)."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def level_hashes(url, level, count):
    """The first `count` hashes of a level, from its full tiles and the last partial one."""
    out = []
    for index in range((count + WIDTH - 1) // WIDTH):
        out += fetch_tile(url, level, index, min(WIDTH, count - index * WIDTH))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    url = sys.argv[1].rstrip("/")
    lines = open(sys.argv[2], encoding="utf-8").read().split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    if size == 0:
        print("the empty tree has no tiles")
        return 0
    problems = 0
    leaves = level_hashes(url, 0, size)
    below = leaves
    for level in (1, 2):
        count = size // WIDTH ** level
        if count == 0:
            break
        upper = level_hashes(url, level, count)
        for i, h in enumerate(upper):
            if mth(below[i * WIDTH:(i + 1) * WIDTH]) != h:
                print("level %d hash %d is not the MTH of the tile below it" % (level, i))
                problems += 1
        below = upper
    recomputed = mth(leaves)
    print("%d leaves from %d level 0 tiles; root %s" % (size, (size + WIDTH - 1) // WIDTH, recomputed.hex()))
    if recomputed != root:
        print("the root DIFFERS from the checkpoint's %s" % root.hex())
        problems += 1
    print("OK" if problems == 0 else "FAILED: %d problem(s)" % problems)
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
