#!/usr/bin/env node
// Measures the web client's first page on paspor-local in headless Chromium: bytes over
// the wire (PerformanceResourceTiming transferSize, headers included), request count, and
// time to interactive: from navigation start until the sign-in form's button is in the page
// (the scripts have run and rendered the view), recorded inside the page by a
// MutationObserver. Cold (empty cache) and warm (revalidated) loads, on loopback and on an
// emulated slow phone (CDP: 400 ms RTT, 400 kbit/s each way, CPU slowed 4x).
//
//   (cd tests/e2e && npm ci) && cargo build -p paspor-local   # or PASPOR_LOCAL_BIN=…
//   node scripts/bench.d/web.mjs            # BENCH_RUNS (default 7) loads per case, median
//
// Prints a Markdown table for BENCHMARKS.md.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, repo } from '../../tests/e2e/lib.mjs';

const runs = Number(process.env.BENCH_RUNS || 7);
// The page's bytes come from memory either way; the debug build is what the tests build.
process.env.PASPOR_LOCAL_BIN ||= join(repo, 'target/debug/paspor-local');
if (!existsSync(process.env.PASPOR_LOCAL_BIN)) throw new Error(`no ${process.env.PASPOR_LOCAL_BIN}: cargo build -p paspor-local`);

const SLOW = { network: { offline: false, latency: 400, downloadThroughput: 400_000 / 8, uploadThroughput: 400_000 / 8 }, cpu: 4 };

const marker = () => {
  // Runs before the page's own scripts: notes when the first view's submit button exists.
  new MutationObserver((_, obs) => {
    if (document.querySelector('#main form button[type=submit]')) {
      window.__interactive = performance.now();
      obs.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
};

async function load(page, cdp, base, { cold, slow }) {
  if (cold) {
    await cdp.send('Network.clearBrowserCache');
  }
  await cdp.send('Network.emulateNetworkConditions', slow ? SLOW.network : { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: slow ? SLOW.cpu : 1 });
  await page.goto('about:blank');
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => window.__interactive !== undefined, null, { timeout: 60000 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return {
      bytes: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
      body: nav.encodedBodySize + res.reduce((n, r) => n + r.encodedBodySize, 0),
      requests: 1 + res.length,
      fcp: fcp ? fcp.startTime : NaN,
      tti: window.__interactive,
      load: nav.loadEventEnd,
    };
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await startServer();
const b = await launch();
try {
  await b.context.addInitScript(marker);
  const cdp = await b.context.newCDPSession(b.page);
  await cdp.send('Network.enable');
  const rows = [];
  for (const slow of [false, true]) {
    for (const cold of [true, false]) {
      const samples = [];
      // One unmeasured load first, so a warm run has something in the cache.
      await load(b.page, cdp, server.base, { cold, slow: false });
      for (let i = 0; i < runs; i++) samples.push(await load(b.page, cdp, server.base, { cold, slow }));
      rows.push({ slow, cold, ...Object.fromEntries(['bytes', 'body', 'requests', 'fcp', 'tti', 'load'].map((k) => [k, median(samples.map((s) => s[k]))])) });
    }
  }
  const ms = (x) => `${Math.round(x)} ms`;
  console.log(`| connection | cache | requests | transferred (headers incl.) | bodies | first paint | interactive | load event |`);
  console.log(`|---|---|---|---|---|---|---|---|`);
  for (const r of rows) {
    console.log(`| ${r.slow ? 'slow phone (400 ms RTT, 400 kbit/s, CPU ÷4)' : 'loopback'} | ${r.cold ? 'cold' : 'warm (304s)'} | ${r.requests} | ${(r.bytes / 1024).toFixed(1)} KiB | ${(r.body / 1024).toFixed(1)} KiB | ${ms(r.fcp)} | ${ms(r.tti)} | ${ms(r.load)} |`);
  }
  console.log(`\n${runs} loads per row, median; ${(await cdp.send('Browser.getVersion')).product}, paspor-local ${process.env.PASPOR_LOCAL_BIN.includes('release') ? 'release' : 'debug'}.`);
} finally {
  await b.close();
  await server.stop();
}
