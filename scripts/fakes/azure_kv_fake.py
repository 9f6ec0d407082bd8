#!/usr/bin/env python3
"""A stand-in for Azure Key Vault's key operations and Entra ID's token
endpoint, for tests only.

No Key Vault emulator is available (shared/spec/dependencies.md §9.4), so
this program serves, on 127.0.0.1 only:

* one HTTPS port (``--port``) with a certificate for ``*.vault.azure.net``,
  ``localhost`` and 127.0.0.1, signed by a test CA written to
  ``<state-dir>/ca.pem``. It answers:

  - Key Vault, for any vault host ``<name>.vault.azure.net``:
    ``GET /keys/<name>[/<version>]`` (the key as a JWK with its ``kid``),
    ``POST /keys/<name>/<version>/encrypt|decrypt`` with
    ``{"alg": "RSA-OAEP-256", "value": base64url}``. Every key name has RSA
    keys created on first use, one per version; the version a name without
    one means ("latest") is a fixed id derived from the name. A request
    without a bearer token gets the challenge (401 with
    ``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
    resource="https://vault.azure.net"``), as Key Vault does; an unknown
    token gets 401. A key name containing ``denied`` is refused with 403, one
    containing ``missing`` with 404.
  - Entra ID's token endpoint, ``POST /<tenant>/oauth2/v2.0/token`` (tests
    point ``AZURE_AUTHORITY_HOST`` at ``https://127.0.0.1:<port>``): the
    client-secret grant for client ``sops-test-client`` with secret
    ``sops-test-secret``, and the client-assertion grant: workload identity
    with the assertion ``sops-test-federated-token``, or a certificate
    credential's JWT (PS256 or RS256, checked against the client
    certificate and key the fake writes to ``<state-dir>/client.pem``).

* an HTTP CONNECT proxy (``--proxy-port``) that tunnels every CONNECT to the
  HTTPS port, so that clients whose vault host is fixed by DNS reach the
  fake with ``HTTPS_PROXY=http://127.0.0.1:<proxy> SSL_CERT_FILE=<state-dir>/ca.pem``.

Tokens accepted by the vault: the ones the token endpoint issues and
``sops-test-cli-token`` (what scripts/fakes/az hands out by default).
Needs only ``cryptography`` (the system python3 has it).
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from connect_proxy import start_connect_proxy
from test_ca import TestCa, write_file

HOST = "127.0.0.1"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "sops-test-client"
CLIENT_SECRET = "sops-test-secret"
FEDERATED_TOKEN = "sops-test-federated-token"
CLI_TOKEN = "sops-test-cli-token"
SECRET_TOKEN = "sops-test-secret-token"
WORKLOAD_TOKEN = "sops-test-workload-token"
VALID_TOKENS = {CLI_TOKEN, SECRET_TOKEN, WORKLOAD_TOKEN}
VAULT_HOST = re.compile(r"^([a-z0-9-]+)\.vault\.azure\.net(:443)?$")
NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)

CERT_TOKEN = "sops-test-certificate-token"
VALID_TOKENS.add(CERT_TOKEN)
CLIENT_CERT = {}  # "der" and "public_key" of the client certificate

KEYS = {}
KEYS_LOCK = threading.Lock()
COUNTS = {}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def latest_version(name):
    return hashlib.sha256(b"latest:" + name.encode()).hexdigest()[:32]


def rsa_key(vault, name, version):
    with KEYS_LOCK:
        k = KEYS.get((vault, name, version))
        if k is None:
            k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            KEYS[(vault, name, version)] = k
        return k


def count(what):
    with KEYS_LOCK:
        COUNTS[what] = COUNTS.get(what, 0) + 1


def check_assertion(jwt, tenant, host):
    """Why a certificate credential's JWT is refused, or None."""
    try:
        head_b64, claims_b64, sig_b64 = jwt.split(".")
        head = json.loads(unb64url(head_b64))
        claims = json.loads(unb64url(claims_b64))
        sig = unb64url(sig_b64)
    except (ValueError, TypeError):
        return "not a JWT"
    thumb = b64url(hashlib.sha256(CLIENT_CERT["der"]).digest())
    if head.get("x5t#S256") != thumb and head.get("x5t") != b64url(hashlib.sha1(CLIENT_CERT["der"]).digest()):
        return "unknown certificate"
    signed = f"{head_b64}.{claims_b64}".encode()
    key = CLIENT_CERT["public_key"]
    try:
        if head.get("alg") == "PS256":
            key.verify(sig, signed, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        elif head.get("alg") == "RS256":
            key.verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            return f"unsupported alg {head.get('alg')!r}"
    except InvalidSignature:
        return "bad signature"
    if claims.get("aud") != f"https://{host}/{tenant}/oauth2/v2.0/token":
        return f"wrong audience {claims.get('aud')!r}"
    if claims.get("iss") != CLIENT_ID or claims.get("sub") != CLIENT_ID:
        return "wrong issuer"
    now = time.time()
    if not (claims.get("nbf", 0) - 300 <= now <= claims.get("exp", 0)):
        return "expired"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("https: " + (fmt % args) + "\n")

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def vault_error(self, status, code, message, headers=()):
        self.reply(status, {"error": {"code": code, "message": message}}, headers)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        self.body()
        path, _, query = self.path.partition("?")
        if path == "/counts":
            with KEYS_LOCK:
                return self.reply(200, dict(COUNTS))
        self.vault("GET", path, b"")

    def do_POST(self):
        raw = self.body()
        path, _, _ = self.path.partition("?")
        m = re.match(r"^/([^/]+)/oauth2/v2\.0/token$", path)
        if m:
            return self.token(m.group(1), raw)
        self.vault("POST", path, raw)

    # --- Entra ID --------------------------------------------------------

    def token(self, tenant, raw):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace")).items()}
        count("token")
        if tenant != TENANT:
            return self.reply(400, {"error": "invalid_request",
                                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found."})
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != CLIENT_ID:
            return self.reply(400, {"error": "unauthorized_client",
                                    "error_description": "AADSTS700016: Application not found."})
        if not form.get("scope", "").endswith("/.default"):
            return self.reply(400, {"error": "invalid_scope",
                                    "error_description": "AADSTS70011: The provided value for scope is not valid."})
        if "client_secret" in form:
            if form["client_secret"] != CLIENT_SECRET:
                return self.reply(401, {"error": "invalid_client",
                                        "error_description": "AADSTS7000215: Invalid client secret provided."})
            token = SECRET_TOKEN
        elif form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
                and form.get("client_assertion", "").count(".") == 2:
            problem = check_assertion(form["client_assertion"], tenant, self.headers.get("Host", ""))
            if problem:
                return self.reply(401, {"error": "invalid_client",
                                        "error_description": f"AADSTS700027: Client assertion failed: {problem}"})
            token = CERT_TOKEN
        elif form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            if form.get("client_assertion") != FEDERATED_TOKEN:
                return self.reply(401, {"error": "invalid_client",
                                        "error_description": "AADSTS700211: No matching federated identity record found."})
            token = WORKLOAD_TOKEN
        else:
            return self.reply(400, {"error": "invalid_request",
                                    "error_description": "AADSTS900144: The request body must contain client_secret or client_assertion."})
        self.reply(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                         "access_token": token})

    # --- Key Vault -------------------------------------------------------

    def vault(self, method, path, raw):
        host = (self.headers.get("Host") or "").lower()
        hm = VAULT_HOST.match(host)
        if not hm:
            return self.vault_error(404, "NotFound", f"no vault at host {host!r}")
        vault = hm.group(1)
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            count("challenge")
            return self.vault_error(
                401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                [("WWW-Authenticate",
                  f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                  'resource="https://vault.azure.net"')])
        if auth[len("Bearer "):] not in VALID_TOKENS:
            return self.vault_error(
                401, "Unauthorized", "[BearerReadAccessTokenFailed] Error validating token: 'S2S12005'.",
                [("WWW-Authenticate",
                  f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                  'resource="https://vault.azure.net"')])
        m = re.match(r"^/keys/([^/]+)(?:/([^/]*))?(?:/(encrypt|decrypt))?/?$", path)
        if not m:
            return self.vault_error(400, "BadParameter", f"unknown path {path}")
        name, version, op = m.group(1), m.group(2) or "", m.group(3)
        if not NAME.match(name):
            return self.vault_error(400, "BadParameter", "The request URI contains an invalid name")
        if "denied" in name:
            return self.vault_error(
                403, "Forbidden",
                f"The user, group or application does not have keys {op or 'get'} permission on key vault '{vault}'.")
        if "missing" in name:
            return self.vault_error(
                404, "KeyNotFound",
                f"A key with (name/id) {name} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command.")
        version = version or latest_version(name)
        kid = f"https://{vault}.vault.azure.net/keys/{name}/{version}"
        key = rsa_key(vault, name, version)
        if method == "GET" and op is None:
            count("get")
            pub = key.public_key().public_numbers()
            n = pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")
            e = pub.e.to_bytes(3, "big")
            now = int(time.time())
            return self.reply(200, {
                "key": {"kid": kid, "kty": "RSA", "key_ops": ["encrypt", "decrypt"],
                        "n": b64url(n), "e": b64url(e)},
                "attributes": {"enabled": True, "created": now, "updated": now,
                               "recoveryLevel": "Recoverable+Purgeable"},
            })
        if method != "POST" or op is None:
            return self.vault_error(405, "MethodNotAllowed", f"{method} {path}")
        try:
            body = json.loads(raw or b"{}")
            if body.get("alg") != "RSA-OAEP-256":
                return self.vault_error(400, "BadParameter", f"unsupported algorithm {body.get('alg')!r}")
            value = unb64url(body.get("value", ""))
        except (ValueError, TypeError) as e:
            return self.vault_error(400, "BadParameter", f"bad request: {e}")
        count(op)
        if op == "encrypt":
            return self.reply(200, {"kid": kid, "value": b64url(key.public_key().encrypt(value, OAEP))})
        try:
            plain = key.decrypt(value, OAEP)
        except ValueError:
            return self.vault_error(400, "BadParameter", "Operation decrypt is not allowed: the ciphertext is invalid.")
        return self.reply(200, {"kid": kid, "value": b64url(plain)})


# --- CONNECT proxy -------------------------------------------------------


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    context = None

    def finish_request(self, request, client_address):
        # The handshake runs on the request's own thread, so a client that
        # never completes one holds up nobody else.
        request.settimeout(30)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write(f"https: handshake failed: {e}\n")
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


# --- certificates --------------------------------------------------------


def make_certs(state_dir):
    """A test CA (written to ca.pem) and a server certificate for
    *.vault.azure.net, localhost and 127.0.0.1 that it signs."""
    os.makedirs(state_dir, exist_ok=True)
    ca = TestCa("sops-rs Azure test CA")
    ca.write(os.path.join(state_dir, "ca.pem"))
    server_cert, server_key = ca.issue("vault.azure.net", ["*.vault.azure.net", "localhost"], [HOST])
    now = datetime.datetime.now(datetime.timezone.utc)
    # The certificate credential's client certificate and key (RSA, PEM).
    client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CLIENT_ID)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CLIENT_ID)]))
        .public_key(client_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(client_key, hashes.SHA256())
    )
    CLIENT_CERT["der"] = client_cert.public_bytes(serialization.Encoding.DER)
    CLIENT_CERT["public_key"] = client_key.public_key()
    with open(os.path.join(state_dir, "client.pem"), "wb") as f:
        f.write(client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        f.write(client_cert.public_bytes(serialization.Encoding.PEM))
    cert_path = os.path.join(state_dir, "server.pem")
    write_file(cert_path, server_cert + server_key, private=True)
    return cert_path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--proxy-port", type=int, required=True)
    p.add_argument("--state-dir", required=True, help="where ca.pem is written")
    args = p.parse_args()

    cert_path = make_certs(args.state_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path)
    context.set_alpn_protocols(["http/1.1"])
    server = TlsServer((HOST, args.port), Handler)
    server.context = context

    proxy = start_connect_proxy(HOST, args.proxy_port, args.port)

    # Ready: every port is bound (the test script waits for this file).
    with open(os.path.join(args.state_dir, "ready"), "w") as f:
        f.write("ok\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.shutdown()


if __name__ == "__main__":
    main()
