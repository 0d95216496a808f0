#!/usr/bin/env python3
"""A local stand-in for a webhook, on 127.0.0.1 (a free port): Slack's incoming webhook (the
default), a Microsoft Teams Workflows webhook, or PagerDuty's Events API v2.

    webhook_receiver.py [--as slack|teams|pagerduty] [STATUS[:CODE],...]   e.g. 429,500,200

Answers each POST with the next planned status, then as the service does: Slack 200 "ok";
Teams 202 when the body is a message with one Adaptive Card attachment (the shape its
"Send webhook alerts to a channel" workflow posts), else 400; PagerDuty 202
{"status": "success", "dedup_key": …} when the event is valid as its developer docs define it
("Send an Alert Event": routing_key, event_action, dedup_key ≤ 255, and for a trigger
payload.summary ≤ 1024, payload.source, payload.severity in critical|error|warning|info), else
400 {"status": "invalid event", "errors": […]}. Errors carry Slack's code in the body; 429 comes
with Retry-After: 1. Prints "ready PORT", then one JSON line per request received ({"status":
answered, "body": posted JSON, "errors": what was wrong}). Stops when stdin closes, or after 300 s.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CODES = {400: "invalid_payload", 403: "action_prohibited", 404: "channel_not_found", 410: "channel_is_archived", 500: "rollup_error"}


def pagerduty_errors(e):
    errors = []
    if not isinstance(e, dict):
        return ["the event is not a JSON object"]
    if not isinstance(e.get("routing_key"), str) or not e["routing_key"]:
        errors.append("'routing_key' is missing or blank")
    if e.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid")
    if "dedup_key" in e and (not isinstance(e["dedup_key"], str) or len(e["dedup_key"]) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if e.get("event_action") == "trigger":
        p = e.get("payload") or {}
        if not isinstance(p.get("summary"), str) or not p["summary"] or len(p["summary"]) > 1024:
            errors.append("'payload.summary' is missing or longer than 1024 characters")
        if not isinstance(p.get("source"), str) or not p["source"]:
            errors.append("'payload.source' is missing or blank")
        if p.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' is invalid")
        for link in e.get("links") or []:
            if not isinstance(link, dict) or not str(link.get("href", "")).startswith("http"):
                errors.append("a link has no 'href'")
    return errors


def teams_errors(m, size):
    if not isinstance(m, dict) or m.get("type") != "message":
        return ["the body is not a message"]
    a = m.get("attachments")
    if not isinstance(a, list) or len(a) != 1:
        return ["a message carries exactly one attachment here"]
    errors = []
    if a[0].get("contentType") != "application/vnd.microsoft.card.adaptive":
        errors.append("the attachment is not an Adaptive Card")
    card = a[0].get("content") or {}
    if card.get("type") != "AdaptiveCard" or not isinstance(card.get("version"), str) or not isinstance(card.get("body"), list):
        errors.append("the card has no type AdaptiveCard, version and body")
    if size > 28 * 1024:
        errors.append("the message is over 28 KB")
    return errors


def main():
    args = sys.argv[1:]
    kind = "slack"
    if args[:1] == ["--as"]:
        kind, args = args[1], args[2:]
    plan = []
    for item in (args[0].split(",") if args and args[0] else []):
        status, _, code = item.partition(":")
        plan.append((int(status), code or CODES.get(int(status), "ok")))
    lock = threading.Lock()

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw or b"null")
            with lock:
                status, code = plan.pop(0) if plan else (None, None)
            errors = []
            if status is None:
                if kind == "pagerduty":
                    errors = pagerduty_errors(body)
                    status = 400 if errors else 202
                    answer = {"status": "invalid event", "message": "Event object is invalid", "errors": errors} if errors else \
                        {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
                    code = json.dumps(answer)
                elif kind == "teams":
                    errors = teams_errors(body, len(raw))
                    status, code = (400, "; ".join(errors)) if errors else (202, "")
                else:
                    status, code = 200, "ok"
            with lock:
                print(json.dumps({"status": status, "path": self.path, "body": body, "errors": errors}), flush=True)
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if kind == "pagerduty" else "text/plain")
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
