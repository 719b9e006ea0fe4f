// The browser-test harness: Debian's Chromium, driven by playwright-core, against a live
// kpi-ledger server on loopback, with every request to any other host blocked and recorded.
// A spec (specs/*.mjs) exports `default async function (t)`; run.mjs loads it and calls
// `runSpec`. What `t` offers is documented on `TestContext` below and in README.md.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** Hosts a request may go to; anything else is blocked and fails the test. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Whether `url` stays on this machine (data:, blob: and about: never leave it). */
export function isLocal(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (['data:', 'blob:', 'about:', 'chrome-error:'].includes(parsed.protocol)) return true;
  return LOOPBACK.has(parsed.hostname);
}

const CHROMIUM_ARGS = [
  // Root in a container has no user namespace for Chromium's sandbox.
  '--no-sandbox',
  '--disable-dev-shm-usage',
  '--disable-gpu',
  // A second wall behind the request interception: no host name resolves but loopback, so
  // not even Chromium's own background requests could leave.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-domain-reliability',
  '--disable-sync',
  '--no-first-run',
  '--no-pings',
  '--lang=ja',
];

/**
 * What a spec gets. Contexts and pages made through it carry the network block, collect
 * page errors and console errors, and are screenshotted if the spec fails.
 */
class TestContext {
  constructor({ browser, baseUrl, output, params, allowConsoleErrors }) {
    this.browser = browser;
    /** The server's base URL, e.g. `http://127.0.0.1:41234`. */
    this.baseUrl = baseUrl.replace(/\/$/, '');
    /** Where screenshots and PDFs go (cleared before the run). */
    this.output = output;
    /** Whatever the Rust test passed (tokens, expected figures, ...). */
    this.params = params;
    /** node:assert/strict. */
    this.assert = assert;
    this.blocked = [];
    this.requests = [];
    this.problems = [];
    this.files = [];
    this.steps = [];
    this.pages = [];
    this.allowConsoleErrors = allowConsoleErrors;
  }

  /** `path` on the server under test. */
  url(path = '/') {
    return `${this.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`;
  }

  /**
   * A new browser context (cookies, viewport, locale of its own) with the network block;
   * options as Playwright's `browser.newContext` (e.g. `{ viewport: { width: 420, height:
   * 900 } }`). Japanese locale and Tokyo time by default.
   */
  async newContext(options = {}) {
    const context = await this.browser.newContext({
      locale: 'ja-JP',
      timezoneId: 'Asia/Tokyo',
      viewport: { width: 1280, height: 900 },
      ...options,
    });
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(15_000);
    await context.route(
      (url) => !isLocal(url.toString()),
      (route) => {
        this.blocked.push(route.request().url());
        return route.abort('blockedbyclient');
      },
    );
    await context.routeWebSocket(
      (url) => !isLocal(url.toString()),
      (socket) => {
        this.blocked.push(socket.url());
        return socket.close({ code: 1008, reason: 'blocked: not loopback' });
      },
    );
    context.on('request', (request) => this.requests.push(`${request.method()} ${request.url()}`));
    context.on('page', (page) => this.#watch(page));
    return context;
  }

  /** A new page in a new context (see `newContext`). */
  async newPage(options = {}) {
    const context = await this.newContext(options);
    return context.newPage();
  }

  #watch(page) {
    this.pages.push(page);
    page.on('pageerror', (error) => this.problems.push(`page error on ${page.url()}: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      if (this.allowConsoleErrors.some((pattern) => pattern.test(text))) return;
      this.problems.push(`console error on ${page.url()}: ${text}`);
    });
  }

  /** Saves a PNG of `page` as `<output>/<name>.png` (whole page by default); its path. */
  async screenshot(page, name, options = {}) {
    const path = join(this.output, `${name}.png`);
    await page.screenshot({ path, fullPage: true, ...options });
    this.files.push(path);
    return path;
  }

  /** Prints `page` to `<output>/<name>.pdf` (Playwright's `page.pdf` options); its path. */
  async pdf(page, name, options = {}) {
    const path = join(this.output, `${name}.pdf`);
    await page.pdf({ path, printBackground: true, ...options });
    this.files.push(path);
    return path;
  }

  /** Runs `body`, naming the step in the log and in the error if it fails. */
  async step(name, body) {
    const started = Date.now();
    try {
      const result = await body();
      this.steps.push({ name, ms: Date.now() - started });
      console.log(`  ok ${name} (${Date.now() - started} ms)`);
      return result;
    } catch (error) {
      this.steps.push({ name, ms: Date.now() - started, failed: true });
      error.message = `step "${name}": ${error.message}`;
      throw error;
    }
  }
}

/**
 * Runs one spec: launches Chromium, calls `spec(t)`, then fails if the spec threw, took
 * longer than `timeoutMs`, or anything tried to leave the machine or broke on a page.
 * Writes `<output>/report.json` (every request, the blocked ones, steps, files). Resolves
 * to the report; rejects with every problem named.
 */
export async function runSpec(spec, { name, baseUrl, output, params, chromiumPath, timeoutMs, allowConsoleErrors }) {
  rmSync(output, { recursive: true, force: true });
  mkdirSync(output, { recursive: true });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  const t = new TestContext({
    browser,
    baseUrl,
    output,
    params,
    allowConsoleErrors: allowConsoleErrors ?? [],
  });
  let failure = null;
  let timer;
  const started = Date.now();
  try {
    await Promise.race([
      spec(t),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the spec took longer than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    failure = error;
  } finally {
    clearTimeout(timer);
  }
  if (failure) {
    for (const [index, page] of t.pages.entries()) {
      if (page.isClosed()) continue;
      await t.screenshot(page, `failure-${index}`, { timeout: 5_000 }).catch(() => {});
    }
  }
  await browser.close().catch(() => {});
  const report = {
    spec: name,
    baseUrl,
    ms: Date.now() - started,
    passed: !failure && t.blocked.length === 0 && t.problems.length === 0,
    steps: t.steps,
    files: t.files,
    blocked: t.blocked,
    problems: t.problems,
    requests: t.requests,
    failure: failure ? String(failure.stack ?? failure) : null,
  };
  writeFileSync(join(output, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  const reasons = [];
  if (failure) reasons.push(String(failure.stack ?? failure));
  if (t.blocked.length) {
    reasons.push(`requests that would have left the machine (blocked):\n  ${t.blocked.join('\n  ')}`);
  }
  if (t.problems.length) reasons.push(`errors on the pages:\n  ${t.problems.join('\n  ')}`);
  if (reasons.length) throw new Error(reasons.join('\n'));
  return report;
}
