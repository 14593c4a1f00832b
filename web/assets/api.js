// Talks to the Paspor API on this same origin. Every request says which language the
// problem details should be in; every failure becomes a Problem the page can show.

import { lang } from './i18n.js';

/** A failed request: the API's problem details, or a network failure (status 0). */
export class Problem extends Error {
  constructor(status, body = {}, retryAfter = null) {
    super(body.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || (status === 0 ? 'network' : 'http_' + status);
    this.detail = body.detail || '';
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

let token = sessionStorage.getItem('token');
export const signedIn = () => Boolean(token);
export function setToken(t) {
  token = t;
  if (t) sessionStorage.setItem('token', t);
  else sessionStorage.removeItem('token');
}

/** Called when the API says the session is over (401 on a signed-in call). */
export const hooks = { onUnauthorized: () => {}, onWait: (_secs) => {}, onWaitEnd: () => {} };

/** A fresh Idempotency-Key for one user action; keep it for that action's retries. */
export const newKey = () =>
  crypto.randomUUID ? crypto.randomUUID() : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

// Relative to the page, so the site works under an API stage path (…/dev/) as at the root.
const url = (path) => new URL(path.replace(/^\//, ''), document.baseURI).href;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Load shedding (503) and the generic rate limit are waited out and retried; the limits
 *  that mean "you, stop" (OTP cool-down, lockouts) are the person's to see, not retried. */
const retryable = (status, code) => status === 503 || (status === 429 && code === 'rate_limited');
const MAX_WAITS = 8;

/**
 * One API call. `key` (an Idempotency-Key) is sent unchanged on every retry, so a booking
 * that the server took before the connection dropped is answered again, not made twice.
 */
export async function api(method, path, { body, key, raw, fresh } = {}) {
  const headers = { 'Accept-Language': lang, Accept: raw ? '*/*' : 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  if (key) headers['Idempotency-Key'] = key;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      // `fresh` skips the browser's copy: availability may be cached for seconds, which is
      // right for a first look and wrong right after the server said "full".
      res = await fetch(url(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: fresh ? 'no-cache' : 'default' });
    } catch {
      throw new Problem(0);
    }
    if (res.ok) {
      hooks.onWaitEnd();
      if (raw) return res.blob();
      const text = await res.text();
      return text ? JSON.parse(text) : null;
    }
    let problem = {};
    try {
      problem = await res.json();
    } catch {
      /* not problem+json (a proxy's page): the status alone speaks */
    }
    const after = Number.parseInt(res.headers.get('Retry-After') ?? '', 10);
    const wait = Number.isFinite(after) ? Math.min(Math.max(after, 1), 120) : null;
    if (retryable(res.status, problem.code) && attempt < MAX_WAITS) {
      const secs = wait ?? Math.min(2 ** attempt, 30);
      hooks.onWait(secs);
      await sleep(secs * 1000);
      continue;
    }
    hooks.onWaitEnd();
    if (res.status === 401 && token && !path.startsWith('/v1/sessions')) {
      setToken(null);
      hooks.onUnauthorized();
    }
    throw new Problem(res.status, problem, wait);
  }
}

/**
 * Sends a file straight to storage with a presigned POST form, reporting progress.
 * XMLHttpRequest, because fetch cannot report upload progress.
 */
export function sendForm(form, file, onProgress) {
  return new Promise((resolve, reject) => {
    const data = new FormData();
    for (const [k, v] of Object.entries(form.fields || {})) data.append(k, v);
    data.append('file', file); // storage reads the fields first, the file last
    const xhr = new XMLHttpRequest();
    xhr.open(form.method || 'POST', form.url);
    for (const [k, v] of Object.entries(form.headers || {})) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      let body = {};
      try {
        body = JSON.parse(xhr.responseText); // the local target answers problem+json; S3 answers XML
      } catch {
        /* keep the status */
      }
      reject(new Problem(xhr.status, body));
    };
    xhr.onerror = () => reject(new Problem(0));
    xhr.ontimeout = () => reject(new Problem(0));
    xhr.send(data);
  });
}
