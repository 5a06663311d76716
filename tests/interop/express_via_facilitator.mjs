// Interop: the official x402 SDK's Express server uses a Tollgate facilitator, and the SDK's
// fetch client pays it. Prints one JSON line: {status, body, paymentResponse}.
//
// Env: FACILITATOR_URL, PAYER_KEY, NETWORK (CAIP-2), ASSET, AMOUNT (atomic), PAY_TO,
//      TOKEN_NAME, TOKEN_VERSION; SCHEME=upto with CHARGE (see `paidDataApp`).
import { HTTPFacilitatorClient } from "@x402/core/server";
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";
import { privateKeyToAccount } from "viem/accounts";
import { env, evmClient, listen, paidDataApp } from "./peers.mjs";

const network = env("NETWORK");
const { url: base, server } = await listen(
  paidDataApp(network, new HTTPFacilitatorClient({ url: env("FACILITATOR_URL") })),
);
const url = `${base}/data`;
let out;
try {
  const pay = wrapFetchWithPaymentFromConfig(fetch, {
    schemes: [{ network, client: await evmClient(privateKeyToAccount(env("PAYER_KEY"))) }],
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
server.close();
process.exit(out.status === 200 ? 0 : 1);
