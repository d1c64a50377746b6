#!/usr/bin/env bash
# Provides headless Chromium for the diagnostics page's browser test
# (test/telemetry/debug-page-browser): Debian's chromium package, driven by
# playwright-core, which downloads no browser of its own.
#
# Prints the browser's path on its last line. Idempotent: when Chromium is there it
# only checks. KUBELOOP_CHROMIUM names another Chromium binary (then nothing is installed).
set -euo pipefail

say() { printf '[kubeloop install] %s\n' "$*" >&2; }

if [ -n "${KUBELOOP_CHROMIUM:-}" ]; then
  if [ -x "$KUBELOOP_CHROMIUM" ]; then
    say "using Chromium from KUBELOOP_CHROMIUM: $KUBELOOP_CHROMIUM"
    echo "$KUBELOOP_CHROMIUM"
    exit 0
  fi
  say "KUBELOOP_CHROMIUM=$KUBELOOP_CHROMIUM is not an executable file"
  exit 1
fi

BROWSER=/usr/bin/chromium
if [ -x "$BROWSER" ]; then
  say "chromium already installed: $BROWSER"
  echo "$BROWSER"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  say "this is not a Debian-like host (no apt-get): install Chromium and set KUBELOOP_CHROMIUM to its binary"
  exit 1
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

say "installing Debian's chromium package (headless, for the browser test)"
as_root apt-get update -qq >&2
# fonts-dejavu-core: text in screenshots renders with a real font on a minimal image.
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2

if [ ! -x "$BROWSER" ]; then
  say "apt-get installed chromium but $BROWSER is missing"
  exit 1
fi
echo "$BROWSER"
