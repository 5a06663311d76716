#!/usr/bin/env bash
# The local demo: anvil with test USDC and TMAI, the facilitator, the demo data API behind the
# gateway, and an agent that pays for a mix of calls and prints what it bought.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --locked -p tollgate -- demo "$@"
