#!/usr/bin/env bash
# Compares our `sops` with the reference sops 3.11.0 (and, when ROPS_BIN
# names it, with rops, the other Rust implementation): wall time of whole
# `decrypt` and `encrypt` processes and their peak RSS, on generated YAML and
# JSON files (bench/gen.py: nested maps, lists, strings/ints/bools, comments
# in YAML) of about 1 KB, 2 MB, 5 MB and 20 MB of plaintext, all in
# bench/out/ (gitignored).
#
#   bench/compare.sh                             # 1k, 2m and 5m (about 10 minutes)
#   BENCH_SIZES="1k 2m 5m 20m" bench/compare.sh  # adds 20m: see below
#   ROPS_BIN=/path/to/rops bench/compare.sh      # adds a rops column
#
# The 5m files are issue 16's rows: 5 MB of YAML plaintext is a 20 MB
# encrypted file (the reference needs about 10 s to decrypt it), the JSON
# plaintext is 4.6 MB and its encryption 17.5 MB.
# The 20 MB files are opt-in: sops 3.11 itself is superlinear there (on a
# 2-core machine: about 5 minutes per YAML encrypt or decrypt and more than
# 15 minutes per JSON encrypt, 1.7-2.2 GB RSS), so even one run takes most
# of an hour. Use BENCH_RUNS_20M=1 (the default) for it.
#
# Environment:
#   SOPS_REFERENCE_BIN  reference sops (default .tools/bin/sops-reference,
#                       from scripts/install-test-tools.sh)
#   OURS                our binary (default: release build, built here)
#   ROPS_BIN            rops 0.1.x (optional; build it from its repository,
#                       `cargo build --release -p rops-cli`). It refuses a
#                       file argument when stdin is not a terminal, so it runs
#                       under `script` (a pty); that costs it about 2 ms. Its
#                       decryption drops comments, so its output is not
#                       compared with the plaintext.
#   BENCH_SIZES         subset of "1k 2m 5m 20m" (default "1k 2m 5m")
#   BENCH_RUNS_1K / _2M / _5M / _20M   timed runs per binary (default 10 / 3 / 3 / 1)
#
# Timing: hyperfine (--runs N, one warm-up) when installed, otherwise an
# interleaved loop (sops, ours, sops, ours, ...) timed with $EPOCHREALTIME;
# the median is reported. Peak RSS: `/usr/bin/time -f %M`, the maximum over
# the runs of the loop (or over two extra runs with hyperfine).
# All binaries decrypt the same file (the reference's encryption; each of
# our decrypted outputs is checked against the reference's, byte for byte)
# and encrypt the same plaintext to the same age recipient.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUT="$REPO/bench/out"
mkdir -p "$OUT"

REF="${SOPS_REFERENCE_BIN:-$REPO/.tools/bin/sops-reference}"
if [ ! -x "$REF" ]; then
    echo "reference sops not found at $REF: run scripts/install-test-tools.sh" >&2
    exit 1
fi
for tool in age-keygen python3; do
    command -v "$tool" >/dev/null || {
        echo "$tool not found: run scripts/install-test-tools.sh" >&2
        exit 1
    }
done
if [ ! -x /usr/bin/time ]; then
    echo "== installing /usr/bin/time (Debian package time)"
    apt-get install -y -qq time >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null && apt-get install -y -qq time >/dev/null
    }
fi

if [ -z "${OURS:-}" ]; then
    echo "== cargo build --release -p sops-cli"
    cargo build --release -q -p sops-cli --bin sops
    OURS="${CARGO_TARGET_DIR:-$REPO/target}/release/sops"
fi

KEY="$OUT/bench-age-key.txt"
[ -f "$KEY" ] || age-keygen -o "$KEY" 2>/dev/null
RECIPIENT="$(sed -n 's/^# public key: //p' "$KEY")"

# Clean environment for every timed process.
ENVV=(env -i "PATH=$PATH" "HOME=$OUT" "SOPS_AGE_KEY_FILE=$KEY")

# rops under a pty (see ROPS_BIN above): bench/out/rops-run.sh OUTFILE RSSFILE ARGS...
ROPS=()
if [ -n "${ROPS_BIN:-}" ]; then
    command -v script >/dev/null || {
        echo "ROPS_BIN needs script(1) (Debian package bsdutils)" >&2
        exit 1
    }
    cat >"$OUT/rops-run.sh" <<'WRAP'
#!/usr/bin/env bash
out="$1" rss="$2"
shift 2
exec script -qec "$(printf '%q ' /usr/bin/time -o "$rss" -f %M "$ROPS_BIN" "$@") >$(printf '%q' "$out")" /dev/null
WRAP
    chmod +x "$OUT/rops-run.sh"
    ROPS=(env -i "PATH=$PATH" "HOME=$OUT" "ROPS_BIN=$ROPS_BIN"
        "ROPS_AGE=$(grep '^AGE-SECRET-KEY' "$KEY")" "$OUT/rops-run.sh")
fi

declare -A TARGET=([1k]=1024 [2m]=2000000 [5m]=5000000 [20m]=20000000)
declare -A RUNS=([1k]="${BENCH_RUNS_1K:-10}" [2m]="${BENCH_RUNS_2M:-3}" [5m]="${BENCH_RUNS_5M:-3}" [20m]="${BENCH_RUNS_20M:-1}")
SIZES="${BENCH_SIZES:-1k 2m 5m}"

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# measure RUNS OUTFILE EXPECTED -- CMD_REF... -- CMD_OURS...
# (EXPECTED: file every output must equal, "reference" for ours' output to
# equal the reference's, or "" for no check)
# sets T_REF T_OURS (seconds, median) and M_REF M_OURS (peak RSS KiB, max)
measure() {
    local runs="$1" outfile="$2" expected="$3"
    shift 3
    [ "$1" = "--" ] && shift
    local -a cref=() cours=()
    while [ "$1" != "--" ]; do cref+=("$1"); shift; done
    shift
    cours=("$@")
    local tref=() tours=() mref=0 mours=0 i t0 t1 m
    local rss_runs="$runs"
    if command -v hyperfine >/dev/null; then
        local json="$outfile.hyperfine.json"
        hyperfine --style none --runs "$runs" --warmup 1 -N --export-json "$json" \
            --command-name sops "${cref[*]}" --command-name ours "${cours[*]}" >/dev/null
        T_REF="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$json")"
        T_OURS="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][1]["median"])' "$json")"
        rss_runs=2
    fi
    for ((i = 0; i < rss_runs; i++)); do
        for which in ref ours; do
            local -n cmd="c$which"
            t0=$EPOCHREALTIME
            /usr/bin/time -o "$outfile.rss" -f %M "${cmd[@]}" >"$outfile" 2>"$outfile.err" || {
                echo "FAILED: ${cmd[*]}" >&2
                cat "$outfile.err" >&2
                exit 1
            }
            t1=$EPOCHREALTIME
            if [ "$expected" = reference ]; then
                # The reference's output is the expected one for ours.
                if [ "$which" = ref ]; then
                    cp "$outfile" "$outfile.reference"
                elif ! cmp -s "$outfile" "$outfile.reference"; then
                    echo "FAILED: output of ${cmd[*]} differs from the reference's" >&2
                    exit 1
                fi
            elif [ -n "$expected" ] && ! cmp -s "$outfile" "$expected"; then
                echo "FAILED: output of ${cmd[*]} differs from $expected" >&2
                exit 1
            fi
            m="$(tail -n1 "$outfile.rss")"
            if [ "$which" = ref ]; then
                tref+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
                ((m > mref)) && mref=$m
            else
                tours+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
                ((m > mours)) && mours=$m
            fi
            unset -n cmd
        done
    done
    if ! command -v hyperfine >/dev/null; then
        T_REF="$(printf '%s\n' "${tref[@]}" | median)"
        T_OURS="$(printf '%s\n' "${tours[@]}" | median)"
    fi
    M_REF=$mref
    M_OURS=$mours
}

# measure_rops RUNS ARGS... : rops's median wall time and peak RSS over RUNS
# runs (after one warm-up), in T_ROPS / M_ROPS ("-" without ROPS_BIN).
measure_rops() {
    local runs="$1" i t0 t1 m times=()
    shift
    T_ROPS=- M_ROPS=-
    [ "${#ROPS[@]}" -gt 0 ] || return 0
    M_ROPS=0
    for ((i = 0; i <= runs; i++)); do
        t0=$EPOCHREALTIME
        "${ROPS[@]}" "$OUT/rops.out" "$OUT/rops.rss" "$@" </dev/null >/dev/null 2>"$OUT/rops.err" || {
            echo "FAILED: rops $*" >&2
            cat "$OUT/rops.err" "$OUT/rops.out" >&2
            exit 1
        }
        t1=$EPOCHREALTIME
        [ "$i" -eq 0 ] && continue
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
        m="$(tail -n1 "$OUT/rops.rss")"
        ((m > M_ROPS)) && M_ROPS=$m
    done
    T_ROPS="$(printf '%s\n' "${times[@]}" | median)"
}

ROWS=()
for size in $SIZES; do
    target="${TARGET[$size]:?unknown size $size (use 1k 2m 20m)}"
    runs="${RUNS[$size]}"
    if [ ! -f "$OUT/plain-$size.yaml" ] || [ ! -f "$OUT/plain-$size.json" ]; then
        echo "== generating $size plaintext files"
        python3 bench/gen.py "$OUT" "plain-$size" "$target"
    fi
    for ext in yaml json; do
        plain="$OUT/plain-$size.$ext"
        bytes="$(wc -c <"$plain")"
        echo "== $size $ext ($bytes bytes, $runs runs)"
        ref_enc="$OUT/enc-$size.ref.$ext"
        ours_enc="$OUT/enc-$size.ours.$ext"
        "${ENVV[@]}" "$REF" encrypt --age "$RECIPIENT" "$plain" >"$ref_enc"
        "${ENVV[@]}" "$OURS" encrypt --age "$RECIPIENT" "$plain" >"$ours_enc"
        if [ "$size" != 20m ]; then
            # Sanity: the reference reads our file as we do (skipped at 20 MB:
            # minutes). Not against the plaintext: both write go-yaml's
            # canonical form of it (`1.0` becomes `1`).
            cmp -s <("${ENVV[@]}" "$REF" decrypt "$ours_enc") <("${ENVV[@]}" "$OURS" decrypt "$ours_enc") || {
                echo "reference and ours decrypt our $size $ext encryption differently" >&2
                exit 1
            }
        fi

        measure "$runs" "$OUT/out-$size-dec.$ext" reference -- \
            "${ENVV[@]}" "$REF" decrypt "$ref_enc" -- \
            "${ENVV[@]}" "$OURS" decrypt "$ref_enc"
        measure_rops "$runs" decrypt "$ref_enc"
        ROWS+=("$size $ext decrypt $T_REF $T_OURS $M_REF $M_OURS $T_ROPS $M_ROPS")

        measure "$runs" "$OUT/out-$size-enc.$ext" "" -- \
            "${ENVV[@]}" "$REF" encrypt --age "$RECIPIENT" "$plain" -- \
            "${ENVV[@]}" "$OURS" encrypt --age "$RECIPIENT" "$plain"
        measure_rops "$runs" encrypt --age "$RECIPIENT" "$plain"
        ROWS+=("$size $ext encrypt $T_REF $T_OURS $M_REF $M_OURS $T_ROPS $M_ROPS")
    done
done

echo
echo "== $(nproc)-core $(uname -m), $(date -u +%Y-%m-%d); sizes are of the plaintext (encrypted files: ~4x)"
echo "| size | operation | sops time | rops time | ours time | vs sops | vs rops | sops RSS | rops RSS | ours RSS |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
    # shellcheck disable=SC2086
    set -- $row
    awk -v size="$1" -v ext="$2" -v op="$3" -v tr="$4" -v to="$5" -v mr="$6" -v mo="$7" \
        -v tp="$8" -v mp="$9" 'BEGIN {
        rops = (tp == "-") ? "-" : sprintf("%.3f s", tp)
        vrops = (tp == "-" || to <= 0) ? "-" : sprintf("%.1fx", tp / to)
        mrops = (mp == "-") ? "-" : sprintf("%.1f MiB", mp / 1024)
        printf "| %s %s | %s | %.3f s | %s | %.3f s | %.1fx | %s | %.1f MiB | %s | %.1f MiB |\n",
            size, ext, op, tr, rops, to, (to > 0 ? tr / to : 0), vrops, mr / 1024, mrops, mo / 1024
    }'
done
echo
echo "vs sops / vs rops = their time / ours (higher is better for ours); RSS = peak resident set"
