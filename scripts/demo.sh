#!/usr/bin/env bash
# Starts a local chain with test USDC and a facilitator in front of it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release --locked -p tollgate -- demo "$@"
