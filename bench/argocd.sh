#!/usr/bin/env bash
# Argo CD plugin benchmark (issue 3, spec §3.11): one `argocd-sops-plugin
# generate` over an app of N small encrypted Secrets, against the cost model
# of KSOPS / helm-secrets: the reference sops 3.11.0 run once per file.
#
#   bench/argocd.sh                 # N=200
#   BENCH_FILES=1000 bench/argocd.sh
#
# Environment:
#   SOPS_REFERENCE_BIN  reference sops (default .tools/bin/sops-reference,
#                       from scripts/install-test-tools.sh)
#   PLUGIN              our plugin binary (default: release build, built here)
#   BENCH_FILES         number of Secrets (default 200)
#   BENCH_RUNS          timed runs of each side (default 5; median reported)
#
# The Secrets (about 0.5 KiB each, stringData encrypted with
# --encrypted-regex) are encrypted once by the reference sops into
# bench/out/argocd-app/ (gitignored) and reused while BENCH_FILES is the same.
# Both sides decrypt exactly these files; the plugin's output is checked to
# contain every plaintext value.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUT="$REPO/bench/out"
mkdir -p "$OUT"
N="${BENCH_FILES:-200}"
RUNS="${BENCH_RUNS:-5}"

REF="${SOPS_REFERENCE_BIN:-$REPO/.tools/bin/sops-reference}"
if [ ! -x "$REF" ]; then
    echo "reference sops not found at $REF: run scripts/install-test-tools.sh" >&2
    exit 1
fi
command -v age-keygen >/dev/null || {
    echo "age-keygen not found: run scripts/install-test-tools.sh" >&2
    exit 1
}
if [ -z "${PLUGIN:-}" ]; then
    echo "== cargo build --release -p argocd-plugin"
    cargo build --release -q -p argocd-plugin
    PLUGIN="${CARGO_TARGET_DIR:-$REPO/target}/release/argocd-sops-plugin"
fi

KEY="$OUT/argocd-age-key.txt"
[ -f "$KEY" ] || age-keygen -o "$KEY" 2>/dev/null
RECIPIENT="$(age-keygen -y "$KEY")"
APP="$OUT/argocd-app"
if [ "$(cat "$APP/.count" 2>/dev/null || true)" != "$N:$RECIPIENT" ]; then
    echo "== encrypting $N Secrets with the reference sops"
    rm -rf "$APP"
    mkdir -p "$APP/app"
    for i in $(seq -w 1 "$N"); do
        cat >"$APP/plain.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: secret-$i
  namespace: bench
  labels:
    app.kubernetes.io/name: bench
type: Opaque
stringData:
  username: user-$i
  password: bench-password-value-$i
  url: postgres://db-$i.internal:5432/app
EOF
        (cd "$APP" && SOPS_AGE_RECIPIENTS="" "$REF" encrypt --age "$RECIPIENT" \
            --encrypted-regex '^(data|stringData)$' plain.yaml >"app/secret-$i.yaml")
    done
    rm -f "$APP/plain.yaml"
    echo "$N:$RECIPIENT" >"$APP/.count"
fi

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

plugin_once() {
    (cd "$APP/app" && env -i PATH=/usr/bin:/bin TMPDIR=/tmp SOPS_AGE_KEY_FILE="$KEY" \
        ARGOCD_APP_NAME=bench ARGOCD_APP_NAMESPACE=bench ARGOCD_APP_SOURCE_PATH=app \
        "$PLUGIN" generate >"$OUT/argocd-plugin-out.yaml")
}
sops_per_file() {
    for f in "$APP"/app/secret-*.yaml; do
        SOPS_AGE_KEY_FILE="$KEY" "$REF" decrypt "$f" >/dev/null
    done
}

plugin_once # warm-up and correctness check
for i in 1 "$N"; do
    i="$(printf "%0${#N}d" "$i")"
    grep -q "bench-password-value-$i" "$OUT/argocd-plugin-out.yaml" || {
        echo "plugin output lacks secret-$i's value" >&2
        exit 1
    }
done
docs="$(grep -c '^kind: Secret' "$OUT/argocd-plugin-out.yaml")"
[ "$docs" -eq "$N" ] || {
    echo "plugin emitted $docs Secrets, expected $N" >&2
    exit 1
}

echo "== timing: $N files, $RUNS runs each (median)"
plugin_times=()
sops_times=()
for _ in $(seq "$RUNS"); do
    t0="$(now)"
    sops_per_file
    t1="$(now)"
    plugin_once
    t2="$(now)"
    sops_times+=("$((t1 - t0))")
    plugin_times+=("$((t2 - t1))")
done
p="$(printf '%s\n' "${plugin_times[@]}" | median)"
s="$(printf '%s\n' "${sops_times[@]}" | median)"
rss="$(cd "$APP/app" && env -i PATH=/usr/bin:/bin TMPDIR=/tmp SOPS_AGE_KEY_FILE="$KEY" \
    ARGOCD_APP_SOURCE_PATH=app /usr/bin/time -f %M "$PLUGIN" generate 2>&1 >/dev/null | tail -1 || echo "?")"
awk -v p="$p" -v s="$s" -v n="$N" -v rss="$rss" 'BEGIN {
    printf "%-44s %10.1f ms\n", "argocd-sops-plugin generate (" n " files)", p / 1000
    printf "%-44s %10.1f ms\n", "reference sops decrypt, once per file", s / 1000
    printf "%-44s %10.1fx\n", "speed-up", s / p
    printf "%-44s %10s KiB\n", "plugin peak RSS", rss
}' | tee "$OUT/argocd-bench.txt"
