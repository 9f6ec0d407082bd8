"""The CONNECT proxy the TLS fakes share: the reference sops reaches a
fake through it (`HTTPS_PROXY`), since its endpoints (Google's, Azure's)
are fixed. Every tunnel, whatever host it names, leads to the fake's own
port on the loopback address (or, for a host the fake routes elsewhere,
to another of its ports), so nothing leaves the machine."""

import select
import socket
import socketserver
import sys
import threading


class _Tunnel(socketserver.BaseRequestHandler):
    target_port = 0
    routes = {}

    def handle(self):
        client = self.request
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
            if len(head) > 65536:
                return
        first = head.split(b"\r\n", 1)[0].decode("latin-1")
        sys.stderr.write(f"proxy: {first}\n")
        if not first.startswith("CONNECT "):
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host = first.split(" ")[1].rsplit(":", 1)[0] if " " in first else ""
        port = self.routes.get(host, self.target_port)
        try:
            upstream = socket.create_connection((self.server.host, port), timeout=5)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        upstream.settimeout(None)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        pair = [client, upstream]
        try:
            while True:
                readable, _, _ = select.select(pair, [], [], 300)
                if not readable:
                    return
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is client else client).sendall(data)
        except OSError:
            return
        finally:
            upstream.close()


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_connect_proxy(host, port, target_port, routes=None):
    """Serves CONNECT on host:port in a background thread, every tunnel to
    host:target_port, or to host:routes[name] for a CONNECT to a name in
    routes (read at each CONNECT, so a caller may fill it after the proxy is
    bound); returns the server."""
    handler = type("Tunnel", (_Tunnel,), {"target_port": target_port, "routes": routes if routes is not None else {}})
    server = _Server((host, port), handler)
    server.host = host
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
