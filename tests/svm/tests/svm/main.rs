//! Every test that starts the in-process Solana validator, in one binary sharing one validator.

mod client_pays;
mod exact;
mod rejections;
