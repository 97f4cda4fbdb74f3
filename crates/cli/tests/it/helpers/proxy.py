#!/usr/bin/env python3
"""A logging, throttling HTTP proxy in front of a test registry.

Usage: proxy.py UPSTREAM_HOST:PORT PORT_FILE LOG_FILE BYTES_PER_SECOND [MODE]

Every request is logged as `METHOD PATH RANGE`; blob bodies are sent at the
given rate (0: full speed), so a test can interrupt a pull mid-layer and see
whether the next one asks for the rest with a Range header. With FLAKY, the
first request for each path gets a 503 and the first blob body is cut off
halfway, so a client must retry and resume to succeed. MODE "nomonolithic"
answers 413 to a blob upload sent in one PUT (as a proxy with a body limit
does), so a client must fall back to chunked PATCH uploads. MODE "search"
answers Docker Hub's /v1/search from the registry's catalog (each repository
described as "test repository NAME", 3 stars, library/* official).
"""
import http.client
import http.server
import sys
import threading
import time

upstream_host, upstream_port = sys.argv[1].rsplit(":", 1)
port_file, log_file, rate = sys.argv[2], sys.argv[3], int(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else ""
flaky = mode == "flaky"
seen = set()
cut = set()
lock = threading.Lock()
log = open(log_file, "a", buffering=1)
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def proxy(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        # Host goes through, so the URLs the registry hands out (upload
        # locations) point back at the proxy.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        with lock:
            log.write(f"{self.command} {self.path} {self.headers.get('Range', '-')}\n")
            first = (self.command, self.path) not in seen
            seen.add((self.command, self.path))
        if mode == "nomonolithic" and self.command == "PUT" and "/blobs/uploads/" in self.path and length > 0:
            self.reply(413, b"")
            return
        if mode == "search" and self.path.startswith("/v1/search"):
            self.search()
            return
        if flaky and first:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        conn = http.client.HTTPConnection(upstream_host, int(upstream_port), timeout=60)
        conn.request(self.command, self.path, body, headers)
        resp = conn.getresponse()
        data = resp.read() if self.command != "HEAD" else b""
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if self.command == "HEAD":
            self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        slow = rate > 0 and self.command == "GET" and "/blobs/" in self.path
        if flaky and self.command == "GET" and "/blobs/" in self.path and len(data) > 1 << 20:
            with lock:
                cutting = self.path not in cut
                cut.add(self.path)
            if cutting:
                # Promise it all, send half, hang up.
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                conn.close()
                return
        step = 64 << 10
        try:
            for i in range(0, len(data), step):
                self.wfile.write(data[i:i + step])
                if slow:
                    self.wfile.flush()
                    time.sleep(step / rate)
        except (BrokenPipeError, ConnectionResetError):
            pass
        conn.close()

    def reply(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def search(self):
        import json
        import urllib.parse
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        term = q.get("q", [""])[0]
        n = int(q.get("n", ["25"])[0])
        conn = http.client.HTTPConnection(upstream_host, int(upstream_port), timeout=60)
        conn.request("GET", "/v2/_catalog")
        repos = json.loads(conn.getresponse().read()).get("repositories", [])
        results = [{"name": r, "description": f"test repository {r}", "star_count": 3,
                    "is_official": r.startswith("library/"), "is_automated": False}
                   for r in repos if term in r][:n]
        self.reply(200, json.dumps({"num_results": len(results), "query": term,
                                    "results": results}).encode())

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = proxy


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
