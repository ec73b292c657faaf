// Compiles every contract in solidity/ with the pinned solc (standard JSON,
// optimizer on, EVM version fixed) and writes one artifact per contract to
// artifacts/: ABI, init code, runtime code and storage layout. The output is
// byte-identical run to run; CI recompiles and fails if it differs.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.join(__dirname, "..");
const sourceDir = path.join(root, "solidity");
const outDir = path.join(root, "artifacts");
const EVM_VERSION = "cancun";

const sources = {};
for (const file of fs.readdirSync(sourceDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(sourceDir, file), "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: EVM_VERSION,
    outputSelection: {
      "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"] },
    },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
for (const file of Object.keys(output.contracts).sort()) {
  for (const [name, contract] of Object.entries(output.contracts[file])) {
    if (contract.evm.deployedBytecode.object === "") continue; // interfaces
    const types = contract.storageLayout.types || {};
    const layout = contract.storageLayout.storage.map((v) => ({
      label: v.label,
      slot: v.slot,
      offset: v.offset,
      type: types[v.type].label,
    }));
    // Structs (also behind mappings), with each member's slot within the struct.
    const structs = {};
    for (const t of Object.values(types)) {
      if (t.members) {
        structs[t.label] = t.members.map((m) => ({ label: m.label, slot: m.slot, offset: m.offset, type: types[m.type].label }));
      }
    }
    const artifact = {
      contractName: name,
      source: file,
      compiler: solc.version(),
      evmVersion: EVM_VERSION,
      abi: contract.abi,
      bytecode: "0x" + contract.evm.bytecode.object,
      deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
      storageLayout: layout,
      structs,
    };
    fs.writeFileSync(path.join(outDir, name + ".json"), JSON.stringify(artifact, null, 2) + "\n");
    console.log(`${name}: ${contract.evm.deployedBytecode.object.length / 2} bytes of runtime code`);
  }
}
