#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets, fuzz/corpus/<target>/, from
# testdata/ (the committed corpus is this script's output; run it again
# after adding test files and commit the result). Files are named by their
# content's SHA-1, as libFuzzer names the inputs it adds, so running the
# script twice changes nothing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
CORPUS=fuzz/corpus
V=testdata/vectors

# seed TARGET FILE...: copies each file into the target's corpus.
seed() {
    local target=$1
    shift
    mkdir -p "$CORPUS/$target"
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        cp "$f" "$CORPUS/$target/$(sha1sum <"$f" | cut -c1-40)"
    done
}

# seed_text TARGET TEXT: one corpus file holding TEXT.
seed_text() {
    local tmp
    tmp=$(mktemp)
    printf '%s' "$2" >"$tmp"
    seed "$1" "$tmp"
    rm -f "$tmp"
}

mapfile -t yaml < <(find testdata -name '*.yaml' -not -path 'testdata/bad-inputs/*' -not -name '*.sops.yaml' | sort)
mapfile -t json < <(find testdata -name '*.json' -not -path 'testdata/bad-inputs/*' -not -name vectors.json | sort)
mapfile -t dotenv < <(find testdata -name '*.env' -not -path 'testdata/bad-inputs/*' | sort)
mapfile -t ini < <(find testdata -name '*.ini' -not -path 'testdata/bad-inputs/*' | sort)
mapfile -t configs < <(find testdata -name '*.sops.yaml' -o -name '.sops.yaml' | sort)
mapfile -t encrypted < <(find "$V" -name '*.enc.*' | sort)

seed store_yaml "${yaml[@]}"
seed store_json "${json[@]}"
seed store_dotenv "${dotenv[@]}"
seed store_ini "${ini[@]}"
# The binary store reads anything; its encrypted form is JSON.
seed store_binary "$V"/binary.*.bin "$V"/dotenv.plain.env
seed sops_config "${configs[@]}"
seed plugin_checks "${encrypted[@]}" $(find testdata/argocd -type f | sort)

# enc_value: a few `ENC[…]` strings as sops wrote them, and "type\nplaintext"
# pairs for the encrypt/decrypt round trip.
for f in "${encrypted[@]}"; do
    grep -o 'ENC\[AES256_GCM,[^]]*\]' "$f" | head -n 3
done | sort -u | head -n 24 | while IFS= read -r enc; do
    seed_text enc_value "$enc"
done
for pair in 'str
hunter2' 'int
-42' 'float
1.5e300' 'bool
True' 'time
2024-01-02T03:04:05.123456789+01:00' 'comment
 a note' 'bytes
x'; do
    seed_text enc_value "$pair"
done

# metadata: the `sops:` block of each YAML vector, dedented, so the target
# reads it as the block itself; the JSON vectors' whole files (their
# documents are not the block, but reach the same reader's error paths).
for f in "$V"/*.enc.yaml; do
    tmp=$(mktemp)
    awk '/^sops:/{on=1; next} on && /^[^ ]/{on=0} on{sub(/^    /, ""); print}' "$f" >"$tmp"
    seed metadata "$tmp"
    rm -f "$tmp"
done
seed metadata "$V"/*.enc.json

# extract_path: a path line, then a YAML document it walks into.
for pair in '["db"]["password"]' '["list"][1]' '["a"]["b"][0]["c"]' '[0]' '["x"]["y"]'; do
    for f in "$V"/yaml_structure.plain.yaml "$V"/yaml_types.plain.yaml "$V"/multidoc.plain.yaml; do
        seed_text extract_path "$pair
$(cat "$f")
"
    done
done
seed_text extract_path '["db"]["password"]
db:
    user: admin
    password: hunter2
list:
    - first
    - second
'

# Inputs that made a target fail once (kept so that every run retries them).
seed_text store_ini '[s]
colon: sep"""arate`
a = `x`y` ; c
'
seed_text store_ini 'i"`=
'
seed_text store_yaml 'e:
- r: 1 # c
'
seed_text store_yaml 'a:
- - # c
  - x
'
seed_text store_json '{"a": 1, "sops": {"kms": [{"arn": "x", "context": {"n1": 120.0}}], "mac": "x", "version": "3.11.0"}}'

for d in "$CORPUS"/*/; do
    printf '%s: %s files\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
