#!/usr/bin/env bash
# The whole test suite from nothing: dependencies, the local control plane
# (built once, then cached), headless Chromium (Debian's), the build, lint, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Browsers come from Debian (scripts/install-browser.sh), never from an npm package's download.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error
bash scripts/install-control-plane.sh >/dev/null
bash scripts/install-browser.sh >/dev/null
npm run build
npm run lint
npm test -- "$@"
