#!/usr/bin/env python3
"""The local stack: real servers on 127.0.0.1 for tests, the demo and benchmarks.

  moto server (AWS, with target-health overrides)       127.0.0.1:$STACK_MOTO_PORT      (15000)
  etcd → kube-apiserver 1.20.2 → kube-controller-manager 127.0.0.1:$STACK_APISERVER_PORT (16443)

  scripts/stack.py up                  start everything (idempotent); prints the env file
  scripts/stack.py status              what runs, by PID
  scripts/stack.py down                stop what `up` started (by recorded PID) and wipe state
  scripts/stack.py seed SCENARIO [--namespace NS]
                                       seed a named scenario through the real APIs; prints JSON
  scripts/stack.py scenarios           list the scenarios

State (PIDs, certificates, kubeconfig, env file, logs) lives in $EKS_LB_DOCTOR_STACK (default
.stack/ in the repository). `source .stack/env` points the AWS SDK and kube clients at the stack.
Nothing here dials anything but loopback; the API server never dials a node
(--kubelet-preferred-address-types=Hostname and fake Nodes carry no Hostname address).
"""
import argparse
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "stack"))

STATE = Path(os.environ.get("EKS_LB_DOCTOR_STACK", REPO / ".stack"))
HOST = "127.0.0.1"
MOTO_PORT = int(os.environ.get("STACK_MOTO_PORT", "15000"))
APISERVER_PORT = int(os.environ.get("STACK_APISERVER_PORT", "16443"))
ETCD_PORT = int(os.environ.get("STACK_ETCD_PORT", "23790"))
REGION = "us-east-1"
ADMIN_TOKEN = "eks-lb-doctor-admin-token"
CM_TOKEN = "eks-lb-doctor-controller-manager-token"
NOBODY_TOKEN = "eks-lb-doctor-nobody-token"
READER_TOKEN = "eks-lb-doctor-reader-token"
STORM_TOKEN = "eks-lb-doctor-storm-token"
PASS_TOKEN = "eks-lb-doctor-pass-token"
AWS_ENV = {
    "AWS_ENDPOINT_URL": f"http://{HOST}:{MOTO_PORT}",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    # Without these, boto and the SDK reach for 169.254.169.254 (instance metadata): off limits.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


def log(msg):
    print(f"stack: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ processes

def pids():
    f = STATE / "pids.json"
    return json.loads(f.read_text()) if f.exists() else {}


def save_pid(name, pid, marker):
    p = pids()
    p[name] = {"pid": pid, "marker": marker}
    (STATE / "pids.json").write_text(json.dumps(p, indent=2))


def ours(entry):
    """True when the PID still runs the process we started (PIDs get reused)."""
    try:
        cmdline = Path(f"/proc/{entry['pid']}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return entry["marker"] in cmdline


def starting_or_ours(entry):
    """Like `ours`, but a process still between fork and exec (empty cmdline, not a zombie)
    counts as alive: right after Popen its cmdline can still be empty."""
    try:
        stat = Path(f"/proc/{entry['pid']}/stat").read_text()
        cmdline = Path(f"/proc/{entry['pid']}/cmdline").read_bytes()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return False
    return not cmdline or entry["marker"] in cmdline.decode(errors="replace")


def start(name, argv, env=None, marker=None):
    logf = open(STATE / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    save_pid(name, proc.pid, marker or argv[0])
    return proc


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((HOST, port)) == 0


def wait_for(what, check, timeout=60, name=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        if name and not starting_or_ours(pids().get(name, {"pid": -1, "marker": "-"})):
            tail = (STATE / f"{name}.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"stack: {name} exited while waiting for {what}:\n{tail}")
        time.sleep(0.2)
    raise SystemExit(f"stack: timed out waiting for {what}")


# ------------------------------------------------------------------ certificates

def make_certs():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    import ipaddress

    def key():
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def write_key(path, k):
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption()))

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eks-lb-doctor-test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    srv_key = key()
    srv = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
           .issuer_name(ca_name).public_key(srv_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=365))
           .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]), critical=False)
           .sign(ca_key, hashes.SHA256()))
    (STATE / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (STATE / "apiserver.crt").write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    write_key(STATE / "apiserver.key", srv_key)
    sa = key()
    write_key(STATE / "sa.key", sa)
    (STATE / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def kubeconfig(path, token, user):
    server = f"https://{HOST}:{APISERVER_PORT}"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stack",
        "clusters": [{"name": "stack", "cluster": {"server": server, "certificate-authority": str(STATE / "ca.crt")}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "stack", "context": {"cluster": "stack", "user": user}}],
    }, indent=2))


# ------------------------------------------------------------------ up / down / status

def healthy():
    p = pids()
    names = ("etcd", "kube-apiserver", "kube-controller-manager", "moto")
    return all(n in p and ours(p[n]) for n in names) and port_open(APISERVER_PORT) and port_open(MOTO_PORT)


def kube_client():
    from kubeapi import Kube
    return Kube(f"https://{HOST}:{APISERVER_PORT}", ADMIN_TOKEN, str(STATE / "ca.crt"))


def up():
    STATE.mkdir(parents=True, exist_ok=True)
    if healthy():
        log(f"already running; env file {STATE / 'env'}")
        print(STATE / "env")
        return
    down(quiet=True)
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "octets.json").unlink(missing_ok=True)  # a fresh stack has no namespaces yet
    for port in (MOTO_PORT, APISERVER_PORT, ETCD_PORT):
        if port_open(port):
            raise SystemExit(f"stack: port {port} on {HOST} is taken by something this script did not start")
    kube_bin = Path(subprocess.run([str(HERE / "build-kube.sh")], check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1])
    make_certs()
    (STATE / "audit-policy.yaml").write_text(json.dumps({
        "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived", "ResponseStarted"], "rules": [{"level": "Metadata"}]}))
    (STATE / "tokens.csv").write_text(
        f'{ADMIN_TOKEN},admin,admin,"system:masters"\n'
        f'{CM_TOKEN},system:kube-controller-manager,cm,"system:masters"\n'
        # Test users: one with no permission at all, one in the group infra/rbac.yaml binds.
        f'{NOBODY_TOKEN},nobody,nobody\n'
        f'{READER_TOKEN},reader,reader,"eks-lb-doctor-readers"\n'
        # The storm test's own reader: its requests are counted in the audit log by user.
        f'{STORM_TOKEN},storm,storm,"eks-lb-doctor-readers"\n'
        # The shared-pass test's reader, counted the same way.
        f'{PASS_TOKEN},pass,pass,"eks-lb-doctor-readers"\n'
    )
    # etcd's data on tmpfs when there is one: fsync is what makes it slow, and this is test data.
    shm = Path("/dev/shm")
    etcd_data = (shm if shm.is_dir() else STATE) / f"eks-lb-doctor-etcd-{ETCD_PORT}"
    (STATE / "etcd-data").write_text(str(etcd_data))
    start("etcd", ["etcd", "--name", "stack", "--data-dir", str(etcd_data),
                   "--listen-client-urls", f"http://{HOST}:{ETCD_PORT}", "--advertise-client-urls", f"http://{HOST}:{ETCD_PORT}",
                   "--listen-peer-urls", f"http://{HOST}:{ETCD_PORT + 10}", "--initial-advertise-peer-urls", f"http://{HOST}:{ETCD_PORT + 10}",
                   "--initial-cluster", f"stack=http://{HOST}:{ETCD_PORT + 10}", "--log-level", "warn"], marker=str(etcd_data))
    wait_for("etcd", lambda: port_open(ETCD_PORT), name="etcd")
    start("kube-apiserver", [str(kube_bin / "kube-apiserver"),
        f"--etcd-servers=http://{HOST}:{ETCD_PORT}", f"--bind-address={HOST}", f"--advertise-address={HOST}",
        f"--secure-port={APISERVER_PORT}", "--insecure-port=0",
        f"--tls-cert-file={STATE / 'apiserver.crt'}", f"--tls-private-key-file={STATE / 'apiserver.key'}",
        f"--token-auth-file={STATE / 'tokens.csv'}", "--authorization-mode=RBAC",
        f"--service-account-key-file={STATE / 'sa.pub'}", f"--service-account-signing-key-file={STATE / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none", "--allow-privileged=true",
        # Never dial a node: fake Nodes have no Hostname address, so pods/log and pods/proxy fail fast.
        "--kubelet-preferred-address-types=Hostname",
        # No token controller race: pods need no service-account token here.
        "--disable-admission-plugins=ServiceAccount",
        "--enable-priority-and-fairness=false", "--profiling=false",
        # One line per request: the benchmarks count the API calls a diagnosis makes.
        f"--audit-log-path={STATE / 'audit.log'}", f"--audit-policy-file={STATE / 'audit-policy.yaml'}", "--audit-log-maxsize=200",
    ], marker=f"--secure-port={APISERVER_PORT}")
    kube = kube_client()

    def ready():
        try:
            return kube.request("GET", "/readyz") is not None
        except Exception:
            return False
    wait_for("kube-apiserver /readyz", ready, timeout=90, name="kube-apiserver")
    kubeconfig(STATE / "controller-manager.kubeconfig", CM_TOKEN, "cm")
    start("kube-controller-manager", [str(kube_bin / "kube-controller-manager"),
        f"--kubeconfig={STATE / 'controller-manager.kubeconfig'}",
        # Only these: no deployment/replicaset/daemonset controllers rewriting seeded statuses.
        "--controllers=endpoint,endpointslice,namespace,garbagecollector,clusterrole-aggregation",
        "--leader-elect=false", "--port=0", "--secure-port=0", f"--bind-address={HOST}",
        "--concurrent-endpoint-syncs=5",
    ], marker=str(STATE / "controller-manager.kubeconfig"))
    start("moto", [sys.executable, str(HERE / "stack" / "moto_server.py"), HOST, str(MOTO_PORT)], env=AWS_ENV,
          marker="moto_server.py")

    def moto_ready():
        try:
            urllib.request.urlopen(f"http://{HOST}:{MOTO_PORT}/moto-api/", timeout=1)
            return True
        except Exception:
            return False
    wait_for("moto", moto_ready, timeout=60, name="moto")
    kubeconfig(STATE / "kubeconfig", ADMIN_TOKEN, "admin")
    kubeconfig(STATE / "kubeconfig-nobody", NOBODY_TOKEN, "nobody")
    kubeconfig(STATE / "kubeconfig-reader", READER_TOKEN, "reader")
    kubeconfig(STATE / "kubeconfig-storm", STORM_TOKEN, "storm")
    kubeconfig(STATE / "kubeconfig-pass", PASS_TOKEN, "pass")
    import scenarios
    scenarios.install_cluster(kube)
    # The read-only RBAC users are asked to apply: the reader test user is in its group.
    scenarios.apply_rbac(kube, REPO / "infra" / "rbac.yaml")
    env = {**AWS_ENV, "KUBECONFIG": str(STATE / "kubeconfig")}
    (STATE / "env").write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
    (STATE / "env.json").write_text(json.dumps(env, indent=2))
    log(f"up: moto {AWS_ENV['AWS_ENDPOINT_URL']}, kube-apiserver https://{HOST}:{APISERVER_PORT}; env file {STATE / 'env'}")
    print(STATE / "env")


def down(quiet=False):
    p = pids()
    for name in ("kube-controller-manager", "kube-apiserver", "moto", "etcd"):
        entry = p.get(name)
        if not entry or not ours(entry):
            continue
        try:
            os.kill(entry["pid"], signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(50):
            if not ours(entry):
                break
            time.sleep(0.1)
        else:
            os.kill(entry["pid"], signal.SIGKILL)
        if not quiet:
            log(f"stopped {name} (pid {entry['pid']})")
    data = STATE / "etcd-data"
    if data.exists():
        subprocess.run(["rm", "-rf", data.read_text().strip()], check=False)
    if STATE.exists():
        subprocess.run(["rm", "-rf", str(STATE)], check=False)


def status():
    p = pids()
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "moto"):
        entry = p.get(name)
        state = "running" if entry and ours(entry) else "stopped"
        print(f"{name:<24} {state:<8} {entry['pid'] if entry else ''}")
    return 0 if healthy() else 1


def seed(name, namespace, account=None):
    if not healthy():
        raise SystemExit("stack: not running; run `scripts/stack.py up` first")
    for k, v in AWS_ENV.items():
        os.environ[k] = v
    if account:
        os.environ["SEED_ACCOUNT"] = account
    os.environ["STACK_STATE"] = str(STATE)
    import scenarios
    out = scenarios.seed(name, namespace or name, kube_client())
    print(json.dumps(out, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("scenarios")
    s = sub.add_parser("seed")
    s.add_argument("scenario")
    s.add_argument("--namespace")
    s.add_argument("--account", help="create the AWS resources in this (moto) account, through an assumed role")
    args = ap.parse_args()
    if args.cmd == "up":
        up()
    elif args.cmd == "down":
        down()
    elif args.cmd == "status":
        sys.exit(status())
    elif args.cmd == "scenarios":
        import scenarios
        for n, f in scenarios.all_scenarios().items():
            print(f"{n:<16} {((f.__doc__ or '').strip().splitlines() or ['(no description)'])[0]}")
    elif args.cmd == "seed":
        seed(args.scenario, args.namespace, args.account)


if __name__ == "__main__":
    main()
