#!/usr/bin/env bash
# Whole-process cost of the small cases (issue 16): one small Secret
# decrypted and encrypted by our `sops` and by the reference sops 3.11.0,
# next to an empty process (`/bin/true`: what exec + the dynamic loader
# cost on this machine; every command runs under the same `env -i`),
# then the Argo CD plugin row (200 Secrets in one
# `generate`, from bench/argocd.sh without its Helm part).
#
#   bench/small.sh
#   BENCH_RUNS_SMALL=500 bench/small.sh
#
# Environment:
#   SOPS_REFERENCE_BIN  reference sops (default .tools/bin/sops-reference)
#   OURS                our `sops` (default: release build, built here)
#   PLUGIN              our plugin (default: release build, built by argocd.sh)
#   BENCH_RUNS_SMALL    timed runs per command (default 300)
#   BENCH_FILES         Secrets in the plugin row (default 200)
#
# Timing: hyperfine (-N, 20 warm-ups, mean and median) when installed,
# otherwise an interleaved loop timed with $EPOCHREALTIME (median). The
# machine's noise matters at this scale: compare ours with `/bin/true` from
# the same run, and prefer `valgrind --tool=callgrind` instruction counts
# when judging a change (see the README's performance section).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUT="$REPO/bench/out"
mkdir -p "$OUT/small"
RUNS="${BENCH_RUNS_SMALL:-300}"

REF="${SOPS_REFERENCE_BIN:-$REPO/.tools/bin/sops-reference}"
if [ ! -x "$REF" ]; then
    echo "reference sops not found at $REF: run scripts/install-test-tools.sh" >&2
    exit 1
fi
command -v age-keygen >/dev/null || {
    echo "age-keygen not found: run scripts/install-test-tools.sh" >&2
    exit 1
}
if [ -z "${OURS:-}" ]; then
    echo "== cargo build --release -p sops-cli"
    cargo build --release -q -p sops-cli --bin sops
    OURS="${CARGO_TARGET_DIR:-$REPO/target}/release/sops"
fi

DIR="$OUT/small"
KEY="$DIR/key.txt"
[ -f "$KEY" ] || age-keygen -o "$KEY" 2>/dev/null
RECIPIENT="$(age-keygen -y "$KEY")"
# In sops' canonical layout (4-space indentation), so that both decrypt it
# back to these very bytes.
cat >"$DIR/secret.plain.yaml" <<'EOF'
apiVersion: v1
kind: Secret
metadata:
    name: secret-1
    namespace: bench
type: Opaque
stringData:
    username: user-1
    password: bench-password-value-1
    url: postgres://db-1.internal:5432/app
EOF
# No .sops.yaml above bench/out/small is expected; HOME is the bench dir,
# so no user config is read either.
ENVV=(env -i "PATH=/usr/bin:/bin" "HOME=$DIR" "SOPS_AGE_KEY_FILE=$KEY")
(cd "$DIR" && "${ENVV[@]}" "$REF" encrypt --age "$RECIPIENT" secret.plain.yaml >secret.yaml)
for bin in "$REF" "$OURS"; do
    (cd "$DIR" && "${ENVV[@]}" "$bin" decrypt secret.yaml | cmp -s - secret.plain.yaml) || {
        echo "$bin: decrypt of the small Secret differs from the plaintext" >&2
        exit 1
    }
done

# time_cmd NAME CMD... : prints "NAME mean_ms median_ms"
now() { echo "${EPOCHREALTIME/./}"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ROWS=()
if command -v hyperfine >/dev/null; then
    json="$DIR/hyperfine.json"
    (cd "$DIR" && hyperfine -N --style none --warmup 20 --runs "$RUNS" --export-json "$json" \
        --command-name "empty process (/bin/true)" "${ENVV[*]} /bin/true" \
        --command-name "sops decrypt (reference)" "${ENVV[*]} $REF decrypt secret.yaml" \
        --command-name "sops decrypt (ours)" "${ENVV[*]} $OURS decrypt secret.yaml" \
        --command-name "sops encrypt (reference)" "${ENVV[*]} $REF encrypt --age $RECIPIENT secret.plain.yaml" \
        --command-name "sops encrypt (ours)" "${ENVV[*]} $OURS encrypt --age $RECIPIENT secret.plain.yaml" \
        >/dev/null)
    mapfile -t ROWS < <(python3 -c '
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%s\t%.2f\t%.2f" % (r["command"], r["mean"] * 1000, r["median"] * 1000))
' "$json")
else
    declare -A T=()
    names=(true ref-dec ours-dec ref-enc ours-enc)
    for _ in $(seq "$RUNS"); do
        for n in "${names[@]}"; do
            t0="$(now)"
            case $n in
            true) "${ENVV[@]}" /bin/true ;;
            ref-dec) (cd "$DIR" && "${ENVV[@]}" "$REF" decrypt secret.yaml >/dev/null) ;;
            ours-dec) (cd "$DIR" && "${ENVV[@]}" "$OURS" decrypt secret.yaml >/dev/null) ;;
            ref-enc) (cd "$DIR" && "${ENVV[@]}" "$REF" encrypt --age "$RECIPIENT" secret.plain.yaml >/dev/null) ;;
            ours-enc) (cd "$DIR" && "${ENVV[@]}" "$OURS" encrypt --age "$RECIPIENT" secret.plain.yaml >/dev/null) ;;
            esac
            T[$n]+="$(($(now) - t0)) "
        done
    done
    labels=("empty process (/bin/true)" "sops decrypt (reference)" "sops decrypt (ours)" "sops encrypt (reference)" "sops encrypt (ours)")
    for i in "${!names[@]}"; do
        m="$(tr ' ' '\n' <<<"${T[${names[$i]}]}" | grep . | median)"
        ROWS+=("$(printf '%s\t-\t%.2f' "${labels[$i]}" "$(awk -v m="$m" 'BEGIN {print m / 1000}')")")
    done
fi

echo "== one small Secret ($(wc -c <"$DIR/secret.yaml") bytes encrypted), $RUNS runs each"
echo "| command | mean | median |"
echo "|---|---:|---:|"
for row in "${ROWS[@]}"; do
    IFS=$'\t' read -r name mean med <<<"$row"
    echo "| $name | $mean ms | $med ms |"
done | tee "$DIR/small-bench.md"

echo
echo "== Argo CD plugin: ${BENCH_FILES:-200} Secrets in one generate (bench/argocd.sh)"
BENCH_HELM=0 bench/argocd.sh
