// Interop: the official x402 SDK's Express server uses a Tollgate facilitator, and the SDK's
// fetch client pays it. Prints one JSON line: {status, body, paymentResponse}.
//
// Env: FACILITATOR_URL, PAYER_KEY, NETWORK (CAIP-2), ASSET, AMOUNT (atomic), PAY_TO,
//      TOKEN_NAME, TOKEN_VERSION.
import express from "express";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { ExactEvmScheme as ServerEvm } from "@x402/evm/exact/server";
import { ExactEvmScheme as ClientEvm } from "@x402/evm/exact/client";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";
import { privateKeyToAccount } from "viem/accounts";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const network = env("NETWORK");

const facilitator = new HTTPFacilitatorClient({ url: env("FACILITATOR_URL") });
const server = new x402ResourceServer(facilitator).register(network, new ServerEvm());
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

const listener = app.listen(0, "127.0.0.1", async () => {
  const url = `http://127.0.0.1:${listener.address().port}/data`;
  let out;
  try {
    const pay = wrapFetchWithPaymentFromConfig(fetch, {
      schemes: [{ network, client: new ClientEvm(privateKeyToAccount(env("PAYER_KEY"))) }],
      // The local test token is no SDK default asset: allow it, capped at this payment.
      spendControls: { allowedAssets: [{ network, asset: env("ASSET"), maxAmountPerPayment: env("AMOUNT") }] },
    });
    const resp = await pay(url);
    const header = resp.headers.get("PAYMENT-RESPONSE");
    out = { status: resp.status, body: await resp.text(), paymentResponse: header ? decodePaymentResponseHeader(header) : null };
  } catch (e) {
    out = { status: 0, error: String(e?.stack ?? e) };
  }
  console.log(JSON.stringify(out));
  listener.close();
  process.exit(out.status === 200 ? 0 : 1);
});
