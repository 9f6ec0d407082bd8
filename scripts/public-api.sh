#!/usr/bin/env bash
# sops-core's public API, one line per item, compared with the committed
# snapshot sops-core/public-api.txt, so that an accidental breaking change
# (an item removed, renamed or moved, a signature changed, a derive or an
# auto trait lost) fails the test command instead of reaching users.
#
#   scripts/public-api.sh           compare; exit 1 with the difference
#   scripts/public-api.sh --bless   write the snapshot (an intended change;
#                                   note it in CHANGELOG.md)
#   scripts/public-api.sh --print   print the current API, touch nothing
#
# Why not cargo-semver-checks or cargo-public-api: neither is installed, and
# building them from source on every CI run costs several minutes on our two
# cores, more than this whole check. Both read the same rustdoc JSON this
# script reads; this script only lists items and compares text, it does not
# judge whether a change is major or minor (a human does, from the diff).
#
# How: rustdoc's JSON output (unstable, so RUSTC_BOOTSTRAP=1 on our stable
# toolchain) for sops-core with its public features, built in a target
# directory of its own (target/public-api: the bootstrap flag must not
# invalidate the normal build's cache). The first run checks every
# dependency once (about 10 CPU-minutes, like a `cargo check`); after that
# each run is sops-core's rustdoc alone, about 20 CPU-seconds. It needs no
# network (--offline: the dependencies are already fetched by the build).
# Items reachable from the crate root are listed with re-exports resolved;
# doc(hidden) items are left out, and so is everything behind the
# `internals` feature, which is not turned on here.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# The features a user of the library may turn on: every feature except
# `default` and `internals` (the binaries' access to the crate's insides),
# read from sops-core/Cargo.toml so a new keystore needs no edit here.
FEATURES="$(cargo metadata --offline --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
pkg = next(p for p in meta["packages"] if p["name"] == "sops-core")
print(" ".join(sorted(f for f in pkg["features"] if f not in ("default", "internals"))))')"

mode="check"
case "${1:-}" in
    --bless) mode="bless" ;;
    --print) mode="print" ;;
    "") ;;
    *) echo "usage: scripts/public-api.sh [--bless|--print]" >&2; exit 2 ;;
esac

TARGET="$REPO/target/public-api"
# First the HTML docs as a library user (and docs.rs) builds them, without
# `internals`, warnings denied: a broken link to an item that is private
# there, or a missing doc (`deny(missing_docs)`), fails here even when the
# workspace's `cargo doc` (with `internals`) is clean. Same target, same
# RUSTC_BOOTSTRAP as the JSON build below, so the dependencies are checked
# once for both (a different RUSTC_BOOTSTRAP would rebuild them all).
if [ "$mode" != "print" ]; then
    RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="-D warnings" cargo doc --offline --quiet -p sops-core \
        --no-deps --no-default-features --features "$FEATURES" --target-dir "$TARGET"
fi
RUSTC_BOOTSTRAP=1 cargo rustdoc --offline --quiet -p sops-core --lib \
    --no-default-features --features "$FEATURES" --target-dir "$TARGET" \
    -- -Z unstable-options --output-format json
JSON="$TARGET/doc/sops_core.json"
SNAPSHOT="$REPO/sops-core/public-api.txt"

python3 - "$JSON" "$SNAPSHOT" "$mode" "$FEATURES" <<'PY'
import difflib
import json
import re
import sys

json_path, snapshot_path, mode, features = sys.argv[1:5]
with open(json_path) as f:
    doc = json.load(f)
index = doc["index"]
paths = doc["paths"]
LOCAL = 0  # rustdoc's crate id of the documented crate


def is_hidden(item):
    for attr in item.get("attrs", []):
        text = attr if isinstance(attr, str) else json.dumps(attr)
        if "doc(hidden)" in text.replace(" ", ""):
            return True
    return False


STD = {"std", "core", "alloc"}
# Marker traits a user cannot name on stable; they come and go with the
# toolchain, so listing them would fail the check on a compiler update.
UNSTABLE_MARKERS = {"Freeze", "UnsafeUnpin", "StructuralPartialEq"}


def path_of(id_, written):
    """A path that stays put when only another crate's insides move: ours in
    full, another crate's as crate::Name, the standard library's as Name."""
    summary = paths.get(str(id_)) if id_ is not None else None
    if not summary:
        return written
    segments = summary["path"]
    if summary.get("crate_id", LOCAL) == LOCAL:
        return "::".join(segments)
    if segments[0] in STD:
        return segments[-1]
    return f"{segments[0]}::{segments[-1]}"


# ---------------------------------------------------------------- types


def ty(t):
    if t is None:
        return "()"
    if isinstance(t, str):  # "infer"
        return "_"
    (kind, v), = t.items()
    if kind == "resolved_path":
        return rpath(v)
    if kind == "dyn_trait":
        parts = [poly_trait(p) for p in v["traits"]]
        if v.get("lifetime"):
            parts.append(v["lifetime"])
        return "dyn " + " + ".join(parts)
    if kind == "generic":
        return v
    if kind == "primitive":
        return v
    if kind == "function_pointer":
        sig = v["sig"]
        ins = ", ".join(ty(i[1]) for i in sig["inputs"])
        out = "" if sig.get("output") is None else " -> " + ty(sig["output"])
        return f"fn({ins}){out}"
    if kind == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if kind == "slice":
        return "[" + ty(v) + "]"
    if kind == "array":
        return f"[{ty(v['type'])}; {v['len']}]"
    if kind == "pat":
        return ty(v["type"])
    if kind == "impl_trait":
        return "impl " + bounds(v)
    if kind == "raw_pointer":
        return ("*mut " if v["is_mutable"] else "*const ") + ty(v["type"])
    if kind == "borrowed_ref":
        lt = (v["lifetime"] + " ") if v.get("lifetime") else ""
        return "&" + lt + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if kind == "qualified_path":
        trait = v.get("trait")
        self_ty = ty(v["self_type"])
        if trait:
            return f"<{self_ty} as {rpath(trait)}>::{v['name']}"
        return f"{self_ty}::{v['name']}"
    return json.dumps(t, sort_keys=True)


def rpath(p):
    name = path_of(p.get("id"), p.get("path", p.get("name", "?")))
    return name + generic_args(p.get("args"))


def generic_args(args):
    if not args:
        return ""
    if isinstance(args, str):
        return "(..)"
    (kind, v), = args.items()
    if kind == "angle_bracketed":
        parts = []
        for a in v.get("args", []):
            if isinstance(a, str):
                parts.append("_")
                continue
            (ak, av), = a.items()
            if ak == "lifetime":
                parts.append(av)
            elif ak == "type":
                parts.append(ty(av))
            elif ak == "const":
                parts.append(av.get("expr", "_") if isinstance(av, dict) else str(av))
        for c in v.get("constraints", []):
            binding = c["binding"]
            (bk, bv), = binding.items()
            rhs = ty(bv["type"]) if bk == "equality" and "type" in bv else (
                ty(bv) if bk == "equality" else bounds(bv))
            sep = " = " if bk == "equality" else ": "
            parts.append(c["name"] + generic_args(c.get("args")) + sep + rhs)
        return "<" + ", ".join(parts) + ">" if parts else ""
    if kind == "parenthesized":
        ins = ", ".join(ty(i) for i in v["inputs"])
        out = "" if v.get("output") is None else " -> " + ty(v["output"])
        return f"({ins}){out}"
    return ""


def poly_trait(p):
    hrtb = hrtb_params(p.get("generic_params", []))
    return hrtb + rpath(p["trait"])


def hrtb_params(params):
    names = [g["name"] for g in params]
    return f"for<{', '.join(names)}> " if names else ""


def bounds(bs):
    out = []
    for b in bs:
        (kind, v), = b.items() if isinstance(b, dict) else (("other", b),)
        if kind == "trait_bound":
            mod = {"maybe": "?", "maybe_const": "~const "}.get(v.get("modifier"), "")
            out.append(mod + hrtb_params(v.get("generic_params", [])) + rpath(v["trait"]))
        elif kind == "outlives":
            out.append(v)
        elif kind == "use":
            out.append("use<..>")
    return " + ".join(out)


def generics(g):
    if not g:
        return "", ""
    params = []
    for p in g.get("params", []):
        (kind, v), = p["kind"].items()
        if kind == "lifetime":
            params.append(p["name"] + (": " + " + ".join(v["outlives"]) if v.get("outlives") else ""))
        elif kind == "type":
            if v.get("is_synthetic"):
                continue  # `impl Trait` in argument position, shown in the argument
            s = p["name"]
            if v.get("bounds"):
                s += ": " + bounds(v["bounds"])
            if v.get("default") is not None:
                s += " = " + ty(v["default"])
            params.append(s)
        elif kind == "const":
            params.append(f"const {p['name']}: {ty(v['type'])}")
    preds = []
    for w in g.get("where_predicates", []):
        (kind, v), = w.items()
        if kind == "bound_predicate":
            preds.append(hrtb_params(v.get("generic_params", [])) + ty(v["type"]) + ": " + bounds(v["bounds"]))
        elif kind == "lifetime_predicate":
            preds.append(v["lifetime"] + ": " + " + ".join(v["outlives"]))
        elif kind == "eq_predicate":
            rhs = v["rhs"]
            preds.append(ty(v["lhs"]) + " == " + (ty(rhs["type"]) if "type" in rhs else str(rhs)))
    return ("<" + ", ".join(params) + ">" if params else ""), (" where " + ", ".join(preds) if preds else "")


def fn_sig(f):
    header = f.get("header", {})
    quals = "".join(q for q, on in (("const ", header.get("is_const")), ("async ", header.get("is_async")),
                                    ("unsafe ", header.get("is_unsafe"))) if on)
    params, where = generics(f.get("generics"))
    sig = f["sig"]
    ins = ", ".join(f"{n}: {ty(t)}" if n != "self" else self_arg(t) for n, t in sig["inputs"])
    out = "" if sig.get("output") is None else " -> " + ty(sig["output"])
    return f"{quals}{params}({ins}){out}{where}"


def self_arg(t):
    if isinstance(t, dict) and "borrowed_ref" in t and t["borrowed_ref"]["type"] == {"generic": "Self"}:
        r = t["borrowed_ref"]
        return "&" + ((r["lifetime"] + " ") if r.get("lifetime") else "") + ("mut " if r["is_mutable"] else "") + "self"
    if t == {"generic": "Self"}:
        return "self"
    return "self: " + ty(t)


# ---------------------------------------------------------------- walk

lines = set()
seen = set()


def emit(path, kind, sig=""):
    # One line per item: a signature or constant spread over several source
    # lines (a string constant continued with `\`) is joined into one.
    sig = re.sub(r"\\?\n\s*", " ", sig)
    lines.add(f"{path} {kind}" + (f" {sig}" if sig else ""))


def walk(id_, path, depth=0):
    key = (str(id_), path)
    if key in seen or depth > 32:
        return
    seen.add(key)
    item = index.get(str(id_))
    if item is None or is_hidden(item):
        return
    (kind, v), = item["inner"].items()
    if kind == "module":
        emit(path, "mod")
        for child in v["items"]:
            visit_child(child, path, depth)
    elif kind == "struct":
        params, where = generics(v.get("generics"))
        skind = v["kind"]
        if skind == "unit":
            emit(path, "struct", f"unit{params}{where}")
        elif "tuple" in skind:
            fields = skind["tuple"]
            shown = ", ".join(field_type(f) for f in fields)
            emit(path, "struct", f"({shown}){params}{where}")
        else:
            plain = skind["plain"]
            extra = " (has private fields)" if plain.get("has_stripped_fields") else ""
            emit(path, "struct", f"{{..}}{params}{where}{extra}")
            for f in plain["fields"]:
                field(f, path)
        impls(v.get("impls", []), path, depth)
    elif kind == "union":
        emit(path, "union")
        impls(v.get("impls", []), path, depth)
    elif kind == "enum":
        params, where = generics(v.get("generics"))
        extra = " (has hidden variants)" if v.get("has_stripped_variants") else ""
        emit(path, "enum", f"{params}{where}{extra}".strip())
        for var in v["variants"]:
            variant(var, path)
        impls(v.get("impls", []), path, depth)
    elif kind == "function":
        emit(path, "fn", fn_sig(v))
    elif kind == "trait":
        params, where = generics(v.get("generics"))
        quals = ("unsafe " if v.get("is_unsafe") else "") + ("auto " if v.get("is_auto") else "")
        supers = (": " + bounds(v["bounds"])) if v.get("bounds") else ""
        dyn = "" if v.get("is_dyn_compatible", v.get("is_object_safe", True)) else " (not dyn-compatible)"
        emit(path, "trait", f"{quals}{params}{supers}{where}{dyn}".strip())
        for member in v["items"]:
            assoc(member, path, in_trait=True)
    elif kind == "trait_alias":
        emit(path, "trait alias")
    elif kind == "type_alias":
        params, where = generics(v.get("generics"))
        emit(path, "type", f"{params} = {ty(v['type'])}{where}".strip())
    elif kind == "constant":
        const = v.get("const", {})
        emit(path, "const", f"{ty(v['type'])} = {const.get('expr', '?')}")
    elif kind == "static":
        emit(path, "static", ("mut " if v.get("is_mutable") else "") + ty(v["type"]))
    elif kind == "macro":
        emit(path, "macro")
    elif kind == "proc_macro":
        emit(path, "proc macro")
    else:
        emit(path, kind)


def visit_child(child, parent, depth):
    item = index.get(str(child))
    if item is None or is_hidden(item) or item.get("visibility") != "public":
        return
    (kind, v), = item["inner"].items()
    if kind == "use":
        target = v.get("id")
        name = v["name"]
        if target is not None and str(target) in index and index[str(target)].get("crate_id") == LOCAL:
            timem = index[str(target)]
            if v.get("is_glob"):
                (tk, tv), = timem["inner"].items()
                if tk == "module":
                    for grandchild in tv["items"]:
                        visit_child(grandchild, parent, depth + 1)
                elif tk == "enum":
                    for var in tv["variants"]:
                        variant(var, parent)
            else:
                walk(target, f"{parent}::{name}", depth + 1)
        else:
            # Another crate's item re-exported: part of our API by name.
            glob = "::*" if v.get("is_glob") else ""
            emit(f"{parent}::{name}" if not glob else parent + glob, "re-export", v["source"] + glob)
        return
    walk(child, f"{parent}::{item['name']}", depth + 1)


def field_type(f):
    if f is None:
        return "_"  # a private field of a tuple struct
    item = index.get(str(f))
    if item is None or item.get("visibility") != "public" or is_hidden(item):
        return "_"
    return ty(item["inner"]["struct_field"])


def field(f, parent):
    item = index.get(str(f))
    if item is None or is_hidden(item) or item.get("visibility") != "public":
        return
    emit(f"{parent}::{item['name']}", "field", ty(item["inner"]["struct_field"]))


def variant(var, parent):
    item = index.get(str(var))
    if item is None or is_hidden(item):
        return
    v = item["inner"]["variant"]
    path = f"{parent}::{item['name']}"
    vk = v["kind"]
    if vk == "plain":
        disc = v.get("discriminant")
        emit(path, "variant", f"= {disc['expr']}" if disc else "")
    elif "tuple" in vk:
        emit(path, "variant", "(" + ", ".join(field_type(f) for f in vk["tuple"]) + ")")
    else:
        fields = vk["struct"]
        extra = " (has private fields)" if fields.get("has_stripped_fields") else ""
        emit(path, "variant", "{..}" + extra)
        for f in fields["fields"]:
            field(f, path)


def assoc(member, parent, in_trait):
    item = index.get(str(member))
    if item is None or is_hidden(item):
        return
    if not in_trait and item.get("visibility") != "public":
        return
    (kind, v), = item["inner"].items()
    path = f"{parent}::{item['name']}"
    if kind == "function":
        provided = " (provided)" if in_trait and v.get("has_body") else ""
        emit(path, "trait fn" if in_trait else "method", fn_sig(v) + provided)
    elif kind == "assoc_type":
        b = (": " + bounds(v["bounds"])) if v.get("bounds") else ""
        d = (" = " + ty(v["type"])) if v.get("type") is not None else ""
        emit(path, "assoc type", (b + d).strip())
    elif kind == "assoc_const":
        d = f" = {v['value']}" if v.get("value") is not None else ""
        emit(path, "assoc const", ty(v["type"]) + d)


def impls(ids, path, depth):
    for i in ids:
        item = index.get(str(i))
        if item is None or is_hidden(item):
            continue
        imp = item["inner"]["impl"]
        if imp.get("blanket_impl") is not None:
            continue  # `impl<T: X> Y for T`: follows from the other lines
        params, where = generics(imp.get("generics"))
        if imp.get("trait") is None:
            for member in imp["items"]:
                assoc(member, path, in_trait=False)
            continue
        if imp["trait"].get("path", imp["trait"].get("name", "")).rsplit("::", 1)[-1] in UNSTABLE_MARKERS:
            continue
        neg = "!" if imp.get("is_negative") else ""
        emit(path, "impl", f"impl{params} {neg}{rpath(imp['trait'])} for {ty(imp['for'])}{where}")


root = doc["root"]
walk(root, index[str(root)]["name"])

api = sorted(lines)
header = [
    "# sops-core's public API (scripts/public-api.sh --bless writes this file).",
    f"# Features: {features}. One line per item: path, kind, signature.",
]
text = "\n".join(header + api) + "\n"

if mode == "print":
    sys.stdout.write(text)
    sys.exit(0)
if mode == "bless":
    with open(snapshot_path, "w") as f:
        f.write(text)
    items = sum(1 for l in api if l.split(" ", 2)[1] != "impl")
    print(f"sops-core/public-api.txt: {len(api)} lines, {items} items besides trait impls")
    sys.exit(0)
try:
    with open(snapshot_path) as f:
        old = [l for l in f.read().splitlines() if not l.startswith("#")]
except FileNotFoundError:
    old = []
if old == api:
    print(f"sops-core's public API: unchanged ({len(api)} lines)")
    sys.exit(0)
removed = sorted(set(old) - set(api))
added = sorted(set(api) - set(old))
for l in difflib.unified_diff(old, api, "sops-core/public-api.txt", "current", n=0, lineterm=""):
    if not l.startswith("@@"):
        print(l, file=sys.stderr)
print(f"sops-core's public API changed: {len(removed)} line(s) removed or changed, {len(added)} added "
      "(diff above); if intended, run scripts/public-api.sh --bless and note the change in CHANGELOG.md",
      file=sys.stderr)
sys.exit(1)
PY
