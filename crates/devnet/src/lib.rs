//! Local chains for tests and the dev stack: starts anvil, deploys the test tokens from the
//! committed artifacts, and funds freshly generated accounts. Nothing here touches a real chain.

mod anvil;
mod tokens;

pub use anvil::{Anvil, AnvilOptions, anvil_binary};
pub use tokens::{DevEvm, TestToken, deploy_test_usdc};
