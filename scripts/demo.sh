#!/usr/bin/env bash
# The demo operator, from nothing. (The demo lands with the demo issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "kubeloop demo: coming soon (the runtime and the demo operator are being built)."
