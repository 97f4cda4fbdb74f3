#!/usr/bin/env python3
"""A Docker token server for tests: the `WWW-Authenticate: Bearer` flow.

Usage: token_server.py PORT_FILE KEY_PEM CERT_PEM USER PASSWORD ISSUER LOG_FILE

GET /token?service=S&scope=repository:NAME:pull,push answers with an RS256 JWT
(x5c header carrying CERT_PEM, which the registry trusts as its root bundle).
The right USER:PASSWORD gets every action asked for; no credentials get a
token with no access (the registry then refuses); wrong ones get a 401.
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse

port_file, key, cert, user, password, issuer, log_file = sys.argv[1:8]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                     check=True, capture_output=True).stdout
log = open(log_file, "a", buffering=1)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims):
    header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=signing_input.encode(), check=True, capture_output=True).stdout
    return signing_input + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        who = None
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if (u, p) != (user, password):
                log.write(f"refused {u}\n")
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            who = u
        access = []
        for scope in q.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if who:
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        log.write(f"token for {who or 'anonymous'}: {q.get('scope', [])}\n")
        now = int(time.time())
        token = sign({"iss": issuer, "sub": who or "", "aud": q.get("service", [""])[0],
                      "exp": now + 300, "nbf": now - 10, "iat": now,
                      "jti": os.urandom(8).hex(), "access": access})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
