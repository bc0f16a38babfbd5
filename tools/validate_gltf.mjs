#!/usr/bin/env node
// Run Khronos' glTF-Validator (npm package "gltf-validator") on a .glb/.gltf file.
//
//   node tools/validate_gltf.mjs FILE [--strict] [--full]
//
// Prints one JSON summary (numErrors, numWarnings, numInfos, numHints, the
// first error/warning messages, asset info) to stdout.
// Exit codes: 0 = no errors (and, with --strict, no warnings),
//             1 = validation errors (or warnings with --strict),
//             2 = usage error, unreadable file, or the validator package is missing.
//
// Where the package is looked up, in order:
//   1. $GLTF_VALIDATOR_DIR (the package directory itself),
//   2. <repo>/.cache/node/node_modules/gltf-validator
//      (installed by: npm install --prefix <repo>/.cache/node gltf-validator),
//   3. normal Node resolution from this script (node_modules, NODE_PATH).
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function loadValidator() {
  const candidates = [];
  if (process.env.GLTF_VALIDATOR_DIR) candidates.push(path.resolve(process.env.GLTF_VALIDATOR_DIR));
  candidates.push(path.resolve(here, "..", ".cache", "node", "node_modules", "gltf-validator"));
  for (const dir of candidates) {
    if (existsSync(path.join(dir, "package.json"))) return require(dir);
  }
  return require("gltf-validator");
}

function fail(msg) {
  process.stdout.write(JSON.stringify({ ok: false, fatal: msg }) + "\n");
  process.exit(2);
}

const args = process.argv.slice(2);
const strict = args.includes("--strict");
const full = args.includes("--full");
const files = args.filter((a) => !a.startsWith("--"));
if (files.length !== 1) {
  process.stderr.write("usage: node validate_gltf.mjs FILE [--strict] [--full]\n");
  process.exit(2);
}
const file = path.resolve(files[0]);

let validator;
try {
  validator = loadValidator();
} catch (err) {
  fail("cannot load gltf-validator: " + (err && err.message ? err.message : String(err)));
}

let bytes;
try {
  bytes = new Uint8Array(readFileSync(file));
} catch (err) {
  fail("cannot read " + file + ": " + err.message);
}

try {
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 0,
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        try {
          resolve(new Uint8Array(readFileSync(path.resolve(path.dirname(file), decodeURIComponent(uri)))));
        } catch (err) {
          reject(err.toString());
        }
      }),
  });
  const issues = report.issues || {};
  const messages = (issues.messages || []).filter((m) => m.severity <= 1);
  const summary = {
    ok: issues.numErrors === 0 && (!strict || issues.numWarnings === 0),
    uri: report.uri,
    validatorVersion: report.validatorVersion,
    mimeType: report.mimeType,
    numErrors: issues.numErrors,
    numWarnings: issues.numWarnings,
    numInfos: issues.numInfos,
    numHints: issues.numHints,
    truncated: issues.truncated,
    messages: full ? issues.messages : messages.slice(0, 20),
    info: report.info,
  };
  process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
  process.exit(summary.ok ? 0 : 1);
} catch (err) {
  fail("validator rejected the input: " + (err && err.message ? err.message : String(err)));
}
