#!/usr/bin/env python3
"""A stand-in for Google Cloud KMS's Encrypt and Decrypt, for tests only.

No GCP KMS emulator exists (shared/spec/dependencies.md §9.2), so this one
program serves, on 127.0.0.1 only:

* the REST API on plain HTTP (``--rest-port``), which our client reaches
  through ``SOPS_GCP_KMS_ENDPOINT``: ``POST /v1/{name}:encrypt`` with
  ``{"plaintext": base64}`` and ``POST /v1/{name}:decrypt`` with
  ``{"ciphertext": base64}``; also ``POST /token``, an OAuth token endpoint
  for credential files whose ``token_uri`` points here;
* the gRPC API over TLS (``--grpc-port``) with a certificate for
  ``cloudkms.googleapis.com`` signed by a test CA written to
  ``<state-dir>/ca.pem``, for the reference sops 3.11, whose endpoint is
  fixed;
* the REST API again over TLS, on a port of its own choosing, for the host
  ``cloudkms.sovereign.test`` (certificate by the same CA), which the proxy
  tunnels CONNECTs for that host to: ours reaches it with
  ``SOPS_GCP_KMS_UNIVERSE_DOMAIN=sovereign.test`` (sops 3.13), which makes
  the client call ``https://cloudkms.<domain>``;
* an HTTP CONNECT proxy (``--proxy-port``) that tunnels every other CONNECT
  to the gRPC port, so that the reference reaches the fake with
  ``HTTPS_PROXY=http://127.0.0.1:<proxy> SSL_CERT_FILE=<state-dir>/ca.pem
  GOOGLE_OAUTH_ACCESS_TOKEN=dummy``.

The ciphertext is AES-GCM under a fixed test key with the key's resource
name as associated data, so both APIs read each other's ciphertexts and a
ciphertext does not decrypt under another key name. A key name containing
``denied`` is refused with PERMISSION_DENIED (HTTP 403); one containing
``missing`` with NOT_FOUND (404); a request without a bearer token with
UNAUTHENTICATED (401).

Needs grpcio, google-cloud-kms (its message classes) and cryptography
(scripts/install-test-tools.sh puts them in .tools/gcpfake).
"""

import argparse
import base64
import hashlib
import json
import os
import re
import ssl
import sys
import tempfile
import threading
import urllib.parse
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from connect_proxy import start_connect_proxy
from test_ca import TestCa
from google.cloud import kms_v1

HOST = "127.0.0.1"
SOVEREIGN_HOST = "cloudkms.sovereign.test"
KEY = AESGCM(hashlib.sha256(b"sops-rs GCP KMS fake test key").digest())
KEY_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")


class Refusal(Exception):
    """A KMS error: gRPC code, HTTP status, message."""

    def __init__(self, code, http, message):
        super().__init__(message)
        self.code, self.http, self.message = code, http, message


def check_name(name):
    if "denied" in name:
        raise Refusal(
            grpc.StatusCode.PERMISSION_DENIED,
            403,
            f"Permission 'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '{name}' "
            "(or it may not exist).",
        )
    if "missing" in name or not KEY_NAME.match(name):
        raise Refusal(grpc.StatusCode.NOT_FOUND, 404, f"{name} not found.")


def encrypt(name, plaintext):
    check_name(name)
    nonce = os.urandom(12)
    return nonce + KEY.encrypt(nonce, plaintext, name.encode())


def decrypt(name, ciphertext):
    check_name(name)
    try:
        if len(ciphertext) < 12 + 16:
            raise ValueError
        return KEY.decrypt(ciphertext[:12], ciphertext[12:], name.encode())
    except Exception:
        raise Refusal(
            grpc.StatusCode.INVALID_ARGUMENT,
            400,
            "Decryption failed: verify that 'name' refers to the correct CryptoKey.",
        )


TOKEN_REQUESTS = {}
TOKEN_LOCK = threading.Lock()


def count_token_request(raw):
    """Counts one token exchange under its refresh token (form or JSON body)."""
    text = raw.decode("utf-8", "replace")
    try:
        token = json.loads(text).get("refresh_token", "")
    except (ValueError, AttributeError):
        token = urllib.parse.parse_qs(text).get("refresh_token", [""])[0]
    with TOKEN_LOCK:
        TOKEN_REQUESTS[token] = TOKEN_REQUESTS.get(token, 0) + 1


def has_bearer(value):
    return bool(value) and value.startswith("Bearer ") and len(value) > len("Bearer ")


# --- REST ----------------------------------------------------------------


class RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("rest: " + (fmt % args) + "\n")

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def refuse(self, status, code, message):
        self.reply(status, {"error": {"code": status, "message": message, "status": code}})

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path != "/token-count":
            return self.refuse(404, "NOT_FOUND", f"no such page: {path}")
        token = urllib.parse.parse_qs(query).get("refresh_token", [""])[0]
        with TOKEN_LOCK:
            return self.reply(200, {"count": TOKEN_REQUESTS.get(token, 0)})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path == "/token":
            # An OAuth token endpoint for credential files (authorized_user,
            # service_account) whose token_uri points here. Exchanges are
            # counted by refresh token, so a test that uses its own can see
            # how many its run made (GET /token-count?refresh_token=…).
            count_token_request(raw)
            return self.reply(
                200, {"access_token": "fake-oauth-token", "expires_in": 3600, "token_type": "Bearer"}
            )
        m = re.match(r"^/v1/(.+):(encrypt|decrypt)$", path)
        if not m:
            return self.refuse(404, "NOT_FOUND", f"no such method: {path}")
        if not has_bearer(self.headers.get("Authorization", "")):
            return self.refuse(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        name, op = m.group(1), m.group(2)
        try:
            body = json.loads(raw or b"{}")
            if op == "encrypt":
                out = encrypt(name, base64.b64decode(body.get("plaintext", "")))
                return self.reply(
                    200,
                    {"name": name + "/cryptoKeyVersions/1", "ciphertext": base64.b64encode(out).decode()},
                )
            out = decrypt(name, base64.b64decode(body.get("ciphertext", "")))
            return self.reply(200, {"plaintext": base64.b64encode(out).decode()})
        except Refusal as r:
            return self.refuse(r.http, r.code.name, r.message)
        except (ValueError, TypeError) as e:
            return self.refuse(400, "INVALID_ARGUMENT", f"bad request: {e}")


# --- gRPC ----------------------------------------------------------------


def grpc_method(request_type, response_type, handle):
    def unary(request, context):
        auth = dict(context.invocation_metadata()).get("authorization", "")
        if not has_bearer(auth):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "Request had invalid authentication credentials.")
        try:
            return handle(request)
        except Refusal as r:
            context.abort(r.code, r.message)

    return grpc.unary_unary_rpc_method_handler(
        unary,
        request_deserializer=request_type.deserialize,
        response_serializer=response_type.serialize,
    )


def grpc_encrypt(req):
    return kms_v1.EncryptResponse(
        name=req.name + "/cryptoKeyVersions/1", ciphertext=encrypt(req.name, bytes(req.plaintext))
    )


def grpc_decrypt(req):
    return kms_v1.DecryptResponse(plaintext=decrypt(req.name, bytes(req.ciphertext)))


def start_grpc(port, cert_pem, key_pem):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        "google.cloud.kms.v1.KeyManagementService",
        {
            "Encrypt": grpc_method(kms_v1.EncryptRequest, kms_v1.EncryptResponse, grpc_encrypt),
            "Decrypt": grpc_method(kms_v1.DecryptRequest, kms_v1.DecryptResponse, grpc_decrypt),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials([(key_pem, cert_pem)])
    server.add_secure_port(f"{HOST}:{port}", creds)
    server.start()
    return server


# --- CONNECT proxy -------------------------------------------------------


# --- certificates --------------------------------------------------------


def make_certs(state_dir):
    """A test CA (written to ca.pem), a server certificate for
    cloudkms.googleapis.com (and localhost) and one for the sovereign
    universe's host, both signed by it."""
    os.makedirs(state_dir, exist_ok=True)
    ca = TestCa("sops-rs test CA")
    ca.write(os.path.join(state_dir, "ca.pem"))
    google = ca.issue("cloudkms.googleapis.com", ["cloudkms.googleapis.com", "localhost"], [HOST])
    return google, ca.issue(SOVEREIGN_HOST, [SOVEREIGN_HOST])


def start_tls_rest(cert_pem, key_pem):
    """The REST API over TLS on a free loopback port; returns the port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for path, pem in ((cert, cert_pem), (key, key_pem)):
            with open(path, "wb") as f:
                f.write(pem if isinstance(pem, bytes) else pem.encode())
        context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer((HOST, 0), RestHandler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]



def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rest-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--proxy-port", type=int, required=True)
    p.add_argument("--state-dir", required=True, help="where ca.pem is written")
    args = p.parse_args()

    (cert_pem, key_pem), (sovereign_cert, sovereign_key) = make_certs(args.state_dir)
    # The given ports first, the sovereign server's port (any free one)
    # last: bound earlier, the kernel could hand it one of the given ports,
    # which the test script chose free but left unbound.
    grpc_server = start_grpc(args.grpc_port, cert_pem, key_pem)
    routes = {}
    proxy = start_connect_proxy(HOST, args.proxy_port, args.grpc_port, routes)
    rest = ThreadingHTTPServer((HOST, args.rest_port), RestHandler)
    rest.daemon_threads = True
    routes[SOVEREIGN_HOST] = start_tls_rest(sovereign_cert, sovereign_key)
    # Ready: every port is bound (the test script waits for this file).
    with open(os.path.join(args.state_dir, "ready"), "w") as f:
        f.write("ok\n")
    try:
        rest.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.shutdown()
        grpc_server.stop(0)


if __name__ == "__main__":
    main()
