// Re-fetches the browser builds of GraphiQL and React that kpi-server embeds (dist/), from
// npm, at the versions package-lock.json pins, and refuses any tarball whose SHA-512 is not
// the lock's `integrity`. Run it after changing a version in package.json:
//
//   cd crates/server/assets/graphiql
//   npm install --package-lock-only --ignore-scripts   # pins the new versions and hashes
//   node vendor.mjs                                    # fetches, checks, copies into dist/
//   node vendor.mjs --check                            # fetches and checks dist/ is what npm has
//
// Then build and run the browser test (crates/cli/tests/browser.rs): GraphiQL must load and
// run a query with every non-loopback request blocked. Nothing here runs at build time; the
// build reads dist/ with include_bytes! (crates/server/src/graphiql.rs).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes('--check');

// What the page loads, from which package: [package, path in its tarball, file in dist/].
const FILES = [
  ['react', 'umd/react.production.min.js', 'react.production.min.js'],
  ['react-dom', 'umd/react-dom.production.min.js', 'react-dom.production.min.js'],
  ['graphiql', 'graphiql.min.js', 'graphiql.min.js'],
  ['graphiql', 'graphiql.min.css', 'graphiql.min.css'],
];
const PACKAGES = [...new Set(FILES.map(([name]) => name))];

const lock = JSON.parse(readFileSync(join(here, 'package-lock.json'), 'utf8'));
const work = mkdtempSync(join(tmpdir(), 'graphiql-vendor-'));
const problems = [];
const licences = [];
try {
  const unpacked = {};
  for (const name of PACKAGES) {
    const pinned = lock.packages?.[`node_modules/${name}`];
    if (!pinned?.version || !pinned?.integrity) {
      throw new Error(`package-lock.json pins no version and integrity for ${name}`);
    }
    const [algorithm, expected] = pinned.integrity.split('-', 2);
    if (algorithm !== 'sha512') {
      throw new Error(`${name}: integrity is ${algorithm}, expected sha512`);
    }
    const packed = JSON.parse(
      execFileSync('npm', ['pack', `${name}@${pinned.version}`, '--json', '--pack-destination', work], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    )[0];
    const tarball = join(work, packed.filename);
    const actual = createHash('sha512').update(readFileSync(tarball)).digest('base64');
    if (actual !== expected) {
      throw new Error(
        `${name}@${pinned.version}: the tarball's sha512 ${actual} is not package-lock.json's ${expected}`,
      );
    }
    const into = join(work, name);
    mkdirSync(into);
    execFileSync('tar', ['-xzf', tarball, '-C', into, '--strip-components=1']);
    unpacked[name] = into;
    licences.push(`${name}@${pinned.version} (${pinned.license})\n\n${readFileSync(join(into, 'LICENSE'), 'utf8').trim()}\n`);
    console.log(`${name}@${pinned.version}: integrity matches package-lock.json`);
  }
  const dist = join(here, 'dist');
  mkdirSync(dist, { recursive: true });
  const wanted = FILES.map(([name, from, to]) => [to, readFileSync(join(unpacked[name], from))]);
  wanted.push(['LICENSES.txt', Buffer.from(licences.join('\n---\n\n'))]);
  const sums = wanted
    .map(([to, bytes]) => `${createHash('sha256').update(bytes).digest('hex')}  ${to}\n`)
    .join('');
  for (const [to, bytes] of wanted) {
    const path = join(dist, to);
    if (check) {
      let present;
      try {
        present = readFileSync(path);
      } catch {
        present = null;
      }
      if (!present || !present.equals(bytes)) problems.push(`dist/${to} differs from npm's`);
    } else {
      writeFileSync(path, bytes);
    }
  }
  if (check) {
    if (readFileSync(join(dist, 'SHA256SUMS'), 'utf8') !== sums) problems.push('dist/SHA256SUMS is stale');
  } else {
    writeFileSync(join(dist, 'SHA256SUMS'), sums);
    console.log(`wrote ${wanted.length} files and SHA256SUMS into ${dist}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
if (check) console.log('dist/ is what npm serves at the pinned versions');
