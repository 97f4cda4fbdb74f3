#!/usr/bin/env python3
"""The docker CLI's floor: a unix-socket server that answers each request
with the response berth gave the first time it saw that method and path
(a request body, such as a build context, is read and dropped after the
first time).
It does no work per request, so a CLI command timed against it measures the
CLI itself (start-up, decoding, formatting) and nothing of the daemon.
Usage: replay_api.py LISTEN_SOCKET BERTH_SOCKET"""
import http.client
import http.server
import os
import socket
import socketserver
import sys

listen, upstream = sys.argv[1], sys.argv[2]
cache = {}


class Upstream(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(upstream)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    return data
                data += chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self):
        key = (self.command, self.path)
        body = self.body() if self.command == "POST" else None
        if key not in cache:
            c = Upstream("d")
            headers = {"Host": "d"}
            if body is not None:
                headers["Content-Type"] = self.headers.get("Content-Type", "application/octet-stream")
                for h in ("X-Registry-Config",):
                    if self.headers.get(h):
                        headers[h] = self.headers[h]
            c.request(self.command, self.path, body=body, headers=headers)
            r = c.getresponse()
            body = r.read()
            keep = [(k, v) for k, v in r.getheaders()
                    if k.lower() not in ("content-length", "transfer-encoding", "date", "connection")]
            cache[key] = (r.status, keep, body)
            c.close()
        status, headers, body = cache[key]
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = answer

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(listen):
    os.unlink(listen)
Server(listen, Handler).serve_forever()
