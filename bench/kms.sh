#!/usr/bin/env bash
# AWS KMS benchmark of the Argo CD plugin (issue 11): one
# `argocd-sops-plugin generate` over an app of N small Secrets, each
# encrypted by our `sops` with an AWS KMS key (so each has its own data key
# and needs its own KMS Decrypt call), against a fake KMS on 127.0.0.1 that
# waits a fixed delay before every answer, as a distant KMS would.
#
#   bench/kms.sh                    # N=200, delays 0, 20 and 200 ms
#   BENCH_DELAYS="20" bench/kms.sh
#
# Environment:
#   BENCH_FILES    number of Secrets (default 200)
#   BENCH_RUNS     timed runs per delay (default 5; median reported)
#   BENCH_DELAYS   KMS delays in ms (default "0 20 200")
#   SOPS_CMP_KEY_CONCURRENCY   passed to the plugin when set (default 16)
#   MOTO           a moto_server to time too, at no added delay (default
#                  .tools/moto/bin/moto_server when present; "" skips it)
#
# The fake (test-support's `fake-kms`) speaks KMS' awsJson1_1 `Encrypt` and
# `Decrypt` and ignores signatures; see test-support/src/fake_kms.rs. Every
# run's output is checked to hold every plaintext, and the fake's call
# count to be one Decrypt per file.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUT="$REPO/bench/out"
mkdir -p "$OUT"
N="${BENCH_FILES:-200}"
RUNS="${BENCH_RUNS:-5}"
DELAYS="${BENCH_DELAYS:-0 20 200}"
MOTO="${MOTO-$REPO/.tools/moto/bin/moto_server}"
ARN="arn:aws:kms:us-east-1:111122223333:key/bench"

echo "== cargo build --release (argocd-sops-plugin, sops, fake-kms)"
cargo build --release -q -p argocd-plugin -p sops-cli -p test-support
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

FAKE_PID=""
MOTO_PID=""
cleanup() {
    [ -z "$FAKE_PID" ] || kill "$FAKE_PID" 2>/dev/null || true
    [ -z "$MOTO_PID" ] || kill "$MOTO_PID" 2>/dev/null || true
}
trap cleanup EXIT

# Starts the fake with a delay; sets ENDPOINT.
start_fake() {
    [ -z "$FAKE_PID" ] || kill "$FAKE_PID" 2>/dev/null || true
    "$BIN/fake-kms" --delay-ms "$1" >"$OUT/fake-kms.endpoint" &
    FAKE_PID=$!
    for _ in $(seq 50); do
        ENDPOINT="$(head -1 "$OUT/fake-kms.endpoint" 2>/dev/null || true)"
        [ -n "$ENDPOINT" ] && return
        sleep 0.1
    done
    echo "fake-kms did not start" >&2
    exit 1
}

aws_env() {
    echo AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true \
        AWS_ENDPOINT_URL_KMS="$1" AWS_ENDPOINT_URL_STS="$1"
}

# The app: N Secrets, each encrypted on its own (own data key) for the key
# ARN at the given endpoint (the fake's ciphertexts do not depend on the
# server instance; moto needs its own key and files).
make_app() { # dir endpoint arn
    local dir="$1" endpoint="$2" arn="$3"
    rm -rf "$dir"
    mkdir -p "$dir/app"
    for i in $(seq -w 1 "$N"); do
        cat >"$dir/plain.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: secret-$i
  namespace: bench
type: Opaque
stringData:
  username: user-$i
  password: kms-bench-password-$i
EOF
        (cd "$dir" && env -i PATH=/usr/bin:/bin HOME="$dir" $(aws_env "$endpoint") \
            "$BIN/sops" encrypt --kms "$arn" --encrypted-regex '^(data|stringData)$' \
            plain.yaml >"app/secret-$i.yaml")
    done
    rm -f "$dir/plain.yaml"
}

plugin_once() { # dir endpoint
    local dir="$1" endpoint="$2"
    local conc=()
    [ -z "${SOPS_CMP_KEY_CONCURRENCY:-}" ] || conc=(SOPS_CMP_KEY_CONCURRENCY="$SOPS_CMP_KEY_CONCURRENCY")
    (cd "$dir/app" && env -i PATH=/usr/bin:/bin TMPDIR=/tmp HOME="$dir" $(aws_env "$endpoint") \
        "${conc[@]}" ARGOCD_APP_NAME=bench ARGOCD_APP_NAMESPACE=bench ARGOCD_APP_SOURCE_PATH=app \
        "$BIN/argocd-sops-plugin" generate >"$OUT/kms-plugin-out.yaml")
}

check_output() {
    for i in $(seq -w 1 "$N"); do
        grep -q "password: kms-bench-password-$i\$" "$OUT/kms-plugin-out.yaml" || {
            echo "plugin output lacks secret-$i's password" >&2
            exit 1
        }
    done
}

decrypts() { curl -s "$ENDPOINT/calls" | sed -n 's/.*"Decrypt":\([0-9]*\).*/\1/p'; }

APP="$OUT/kms-app"
start_fake 0
if [ "$(cat "$APP/.count" 2>/dev/null || true)" != "$N" ]; then
    echo "== encrypting $N Secrets with our sops (AWS KMS key, fake KMS)"
    make_app "$APP" "$ENDPOINT" "$ARN"
    echo "$N" >"$APP/.count"
fi

: >"$OUT/kms-bench.txt"
for delay in $DELAYS; do
    start_fake "$delay"
    plugin_once "$APP" "$ENDPOINT" # warm-up and correctness check
    check_output
    [ "$(decrypts)" = "$N" ] || {
        echo "expected $N Decrypt calls, the fake answered $(decrypts)" >&2
        exit 1
    }
    times=()
    for _ in $(seq "$RUNS"); do
        t0="$(now)"
        plugin_once "$APP" "$ENDPOINT"
        t1="$(now)"
        times+=("$((t1 - t0))")
        check_output
    done
    m="$(printf '%s\n' "${times[@]}" | median)"
    awk -v m="$m" -v n="$N" -v d="$delay" 'BEGIN {
        printf "%-52s %10.1f ms\n", "generate, " n " KMS files, fake KMS +" d " ms/call", m / 1000
    }' | tee -a "$OUT/kms-bench.txt"
done

if [ -n "$MOTO" ] && [ -x "$MOTO" ]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "$MOTO" -H 127.0.0.1 -p "$port" >"$OUT/moto.log" 2>&1 &
    MOTO_PID=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    moto="http://127.0.0.1:$port"
    arn="$(curl -s -X POST "$moto/" -H 'Content-Type: application/x-amz-json-1.1' \
        -H 'X-Amz-Target: TrentService.CreateKey' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=bench/20200101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0' \
        -d '{}' | sed -n 's/.*"Arn": *"\([^"]*\)".*/\1/p')"
    echo "== encrypting $N Secrets for moto"
    make_app "$OUT/kms-app-moto" "$moto" "$arn"
    plugin_once "$OUT/kms-app-moto" "$moto"
    check_output
    times=()
    for _ in $(seq "$RUNS"); do
        t0="$(now)"
        plugin_once "$OUT/kms-app-moto" "$moto"
        t1="$(now)"
        times+=("$((t1 - t0))")
    done
    m="$(printf '%s\n' "${times[@]}" | median)"
    awk -v m="$m" -v n="$N" 'BEGIN {
        printf "%-52s %10.1f ms\n", "generate, " n " KMS files, moto (no added delay)", m / 1000
    }' | tee -a "$OUT/kms-bench.txt"
fi
