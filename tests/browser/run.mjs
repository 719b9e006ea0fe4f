// Runs one browser spec: `node run.mjs specs/NAME.mjs`, configured by the environment the
// Rust test (crates/cli/tests/support/browser.rs) sets, or by hand against a running server:
//
//   KPI_BROWSER_BASE_URL   the server, e.g. http://127.0.0.1:8080 (required)
//   KPI_BROWSER_OUTPUT     screenshots, PDFs and report.json go into its folder NAME
//                          (default: output/NAME here; the Rust tests: the target directory)
//   KPI_BROWSER_PARAMS     JSON handed to the spec as t.params (default: {})
//   KPI_BROWSER_CHROMIUM   the browser (default: /usr/bin/chromium)
//   KPI_BROWSER_TIMEOUT_MS the whole spec's time limit (default: 60000)
//
// Exit status 0 when the spec passed, 1 otherwise (the reasons on stderr).

import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runSpec } from './harness.mjs';

const [specPath] = process.argv.slice(2);
if (!specPath) {
  console.error('usage: node run.mjs specs/NAME.mjs');
  process.exit(2);
}
const baseUrl = process.env.KPI_BROWSER_BASE_URL;
if (!baseUrl) {
  console.error('KPI_BROWSER_BASE_URL: not set; give the server, e.g. http://127.0.0.1:8080');
  process.exit(2);
}
const name = basename(specPath, '.mjs');
const module = await import(pathToFileURL(resolve(specPath)).href);
try {
  const report = await runSpec(module.default, {
    name,
    baseUrl,
    output: resolve(process.env.KPI_BROWSER_OUTPUT ?? 'output', name),
    params: JSON.parse(process.env.KPI_BROWSER_PARAMS ?? '{}'),
    chromiumPath: process.env.KPI_BROWSER_CHROMIUM ?? '/usr/bin/chromium',
    timeoutMs: Number(process.env.KPI_BROWSER_TIMEOUT_MS ?? 60_000),
    allowConsoleErrors: module.allowConsoleErrors,
  });
  const local = report.requests.length;
  console.log(`passed: ${name} in ${report.ms} ms, ${local} requests, none blocked; files:`);
  for (const file of report.files) console.log(`  ${file}`);
} catch (error) {
  console.error(`failed: ${name}\n${error.message}`);
  process.exit(1);
}
