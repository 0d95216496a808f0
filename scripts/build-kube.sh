#!/usr/bin/env bash
# Builds a genuine kube-apiserver + kube-controller-manager (Kubernetes 1.20.2) from Debian
# bookworm's `kubernetes` source package with Debian's Go 1.19, offline from its vendor/ tree,
# and caches the binaries. ARCHITECTURE.md ("The local stack") says why each step is needed.
#
#   scripts/build-kube.sh            # prints the directory holding the binaries
#
# Cache: ${EKS_LB_DOCTOR_CACHE:-$HOME/.cache/eks-lb-doctor}/kube-1.20.2 (reused when present).
set -euo pipefail

CACHE="${EKS_LB_DOCTOR_CACHE:-$HOME/.cache/eks-lb-doctor}"
OUT="$CACHE/kube-1.20.2"
VERSION=v1.20.2
if [[ -x "$OUT/kube-apiserver" && -x "$OUT/kube-controller-manager" ]]; then
  echo "$OUT"; exit 0
fi

log() { echo "build-kube: $*" >&2; }

# Packages: Go 1.19, etcd, the reflect2 that works on Go >= 1.18, and dpkg-dev for `apt-get source`.
need=()
for p in golang-1.19-go etcd-server golang-github-modern-go-reflect2-dev dpkg-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ! ls /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | xargs grep -qs "deb-src"; then
  log "adding a deb-src entry for bookworm"
  cat > /etc/apt/sources.list.d/eks-lb-doctor-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  APT_UPDATE=1
fi
if [[ ${#need[@]} -gt 0 || -n "${APT_UPDATE:-}" ]]; then
  log "installing ${need[*]:-nothing new}"
  apt-get update -q >&2
  [[ ${#need[@]} -gt 0 ]] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kube-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log "fetching the kubernetes source package into $WORK"
(cd "$WORK" && apt-get source -q kubernetes >&2 2>/dev/null)
SRC="$(find "$WORK" -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"

export GOROOT=/usr/lib/go-1.19 PATH="/usr/lib/go-1.19/bin:$PATH"
export GOPATH="$WORK/gopath" GO111MODULE=off CGO_ENABLED=0 GOFLAGS= GOCACHE="$CACHE/go-build"
mkdir -p "$GOPATH/src/k8s.io"
ln -s "$SRC" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"

# The vendored reflect2 crashes on Go >= 1.18; Debian's packaged one does not.
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2

# pkg/generated/openapi is generated at build time upstream; do it with the vendored generator.
log "generating pkg/generated/openapi"
go build -o "$WORK/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
dirs=$(grep -RlE '^// *\+k8s:openapi-gen=' --include='*.go' pkg vendor/k8s.io cmd plugin 2>/dev/null \
  | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' -e '/testdata/' \
  | xargs -n1 dirname | LC_ALL=C sort -u | sed 's#^#k8s.io/kubernetes/#' | paste -sd, -)
"$WORK/openapi-gen" -i "$dirs" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
  -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$WORK/violations.report" \
  --output-base "$GOPATH/src" >&2

ldflags=""
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=20 -X $pkg.gitTreeState=clean"
done
mkdir -p "$OUT.tmp"
for cmd in kube-apiserver kube-controller-manager; do
  log "building $cmd (a few minutes on 2 cores)"
  go build -ldflags "-s -w $ldflags" -o "$OUT.tmp/$cmd" "./cmd/$cmd"
done
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
log "done: $OUT"
echo "$OUT"
