#!/usr/bin/env python3
"""A stand-in for HuaweiCloud KMS's encrypt-data and decrypt-data, for tests only.

No HuaweiCloud KMS emulator exists, so this program serves, over HTTPS on
127.0.0.1 only (certificate for 127.0.0.1 and localhost, signed by a test CA
written to ``<state-dir>/ca.pem``):

* ``POST /v1.0/{project_id}/kms/encrypt-data`` with
  ``{"key_id", "plain_text", "encryption_algorithm"?, ...}`` answering
  ``{"key_id", "cipher_text"}``;
* ``POST /v1.0/{project_id}/kms/decrypt-data`` with
  ``{"cipher_text", "key_id"?, "encryption_algorithm"?, ...}`` answering
  ``{"key_id", "plain_text", "plain_text_base64"}``.

Every request must carry a valid SDK-HMAC-SHA256 signature (the scheme of
Huawei's API gateway and of its SDKs): ``X-Sdk-Date: YYYYMMDDTHHMMSSZ``
(within 15 minutes of now) and ``Authorization: SDK-HMAC-SHA256
Access=<AK>, SignedHeaders=<h1;h2>, Signature=<hex>`` where the signature
is HMAC-SHA256 under the secret key of

    SDK-HMAC-SHA256 \\n <X-Sdk-Date> \\n hex(SHA-256(canonical request))

and the canonical request is the method, the path with each segment
percent-escaped (unreserved characters kept) and a ``/`` appended, the
sorted escaped query, one ``name:value`` line per signed header (lower-case
names, trimmed values), the signed header names joined by ``;``, and the hex
SHA-256 of the body. A wrong AK or signature, a missing or stale date, or an
``X-Security-Token``/``X-Project-Id`` header that is not signed is refused
with 401 and the gateway's error JSON (``APIGW.0301``).

The project id of the path must be the configured one (else 403). The
ciphertext is AES-GCM under a fixed test key with the project and key id as
associated data, so it decrypts only under the key that made it. A key id
whose last group is ``000000000403`` is refused with 403 (``KMS.0303``), one
ending in ``000000000404`` with 404 (``KMS.0205``, key not found); an id that
is not a UUID with 400. Errors have Huawei's shape
``{"error": {"error_code": ..., "error_msg": ...}}``.

The test credentials default to AK ``HCKMSFAKEAK0000000000``, SK
``hckms-fake-secret-key`` and project ``0a1b2c3d4e5f60718293a4b5c6d7e8f9``.
Needs only ``cryptography`` (the system python3 has it).
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import ssl
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from test_ca import TestCa, write_file

HOST = "127.0.0.1"
KEY = AESGCM(hashlib.sha256(b"sops-rs HuaweiCloud KMS fake test key").digest())
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CIPHER_TEXT = re.compile(r"^[0-9a-zA-Z+/=]{128,5648}$")
PATH = re.compile(r"^/v1\.0/([^/]+)/kms/(encrypt-data|decrypt-data)$")
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = datetime.timedelta(minutes=15)
AUTH = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$"
)

CONFIG = {}


class Refusal(Exception):
    """An error reply: HTTP status, Huawei error code, message, and whether
    it is the gateway's flat shape rather than KMS' nested one."""

    def __init__(self, status, code, message, gateway=False):
        super().__init__(message)
        self.status, self.code, self.message, self.gateway = status, code, message, gateway


def unauthorized(why):
    sys.stderr.write(f"auth: {why}\n")
    return Refusal(
        401,
        "APIGW.0301",
        "Incorrect IAM authentication information: verify aksk signature fail",
        gateway=True,
    )


# --- SDK-HMAC-SHA256 -----------------------------------------------------


def escape(text):
    """Percent-escapes every byte but A-Z a-z 0-9 - _ . ~ (upper-case hex)."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-_.~"):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def canonical_uri(path):
    uri = "/".join(escape(segment) for segment in path.split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query):
    pairs = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        pairs.append((escape(unquote(name)), escape(unquote(value))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def unquote(text):
    from urllib.parse import unquote_to_bytes

    return unquote_to_bytes(text).decode("utf-8", "replace")


def string_to_sign(method, path, query, headers, signed, body, date):
    """headers: lower-case name -> list of values as received."""
    lines = []
    for name in signed:
        for value in sorted(headers.get(name, [])):
            lines.append(f"{name}:{value.strip()}")
    payload = headers.get("x-sdk-content-sha256", [None])[0] or hashlib.sha256(body).hexdigest()
    canonical = "\n".join(
        [method, canonical_uri(path), canonical_query(query), "\n".join(lines) + "\n", ";".join(signed), payload]
    )
    return "SDK-HMAC-SHA256\n%s\n%s" % (date, hashlib.sha256(canonical.encode()).hexdigest())


def signature(secret_key, text):
    return hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()


def check_signature(method, path, query, headers, body):
    auth = headers.get("authorization", [""])[0]
    m = AUTH.match(auth.strip())
    if not m:
        raise unauthorized("no SDK-HMAC-SHA256 Authorization header")
    access, signed_text, sig = m.groups()
    if access != CONFIG["ak"]:
        raise unauthorized(f"unknown access key {access!r}")
    signed = signed_text.split(";")
    if signed != sorted(signed) or any(s != s.lower() or not s for s in signed):
        raise unauthorized("signed headers are not sorted lower-case names")
    for must in ["x-sdk-date", "x-security-token", "x-project-id"]:
        if must in headers and must not in signed:
            raise unauthorized(f"{must} is not signed")
    missing = [s for s in signed if s not in headers]
    if missing:
        raise unauthorized(f"signed headers not sent: {missing}")
    date = headers.get("x-sdk-date", [""])[0]
    try:
        when = datetime.datetime.strptime(date, DATE_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise unauthorized(f"bad X-Sdk-Date {date!r}")
    if abs(datetime.datetime.now(datetime.timezone.utc) - when) > MAX_SKEW:
        raise unauthorized(f"stale X-Sdk-Date {date!r}")
    expected = signature(CONFIG["sk"], string_to_sign(method, path, query, headers, signed, body, date))
    if not hmac.compare_digest(expected, sig):
        raise unauthorized("signature mismatch")


# --- KMS -----------------------------------------------------------------


def check_key(key_id):
    if not isinstance(key_id, str) or not UUID.match(key_id):
        raise Refusal(400, "KMS.0201", "Invalid key_id.")
    if key_id.endswith("-000000000403"):
        raise Refusal(403, "KMS.0303", f"Access denied to key {key_id}.")
    if key_id.endswith("-000000000404"):
        raise Refusal(404, "KMS.0205", "The key does not exist.")


def associated_data(project, key_id):
    return f"{project}/{key_id}".encode()


def encrypt_data(project, body):
    key_id = body.get("key_id")
    check_key(key_id)
    algorithm = body.get("encryption_algorithm", "SYMMETRIC_DEFAULT")
    if algorithm != "SYMMETRIC_DEFAULT":
        raise Refusal(400, "KMS.0206", "Unsupported encryption_algorithm for a symmetric key.")
    plain = body.get("plain_text")
    if not isinstance(plain, str) or not 1 <= len(plain.encode()) <= 4096:
        raise Refusal(400, "KMS.0201", "Invalid plain_text.")
    nonce = os.urandom(12)
    sealed = KEY.encrypt(nonce, plain.encode(), associated_data(project, key_id))
    blob = key_id.encode() + nonce + sealed
    return {"key_id": key_id, "cipher_text": base64.b64encode(blob).decode()}


def decrypt_data(project, body):
    cipher = body.get("cipher_text")
    if not isinstance(cipher, str) or not CIPHER_TEXT.match(cipher):
        raise Refusal(400, "KMS.0201", "Invalid cipher_text.")
    try:
        blob = base64.b64decode(cipher, validate=True)
        embedded = blob[:36].decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, "KMS.0201", "Invalid cipher_text.")
    key_id = body.get("key_id", embedded)
    check_key(key_id)
    if key_id != embedded:
        raise Refusal(400, "KMS.0207", "The key_id does not match the cipher_text.")
    try:
        plain = KEY.decrypt(blob[36:48], blob[48:], associated_data(project, key_id))
    except Exception:
        raise Refusal(400, "KMS.0208", "Failed to decrypt the cipher_text.")
    text = plain.decode("utf-8", "replace")
    return {"key_id": key_id, "plain_text": text, "plain_text_base64": base64.b64encode(plain).decode()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("hckms: " + (fmt % args) + "\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(data)

    def refuse(self, r):
        if r.gateway:
            body = {"error_msg": r.message, "error_code": r.code, "request_id": uuid.uuid4().hex}
        else:
            body = {"error": {"error_code": r.code, "error_msg": r.message}}
        self.reply(r.status, body)

    def do_GET(self):
        self.refuse(Refusal(404, "APIGW.0101", "The API does not exist or has not been published.", True))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        try:
            m = PATH.match(path)
            if not m:
                raise Refusal(404, "APIGW.0101", "The API does not exist or has not been published.", True)
            check_signature("POST", path, query, headers, raw)
            project, op = m.groups()
            if project != CONFIG["project"] or headers.get("x-project-id", [project])[0] != project:
                raise Refusal(403, "KMS.0303", f"No permission on project {project}.")
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError
            except ValueError:
                raise Refusal(400, "KMS.0202", "The request body is not valid JSON.")
            out = encrypt_data(project, body) if op == "encrypt-data" else decrypt_data(project, body)
            self.reply(200, out)
        except Refusal as r:
            self.refuse(r)


# --- certificates --------------------------------------------------------


def make_certs(state_dir):
    """A test CA (written to ca.pem) and a server certificate for 127.0.0.1
    and localhost that it signs; returns the server's cert and key paths."""
    os.makedirs(state_dir, exist_ok=True)
    ca = TestCa("sops-rs HuaweiCloud KMS test CA")
    ca.write(os.path.join(state_dir, "ca.pem"))
    cert, key = ca.issue("localhost", ["localhost"], [HOST])
    cert_path = os.path.join(state_dir, "server.pem")
    key_path = os.path.join(state_dir, "server.key")
    write_file(cert_path, cert)
    write_file(key_path, key, private=True)
    return cert_path, key_path



def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state-dir", required=True, help="where ca.pem is written")
    p.add_argument("--ak", default="HCKMSFAKEAK0000000000")
    p.add_argument("--sk", default="hckms-fake-secret-key")
    p.add_argument("--project-id", default="0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    args = p.parse_args()
    CONFIG.update(ak=args.ak, sk=args.sk, project=args.project_id)

    cert_path, key_path = make_certs(args.state_dir)
    server = ThreadingHTTPServer((HOST, args.port), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    # Ready: the port is bound (the test script waits for this file).
    with open(os.path.join(args.state_dir, "ready"), "w") as f:
        f.write("ok\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
