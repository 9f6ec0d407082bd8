#!/usr/bin/env python3
"""Writes testdata/sops-3.13/: files in the forms sops 3.13 writes, which the
reference sops here (3.11) cannot write. Run from the repository root after
`cargo build -p sops-cli`; SOPS_BIN may name another build of ours.

Each file is `sops encrypt --age $A` by our own binary (identity A of
testdata/vectors/keys.txt), which writes sops 3.13's YAML line comments and
JSON `type:int`, then changed only where the MAC does not reach:
* `version` is set to the sops release that writes that form;
* INI: the metadata's multi-line values are written escaped once, as one
  multi-line value in `\"\"\"` quotes (sops 3.13.0 and 3.13.1; 3.13.2 went
  back to 3.11's `\\n` text).
The IVs are random, so a new run writes other bytes of the same form.
"""

import os
import re
import subprocess
import sys

OUT = "testdata/sops-3.13"
RECIPIENT = "age1mq23p4ppx7lvcvntp7sn5k7flqfd2cql4nuyld2em3yjtvqcmeqqm9c5ck"
SOPS = os.environ.get("SOPS_BIN", "target/debug/sops")

PLAIN = {
    "inline-comments.yaml": """\
# head comment
key: value # inline on a value
nested:
    a: 1 # inline on an int
    b: two
    list:
        - x # inline on an item
        - w
    block: | # inline on a block header
        line one
        line two
# foot comment
""",
    "metadata-escaped-once.ini": """\
[database]
; the user
user = admin
password = hunter2
""",
    "large-integers.json": """\
{
\t"small": 42,
\t"above_2_53": 9007199254740993,
\t"int64_max": 9223372036854775807,
\t"int64_min": -9223372036854775808,
\t"below_minus_2_53": -9007199254740993,
\t"above_int64": 9223372036854775808,
\t"float": 1.5,
\t"list": [
\t\t9007199254740995,
\t\t-1
\t]
}
""",
}

VERSION = {
    "yaml": "3.13.2",
    "ini": "3.13.1",
    "json": "3.13.2",
}


def encrypt(path):
    return subprocess.run(
        [SOPS, "encrypt", "--age", RECIPIENT, path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def ini_escaped_once(text):
    """`key = a\\nb` in [sops] -> `key = \"\"\"a<newline>b\"\"\"`."""
    head, sep, meta = text.partition("\n[sops]\n")
    if not sep:
        sys.exit("no [sops] section")
    lines = []
    for line in meta.split("\n"):
        key, eq, value = line.partition(" = ")
        if eq and "\\n" in value:
            value = '"""' + value.replace("\\n", "\n") + '"""'
        lines.append(key + eq + value)
    return head + sep + "\n".join(lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, plain in PLAIN.items():
        stem, ext = name.rsplit(".", 1)
        plain_path = f"{OUT}/{stem}.plain.{ext}"
        with open(plain_path, "w") as f:
            f.write(plain)
        text = encrypt(plain_path)
        if ext == "yaml":
            text = re.sub(r"(?m)^    version: .*$", f"    version: {VERSION[ext]}", text)
            if not re.search(r"(?m): ENC\[[^\n]* #ENC\[", text):
                sys.exit("no line comment in the YAML output (not a 3.13 emitter?)")
        elif ext == "ini":
            text = re.sub(r"(?m)^(version +)= .*$", rf"\1= {VERSION[ext]}", text)
            text = ini_escaped_once(text)
        elif ext == "json":
            text = re.sub(r'(?m)^(\t\t"version": )".*"', rf'\1"{VERSION[ext]}"', text)
            if "type:int]" not in text:
                sys.exit("no type:int in the JSON output")
        with open(f"{OUT}/{stem}.enc.{ext}", "w") as f:
            f.write(text)
        print(f"wrote {OUT}/{stem}.enc.{ext}")


if __name__ == "__main__":
    main()
