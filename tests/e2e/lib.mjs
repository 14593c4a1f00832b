// What the browser tests need besides the browser: a paspor-local of their own on a free
// port over a fresh data directory (or, with PASPOR_E2E_STACK set to its data directory,
// the stack as deployed: scripts/stack), the outbox (for OTPs), the payment webhook, and
// the API itself for what another person does meanwhile (taking the last place of a slot).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const OPS_TOKEN = 'e2e-ops-token';
export const WEBHOOK_SECRET = 'e2e-webhook-secret';
export const shots = process.env.PASPOR_E2E_SCREENSHOTS || join(repo, 'target/e2e-screenshots');

/** The stack's data directory when the tests run against scripts/stack. */
export const STACK = process.env.PASPOR_E2E_STACK || '';

/** Starts paspor-local with the demo seed; resolves once it prints its address. On the
 *  stack (started by the test command, seeded, with the short availability cache), it
 *  answers where that one listens instead. */
export async function startServer(env = {}) {
  if (STACK) {
    const { url } = JSON.parse(readFileSync(join(STACK, 'stack.json'), 'utf8'));
    return { base: url, dataDir: STACK, async stop() {} };
  }
  const bin = process.env.PASPOR_LOCAL_BIN || join(repo, 'target/debug/paspor-local');
  const dataDir = mkdtempSync(join(tmpdir(), 'paspor-e2e-'));
  const child = spawn(bin, ['--addr', '127.0.0.1:0', '--data-dir', dataDir, '--seed', 'demo'], {
    env: { ...process.env, RUST_LOG: 'warn', PASPOR_OPS_TOKEN: OPS_TOKEN, PASPOR_WEBHOOK_SECRET: WEBHOOK_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('paspor-local did not start in 30 s')), 30000);
    child.on('exit', (code) => fail(new Error(`paspor-local exited with ${code}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/paspor-local listening on (\S+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
  });
  child.stdout.resume();
  // A test run that dies (a throw outside a test, a timeout) must not leave a server behind.
  const orphan = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', orphan);
  return {
    base,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Headless Debian Chromium with a fresh profile (a persistent context is how Playwright
 * takes a user-data-dir), phone-sized, recording every page error.
 */
export async function launch(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'paspor-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.PASPOR_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    locale: 'id-ID',
    timezoneId: 'Asia/Jakarta',
    acceptDownloads: true,
    ...options,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  // A 4xx or 503 the page handles still logs "Failed to load resource"; those are expected.
  page.on('console', (m) => m.type() === 'error' && !/status of (4\d\d|503)/.test(m.text()) && page.errors.push(m.text()));
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

let shotNo = 0;
/** A full-page screenshot as target/e2e-screenshots/NN-name.png. */
export async function shot(page, name, n) {
  mkdirSync(shots, { recursive: true });
  shotNo = n ?? shotNo + 1;
  const file = join(shots, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Waits for the `nth` mail to `to` that carries a code (the subject names it) and
 *  answers that 6-digit code. Other mails (booking, payment) are not counted. */
export async function otp(dataDir, to, nth = 1) {
  const deadline = Date.now() + 20000; // on the stack the mail goes through SQS, the worker and SES
  const toLine = new RegExp(`^To: <?${to.replace(/[.+]/g, '\\$&')}>?\\s*$`, 'im');
  for (;;) {
    const codes = [];
    try {
      for (const f of readdirSync(join(dataDir, 'outbox')).sort()) {
        const text = readFileSync(join(dataDir, 'outbox', f), 'utf8');
        const m = text.match(/^Subject: .*?\b(\d{6})\b/m);
        if (m && toLine.test(text)) codes.push(m[1]);
      }
    } catch {
      /* no outbox yet */
    }
    if (codes.length >= nth) return codes[nth - 1];
    if (Date.now() > deadline) throw new Error(`code mail #${nth} to ${to} never arrived`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Each test file runs in its own process; on the stack they share one service, so each
// file's applicants start from its own range of NIK serials (`useSerialsFrom`).
let serials = 100;
export function useSerialsFrom(n) {
  serials = n;
}
export const email = (tag) => `${tag}.${randomUUID().slice(0, 8)}@example.com`;

/** A NIK that agrees with the birth date and sex (region 3174 05). */
export function nik(birthDate, female, serial) {
  const [y, m, d] = birthDate.split('-');
  const dd = String(Number(d) + (female ? 40 : 0)).padStart(2, '0');
  return `317405${dd}${m}${y.slice(2)}${String(serial).padStart(4, '0')}`;
}

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/** SigV4 headers (service execute-api) for an operator's request, as the AWS CLI signs
 *  it: what API Gateway's AWS_IAM routes ask for. The paths signed here are plain, so
 *  encoding them (twice, for execute-api) leaves them as they are. */
export function sigv4(method, url, body, { access_key_id, secret_access_key, region }) {
  const u = new URL(url);
  const date = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const day = date.slice(0, 8);
  const headers = { 'content-type': 'application/json', host: u.host, 'x-amz-date': date };
  const names = Object.keys(headers).sort();
  const query = [...u.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join('&');
  const canonical = [method, u.pathname, query, names.map((n) => `${n}:${headers[n]}\n`).join(''), names.join(';'), sha256(body)].join('\n');
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonical)].join('\n');
  const key = ['execute-api', 'aws4_request'].reduce((k, part) => hmac(k, part), hmac(hmac('AWS4' + secret_access_key, day), region));
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  delete headers.host;
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${access_key_id}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` };
}

/** The API, as another person or an operator uses it. Throws on an unexpected status.
 *  `ops: true` is an operator's request: the ops token on paspor-local, SigV4 on the stack. */
export function client(base) {
  async function call(method, path, { body, token, expect, headers = {}, ops = false } = {}) {
    const raw = body ? JSON.stringify(body) : undefined;
    if (ops) {
      headers = STACK
        ? { ...headers, ...sigv4(method, base + path, raw ?? '', JSON.parse(readFileSync(join(STACK, 'ops-credentials.json'), 'utf8'))) }
        : { ...headers, authorization: 'Bearer ' + OPS_TOKEN };
    }
    const res = await fetch(base + path, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: 'Bearer ' + token } : {}), ...headers },
      body: raw,
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (expect && res.status !== expect) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return { status: res.status, body: json, headers: res.headers };
  }
  const api = {
    call,
    /** The server's time: paspor-local's clock, which tests move; the stack's is the real one. */
    async now() {
      if (STACK) return new Date().toISOString();
      return (await call('POST', '/_local/clock', { body: { advance_secs: 0 }, expect: 200 })).body.now;
    },
    /** Lets `secs` pass: paspor-local's clock moves; on the stack the test waits. */
    async advance(secs) {
      if (STACK) return new Promise((r) => setTimeout(r, secs * 1000));
      await call('POST', '/_local/clock', { body: { advance_secs: secs }, expect: 200 });
    },
    async account(dataDir, address, password = 'rahasia-e2e-1') {
      await call('POST', '/v1/accounts', { body: { email: address, password, full_name: 'Budi Santoso', phone: '081211112222' }, expect: 201 });
      const code = await otp(dataDir, address);
      const v = await call('POST', '/v1/accounts/verify', { body: { email: address, code }, expect: 200 });
      return v.body.access_token;
    },
    /** An adult's application with every document uploaded; submitted unless `draft`. */
    async application(token, nth, { draft = false } = {}) {
      const serial = ++serials; // one NIK has one active application across the service
      const birth = '1988-03-14';
      const a = await call('POST', '/v1/applicants', { token, expect: 201, body: { nik: nik(birth, false, serial), full_name: 'Budi Santoso', birth_date: birth, birth_place: 'Surabaya', sex: 'M', relationship: nth === 1 ? 'self' : 'sibling' } });
      const app = await call('POST', '/v1/applications', { token, expect: 201, body: { applicant_id: a.body.applicant_id, passport_type: 'electronic', application_type: 'new', purpose: 'tourism', express: false, destination_country: 'MY' } });
      const id = app.body.application_id;
      if (draft) return app.body;
      for (const { kind } of app.body.required_documents) {
        const pdf = fakePdf(500);
        const form = await call('POST', `/v1/applications/${id}/documents/${kind}/upload-url`, { token, expect: 201, body: { content_type: 'application/pdf', content_length: pdf.length } });
        const data = new FormData();
        for (const [k, v] of Object.entries(form.body.fields)) data.append(k, v);
        data.append('file', new Blob([pdf], { type: 'application/pdf' }), 'scan.pdf');
        const up = await fetch(form.body.url, { method: 'POST', body: data });
        if (up.status !== 204) throw new Error('upload ' + up.status);
        await call('POST', `/v1/applications/${id}/documents/${kind}/complete`, { token, expect: 200, body: {} });
      }
      await call('POST', `/v1/applications/${id}/submit`, { token, expect: 200, body: {} });
      return app.body;
    },
    async availability(office, date) {
      return (await call('GET', `/v1/offices/${office}/availability?from=${date}&to=${date}`, { expect: 200 })).body.days[0]?.slots ?? [];
    },
    /** Pays a billing code through the signed webhook, as a bank channel does. */
    async pay(billingCode, amount) {
      const now = await api.now();
      const raw = JSON.stringify({ transaction_id: 'TX-' + randomUUID(), billing_code: billingCode, amount_idr: amount, paid_at: now, channel: 'indomaret' });
      const ts = Math.floor(Date.parse(now) / 1000);
      const sig = 'v1=' + createHmac('sha256', WEBHOOK_SECRET).update(`${ts}.${raw}`).digest('hex');
      const res = await fetch(base + '/v1/payments/notifications', { method: 'POST', headers: { 'content-type': 'application/json', 'x-paspor-timestamp': String(ts), 'x-paspor-signature': sig }, body: raw });
      const body = await res.json();
      if (res.status !== 200) throw new Error('payment ' + JSON.stringify(body));
      return body;
    },
  };
  return api;
}

/** The first bytes of a real PDF, padded: what the server's type check accepts. */
export function fakePdf(len) {
  const b = Buffer.alloc(len, 0x20);
  b.write('%PDF-1.7\n');
  return b;
}

/** Signs in through the page, as a person would. */
export async function signIn(page, base, address, password) {
  await page.goto(base + '/#/signin');
  await page.getByLabel('Email').fill(address);
  await page.getByLabel('Kata sandi').fill(password);
  await page.getByRole('button', { name: 'Masuk' }).click();
  await page.waitForSelector('h1:has-text("Halo")');
}

export const visible = (page, selector) => page.locator(selector).first().waitFor({ state: 'visible' });

/** Every control on the page has a name a screen reader can say: a label, or aria-label. */
export async function assertLabelled(page) {
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href]')]
      .filter((el) => !(el.labels?.length > 0 || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.textContent.trim()))
      .map((el) => el.outerHTML.slice(0, 120)),
  );
  assert.deepEqual(unnamed, [], 'controls without an accessible name');
}
