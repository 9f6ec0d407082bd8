#!/usr/bin/env python3
"""A stand-in for Google Cloud Storage's JSON API, for the `publish` tests.

Serves on 127.0.0.1 only (plain HTTP, as ``STORAGE_EMULATOR_HOST`` endpoints
are), keeping objects in memory:

* uploads ``POST /upload/storage/v1/b/BUCKET/o`` with ``uploadType=media``
  (``name=`` in the query; what ours sends), ``multipart``
  (``multipart/related``: JSON metadata then the media) and ``resumable``
  (a session URL, then one ``PUT`` with the whole media; what Google's Go
  client, so the reference sops, may send);
* downloads ``GET /storage/v1/b/BUCKET/o/OBJECT?alt=media`` (also under
  ``/download``), and ``GET /BUCKET/OBJECT``; without ``alt=media`` the
  object's resource, whose ``metadata`` holds the ``Authorization`` header
  the upload came with (``fake-authorization``) and its content type;
* a bucket whose name contains ``denied`` refuses uploads (403), one
  containing ``missing`` does not exist (404); every other bucket exists.

Standard library only (system python3).
"""

import argparse
import json
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
OBJECTS = {}  # (bucket, name) -> (bytes, resource dict)
SESSIONS = {}  # upload id -> (bucket, name, auth)
LOCK = threading.Lock()


def google_error(code, message):
    return code, {"error": {"code": code, "message": message, "errors": [{"message": message}]}}


def refuse(bucket):
    if "denied" in bucket:
        return google_error(403, "fake: permission denied on bucket " + bucket)
    if "missing" in bucket:
        return google_error(404, "The specified bucket does not exist.")
    return None


def store(bucket, name, data, auth, content_type):
    resource = {
        "kind": "storage#object",
        "bucket": bucket,
        "name": name,
        "size": str(len(data)),
        "contentType": content_type or "",
        "metadata": {"fake-authorization": auth or ""},
    }
    with LOCK:
        OBJECTS[(bucket, name)] = (data, resource)
    return 200, resource


def parse_multipart(body, content_type):
    boundary = None
    for piece in content_type.split(";"):
        piece = piece.strip()
        if piece.startswith("boundary="):
            boundary = piece[len("boundary="):].strip('"')
    if not boundary:
        return None, None, None
    parts = body.split(b"--" + boundary.encode())
    found = []
    for part in parts[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        found.append((head.decode("latin-1"), content))
    if len(found) < 2:
        return None, None, None
    meta = json.loads(found[0][1] or b"{}")
    media_type = None
    for line in found[1][0].split("\r\n"):
        if line.lower().startswith("content-type:"):
            media_type = line.split(":", 1)[1].strip()
    return meta, found[1][1], media_type


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("gcs_fake: " + (fmt % args) + "\n")

    def reply(self, code, payload, headers=None, raw=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        data = self.body()
        parts = url.path.split("/")
        # /upload/storage/v1/b/BUCKET/o
        if len(parts) != 7 or parts[1:5] != ["upload", "storage", "v1", "b"] or parts[6] != "o":
            return self.reply(*google_error(404, "fake: no such route " + url.path))
        bucket = urllib.parse.unquote(parts[5])
        refused = refuse(bucket)
        if refused:
            return self.reply(*refused)
        kind = (query.get("uploadType") or [""])[0]
        auth = self.headers.get("Authorization")
        if kind == "media":
            name = (query.get("name") or [""])[0]
            if not name:
                return self.reply(*google_error(400, "fake: name is required"))
            return self.reply(*store(bucket, name, data, auth, self.headers.get("Content-Type")))
        if kind == "multipart":
            meta, media, media_type = parse_multipart(data, self.headers.get("Content-Type", ""))
            if meta is None or not meta.get("name"):
                return self.reply(*google_error(400, "fake: bad multipart upload"))
            return self.reply(*store(bucket, meta["name"], media, auth, meta.get("contentType") or media_type))
        if kind == "resumable":
            meta = json.loads(data or b"{}")
            name = meta.get("name") or (query.get("name") or [""])[0]
            upload_id = uuid.uuid4().hex
            with LOCK:
                SESSIONS[upload_id] = (bucket, name, auth, meta.get("contentType"))
            location = "http://%s:%d/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s" % (
                HOST, self.server.server_address[1], urllib.parse.quote(bucket, safe=""), upload_id)
            return self.reply(200, {}, headers={"Location": location})
        return self.reply(*google_error(400, "fake: unsupported uploadType " + kind))

    def do_PUT(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        data = self.body()
        upload_id = (query.get("upload_id") or [""])[0]
        with LOCK:
            session = SESSIONS.pop(upload_id, None)
        if session is None:
            return self.reply(*google_error(404, "fake: no such upload session"))
        bucket, name, auth, content_type = session
        return self.reply(*store(bucket, name, data, auth, content_type or self.headers.get("Content-Type")))

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path
        if path.startswith("/download/"):
            path = path[len("/download"):]
        parts = path.split("/")
        media = (query.get("alt") or [""])[0] == "media"
        if len(parts) >= 7 and parts[1:4] == ["storage", "v1", "b"] and parts[5] == "o":
            bucket = urllib.parse.unquote(parts[4])
            name = urllib.parse.unquote("/".join(parts[6:]))
        elif len(parts) >= 3:
            bucket = urllib.parse.unquote(parts[1])
            name = urllib.parse.unquote("/".join(parts[2:]))
            media = True
        else:
            return self.reply(*google_error(404, "fake: no such route " + url.path))
        with LOCK:
            found = OBJECTS.get((bucket, name))
        if found is None:
            return self.reply(*google_error(404, "No such object: %s/%s" % (bucket, name)))
        data, resource = found
        if media:
            return self.reply(200, None, raw=data)
        return self.reply(200, resource)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer((HOST, args.port), Handler)
    print("gcs_fake: listening on http://%s:%d" % (HOST, server.server_address[1]), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
