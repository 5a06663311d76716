//! The `tollgate` binary as operators run it: real processes against anvil, SQLite and
//! PostgreSQL, in one test binary so the workspace links them once.

mod compose;
mod crash_recovery;
mod gateway_drain;
mod gateway_key_reload;
mod gateway_process;
mod key_rotation;
mod receipt_holds;
