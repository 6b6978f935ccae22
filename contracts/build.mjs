// Compiles contracts/src/*.sol with the pinned solc (npm `solc`, the official JavaScript build)
// and writes one artifact per contract to contracts/out/NAME.json: its ABI, creation bytecode
// and runtime bytecode. Deterministic: the same sources give the same bytes.
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "out");

// src/: the deployed contracts; test/: contracts that only tests deploy (consumers, attackers).
const sources = {};
for (const dir of ["src", "test"]) {
  for (const file of readdirSync(join(here, dir)).filter((f) => f.endsWith(".sol")).sort()) {
    sources[`${dir}/${file}`] = { content: readFileSync(join(here, dir, file), "utf8") };
  }
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

function findImports(path) {
  try {
    return { contents: readFileSync(join(here, "node_modules", path), "utf8") };
  } catch {
    return { error: `not found: ${path}` };
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

mkdirSync(outDir, { recursive: true });
let count = 0;
for (const [source, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!/^(src|test)\//.test(source) || !c.evm.bytecode.object) continue; // libraries, interfaces
    const artifact = {
      contractName: name,
      sourceName: source,
      compiler: `solc ${solc.version()}`,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(artifact, null, 1) + "\n");
    count += 1;
  }
}
console.error(`compiled ${count} contracts with solc ${solc.version()}`);
