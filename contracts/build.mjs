// Compile the Solidity sources with the pinned solc (npm `solc`, solcjs) through its
// standard-JSON API and write one JSON artifact per contract.
//
//   node build.mjs           write contracts/artifacts/*.json and bench/artifacts/*.json
//   node build.mjs --check   compile and exit 1 if any committed artifact differs
//
// Deterministic: fixed settings, sources read in sorted order with paths relative to the
// repository, no imports resolved from outside, no network (solc is the bundled wasm build).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync, readdirSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..");

// Source folder -> artifact folder.
const UNITS = [
  { src: join(here, "src"), out: join(here, "artifacts") },
  { src: join(repo, "bench"), out: join(repo, "bench", "artifacts") },
];

export const SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 200 },
  // No metadata hash: the bytecode then depends on the code only, not on comments or paths.
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function compile(unit) {
  const files = readdirSync(unit.src).filter((f) => f.endsWith(".sol")).sort();
  const sources = {};
  for (const f of files) {
    const path = join(unit.src, f);
    sources[relative(repo, path)] = { content: readFileSync(path, "utf8") };
  }
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (p) => ({ error: `imports are not allowed here: ${p}` }),
    }),
  );
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  for (const e of output.errors ?? []) console.error(e.formattedMessage);
  if (errors.length > 0) throw new Error(`solc failed for ${unit.src}`);
  const artifacts = {};
  for (const source of Object.keys(output.contracts ?? {}).sort()) {
    for (const [name, c] of Object.entries(output.contracts[source])) {
      const artifact = {
        contractName: name,
        sourceName: source,
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
        compiler: { version: solc.version(), settings: SETTINGS },
      };
      artifacts[join(unit.out, `${name}.json`)] = JSON.stringify(artifact, null, 2) + "\n";
    }
  }
  return artifacts;
}

const check = process.argv.includes("--check");
let stale = 0;
for (const unit of UNITS) {
  const built = compile(unit);
  if (check && existsSync(unit.out)) {
    for (const f of readdirSync(unit.out).filter((f) => f.endsWith(".json"))) {
      if (!(join(unit.out, f) in built)) {
        console.error(`artifact without a source: ${relative(repo, join(unit.out, f))}`);
        stale += 1;
      }
    }
  }
  for (const [path, text] of Object.entries(built)) {
    const current = existsSync(path) ? readFileSync(path, "utf8") : null;
    if (check) {
      if (current !== text) {
        console.error(`stale artifact: ${relative(repo, path)}`);
        stale += 1;
      }
    } else if (current !== text) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      console.log(`wrote ${relative(repo, path)}`);
    }
  }
}
if (check && stale > 0) process.exit(1);
