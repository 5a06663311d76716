// Interop client: the official x402 SDK's fetch wrapper pays one URL. Prints one JSON line:
// {status, body, paymentResponse}.
//
// Env: URL, PAYER_KEY, NETWORK (CAIP-2), ASSET, CAP (atomic per-payment cap for ASSET).
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";
import { privateKeyToAccount } from "viem/accounts";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const network = env("NETWORK");
let out;
try {
  const pay = wrapFetchWithPaymentFromConfig(fetch, {
    schemes: [{ network, client: new ExactEvmScheme(privateKeyToAccount(env("PAYER_KEY"))) }],
    spendControls: { allowedAssets: [{ network, asset: env("ASSET"), maxAmountPerPayment: env("CAP") }] },
  });
  const resp = await pay(env("URL"));
  const header = resp.headers.get("PAYMENT-RESPONSE");
  out = { status: resp.status, body: await resp.text(), paymentResponse: header ? decodePaymentResponseHeader(header) : null };
} catch (e) {
  out = { status: 0, error: String(e?.stack ?? e) };
}
console.log(JSON.stringify(out));
process.exit(out.status === 200 ? 0 : 1);
