#!/usr/bin/env bash
# Runs every test: unit tests, and end-to-end tests against a real anvil, SQLite and PostgreSQL.
# PostgreSQL tests use TOLLGATE_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)
# and say they are skipped when it is unset.
#
# `scripts/test.sh --fast` leaves out what needs the in-process Solana validator (and so its
# large build): the tollgate-e2e-svm package and the `local-stack` feature (`tollgate dev`/`demo`
# and the tests of `crates/cli/tests/local_stack`). Other arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "${1:-}" = "--fast" ]; then
  shift
  exec cargo test --workspace --locked --exclude tollgate-e2e-svm --no-default-features "$@"
fi
exec cargo test --workspace --locked "$@"
