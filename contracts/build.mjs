// Compiles contracts/src/*.sol with solc-js (the `solc` npm package pinned in the
// repo's package.json) and writes one artifact per deployable contract to
// contracts/out/<Name>.json: {contractName, abi, bytecode, deployedBytecode}.
// Usage (from the repo root): npm install && node contracts/build.mjs
// Output is deterministic: rebuilding unchanged sources gives identical files.
import { createRequire } from "node:module";
import { readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, "src");
const outDir = join(here, "out");

// Source keys are "src/<File>.sol" regardless of the working directory, so the
// metadata hash embedded in the bytecode does not depend on where this runs.
const sources = {};
for (const file of readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[`src/${file}`] = { content: readFileSync(join(srcDir, file), "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

mkdirSync(outDir, { recursive: true });
for (const f of readdirSync(outDir).filter((f) => f.endsWith(".json"))) rmSync(join(outDir, f));

const written = [];
for (const [path, contracts] of Object.entries(output.contracts).sort(([a], [b]) => a.localeCompare(b))) {
  for (const [name, c] of Object.entries(contracts).sort(([a], [b]) => a.localeCompare(b))) {
    // Skip what is never deployed: interfaces and abstract contracts (no code) and
    // libraries with only internal functions (no ABI; their code is inlined).
    if (!c.evm.bytecode.object || c.abi.length === 0) continue;
    const artifact = {
      contractName: name,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
    written.push(`${name} (${path}, runtime ${c.evm.deployedBytecode.object.length / 2} bytes)`);
  }
}
console.log(`solc ${solc.version()}: wrote ${written.length} artifacts to contracts/out/`);
for (const w of written) console.log("  " + w);
