#!/usr/bin/env bash
# `npm run bench` from nothing: installs dependencies when needed, builds, then
# runs the benchmark (bench/run.ts), which provides the local control plane itself
# (the first run on a machine builds it: about 5 minutes). Settings: bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[bench] installing dependencies (npm ci)…"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
exec node dist/bench/run.js "$@"
