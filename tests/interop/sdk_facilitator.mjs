// Baseline peer for the facilitator bench: the official x402 SDK's facilitator alone
// (x402Facilitator from @x402/core with the exact EVM scheme of @x402/evm, a viem wallet on the
// given RPC), configured as in the SDK's own examples, served over HTTP: POST /verify and
// POST /settle take {paymentPayload, paymentRequirements} like Tollgate's facilitator.
// Prints one JSON line {"url": "http://127.0.0.1:<port>"} when ready, then serves until killed.
//
// Env: RPC_URL, FACILITATOR_KEY (0x-hex, holds ETH for gas), NETWORK (eip155:<id>); optional
// NONCE_MANAGER=1 gives the account viem's nonceManager, so concurrent settlements take
// consecutive nonces instead of each asking the node (without it, concurrent settles of one key
// collide on a nonce and most fail).
import { env, listen, sdkFacilitatorApp } from "./peers.mjs";

const { url } = await listen(
  sdkFacilitatorApp({
    network: env("NETWORK"),
    rpc: env("RPC_URL"),
    key: env("FACILITATOR_KEY"),
    withNonceManager: process.env.NONCE_MANAGER === "1",
  }),
);
console.log(JSON.stringify({ url }));
