#!/usr/bin/env python3
"""Health-check targets on loopback for the probe's tests: one behaviour per address.

  127.0.0.2:18080  200          127.0.0.5:18080  answers after 8 s (past any test timeout)
  127.0.0.3:18080  404          127.0.0.6:18080  accepts, then resets the connection
  127.0.0.4:18080  503          127.0.0.7:18080  nothing listens (refused)
  127.0.0.8:18443  HTTPS 200 with a self-signed certificate

Prints "ready" once listening; stops when its standard input closes, or after 300 s at most.
Only loopback addresses are used.
"""
import datetime
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, TLS_PORT = 18080, 18443


def handler(code, delay=0.0):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            time.sleep(delay)
            body = f"status {code}\n".encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("X-Probe-Target", self.server.server_address[0])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    return H


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()


def resetter():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.6", PORT))
    s.listen(16)

    def loop():
        while True:
            c, _ = s.accept()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close → RST
            c.close()
    threading.Thread(target=loop, daemon=True).start()


def tls_context():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe-target")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.8"))]), critical=False)
            .sign(key, hashes.SHA256()))
    d = tempfile.mkdtemp()
    open(f"{d}/c.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(f"{d}/k.pem", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{d}/c.pem", f"{d}/k.pem")
    return ctx


def main():
    for addr, code, delay in [("127.0.0.2", 200, 0), ("127.0.0.3", 404, 0), ("127.0.0.4", 503, 0), ("127.0.0.5", 200, 8)]:
        serve(ThreadingHTTPServer((addr, PORT), handler(code, delay)))
    resetter()
    tls = ThreadingHTTPServer(("127.0.0.8", TLS_PORT), handler(200))
    tls.socket = tls_context().wrap_socket(tls.socket, server_side=True)
    serve(tls)
    print("ready", flush=True)
    deadline = threading.Timer(300, lambda: sys.exit(0))
    deadline.daemon = True
    deadline.start()
    sys.stdin.read()  # until the test closes our standard input


if __name__ == "__main__":
    main()
