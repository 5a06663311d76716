// Interop client: the official x402 SDK's fetch wrapper pays one URL with its client for the
// network's family (EVM: `exact`, or `upto` with SCHEME=upto; Solana: `exact`). Prints one JSON
// line: {status, body, paymentResponse}.
//
// Env: URL, NETWORK (CAIP-2), ASSET, CAP (atomic per-payment cap for ASSET), PAYER_KEY (EVM: hex
// private key; Solana: base58 64-byte keypair), RPC_URL (Solana only), SCHEME (EVM only).
import { wrapFetchWithPaymentFromConfig, decodePaymentResponseHeader } from "@x402/fetch";
import { env, evmClient } from "./peers.mjs";

async function schemeClient(network) {
  if (network.startsWith("solana:")) {
    const { ExactSvmScheme } = await import("@x402/svm/exact/client");
    const { createKeyPairSignerFromBytes, getBase58Encoder } = await import("@solana/kit");
    const signer = await createKeyPairSignerFromBytes(getBase58Encoder().encode(env("PAYER_KEY")));
    return new ExactSvmScheme(signer, { rpcUrl: env("RPC_URL") });
  }
  const { privateKeyToAccount } = await import("viem/accounts");
  return evmClient(privateKeyToAccount(env("PAYER_KEY")));
}

const network = env("NETWORK");
let out;
try {
  const pay = wrapFetchWithPaymentFromConfig(fetch, {
    schemes: [{ network, client: await schemeClient(network) }],
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
