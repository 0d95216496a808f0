#!/usr/bin/env python3
"""A local stand-in for a Slack incoming webhook, on 127.0.0.1 (a free port).

    slack_receiver.py [STATUS[:CODE],...]     e.g. 429,500,200   or   404:channel_not_found

Answers each POST with the next planned status (then 200 "ok"), as Slack does: errors carry
Slack's code in the body (invalid_payload, channel_not_found, channel_is_archived, rollup_error),
429 comes with Retry-After: 1. Prints "ready PORT", then one JSON line per request received
({"status": answered, "body": posted JSON}). Stops when stdin closes, or after 300 s.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CODES = {400: "invalid_payload", 403: "action_prohibited", 404: "channel_not_found", 410: "channel_is_archived", 500: "rollup_error"}


def main():
    plan = []
    for item in (sys.argv[1].split(",") if len(sys.argv) > 1 and sys.argv[1] else []):
        status, _, code = item.partition(":")
        plan.append((int(status), code or CODES.get(int(status), "ok")))
    lock = threading.Lock()

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                status, code = plan.pop(0) if plan else (200, "ok")
                print(json.dumps({"status": status, "path": self.path, "body": json.loads(body or b"null")}), flush=True)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(code.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready {server.server_port}", flush=True)
    timer = threading.Timer(300, lambda: server.shutdown())
    timer.daemon = True
    timer.start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
