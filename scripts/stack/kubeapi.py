"""A minimal Kubernetes API client for seeding (urllib + the stack's CA and admin token)."""
import json
import ssl
import time
import urllib.error
import urllib.request


class KubeError(Exception):
    def __init__(self, code, body):
        super().__init__(f"HTTP {code}: {body[:500]}")
        self.code = code


class Kube:
    def __init__(self, server, token, ca_file):
        self.server = server.rstrip("/")
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def request(self, method, path, body=None, content_type="application/json"):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                raw = resp.read()
                if not raw:
                    return {}
                try:
                    return json.loads(raw)
                except ValueError:
                    return raw.decode(errors="replace")  # /readyz, /healthz answer plain text
        except urllib.error.HTTPError as e:
            raise KubeError(e.code, e.read().decode(errors="replace")) from None

    def get(self, path):
        return self.request("GET", path)

    def create(self, path, obj):
        return self.request("POST", path, obj)

    def apply(self, path, obj):
        """Create, or leave alone when it already exists (seeding is idempotent)."""
        try:
            return self.create(path, obj)
        except KubeError as e:
            if e.code != 409:
                raise
            return self.get(f"{path}/{obj['metadata']['name']}")

    def patch_status(self, path, status):
        return self.request("PATCH", f"{path}/status", {"status": status}, "application/merge-patch+json")

    def delete(self, path):
        try:
            return self.request("DELETE", path)
        except KubeError as e:
            if e.code != 404:
                raise

    def wait(self, path, predicate, what, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.get(path)
                if predicate(last):
                    return last
            except KubeError as e:
                last = str(e)
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}; last seen: {str(last)[:300]}")
