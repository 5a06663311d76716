#!/usr/bin/env bash
# The gateway benchmark, with nginx (Debian's package, installed here when missing) measured in
# the same run as the baseline for the reverse proxy. Other arguments go to `cargo bench`.
# Set TOLLGATE_TEST_DATABASE_URL to add the PostgreSQL cases.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! [ -x /usr/sbin/nginx ] && ! [ -x /usr/bin/nginx ]; then
  echo "bench: installing nginx (Debian package) for the baseline..."
  sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light \
    || sudo_if env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx
fi
# No local-stack feature: the benchmark needs no Solana validator (and so not its build).
exec cargo bench -p tollgate -p tollgate-e2e --no-default-features --bench gateway "$@"
