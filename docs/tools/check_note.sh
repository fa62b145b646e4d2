#!/usr/bin/env bash
# Verifies a cairn checkpoint (a C2SP signed note, Ed25519) against a verifier key, without cairn.
#
# usage: check_note.sh VKEY_FILE NOTE_FILE
#   VKEY_FILE: the line printed by `cairn vkey`, obtained out of band
#   NOTE_FILE: the output of `cairn checkpoint`, byte for byte
# Needs OpenSSL 3, coreutils, sed and grep. Exit status 0 only when the signature verifies.
set -euo pipefail
VKEY=$1 NOTE=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
hex() { od -An -tx1 | tr -d ' \n'; }

NAME=$(cut -d+ -f1 "$VKEY")
KEY_ID=$(cut -d+ -f2 "$VKEY")
cut -d+ -f3- "$VKEY" | base64 -d > "$WORK/alg_key"          # 0x01 || 32-byte public key
[ "$(head -c1 "$WORK/alg_key" | hex)" = 01 ] && [ "$(wc -c < "$WORK/alg_key")" -eq 33 ] \
  || { echo "not an Ed25519 verifier key"; exit 1; }
# key id = first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)
[ "$({ printf '%s\n' "$NAME"; cat "$WORK/alg_key"; } | sha256sum | cut -c1-8)" = "$KEY_ID" ] \
  || { echo "key id does not match the key"; exit 1; }
# The public key as DER SubjectPublicKeyInfo: a fixed 12-byte prefix for Ed25519, then the key.
{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; tail -c 32 "$WORK/alg_key"; } \
  > "$WORK/key.der"
openssl pkey -pubin -inform DER -in "$WORK/key.der" -out "$WORK/key.pem"
# The signed text: the lines before the blank line, each with its newline.
sed '/^$/,$d' "$NOTE" > "$WORK/text"
[ "$(head -n1 "$WORK/text")" = "$NAME" ] || { echo "checkpoint origin is not the key name"; exit 1; }
# The signature line by this key: "— <name> <base64(4-byte key id || 64-byte signature)>".
grep -F -- "— $NAME " "$NOTE" | head -n1 | cut -d' ' -f3 | base64 -d > "$WORK/blob"
[ "$(head -c4 "$WORK/blob" | hex)" = "$KEY_ID" ] || { echo "no signature by this key"; exit 1; }
tail -c 64 "$WORK/blob" > "$WORK/sig"
openssl pkeyutl -verify -pubin -inkey "$WORK/key.pem" -rawin -in "$WORK/text" -sigfile "$WORK/sig"
