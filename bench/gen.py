#!/usr/bin/env python3
"""Writes realistic plaintext YAML and JSON files for bench/compare.sh.

usage: gen.py OUT_DIR NAME TARGET_BYTES

Writes OUT_DIR/NAME.yaml and OUT_DIR/NAME.json, each about TARGET_BYTES
long: nested maps, lists, strings, ints, floats, bools, nulls; the YAML has
comments and uses sops' canonical layout (4-space indent). Deterministic.
"""
import json
import random
import sys

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo "
         "lima mike november oscar papa quebec romeo sierra tango").split()


def record(rng, i):
    name = f"{rng.choice(WORDS)}-{i:06d}"
    return {
        "name": name,
        "enabled": rng.random() < 0.7,
        "replicas": rng.randint(1, 12),
        "ratio": round(rng.random(), 4),
        "owner": None if rng.random() < 0.2 else f"team-{rng.choice(WORDS)}",
        "endpoints": [f"https://{name}.example.invalid/api/v{v}" for v in range(1, rng.randint(2, 4))],
        "credentials": {
            "username": f"svc_{rng.choice(WORDS)}_{i}",
            "password": "%032x" % rng.getrandbits(128),
            "api_token": "tok_" + "%048x" % rng.getrandbits(192),
        },
        "limits": {"cpu_millis": rng.choice([250, 500, 1000, 2000]),
                   "memory_mib": rng.choice([256, 512, 1024])},
    }


def yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def yaml_record(key, rec, rng):
    out = [f"# service {key}: {rng.choice(WORDS)} {rng.choice(WORDS)}", f"{key}:"]
    for k, v in rec.items():
        if isinstance(v, dict):
            if k == "credentials":
                out.append("    # rotated monthly")
            out.append(f"    {k}:")
            out.extend(f"        {k2}: {yaml_scalar(v2)}" for k2, v2 in v.items())
        elif isinstance(v, list):
            out.append(f"    {k}:")
            out.extend(f"        - {yaml_scalar(x)}" for x in v)
        else:
            out.append(f"    {k}: {yaml_scalar(v)}")
    return "\n".join(out) + "\n"


def main():
    out_dir, name, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(target)
    yaml_parts, size, data, i = [], 0, {}, 0
    while size < target:
        key = f"service_{i:06d}"
        rec = record(rng, i)
        part = yaml_record(key, rec, rng)
        yaml_parts.append(part)
        data[key] = rec
        size += len(part)
        i += 1
    with open(f"{out_dir}/{name}.yaml", "w") as f:
        f.write("".join(yaml_parts))
    with open(f"{out_dir}/{name}.json", "w") as f:
        json.dump(data, f, indent="\t", ensure_ascii=False)
        f.write("\n")


main()
