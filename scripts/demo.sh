#!/usr/bin/env bash
# The README's "main job" in one go, with our binary only: build the release
# `sops`, encrypt testdata/demo/secrets.yaml to the demo age recipient,
# print the encrypted file, decrypt it with the demo identity and check the
# round trip gives back the input byte for byte.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

KEY_FILE="testdata/keys/demo-age-key.txt"
PLAIN="testdata/demo/secrets.yaml"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
SOPS="$TARGET_DIR/release/sops"

echo "== building the release binary"
cargo build --release -p sops-cli --bin sops

RECIPIENT="$(sed -n 's/^# public key: //p' "$KEY_FILE")"
if [ -z "$RECIPIENT" ]; then
    echo "demo: no '# public key:' line in $KEY_FILE" >&2
    exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ENC="$WORK/secrets.enc.yaml"
DEC="$WORK/secrets.dec.yaml"

echo "== $PLAIN"
cat "$PLAIN"

echo "== sops encrypt --age $RECIPIENT $PLAIN"
# A clean environment: no identity is needed to encrypt.
env -u SOPS_AGE_KEY_FILE -u SOPS_AGE_KEY -u SOPS_AGE_RECIPIENTS \
    "$SOPS" encrypt --age "$RECIPIENT" "$PLAIN" >"$ENC"
cat "$ENC"

echo "== SOPS_AGE_KEY_FILE=$KEY_FILE sops decrypt"
SOPS_AGE_KEY_FILE="$KEY_FILE" "$SOPS" decrypt "$ENC" >"$DEC"
cat "$DEC"

if ! grep -q 'ENC\[AES256_GCM,' "$ENC" || grep -q 'correct-horse-battery-staple' "$ENC"; then
    echo "demo: FAILED, the encrypted file does not look encrypted" >&2
    exit 1
fi
if cmp -s "$PLAIN" "$DEC"; then
    echo "== round trip OK: decrypted output equals $PLAIN"
else
    echo "demo: FAILED, decrypted output differs from $PLAIN:" >&2
    diff -u "$PLAIN" "$DEC" >&2 || true
    exit 1
fi
