#!/usr/bin/env bash
# Runs every test: unit tests, and end-to-end tests against a real anvil, SQLite and PostgreSQL.
# PostgreSQL tests use TOLLGATE_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)
# and say they are skipped when it is unset.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --locked "$@"
