#!/usr/bin/env bash
# The demo from nothing: installs dependencies and builds when needed, provides
# a local control plane when no cluster is configured (or with --local), then
# runs examples/document-controller/demo.ts. Ctrl+C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[demo] installing dependencies (npm ci)…"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [[ " $* " == *" --local "* ]] || { [ -z "${KUBECONFIG:-}" ] && [ ! -f "$HOME/.kube/config" ]; }; then
  echo "[demo] checking the local control plane (the first run builds it: about 5 minutes)…"
  bash scripts/install-control-plane.sh >/dev/null
fi
if [ ! -f dist/.build-stamp ] || [ -n "$(find src examples test bench tsconfig.json package.json -newer dist/.build-stamp -print -quit 2>/dev/null)" ]; then
  echo "[demo] building…"
  npm run build --silent
fi
exec node dist/examples/document-controller/demo.js "$@"
