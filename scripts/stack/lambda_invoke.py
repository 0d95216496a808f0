#!/usr/bin/env python3
"""Invokes the Lambda binary once, locally, through a minimal Lambda Runtime API on loopback.

    lambda_invoke.py EVENT.json -- path/to/eks-lb-doctor-lambda

The binary runs exactly as on AWS Lambda (the real lambda_runtime polls /next, posts the
response); this serves one event, prints the function's response JSON on stdout (its logs go to
stderr), and stops the process it started. Exit 0 on a response, 1 on a function error.
"""
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIMEOUT_S = int(os.environ.get("LAMBDA_TIMEOUT_S", "60"))


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        raise SystemExit(__doc__)
    event = open(sys.argv[1], "rb").read()
    request_id = str(uuid.uuid4())
    done = threading.Event()
    stopped = threading.Event()
    result = {}

    class Runtime(BaseHTTPRequestHandler):
        served = False

        def log_message(self, *args):
            pass

        def do_GET(self):
            if not self.path.endswith("/runtime/invocation/next"):
                return self.send_error(404)
            if Runtime.served:
                # The function asks for a second event: hold the poll, unanswered, until its
                # process is stopped (as Lambda freezes it). An answer without an event would
                # make lambda_runtime panic ("missing lambda-runtime-aws-request-id header")
                # into the function's log before it is stopped.
                stopped.wait(TIMEOUT_S + 10)
                return
            Runtime.served = True
            self.send_response(200)
            deadline = int((time.time() + TIMEOUT_S) * 1000)
            for k, v in {"Lambda-Runtime-Aws-Request-Id": request_id, "Lambda-Runtime-Deadline-Ms": str(deadline),
                         "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:eks-lb-doctor",
                         "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000", "Content-Type": "application/json",
                         "Content-Length": str(len(event))}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(event)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            kind = "response" if self.path.endswith("/response") else "error"
            result[kind] = body.decode(errors="replace")
            self.send_response(202)
            self.end_headers()
            done.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}", "AWS_LAMBDA_FUNCTION_NAME": "eks-lb-doctor",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/eks-lb-doctor", "AWS_LAMBDA_LOG_STREAM_NAME": "local"}
    # The function logs to stdout (as on Lambda); keep ours for the response alone.
    proc = subprocess.Popen(sys.argv[3:], env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr)
    finished = done.wait(TIMEOUT_S)
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    stopped.set()
    server.shutdown()
    if not finished:
        raise SystemExit(f"lambda_invoke: no response within {TIMEOUT_S}s (exit code {proc.poll()})")
    if "response" in result:
        print(json.dumps(json.loads(result["response"]), indent=2))
        return 0
    print(result["error"], file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
