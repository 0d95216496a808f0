#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Python packages, Debian's
# Go and etcd, the kube-apiserver build), starts the local stack unless it already runs, runs
# every test (unit, snapshot, integration), and stops the stack if it started it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"
install_python_deps
scripts/build-kube.sh >/dev/null

started=0
if ! python3 scripts/stack.py status >/dev/null 2>&1; then
  # Marked before `up`: a start that fails half-way is stopped too, not left holding the ports.
  started=1
  python3 scripts/stack.py up >/dev/null
fi
cleanup() { if [ "$started" = 1 ]; then python3 scripts/stack.py down; fi; }
trap cleanup EXIT

cargo test --locked "$@"
