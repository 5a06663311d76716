//! Unit tests of the settlement orchestration over a fake chain and a temporary SQLite ledger.

mod fake_scheme;
mod harness;
mod once;
mod outcomes;
