// Compiles contracts/*.sol with solc-js (npm package `solc`, version pinned in build.sh) and
// writes each contract's deployed (runtime) bytecode as hex to build/<Name>.hex.
// With --check, compares instead of writing and exits 1 on any difference.
const fs = require('fs');
const path = require('path');
const solc = require(process.env.SOLC_MODULE || 'solc');

const dir = __dirname;
const sources = {};
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: {
      '*': { '*': ['evm.deployedBytecode.object', 'evm.deployedBytecode.immutableReferences'], '': ['ast'] },
    },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(2);
}
const check = process.argv.includes('--check');
let differ = 0;
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!fs.existsSync(path.join(dir, name + '.sol'))) continue; // interfaces
    const files = [[name + '.hex', c.evm.deployedBytecode.object + '\n']];
    const refs = c.evm.deployedBytecode.immutableReferences || {};
    if (Object.keys(refs).length) {
      // Byte offsets of each immutable in the runtime code, by name (from the AST's ids).
      const names = {};
      const walk = (node) => {
        if (node && typeof node === 'object') {
          if (node.nodeType === 'VariableDeclaration' && refs[node.id]) names[node.name] = refs[node.id].map((r) => r.start);
          Object.values(node).forEach(walk);
        }
      };
      walk(output.sources[file].ast);
      files.push([name + '.immutables.json', JSON.stringify(names) + '\n']);
    }
    for (const [base, text] of files) {
      const out = path.join(dir, 'build', base);
      if (check) {
        const committed = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
        if (committed !== text) {
          console.error(`${base}: committed output differs from a fresh compile (solc ${solc.version()})`);
          differ = 1;
        }
      } else {
        fs.writeFileSync(out, text);
        console.log(`${name} -> build/${base}`);
      }
    }
  }
}
process.exit(differ);
