#!/usr/bin/env bash
# The whole test suite from nothing: dependencies, the local control plane
# (built once, then cached), the build, lint, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
bash scripts/install-control-plane.sh >/dev/null
npm run build
npm run lint
npm test -- "$@"
