# Shared by demo.sh and test.sh: one fixed cargo target directory outside the clone, so builds are
# reused between runs and between clones (CI works without it: it is only a cache).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/eks-lb-doctor/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Python packages of the local stack (moto server), pinned.
install_python_deps() {
  if ! python3 -c "import moto, boto3, cryptography, flask, yaml, cfnlint" 2>/dev/null || \
     [ "$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null)" != "5.2.5" ] || \
     ! command -v cfn-lint >/dev/null; then
    echo "installing Python packages: $(tr '\n' ' ' < "$REPO/scripts/requirements.txt")" >&2
    python3 -m pip install -q -r "$REPO/scripts/requirements.txt" >&2
  fi
}
