#!/usr/bin/env python3
"""A stand-in for a HashiCorp Vault server, for tests only.

No Vault or OpenBao server can be installed from the registries here
(shared/spec/dependencies.md §9.3), so this program serves, on 127.0.0.1
only, the few routes sops uses:

* transit: ``PUT|POST /v1/<engine>/encrypt/<key>`` with
  ``{"plaintext": base64}`` -> ``{"data": {"ciphertext": "vault:v1:..."}}``
  and ``PUT|POST /v1/<engine>/decrypt/<key>`` with
  ``{"ciphertext": "vault:v1:..."}`` -> ``{"data": {"plaintext": base64}}``;
  ``POST /v1/<engine>/keys/<key>`` creates a key, ``GET`` reads it. Any path
  whose second-to-last segment is encrypt, decrypt or keys is a transit call
  and the segments before it are the engine (it may contain slashes). A key
  is AES-256-GCM, made at random on its first encrypt (as Vault's upsert
  does) per engine + key name; decrypting under a key never created answers
  400. A key named ``denied`` answers 403; one named ``redirect`` answers
  307 to the same path on ``http://127.0.0.1:9`` (a closed port), as a
  standby node redirects to the active one; one named ``client-cert``
  answers 403 unless the request came with a TLS client certificate.
* KV version 2 under the mounts of ``--kv2-mounts`` (default ``secret``):
  ``PUT|POST /v1/<mount>/data/<path>`` with ``{"data": {...}}`` and ``GET``
  of the same path -> ``{"data": {"data": {...}, "metadata": {...}}}``.
* KV version 1 under the mounts of ``--kv1-mounts`` (default ``kv``):
  ``PUT|POST /v1/<mount>/<path>`` with the secret as the body, ``GET`` ->
  ``{"data": {...}}``.

Every ``/v1/`` request needs ``X-Vault-Token: <--token>`` (else 403
``{"errors": ["permission denied"]}``), and ``X-Vault-Namespace:
<--namespace>`` when that is given. ``GET /v1/sys/health`` needs neither.

``GET /_fake/requests`` (no token) lists the ``[method, path, namespace,
client]`` of every request seen so far (namespace: the ``X-Vault-Namespace``
header or null; client: the common name of the TLS client certificate
presented, or null), so that a test can check that no request reached the server, or what
it was sent; ``POST /_fake/reset`` empties that list.

``--tls-cert``/``--tls-key`` serve HTTPS with the given PEM files;
``--tls-dir DIR`` instead makes a test CA and a certificate for 127.0.0.1
and localhost, writes ``DIR/ca.pem`` and serves HTTPS with them; it also
writes a client certificate of that CA (``DIR/client.pem``,
``DIR/client-key.pem``, common name ``vault-fake client``), which clients
may present (not required).
``--ready-file`` is written once the port listens.

Needs only the Python standard library and ``cryptography`` (Debian
python3-cryptography; the GCP fake's venv has it too).
"""

import argparse
import base64
import binascii
import datetime
import json
import os
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HOST = "127.0.0.1"
TRANSIT_OPS = ("encrypt", "decrypt", "keys")


class Failure(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.token = args.token
        self.namespace = args.namespace.strip("/") if args.namespace else None
        self.kv2 = mounts(args.kv2_mounts)
        self.kv1 = mounts(args.kv1_mounts)
        self.transit = {}  # (engine, key) -> (AESGCM, created time)
        self.kv = {}  # (mount, path) -> list of (data, created time), oldest first
        self.requests = []

    def transit_key(self, engine, name, create):
        with self.lock:
            found = self.transit.get((engine, name))
            if found is None and create:
                found = (AESGCM(AESGCM.generate_key(bit_length=256)), now())
                self.transit[(engine, name)] = found
            return found


def mounts(text):
    # Longest first, so that a mount nested in another one wins.
    found = [m.strip("/") for m in text.split(",") if m.strip("/")]
    return sorted(found, key=len, reverse=True)


def b64decode(text, what):
    if not isinstance(text, str):
        raise Failure(400, f"missing {what}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Failure(400, f"failed to base64-decode {what}") from None


def transit(state, method, engine, op, name, body, client=None):
    if name == "client-cert" and client is None:
        raise Failure(403, "permission denied: no client certificate")
    if name == "denied":
        raise Failure(403, "permission denied")
    if name == "redirect":
        raise Failure(307, "redirected",
                      {"Location": f"http://127.0.0.1:9/v1/{engine}/{op}/{name}"})
    aad = f"{engine}/{name}".encode()
    if op == "keys":
        if method in ("POST", "PUT"):
            state.transit_key(engine, name, True)
            return 204, None
        if method != "GET":
            raise Failure(405, "unsupported operation")
        found = state.transit_key(engine, name, False)
        if found is None:
            raise Failure(404, f"no key named {name}")
        data = {"name": name, "type": "aes256-gcm96", "latest_version": 1,
                "min_decryption_version": 1, "keys": {"1": found[1]}}
        return 200, {"data": data}
    if method not in ("POST", "PUT"):
        raise Failure(405, "unsupported operation")
    if op == "encrypt":
        plaintext = b64decode(body.get("plaintext"), "plaintext")
        aead = state.transit_key(engine, name, True)[0]
        nonce = os.urandom(12)
        sealed = base64.b64encode(nonce + aead.encrypt(nonce, plaintext, aad)).decode()
        return 200, {"data": {"ciphertext": "vault:v1:" + sealed, "key_version": 1}}
    found = state.transit_key(engine, name, False)
    if found is None:
        raise Failure(400, "encryption key not found")
    ciphertext = body.get("ciphertext")
    if not isinstance(ciphertext, str) or not ciphertext.startswith("vault:v1:"):
        raise Failure(400, "invalid ciphertext: no prefix")
    raw = b64decode(ciphertext[len("vault:v1:"):], "ciphertext")
    try:
        plaintext = found[0].decrypt(raw[:12], raw[12:], aad)
    except Exception:
        raise Failure(400, "cipher: message authentication failed") from None
    return 200, {"data": {"plaintext": base64.b64encode(plaintext).decode()}}


def kv(state, method, mount, path, version, body):
    if not path:
        raise Failure(404, "no handler for route")
    slot = (mount, version, path)
    with state.lock:
        versions = state.kv.setdefault(slot, [])
        if method in ("POST", "PUT"):
            data = body.get("data") if version == 2 else body
            if not isinstance(data, dict):
                raise Failure(400, "no data provided")
            versions.append((data, now()))
            if version == 1:
                return 204, None
            return 200, {"data": {"created_time": versions[-1][1], "custom_metadata": None,
                                  "deletion_time": "", "destroyed": False,
                                  "version": len(versions)}}
        if method != "GET":
            raise Failure(405, "unsupported operation")
        if not versions:
            state.kv.pop(slot, None)
            return 404, {"errors": []}
        data, created = versions[-1]
    if version == 1:
        return 200, {"data": data}
    metadata = {"created_time": created, "custom_metadata": None, "deletion_time": "",
                "destroyed": False, "version": len(versions)}
    return 200, {"data": {"data": data, "metadata": metadata}}


def route(state, method, path, body, client=None):
    # Each segment decoded on its own, so that an escaped slash stays in it.
    segments = [urllib.parse.unquote(s) for s in path.split("/") if s]
    joined = "/".join(segments)
    for mount in state.kv2:
        if joined.startswith(mount + "/data/"):
            return kv(state, method, mount, joined[len(mount) + len("/data/"):], 2, body)
    for mount in state.kv1:
        if joined.startswith(mount + "/"):
            return kv(state, method, mount, joined[len(mount) + 1:], 1, body)
    if len(segments) >= 3 and segments[-2] in TRANSIT_OPS:
        return transit(state, method, "/".join(segments[:-2]), segments[-2], segments[-1], body,
                       client)
    raise Failure(404, f"no handler for route \"{joined}\"")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vault-fake"

    def log_message(self, fmt, *args):
        sys.stderr.write("vault-fake: " + (fmt % args) + "\n")

    def reply(self, status, body, headers=None):
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def handle_any(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_fake/requests":
            with state.lock:
                return self.reply(200, list(state.requests))
        if path == "/_fake/reset" and self.command == "POST":
            with state.lock:
                state.requests.clear()
            return self.reply(204, None)
        with state.lock:
            state.requests.append([self.command, path, self.headers.get("X-Vault-Namespace"),
                                   client_name(self.connection)])
        if path == "/v1/sys/health":
            return self.reply(200, {"initialized": True, "sealed": False, "standby": False})
        try:
            if not path.startswith("/v1/"):
                raise Failure(404, "not found")
            if self.headers.get("X-Vault-Token") != state.token:
                raise Failure(403, "permission denied")
            if state.namespace is not None:
                given = (self.headers.get("X-Vault-Namespace") or "").strip("/")
                if given != state.namespace:
                    raise Failure(403, "permission denied")
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise Failure(400, "failed to parse JSON input") from None
            if not isinstance(body, dict):
                raise Failure(400, "failed to parse JSON input")
            status, answer = route(state, self.command, path[len("/v1/"):], body,
                                   client_name(self.connection))
        except Failure as failure:
            return self.reply(failure.status, {"errors": [failure.message]}, failure.headers)
        return self.reply(status, answer)

    do_GET = do_PUT = do_POST = do_DELETE = handle_any


def client_name(connection):
    getpeercert = getattr(connection, "getpeercert", None)
    cert = getpeercert() if getpeercert else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def make_tls(directory):
    """A CA (ca.pem), a server certificate for 127.0.0.1 and localhost
    (cert.pem, key.pem) and a client certificate (client.pem,
    client-key.pem), made fresh on every start; returns the server's
    cert and key paths."""
    from test_ca import TestCa, write_file

    os.makedirs(directory, exist_ok=True)
    ca = TestCa("vault-fake test CA")
    cert, key = ca.issue("localhost", ["localhost"], [HOST])
    client, client_key = ca.issue("vault-fake client", client=True)
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    write_file(path("client.pem"), client)
    write_file(path("client-key.pem"), client_key, private=True)
    ca.write(path("ca.pem"))
    write_file(path("cert.pem"), cert)
    write_file(path("key.pem"), key, private=True)
    return path("cert.pem"), path("key.pem")



def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default="root")
    parser.add_argument("--namespace")
    parser.add_argument("--kv2-mounts", default="secret")
    parser.add_argument("--kv1-mounts", default="kv")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--tls-dir")
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    cert, key = args.tls_cert, args.tls_key
    if args.tls_dir and not cert:
        cert, key = make_tls(args.tls_dir)

    server = ThreadingHTTPServer((HOST, args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if args.tls_dir:
            # Client certificates of the test CA are checked when presented.
            context.load_verify_locations(os.path.join(args.tls_dir, "ca.pem"))
            context.verify_mode = ssl.CERT_OPTIONAL
        server.socket = context.wrap_socket(server.socket, server_side=True)
    scheme = "https" if cert else "http"
    sys.stderr.write(f"vault-fake: listening on {scheme}://{HOST}:{args.port}\n")
    if args.ready_file:
        with open(args.ready_file, "w") as out:
            out.write(f"{scheme}://{HOST}:{args.port}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
