// Interop client on Solana: the official x402 SDK's fetch wrapper with its `exact` SVM client
// pays one URL. Prints one JSON line: {status, body, paymentResponse}.
//
// Env: URL, PAYER_KEY (base58 64-byte keypair), RPC_URL, NETWORK (CAIP-2), ASSET (mint),
// CAP (atomic per-payment cap).
import { ExactSvmScheme } from "@x402/svm/exact/client";
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";
import { createKeyPairSignerFromBytes, getBase58Encoder } from "@solana/kit";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const network = env("NETWORK");
let out;
try {
  const signer = await createKeyPairSignerFromBytes(getBase58Encoder().encode(env("PAYER_KEY")));
  const pay = wrapFetchWithPaymentFromConfig(fetch, {
    schemes: [{ network, client: new ExactSvmScheme(signer, { rpcUrl: env("RPC_URL") }) }],
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
