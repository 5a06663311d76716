// Interop peer: a resource server built with the official x402 SDK (@x402/express) that pays
// out through the SDK's own facilitator (@x402/core + @x402/evm, viem signer on the given RPC).
// Prints one JSON line {"url": ...} when ready, then serves until killed.
//
// Env: RPC_URL, FACILITATOR_KEY, NETWORK (eip155:<id>), ASSET, AMOUNT (atomic), PAY_TO,
//      TOKEN_NAME, TOKEN_VERSION.
import express from "express";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { ExactEvmScheme as ServerEvm } from "@x402/evm/exact/server";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { x402Facilitator } from "@x402/core/facilitator";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { createWalletClient, defineChain, http, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const network = env("NETWORK");
const chainId = Number(network.split(":")[1]);
const rpc = env("RPC_URL");
const chain = defineChain({
  id: chainId,
  name: "local",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [rpc] } },
});

const account = privateKeyToAccount(env("FACILITATOR_KEY"));
const wallet = createWalletClient({ account, chain, transport: http(rpc) }).extend(publicActions);
const facilitator = new x402Facilitator();
registerExactEvmScheme(facilitator, { signer: toFacilitatorEvmSigner({ ...wallet, address: account.address }), networks: network });

const listen = (app) =>
  new Promise((resolve) => {
    const l = app.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${l.address().port}`));
  });

const fapp = express();
fapp.use(express.json());
fapp.get("/supported", (_req, res) => res.json(facilitator.getSupported()));
for (const op of ["verify", "settle"]) {
  fapp.post(`/${op}`, async (req, res) => {
    try {
      res.json(await facilitator[op](req.body.paymentPayload, req.body.paymentRequirements));
    } catch (e) {
      res.status(500).json({ error: String(e?.message ?? e) });
    }
  });
}
const facilitatorUrl = await listen(fapp);

const server = new x402ResourceServer(new HTTPFacilitatorClient({ url: facilitatorUrl })).register(network, new ServerEvm());
const app = express();
app.use(
  paymentMiddleware(
    {
      "GET /data": {
        accepts: {
          scheme: "exact",
          network,
          payTo: env("PAY_TO"),
          price: { asset: env("ASSET"), amount: env("AMOUNT"), extra: { name: env("TOKEN_NAME"), version: env("TOKEN_VERSION") } },
        },
        description: "interop data",
      },
    },
    server,
  ),
);
app.get("/data", (_req, res) => res.json({ signal: "bullish" }));
const url = await listen(app);
console.log(JSON.stringify({ url: `${url}/data` }));
