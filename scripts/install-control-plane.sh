#!/usr/bin/env bash
# Provides etcd, kube-apiserver and kube-controller-manager for kubeloop/testing.
#
# Debian ships no kube-apiserver binary, but it ships the Kubernetes 1.20.2 source
# with every Go dependency vendored, and Go 1.19, so we build it offline once and
# cache the binaries outside the work tree. etcd and prometheus come from their
# Debian packages, unpacked into the cache (not installed) so that no system
# service is started behind the caller's back.
#
# Prints the asset directory on its last line. Idempotent: a second run only checks.
set -euo pipefail

K8S_VERSION=1.20.2
CACHE_ROOT="${KUBELOOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeloop}"
ASSETS="$CACHE_ROOT/assets-$K8S_VERSION"
WORK="$CACHE_ROOT/build-$K8S_VERSION"
mkdir -p "$ASSETS" "$WORK"

say() { printf '[kubeloop install] %s\n' "$*" >&2; }

have_all() {
  [ -x "$ASSETS/kube-apiserver" ] && [ -x "$ASSETS/kube-controller-manager" ] &&
    [ -x "$ASSETS/etcd" ] && [ -x "$ASSETS/prometheus" ] && [ -x "$ASSETS/promtool" ]
}

if have_all; then
  say "control plane binaries already cached in $ASSETS"
  echo "$ASSETS"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v apt-get >/dev/null; then
  say "this is not a Debian-like host: set KUBELOOP_ASSETS (or KUBELOOP_KUBE_APISERVER, KUBELOOP_ETCD, KUBELOOP_KUBE_CONTROLLER_MANAGER) to your own binaries instead"
  exit 1
fi

# deb-src is needed for the Kubernetes source package.
SRC_LIST=/etc/apt/sources.list.d/kubeloop-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null &&
  ! grep -qs '^deb-src' /etc/apt/sources.list 2>/dev/null; then
  say "adding a deb-src entry for bookworm main ($SRC_LIST)"
  as_root tee "$SRC_LIST" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

say "apt-get update"
as_root apt-get update -qq >&2

need_pkgs=()
command -v go >/dev/null || need_pkgs+=(golang-go)
[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_pkgs+=(golang-github-modern-go-reflect2-dev)
command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing ${need_pkgs[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

# etcd and prometheus: unpack the packages, do not install them (no services).
unpack_binary() { # package binary-path-inside-package name-in-assets
  local pkg=$1 path=$2 name=$3
  [ -x "$ASSETS/$name" ] && return 0
  local dir="$WORK/deb-$pkg"
  if [ ! -d "$dir/root" ]; then
    say "fetching $pkg"
    rm -rf "$dir" && mkdir -p "$dir"
    # _apt cannot write into root's cache: download as the caller, quietly.
    (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2)
    dpkg -x "$dir"/*.deb "$dir/root"
  fi
  cp "$dir/root/$path" "$ASSETS/$name.tmp" && mv "$ASSETS/$name.tmp" "$ASSETS/$name"
}
unpack_binary etcd-server usr/bin/etcd etcd
unpack_binary prometheus usr/bin/prometheus prometheus
unpack_binary prometheus usr/bin/promtool promtool

if [ -x "$ASSETS/kube-apiserver" ] && [ -x "$ASSETS/kube-controller-manager" ]; then
  echo "$ASSETS"
  exit 0
fi

SRC_DIR="$WORK/kubernetes-$K8S_VERSION"
if [ ! -f "$SRC_DIR/.kubeloop-prepared" ]; then
  say "downloading the Kubernetes $K8S_VERSION source package (34 MB)"
  rm -rf "$WORK/src" && mkdir -p "$WORK/src"
  (cd "$WORK/src" && apt-get source --download-only -qq -o APT::Sandbox::User=root kubernetes >&2)
  orig=$(ls "$WORK/src"/kubernetes_*.orig.tar.gz | head -n1)
  say "unpacking $(basename "$orig")"
  rm -rf "$SRC_DIR"
  tar -xzf "$orig" -C "$WORK"
  [ -d "$SRC_DIR/vendor" ] || { say "unexpected source layout: $SRC_DIR/vendor missing"; exit 1; }
  # The vendored reflect2 1.0.1 makes kube-apiserver crash under Go >= 1.18.
  rm -rf "$SRC_DIR/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$SRC_DIR/vendor/github.com/modern-go/reflect2"
  touch "$SRC_DIR/.kubeloop-prepared"
fi

export GOPATH="$WORK/gopath" GO111MODULE=off CGO_ENABLED=0 GOFLAGS=
export GOCACHE="$CACHE_ROOT/go-build-cache"
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$SRC_DIR" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"

OPENAPI=pkg/generated/openapi/zz_generated.openapi.go
if [ ! -f "$OPENAPI" ]; then
  say "building openapi-gen"
  go build -o "$WORK/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
  say "generating $OPENAPI"
  inputs=$(grep -Rl --include='*.go' -e '+k8s:openapi-gen=' pkg cmd plugin vendor |
    grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
    xargs -n1 dirname | sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  "$WORK/openapi-gen" -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi -h hack/boilerplate/boilerplate.generatego.txt \
    -r "$WORK/openapi-report.txt" >&2
fi

build() { # name
  [ -x "$ASSETS/$1" ] && return 0
  say "building $1 (a few minutes on 2 cores; only the first run pays)"
  local start=$SECONDS
  go build -ldflags="-s -w" -o "$ASSETS/$1.tmp" "k8s.io/kubernetes/cmd/$1"
  mv "$ASSETS/$1.tmp" "$ASSETS/$1"
  say "built $1 in $((SECONDS - start)) s"
}
build kube-apiserver
build kube-controller-manager

say "done: binaries in $ASSETS"
echo "$ASSETS"
