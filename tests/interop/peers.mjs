// What the interop peers share: reading their settings from the environment, the official SDK's
// facilitator on a local chain, an SDK resource server that sells GET /data (`exact`, or `upto`
// charging what its handler names), and serving an Express app on a free local port.
import express from "express";
import { paymentMiddleware, setSettlementOverrides, x402ResourceServer } from "@x402/express";
import { ExactEvmScheme as ServerEvm } from "@x402/evm/exact/server";
import { UptoEvmScheme as UptoServerEvm } from "@x402/evm/upto/server";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { UptoEvmScheme as UptoFacilitatorEvm } from "@x402/evm/upto/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { x402Facilitator } from "@x402/core/facilitator";
import { createWalletClient, defineChain, http, nonceManager, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";

/** The setting `k`; a peer started without it stops and says which. */
export const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

/** The scheme a peer sells or pays in: SCHEME, `exact` unless set. */
export const scheme = () => process.env.SCHEME || "exact";

/** The SDK's EVM client for SCHEME (`exact` or `upto`), signing as `account`. */
export async function evmClient(account) {
  if (scheme() === "upto") return new (await import("@x402/evm/upto/client")).UptoEvmScheme(account);
  return new (await import("@x402/evm/exact/client")).ExactEvmScheme(account);
}

/**
 * The official SDK's facilitator (x402Facilitator with the exact and upto EVM schemes, a viem wallet of
 * `key` on `rpc`) as an Express app: GET /supported, POST /verify and POST /settle taking
 * {paymentPayload, paymentRequirements} like Tollgate's facilitator. `withNonceManager` gives
 * the account viem's nonceManager, so concurrent settlements take consecutive nonces.
 */
export function sdkFacilitatorApp({ network, rpc, key, withNonceManager = false }) {
  const chain = defineChain({
    id: Number(network.split(":")[1]),
    name: "local",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpc] } },
  });
  const account = privateKeyToAccount(key, withNonceManager ? { nonceManager } : {});
  const wallet = createWalletClient({ account, chain, transport: http(rpc) }).extend(publicActions);
  const facilitator = new x402Facilitator();
  const signer = toFacilitatorEvmSigner({ ...wallet, address: account.address });
  registerExactEvmScheme(facilitator, { signer, networks: network });
  facilitator.register(network, new UptoFacilitatorEvm(signer));
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
  return app;
}

/**
 * An SDK resource server (@x402/express) selling GET /data for AMOUNT of ASSET to PAY_TO on
 * `network`, settled through `facilitatorClient`. Settings: PAY_TO, ASSET, AMOUNT (atomic),
 * TOKEN_NAME, TOKEN_VERSION; with SCHEME=upto, AMOUNT is the maximum and the handler charges
 * CHARGE (a Settlement-Overrides amount: atomic, `NN%` or `$x`).
 */
export function paidDataApp(network, facilitatorClient) {
  const upto = scheme() === "upto";
  const server = new x402ResourceServer(facilitatorClient).register(
    network,
    upto ? new UptoServerEvm() : new ServerEvm(),
  );
  const app = express();
  app.use(
    paymentMiddleware(
      {
        "GET /data": {
          accepts: {
            scheme: scheme(),
            network,
            payTo: env("PAY_TO"),
            price: {
              asset: env("ASSET"),
              amount: env("AMOUNT"),
              extra: { name: env("TOKEN_NAME"), version: env("TOKEN_VERSION") },
            },
          },
          description: "interop data",
        },
      },
      server,
    ),
  );
  app.get("/data", (_req, res) => {
    if (upto) setSettlementOverrides(res, { amount: env("CHARGE") });
    res.json({ signal: "bullish" });
  });
  return app;
}

/** Serves `app` on a free port of 127.0.0.1; resolves to its base URL and server. */
export const listen = (app) =>
  new Promise((resolve) => {
    const server = app.listen(0, "127.0.0.1", () =>
      resolve({ url: `http://127.0.0.1:${server.address().port}`, server }),
    );
  });
