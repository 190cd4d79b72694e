"""A webhook receiver as a team would write one (stdlib only): verify each delivery's
HMAC-SHA256 signature, refuse stale timestamps, deduplicate on the delivery id, print one line.

    python3 webhook_receiver.py --port 8765 --secret-env HOOK_SECRET     # until SIGTERM / Ctrl-C

The signed string is "<X-Llmreg-Delivery-Id>.<X-Llmreg-Timestamp>.<raw body>";
X-Llmreg-Signature is "v1," + its hex HMAC-SHA256 under the subscription's secret.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-env", required=True, help="environment variable holding the shared secret")
    args = parser.parse_args()
    secret = os.environ[args.secret_env].encode()
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            delivery, stamp = self.headers.get("X-Llmreg-Delivery-Id", ""), self.headers.get("X-Llmreg-Timestamp", "0")
            expected = "v1," + hmac.new(secret, f"{delivery}.{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            fresh = abs(time.time() - int(stamp)) <= 300
            if not (fresh and hmac.compare_digest(expected, self.headers.get("X-Llmreg-Signature", ""))):
                self.send_response(401)
                self.end_headers()
                print(f"delivery {delivery}: REJECTED (bad signature or stale timestamp)", flush=True)
                return
            self.send_response(204)
            self.end_headers()
            if delivery in seen:  # at-least-once delivery: a resend after a crash is not news
                return
            seen.add(delivery)
            event = json.loads(body)["event"]
            data = event.get("data") or {}
            what = data.get("stage") or (f"{data['gate']} (to {data.get('target')})" if data.get("gate") else "")
            print(f"delivery {delivery}: signature ok: #{event['seq']} {event['type']} {event['name']}@{event['version']}"
                  f" {what} by {event['actor']}".rstrip(), flush=True)

    server = HTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
