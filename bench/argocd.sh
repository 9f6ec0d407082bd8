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
#   HELM                helm for the Helm case (default .tools/bin/helm4)
#   BENCH_HELM          0: skip the Helm cases
#   BENCH_HELM_LARGE    0: skip the large values file (below)
#
# The Secrets (about 0.5 KiB each, stringData encrypted with
# --encrypted-regex) are encrypted once by the reference sops into
# bench/out/argocd-app/ (gitignored) and reused while BENCH_FILES is the same.
# Both sides decrypt exactly these files; the plugin's output is checked to
# contain every plaintext value.
#
# Helm case (spec §3.11: overhead over `helm template` < 100 ms): a chart
# with one values file encrypted by the reference sops and one plain, timed
# three ways: `helm template` on plaintext values (the tool's own time), the
# helm-secrets cost model (reference sops decrypts the values to a temp file,
# then `helm template`), and one `argocd-sops-plugin generate`.
#
# Large values case (issue 16): the same chart with one values file of 5 MB
# plaintext (bench/gen.py), 20 MB encrypted by the reference sops: helm
# template on the plaintext against the plugin decrypting it in helm mode
# (3 runs each, median), and one run of the helm-secrets cost model.
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

# --- Helm: overhead over helm template --------------------------------------
# BENCH_HELM=0 stops here (bench/small.sh wants the directory row only).
[ "${BENCH_HELM:-1}" = 0 ] && exit 0
HELM="${HELM:-$REPO/.tools/bin/helm4}"
if [ ! -x "$HELM" ]; then
    echo "helm not found at $HELM: run scripts/install-test-tools.sh" >&2
    exit 1
fi
CHART="$OUT/argocd-helm/chart"
rm -rf "$OUT/argocd-helm"
mkdir -p "$CHART/templates"
printf 'apiVersion: v2\nname: bench\nversion: 0.1.0\n' >"$CHART/Chart.yaml"
printf 'replicas: 1\ndb:\n  host: localhost\n' >"$CHART/values.yaml"
cat >"$CHART/templates/secret.yaml" <<'EOF'
{{- range $i, $e := until 20 }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ $.Release.Name }}-{{ $i }}
stringData:
  password: {{ $.Values.db.password | quote }}
  host: {{ $.Values.db.host | quote }}
{{- end }}
EOF
printf 'db:\n  password: helm-bench-password\n  user: app\n' >"$OUT/argocd-helm/plain-secrets.yaml"
(cd "$OUT/argocd-helm" && SOPS_AGE_RECIPIENTS="" "$REF" encrypt --age "$RECIPIENT" \
    plain-secrets.yaml >"$CHART/secrets.yaml")
printf 'db:\n  host: db.prod\n' >"$CHART/prod.yaml"

helm_alone() {
    "$HELM" template bench "$CHART" -f "$OUT/argocd-helm/plain-secrets.yaml" \
        -f "$CHART/prod.yaml" >/dev/null
}
helm_secrets_model() {
    local tmp
    tmp="$(mktemp)"
    SOPS_AGE_KEY_FILE="$KEY" "$REF" decrypt "$CHART/secrets.yaml" >"$tmp"
    "$HELM" template bench "$CHART" -f "$tmp" -f "$CHART/prod.yaml" >/dev/null
    rm -f "$tmp"
}
# plugin_helm OUTFILE VALUES_FILE... : one generate in Helm mode (the file
# size limit raised for the 20 MB values file; 5 MiB by default).
plugin_helm() {
    local out="$1" files
    shift
    files="$(printf '"%s",' "$@")"
    (cd "$CHART" && env -i PATH=/usr/bin:/bin TMPDIR=/tmp SOPS_AGE_KEY_FILE="$KEY" \
        SOPS_CMP_MAX_FILE_BYTES=67108864 \
        SOPS_CMP_HELM_BIN="$HELM" ARGOCD_APP_NAME=bench ARGOCD_APP_NAMESPACE=bench \
        ARGOCD_APP_SOURCE_PATH=chart \
        ARGOCD_APP_PARAMETERS="[{\"name\":\"helm-values-files\",\"array\":[${files%,}]}]" \
        "$PLUGIN" generate >"$out")
}
helm_plugin() { plugin_helm "$OUT/argocd-helm-out.yaml" secrets.yaml prod.yaml; }
helm_plugin
grep -q helm-bench-password "$OUT/argocd-helm-out.yaml" || {
    echo "plugin helm output lacks the decrypted value" >&2
    exit 1
}
HRUNS=$((RUNS * 4))
echo "== helm: $HRUNS runs each (median)"
alone=()
model=()
plugin=()
for _ in $(seq "$HRUNS"); do
    t0="$(now)"
    helm_alone
    t1="$(now)"
    helm_secrets_model
    t2="$(now)"
    helm_plugin
    t3="$(now)"
    alone+=("$((t1 - t0))")
    model+=("$((t2 - t1))")
    plugin+=("$((t3 - t2))")
done
a="$(printf '%s\n' "${alone[@]}" | median)"
m="$(printf '%s\n' "${model[@]}" | median)"
p="$(printf '%s\n' "${plugin[@]}" | median)"
awk -v a="$a" -v m="$m" -v p="$p" -v h="$("$HELM" version --short)" 'BEGIN {
    printf "%-44s %10.1f ms\n", "helm template alone (" h ")", a / 1000
    printf "%-44s %10.1f ms\n", "reference sops decrypt + helm template", m / 1000
    printf "%-44s %10.1f ms\n", "argocd-sops-plugin generate (helm mode)", p / 1000
    printf "%-44s %10.1f ms\n", "plugin overhead over helm template", (p - a) / 1000
}' | tee -a "$OUT/argocd-bench.txt"

[ "${BENCH_HELM_LARGE:-1}" = 0 ] && exit 0
LARGE="$OUT/argocd-helm-large"
mkdir -p "$LARGE"
if [ ! -f "$LARGE/values.enc.yaml" ]; then
    echo "== large values: generating 5 MB of plaintext, encrypting it with the reference"
    python3 bench/gen.py "$LARGE" values 5000000
    (cd "$LARGE" && SOPS_AGE_RECIPIENTS="" "$REF" encrypt --age "$RECIPIENT" \
        values.yaml >values.enc.yaml)
fi
cp "$LARGE/values.enc.yaml" "$CHART/large.enc.yaml"
# helm refuses chart files over 5 MiB; the values file is given with -f.
echo large.enc.yaml >"$CHART/.helmignore"
large_alone() {
    "$HELM" template bench "$CHART" -f "$LARGE/values.yaml" \
        -f "$OUT/argocd-helm/plain-secrets.yaml" >/dev/null
}
large_plugin() { plugin_helm "$OUT/argocd-helm-large-out.yaml" large.enc.yaml secrets.yaml; }
large_plugin
grep -q helm-bench-password "$OUT/argocd-helm-large-out.yaml" || {
    echo "plugin helm output (large values) lacks the decrypted value" >&2
    exit 1
}
echo "== helm with a 20 MB encrypted values file: 3 runs each (median)"
alone=()
plugin=()
for _ in 1 2 3; do
    t0="$(now)"
    large_alone
    t1="$(now)"
    large_plugin
    t2="$(now)"
    alone+=("$((t1 - t0))")
    plugin+=("$((t2 - t1))")
done
t0="$(now)"
tmp="$(mktemp)"
SOPS_AGE_KEY_FILE="$KEY" "$REF" decrypt "$CHART/large.enc.yaml" >"$tmp"
"$HELM" template bench "$CHART" -f "$tmp" -f "$OUT/argocd-helm/plain-secrets.yaml" >/dev/null
rm -f "$tmp"
m="$(($(now) - t0))"
a="$(printf '%s\n' "${alone[@]}" | median)"
p="$(printf '%s\n' "${plugin[@]}" | median)"
awk -v a="$a" -v m="$m" -v p="$p" 'BEGIN {
    printf "%-44s %10.1f ms\n", "helm template alone, 5 MB plaintext values", a / 1000
    printf "%-44s %10.1f ms\n", "reference sops decrypt + helm template (1 run)", m / 1000
    printf "%-44s %10.1f ms\n", "argocd-sops-plugin generate, 20 MB encrypted", p / 1000
    printf "%-44s %10.1f ms\n", "plugin overhead over helm template", (p - a) / 1000
}' | tee -a "$OUT/argocd-bench.txt"
