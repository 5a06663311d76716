//! Local chains for tests and the dev stack: starts anvil, deploys the test tokens from the
//! committed artifacts, places Permit2 and the x402 Permit2 proxy, and funds freshly generated
//! accounts. Nothing here touches a real chain.

mod anvil;
mod artifact;
mod permit2;
mod tokens;

pub use anvil::{Anvil, AnvilOptions, anvil_binary};
pub use permit2::{
    EXACT_PERMIT2_PROXY, PERMIT2, UPTO_PERMIT2_PROXY, expected_permit2_domain_separator,
    install_permit2, permit2_runtime_code,
};
pub use tokens::{DevEvm, TestToken, deploy_test_token18, deploy_test_usdc};
