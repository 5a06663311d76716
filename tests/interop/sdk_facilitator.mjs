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
import express from "express";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { x402Facilitator } from "@x402/core/facilitator";
import { createWalletClient, defineChain, http, nonceManager, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const network = env("NETWORK");
const rpc = env("RPC_URL");
const chain = defineChain({
  id: Number(network.split(":")[1]),
  name: "local",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [rpc] } },
});

const account = privateKeyToAccount(
  env("FACILITATOR_KEY"),
  process.env.NONCE_MANAGER === "1" ? { nonceManager } : {},
);
const wallet = createWalletClient({ account, chain, transport: http(rpc) }).extend(publicActions);
const facilitator = new x402Facilitator();
registerExactEvmScheme(facilitator, {
  signer: toFacilitatorEvmSigner({ ...wallet, address: account.address }),
  networks: network,
});

const app = express();
app.use(express.json());
app.get("/supported", (_req, res) => res.json(facilitator.getSupported()));
for (const op of ["verify", "settle"]) {
  app.post(`/${op}`, async (req, res) => {
    try {
      res.json(await facilitator[op](req.body.paymentPayload, req.body.paymentRequirements));
    } catch (e) {
      res.status(500).json({ error: String(e?.message ?? e) });
    }
  });
}
const server = app.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }));
});
