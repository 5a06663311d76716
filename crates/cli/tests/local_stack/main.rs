//! Tests that need the local stack's in-process Solana validator (feature `local-stack`): the
//! `tollgate demo` run and Solana crash recovery.

mod demo;
mod svm_crash_recovery;
