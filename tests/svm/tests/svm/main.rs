//! Every test that starts the in-process Solana validator, in one binary sharing one validator.

mod client_pays;
mod devnet;
mod exact;
mod rejections;
