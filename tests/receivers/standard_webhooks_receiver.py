#!/usr/bin/env python3
"""A webhook receiver verifying every request with the official Standard Webhooks library.

Usage: standard_webhooks_receiver.py SECRETS_JSON

SECRETS_JSON is a file mapping request paths to the whsec_ secret of the webhook posting
there, e.g. {"/a": "whsec_..."}. It is read again on every request, so a test can change
it (after a secret rotation) while the receiver runs.

Binds 127.0.0.1 on a free port and prints "PORT <n>" on stdout once it listens. Each POST
is verified with standardwebhooks.webhooks.Webhook(secret).verify(body, headers): 204 when
valid, 400 with the library's reason otherwise (also printed to stdout as "VALID <path>" or
"INVALID <path> <reason>").
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

SECRETS_FILE = sys.argv[1]
OUTPUT = threading.Lock()


def say(line):
    """Prints one whole line (handler threads must not interleave their output)."""
    with OUTPUT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {name: value for name, value in self.headers.items()}
        try:
            with open(SECRETS_FILE, encoding="utf-8") as f:
                secrets = json.load(f)
            secret = secrets.get(self.path)
            if secret is None:
                raise ValueError(f"no secret configured for path {self.path}")
            Webhook(secret).verify(body, headers)
        except Exception as e:  # the library raises WebhookVerificationError and others
            reason = f"{type(e).__name__}: {e}"
            say(f"INVALID {self.path} {reason}")
            self.answer(400, reason.encode())
            return
        say(f"VALID {self.path}")
        self.answer(204, b"")

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    say(f"PORT {server.server_address[1]}")
    server.serve_forever()


if __name__ == "__main__":
    main()
