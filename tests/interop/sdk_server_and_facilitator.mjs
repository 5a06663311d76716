// Interop peer: a resource server built with the official x402 SDK (@x402/express) that pays
// out through the SDK's own facilitator (@x402/core + @x402/evm, viem signer on the given RPC).
// Prints one JSON line {"url": ...} when ready, then serves until killed.
//
// Env: RPC_URL, FACILITATOR_KEY, NETWORK (eip155:<id>), ASSET, AMOUNT (atomic), PAY_TO,
//      TOKEN_NAME, TOKEN_VERSION.
import { HTTPFacilitatorClient } from "@x402/core/server";
import { env, listen, paidDataApp, sdkFacilitatorApp } from "./peers.mjs";

const network = env("NETWORK");
const facilitator = await listen(
  sdkFacilitatorApp({ network, rpc: env("RPC_URL"), key: env("FACILITATOR_KEY") }),
);
const { url } = await listen(paidDataApp(network, new HTTPFacilitatorClient({ url: facilitator.url })));
console.log(JSON.stringify({ url: `${url}/data` }));
