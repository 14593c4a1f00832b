// The applicants' journey in one small page: hash routes, one view at a time, no framework.
// Every view reads the API afresh, so the page never shows what the server no longer says.

import { t, lang, setLang, has, rupiah, formatDate, formatInstant, formatSpan, monthName, weekdayShort, tzName } from './i18n.js';
import { api, sendForm, Problem, setToken, signedIn, hooks, newKey } from './api.js';

const main = document.getElementById('main');
const waitBar = document.getElementById('wait');
let timers = []; // intervals of the current view, cleared on the next
let flash = null; // a one-time notice for the next view

// ---------------------------------------------------------------- tiny DOM helper

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

function show(...nodes) {
  main.replaceChildren(...nodes.flat().filter(Boolean));
}

const go = (path) => {
  if (location.hash === '#' + path) render();
  else location.hash = path;
};

const every = (ms, fn) => {
  fn();
  timers.push(setInterval(fn, ms));
};

// ---------------------------------------------------------------- problems and forms

/** The API's problem details as a person reads them: what went wrong, what to do. A view
 *  may have hints of its own for a code (`hints`, a key prefix, before the general ones),
 *  and say whom a problem concerns (`about`). */
function problemBox(err, { hints = null, about = null } = {}) {
  const p = err instanceof Problem ? err : new Problem(0);
  const detail = p.status === 0 ? t('offline') : p.detail || `HTTP ${p.status}`;
  const key = [hints && hints + p.code, 'hint_' + p.code].find((k) => k && has(k));
  const hint = key ? t(key) : null;
  const fields = p.errors.filter((e) => e.message);
  return h(
    'div',
    { class: 'problem', role: 'alert', tabindex: '-1', 'data-code': p.code },
    h('strong', {}, t('problemTitle')),
    h('p', { class: 'detail' }, detail),
    fields.length > 0 && h('ul', {}, fields.map((e) => h('li', {}, e.message))),
    about && h('p', { class: 'about' }, about),
    hint && h('p', { class: 'hint-todo' }, hint),
  );
}

/** A problem the page finds itself, before asking the server. */
function localProblem(text) {
  return h('div', { class: 'problem', role: 'alert', tabindex: '-1', 'data-code': 'form' }, h('strong', {}, t('problemTitle')), h('p', { class: 'detail' }, text));
}

function noticeBox(text) {
  return h('div', { class: 'notice', role: 'status' }, text);
}

function takeFlash() {
  const f = flash;
  flash = null;
  return f && noticeBox(f);
}

/** A labelled input with its hint; the API's field errors attach to it by name. */
function field(name, label, { type = 'text', hint, value, ...rest } = {}) {
  const id = nextId(name);
  const hintId = hint ? id + '-hint' : null;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name, type, value: value ?? '', 'aria-describedby': hintId, ...rest }),
    hint && h('p', { class: 'hint', id: hintId }, hint),
  );
}

function select(name, label, options, { value, hint } = {}) {
  const id = nextId(name);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))),
    hint && h('p', { class: 'hint' }, hint),
  );
}

function radios(name, legend, options, value) {
  return h(
    'fieldset',
    {},
    h('legend', {}, legend),
    options.map(([v, text]) => {
      const id = nextId(name);
      return h('div', { class: 'choice' }, h('input', { type: 'radio', id, name, value: v, checked: v === value, required: true }), h('label', { for: id }, text));
    }),
  );
}

function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => {
    e.removeAttribute('aria-invalid');
    e.setAttribute('aria-describedby', (e.getAttribute('aria-describedby') || '').replace(/\S+-err\b/g, '').trim());
  });
  form.querySelector(':scope > .problem')?.remove();
}

function showErrors(form, err) {
  const box = problemBox(err);
  form.prepend(box);
  for (const e of err.errors || []) {
    const input = form.querySelector(`[name="${CSS.escape(e.field)}"]`);
    if (!input) continue;
    const id = input.id + '-err';
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', `${input.getAttribute('aria-describedby') || ''} ${id}`.trim());
    (input.closest('.field, fieldset') || input.parentElement).append(h('p', { class: 'field-error', id }, e.message));
  }
  box.focus();
}

/**
 * A form whose submit runs `action(values, key)`. The Idempotency-Key lives as long as
 * the attempt: a retry after a dropped connection sends the same key, a new attempt after
 * an answer gets a new one.
 */
function form(children, action, { submitLabel, danger } = {}) {
  const f = h('form', { novalidate: true }, children, h('div', { class: 'actions' }, h('button', { type: 'submit', class: danger ? 'danger' : null }, submitLabel)));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = f.querySelector('button[type=submit]');
    if (button.disabled) return;
    clearErrors(f);
    f.dataset.key ||= newKey();
    const values = Object.fromEntries(new FormData(f));
    button.disabled = true;
    try {
      await action(values, f.dataset.key);
      delete f.dataset.key;
    } catch (err) {
      if (!(err instanceof Problem)) throw err;
      if (err.status !== 0 && err.status < 500) delete f.dataset.key;
      showErrors(f, err);
    } finally {
      button.disabled = false;
    }
  });
  return f;
}

function heading(text) {
  return h('h1', { tabindex: '-1' }, text);
}

// ---------------------------------------------------------------- accounts

function signIn(params) {
  const email = params.get('email') || '';
  show(
    heading(t('signInTitle')),
    takeFlash(),
    h('p', {}, t('signInIntro')),
    h(
      'div',
      { class: 'card' },
      form(
        [
          field('email', t('email'), { type: 'email', autocomplete: 'username', required: true, value: email, inputmode: 'email' }),
          field('password', t('password'), { type: 'password', autocomplete: 'current-password', required: true }),
        ],
        async (v) => {
          try {
            const s = await api('POST', '/v1/sessions', { body: { email: v.email, password: v.password } });
            setToken(s.access_token);
            go('/home');
          } catch (err) {
            if (err.code === 'account_unverified') {
              flash = err.detail;
              return go(`/verify?email=${encodeURIComponent(v.email)}`);
            }
            throw err;
          }
        },
        { submitLabel: t('signIn') },
      ),
    ),
    h('p', {}, t('noAccount'), ' ', h('a', { href: '#/signup' }, t('signUpLink'))),
    h('p', {}, h('a', { href: '#/forgot' }, t('forgotLink'))),
    h('p', {}, h('a', { href: '#/releases' }, t('drawsLink'))),
  );
}

function signUp() {
  show(
    heading(t('signUpTitle')),
    h(
      'div',
      { class: 'card' },
      form(
        [
          field('full_name', t('fullName'), { autocomplete: 'name', required: true, maxlength: 100 }),
          field('email', t('email'), { type: 'email', autocomplete: 'email', required: true, inputmode: 'email' }),
          field('phone', t('phone'), { type: 'tel', autocomplete: 'tel', required: true, hint: t('phoneHint') }),
          field('password', t('password'), { type: 'password', autocomplete: 'new-password', required: true, hint: t('passwordHint'), minlength: 8, maxlength: 128 }),
        ],
        async (v) => {
          await api('POST', '/v1/accounts', { body: v });
          go(`/verify?email=${encodeURIComponent(v.email)}&sent=1`);
        },
        { submitLabel: t('signUp') },
      ),
    ),
    h('p', {}, t('haveAccount'), ' ', h('a', { href: '#/signin' }, t('signInTitle'))),
  );
}

/** "Send a new code", counting down the cool-down the API asks for. */
function resendButton(email, purpose, startWait) {
  const status = h('p', { role: 'status', class: 'muted' });
  const button = h('button', { type: 'button', class: 'secondary' }, t('resend'));
  let until = 0;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    button.disabled = left > 0;
    button.textContent = left > 0 ? t('resendIn', { s: left }) : t('resend');
  };
  const wait = (s) => {
    until = Date.now() + s * 1000;
    tick();
  };
  if (startWait) wait(60);
  timers.push(setInterval(tick, 1000));
  button.addEventListener('click', async () => {
    status.replaceChildren();
    try {
      await api('POST', '/v1/otp/resend', { body: { email, purpose } });
      status.replaceChildren(noticeBox(t('resent')));
      wait(60);
    } catch (err) {
      if (err.retryAfter) wait(err.retryAfter);
      status.replaceChildren(problemBox(err));
    }
  });
  return h('div', { class: 'actions' }, button, status);
}

function verify(params) {
  const email = params.get('email') || '';
  show(
    heading(t('verifyTitle')),
    takeFlash(),
    h('p', {}, t('verifyIntro', { email })),
    h(
      'div',
      { class: 'card' },
      form(
        [
          h('input', { type: 'hidden', name: 'email', value: email }),
          field('code', t('code'), { inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: 6, required: true, class: 'code-input' }),
        ],
        async (v) => {
          const s = await api('POST', '/v1/accounts/verify', { body: { email: v.email, code: v.code.trim() } });
          setToken(s.access_token);
          go('/home');
        },
        { submitLabel: t('verify') },
      ),
      resendButton(email, 'signup', params.get('sent') === '1'),
    ),
  );
}

function forgot() {
  show(
    heading(t('forgotTitle')),
    h('p', {}, t('forgotIntro')),
    h(
      'div',
      { class: 'card' },
      form(
        [field('email', t('email'), { type: 'email', autocomplete: 'username', required: true, inputmode: 'email' })],
        async (v) => {
          await api('POST', '/v1/password/forgot', { body: { email: v.email } });
          go(`/reset?email=${encodeURIComponent(v.email)}&sent=1`);
        },
        { submitLabel: t('sendCode') },
      ),
    ),
  );
}

function reset(params) {
  const email = params.get('email') || '';
  show(
    heading(t('resetTitle')),
    h('p', {}, t('verifyIntro', { email })),
    h(
      'div',
      { class: 'card' },
      form(
        [
          h('input', { type: 'hidden', name: 'email', value: email }),
          field('code', t('code'), { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true, class: 'code-input' }),
          field('new_password', t('newPassword'), { type: 'password', autocomplete: 'new-password', required: true, hint: t('passwordHint') }),
        ],
        async (v) => {
          await api('POST', '/v1/password/reset', { body: { email: v.email, code: v.code.trim(), new_password: v.new_password } });
          flash = t('resetDone');
          go(`/signin?email=${encodeURIComponent(v.email)}`);
        },
        { submitLabel: t('save') },
      ),
      resendButton(email, 'password_reset', params.get('sent') === '1'),
    ),
  );
}

// ---------------------------------------------------------------- home and applicants

let officesCache = null;
async function allOffices() {
  officesCache ??= (await api('GET', '/v1/offices?limit=200')).items;
  return officesCache;
}

const badge = (status) => h('span', { class: `badge st-${status}` }, t('st_' + status));

async function home() {
  const [me, applicants, applications, draws] = await Promise.all([api('GET', '/v1/me'), api('GET', '/v1/applicants'), api('GET', '/v1/applications'), drawsSection()]);
  show(
    heading(t('hello', { name: me.full_name })),
    takeFlash(),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'h-apps' },
      h('div', { class: 'row' }, h('h2', { id: 'h-apps' }, t('applications')), applicants.items.length > 0 && h('a', { class: 'button', href: '#/apply' }, t('newApplication'))),
      applications.items.length === 0
        ? h('p', { class: 'muted' }, t('noApplications'))
        : h(
            'ul',
            { class: 'list' },
            applications.items.map((a) =>
              h(
                'li',
                { class: 'row' },
                h('span', {}, h('strong', {}, a.applicant.full_name), ' · ', t('pt_' + a.passport_type), h('br'), badge(a.status), a.booking && h('span', { class: 'muted' }, ' ', formatDate(a.booking.date, { day: 'numeric', month: 'short' }), ' ', a.booking.time)),
                h('a', { class: 'button secondary', href: `#/app/${a.application_id}`, 'aria-label': `${t('open')}: ${a.applicant.full_name}` }, t('open')),
              ),
            ),
          ),
    ),
    draws,
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'h-people' },
      h('div', { class: 'row' }, h('h2', { id: 'h-people' }, t('applicants')), applicants.items.length < 5 && h('a', { class: 'button secondary', href: '#/applicants/new' }, t('addApplicant'))),
      h('p', { class: 'muted' }, t('applicantsIntro')),
      applicants.items.length === 0
        ? h('p', {}, t('noApplicants'))
        : h('ul', { class: 'list' }, applicants.items.map((p) => h('li', {}, h('strong', {}, p.full_name), h('br'), h('span', { class: 'muted' }, `${t('rel_' + p.relationship)} · ${formatDate(p.birth_date, { day: 'numeric', month: 'long', year: 'numeric' })}`)))),
    ),
  );
}

function newApplicant() {
  const rels = ['self', 'spouse', 'child', 'parent', 'sibling', 'other'];
  show(
    heading(t('applicantTitle')),
    h(
      'div',
      { class: 'card' },
      form(
        [
          field('nik', t('nik'), { inputmode: 'numeric', maxlength: 16, required: true, hint: t('nikHint'), autocomplete: 'off' }),
          field('full_name', t('fullName'), { required: true, autocomplete: 'name' }),
          field('birth_date', t('birthDate'), { type: 'date', required: true }),
          field('birth_place', t('birthPlace'), { required: true }),
          radios('sex', t('sex'), [['M', t('sexM')], ['F', t('sexF')]], null),
          select('relationship', t('relationship'), rels.map((r) => [r, t('rel_' + r)]), { value: 'self' }),
        ],
        async (v) => {
          const a = await api('POST', '/v1/applicants', { body: { ...v, nik: v.nik.replace(/\s/g, ''), sex: v.sex || '' } });
          flash = t('applicantAdded', { name: a.full_name });
          go(`/apply?applicant=${a.applicant_id}`);
        },
        { submitLabel: t('save') },
      ),
    ),
  );
}

// ---------------------------------------------------------------- the questionnaire

/** The fee as the server computes it (PP 45/2024), shown while the form is filled in; the
 *  server's own figure is what the application then carries. */
function estimate(applicant, v) {
  const now = new Date(Date.now() + 7 * 3600e3); // Jakarta's day
  const [y, m, d] = applicant.birth_date.split('-').map(Number);
  let age = now.getUTCFullYear() - y;
  if (now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d)) age--;
  const adult = age >= 17 || applicant.relationship === 'spouse';
  const base = { regular: adult ? 650000 : 350000, electronic: adult ? 950000 : 650000 }[v.passport_type];
  const extra = { replacement_lost: 1000000, replacement_damaged: 500000 }[v.application_type] ?? 0;
  return { fee: base + extra + (v.express ? 1000000 : 0), years: adult ? 10 : 5 };
}

async function apply(params) {
  const { items } = await api('GET', '/v1/applicants');
  if (items.length === 0) return go('/applicants/new');
  const countries = [['SA', 'Arab Saudi / Saudi Arabia'], ['MY', 'Malaysia'], ['SG', 'Singapura / Singapore'], ['JP', 'Jepang / Japan'], ['KR', 'Korea Selatan / South Korea'], ['TW', 'Taiwan'], ['HK', 'Hong Kong'], ['AU', 'Australia'], ['CN', 'Tiongkok / China'], ['TH', 'Thailand'], ['US', 'Amerika Serikat / United States'], ['GB', 'Inggris / United Kingdom'], ['NL', 'Belanda / Netherlands'], ['DE', 'Jerman / Germany'], ['TR', 'Turki / Türkiye']];
  const feeOut = h('output', { class: 'fee', 'aria-live': 'polite' });
  const f = form(
    [
      select('applicant_id', t('applicant'), items.map((a) => [a.applicant_id, `${a.full_name} (${t('rel_' + a.relationship)})`]), { value: params.get('applicant') || items[0].applicant_id }),
      radios('passport_type', t('passportType'), [['electronic', t('pt_electronic')], ['regular', t('pt_regular')]], 'electronic'),
      select('application_type', t('applicationType'), ['new', 'renewal', 'replacement_lost', 'replacement_damaged'].map((x) => [x, t('at_' + x)]), { value: 'new' }),
      select('purpose', t('purpose'), ['tourism', 'umrah_hajj', 'work', 'study', 'other'].map((x) => [x, t('pu_' + x)]), { value: 'tourism' }),
      h('div', { class: 'field choice' }, h('input', { type: 'checkbox', id: 'express', name: 'express', value: 'true' }), h('label', { for: 'express' }, t('express'))),
      select('priority_reason', t('priorityReason'), [['', t('pr_none')], ['pregnant', t('pr_pregnant')], ['disability', t('pr_disability')]], { value: '', hint: t('priorityHint') }),
      field('destination_country', t('destination'), { list: 'countries', maxlength: 2, required: true, autocomplete: 'off', hint: t('destinationHint'), class: 'upper' }),
      h('datalist', { id: 'countries' }, countries.map(([c, n]) => h('option', { value: c }, n))),
      h('div', { class: 'card' }, h('div', { class: 'row' }, h('strong', {}, t('fee')), feeOut), h('p', { class: 'hint' }, t('feeNote'))),
    ],
    async (v, key) => {
      const body = {
        applicant_id: v.applicant_id,
        passport_type: v.passport_type,
        application_type: v.application_type,
        purpose: v.purpose,
        express: v.express === 'true',
        priority_reason: v.priority_reason || null,
        destination_country: (v.destination_country || '').trim().toUpperCase(),
      };
      const app = await api('POST', '/v1/applications', { body, key });
      go(`/app/${app.application_id}`);
    },
    { submitLabel: t('continue') },
  );
  const update = () => {
    const v = Object.fromEntries(new FormData(f));
    const who = items.find((a) => a.applicant_id === v.applicant_id);
    if (!who) return;
    const e = estimate(who, { ...v, express: v.express === 'true' });
    feeOut.textContent = t('feeEstimate', { fee: rupiah(e.fee), years: e.years });
  };
  f.addEventListener('change', update);
  update();
  show(heading(t('applyTitle')), takeFlash(), h('div', { class: 'card' }, f));
}

// ---------------------------------------------------------------- one application

// Where each document's upload stands, kept across re-renders so that a retry goes on from
// the step that failed and never repeats one that succeeded.
const uploads = new Map();

function documentRow(app, doc, onDone) {
  const key = `${app.application_id}/${doc.kind}`;
  const label = t('doc_' + doc.kind);
  const inputId = nextId('file');
  const state = h('p', { class: 'muted', role: 'status' });
  const bar = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': label });
  const problem = h('div');
  const retry = h('button', { type: 'button', class: 'secondary', hidden: true }, t('retry'));
  // The native control's words come in the browser's language, not the page's: it is kept
  // for keyboard and screen readers but drawn as a button of ours.
  const input = h('input', { type: 'file', id: inputId, class: 'file-input', accept: 'image/jpeg,image/png,application/pdf', 'aria-label': `${t('chooseFile')}: ${label}` });
  const picker = h('span', { class: 'file-pick' }, input, h('label', { for: inputId, class: 'button secondary', 'aria-hidden': 'true' }, t('chooseFile')));
  const mark = (done) => {
    state.replaceChildren(done ? h('span', { class: 'badge ok' }, '✓ ' + t('uploaded')) : t('notUploaded'));
  };
  mark(doc.uploaded);

  async function run() {
    const u = uploads.get(key);
    problem.replaceChildren();
    retry.hidden = true;
    input.disabled = true;
    const base = `/v1/applications/${app.application_id}/documents/${doc.kind}`;
    try {
      if (u.stage === 'form') {
        state.textContent = t('uploading', { p: 0 });
        u.form = await api('POST', `${base}/upload-url`, { body: { content_type: u.file.type || 'application/octet-stream', content_length: u.file.size } });
        u.stage = 'send';
      }
      if (u.stage === 'send') {
        bar.hidden = false;
        bar.value = 0;
        await sendForm(u.form, u.file, (p) => {
          bar.value = Math.round(p * 100);
          state.textContent = t('uploading', { p: Math.round(p * 100) });
        });
        bar.value = 100;
        u.stage = 'complete';
      }
      if (u.stage === 'complete') {
        state.textContent = t('checking');
        await api('POST', `${base}/complete`, { body: {} });
        u.stage = 'done';
      }
      uploads.delete(key);
      bar.hidden = true;
      mark(true);
      onDone(doc.kind);
    } catch (err) {
      if (!(err instanceof Problem)) throw err;
      bar.hidden = true;
      // The next try starts where this one stopped: a form storage refused (expired, or its
      // policy) or an object the check cannot find needs a new form; a dropped connection
      // resends with the same form while it is valid; a file the server refused needs another.
      if (u.stage === 'send' && (err.status !== 0 || Date.parse(u.form.expires_at) < Date.now() + 5000)) u.stage = 'form';
      if (err.code === 'upload_missing') u.stage = 'form';
      const needsNewFile = ['upload_rejected', 'document_too_large', 'unsupported_content_type', 'invalid_request'].includes(err.code);
      if (needsNewFile) uploads.delete(key);
      if (u.stage === 'send' && err.status !== 0 && !err.detail) err.detail = t('storageRefused', { status: err.status });
      state.replaceChildren(h('span', { class: 'badge bad' }, t('uploadFailed')));
      problem.replaceChildren(problemBox(err));
      retry.hidden = needsNewFile;
    } finally {
      input.disabled = false;
      input.value = '';
    }
  }

  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (!file) return;
    uploads.set(key, { file, stage: 'form' });
    run();
  });
  retry.addEventListener('click', run);
  return h(
    'li',
    { class: 'doc', 'data-kind': doc.kind },
    h('strong', {}, label),
    state,
    bar,
    h('div', { class: 'actions' }, picker, retry),
    problem,
  );
}

async function download(app, kind) {
  const blob = await api('GET', `/v1/applications/${app.application_id}/billing/invoice.pdf`, { raw: true });
  const a = h('a', { href: URL.createObjectURL(blob), download: `${kind}-${app.billing.billing_code}.pdf` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}

function countdown(expiresAt) {
  const out = h('span', { class: 'countdown', role: 'timer', 'aria-live': 'off' });
  every(1000, () => {
    const s = Math.max(0, Math.floor((Date.parse(expiresAt) - Date.now()) / 1000));
    const pad = (n) => String(n).padStart(2, '0');
    out.textContent = s > 0 ? `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}` : t('expiredNow');
  });
  return out;
}

async function detail(id) {
  const [app, offices] = await Promise.all([api('GET', `/v1/applications/${id}`), allOffices()]);
  const office = app.booking && offices.find((o) => o.office_id === app.booking.office_id);
  const tz = office?.timezone ?? 'Asia/Jakarta';
  const parts = [heading(`${t('appTitle')} · ${app.applicant.full_name}`), takeFlash()];
  const slot = h('div');

  parts.push(
    h(
      'section',
      { class: 'card' },
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, t('status')),
        h('dd', { id: 'status' }, badge(app.status)),
        h('dt', {}, t('passportType')),
        h('dd', {}, t('pt_' + app.passport_type)),
        h('dt', {}, t('applicationType')),
        h('dd', {}, t('at_' + app.application_type)),
        h('dt', {}, t('fee')),
        h('dd', { id: 'fee' }, t('feeEstimate', { fee: rupiah(app.fee_idr), years: app.validity_years })),
      ),
    ),
  );

  if (app.status === 'draft') {
    const done = new Set(app.documents.filter((d) => d.uploaded).map((d) => d.kind));
    const submit = h('button', { type: 'button', id: 'submit' }, t('submit'));
    const note = h('p', { class: 'hint' });
    const refresh = () => {
      const all = app.documents.every((d) => done.has(d.kind));
      submit.disabled = !all;
      note.textContent = all ? '' : t('submitNeedsDocs');
    };
    submit.addEventListener('click', async () => {
      slot.replaceChildren();
      submit.disabled = true;
      try {
        await api('POST', `/v1/applications/${id}/submit`, { body: {} });
        go(`/app/${id}/book`);
      } catch (err) {
        slot.replaceChildren(problemBox(err));
        refresh();
      }
    });
    parts.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'h-docs' },
        h('h2', { id: 'h-docs' }, t('documents')),
        h('p', { class: 'hint' }, t('documentsIntro')),
        h('ul', { class: 'list' }, app.documents.map((d) => documentRow(app, d, (k) => (done.add(k), refresh())))),
        slot,
        h('div', { class: 'actions' }, submit),
        note,
      ),
    );
    refresh();
  }

  if (['submitted', 'expired'].includes(app.status) || (app.status === 'paid' && !app.booking)) {
    parts.push(h('div', { class: 'card' }, h('a', { class: 'button', href: `#/app/${id}/book`, id: 'book' }, app.status === 'expired' ? t('bookAgain') : t('book'))));
  }

  if (app.booking && !['expired', 'cancelled'].includes(app.status)) {
    parts.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'h-booking' },
        h('h2', { id: 'h-booking' }, t('booking')),
        h('p', { id: 'booking' }, h('strong', {}, office?.name ?? app.booking.office_id), h('br'), office?.address ?? '', h('br'), t('at', { date: formatDate(app.booking.date), time: app.booking.time, tz: tzName(tz) })),
      ),
    );
  }

  if (app.billing && app.status !== 'cancelled') {
    const b = app.billing;
    const paid = b.status === 'paid';
    const dl = h('button', { type: 'button', class: 'secondary', id: 'invoice' }, paid ? t('receipt') : t('invoice'));
    const dlSlot = h('div');
    dl.addEventListener('click', async () => {
      dlSlot.replaceChildren();
      try {
        await download(app, paid ? 'receipt' : 'invoice');
      } catch (err) {
        dlSlot.replaceChildren(problemBox(err));
      }
    });
    const copy = h('button', { type: 'button', class: 'link' }, t('copy'));
    copy.addEventListener('click', async () => {
      await navigator.clipboard?.writeText(b.billing_code).catch(() => {});
      copy.textContent = t('copied');
    });
    parts.push(
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'h-billing' },
        h('h2', { id: 'h-billing' }, t('billing')),
        h('p', { class: 'muted' }, t('billingCode')),
        h('p', { class: 'billing-code', id: 'billing-code' }, b.billing_code.replace(/(\d{3})(?=\d)/g, '$1 ')),
        copy,
        h('dl', { class: 'facts' }, h('dt', {}, t('amount')), h('dd', { id: 'amount' }, rupiah(b.amount_idr)), b.status === 'unpaid' && [h('dt', {}, t('payBefore')), h('dd', {}, formatInstant(b.expires_at, tz), ' ', tzName(tz)), h('dt', {}, t('timeLeft')), h('dd', {}, countdown(b.expires_at))]),
        h('p', {}, paid ? t('paidNote') : b.status === 'unpaid' ? t('payHow') : t('expiredNow')),
        b.status !== 'expired' && h('div', { class: 'actions' }, dl),
        dlSlot,
      ),
    );
  }

  if (app.status === 'paid' && app.booking) {
    parts.push(h('div', { class: 'card' }, h('a', { class: 'button secondary', href: `#/app/${id}/book?reschedule=1`, id: 'reschedule' }, t('reschedule')), h('p', { class: 'hint' }, t('rescheduleNote'))));
  }

  if (app.booking && ['awaiting_payment', 'paid'].includes(app.status)) {
    const box = h('div', { class: 'card' });
    const ask = h('button', { type: 'button', class: 'secondary', id: 'cancel' }, t('cancel'));
    ask.addEventListener('click', () => {
      const yes = h('button', { type: 'button', class: 'danger' }, t('cancelYes'));
      const no = h('button', { type: 'button', class: 'secondary' }, t('cancelNo'));
      const out = h('div');
      no.addEventListener('click', () => box.replaceChildren(ask));
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        try {
          await api('DELETE', `/v1/applications/${id}/booking`);
          go(`/app/${id}`);
        } catch (err) {
          out.replaceChildren(problemBox(err));
          yes.disabled = false;
        }
      });
      box.replaceChildren(h('div', { role: 'alert' }, h('p', {}, t('cancelConfirm'))), h('div', { class: 'actions' }, yes, no), out);
      yes.focus();
    });
    box.append(ask);
    parts.push(box);
  }

  parts.push(
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'h-timeline' },
      h('h2', { id: 'h-timeline' }, t('timeline')),
      h('ol', { class: 'timeline', id: 'timeline' }, app.timeline.map((e) => h('li', {}, h('strong', {}, t('st_' + e.status)), h('br'), h('span', { class: 'muted' }, formatInstant(e.at, tz), ' ', tzName(tz))))),
    ),
    h('p', {}, h('a', { href: '#/home' }, '← ' + t('homeTitle'))),
  );
  show(...parts);
}

// ---------------------------------------------------------------- offices, calendar, booking

const ymd = (y, m, d) => `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;

async function bookView(id, params) {
  const reschedule = params.get('reschedule') === '1';
  const [app, offices, mine] = await Promise.all([api('GET', `/v1/applications/${id}`), allOffices(), reschedule ? { items: [] } : api('GET', '/v1/applications')]);
  // The family: the account's other applications ready to book, booked into the same hour.
  const family = mine.items.filter((a) => a.application_id !== id && ['submitted', 'expired'].includes(a.status));
  const usable = offices.filter((o) => o.passport_types.includes(app.passport_type));
  const st = { office: reschedule ? offices.find((o) => o.office_id === app.booking?.office_id) : null, y: 0, m: 0, days: new Map(), date: null, time: null, key: null };
  const officeCard = h('section', { class: 'card', 'aria-labelledby': 'h-office' });
  const calCard = h('section', { class: 'card', 'aria-labelledby': 'h-date', hidden: true });
  const confirmCard = h('section', { class: 'card', 'aria-labelledby': 'h-confirm', hidden: true });

  // -- step 1: the office, by the browser's location or by a city
  const list = h('ul', { class: 'list offices', id: 'offices' });
  const geoMsg = h('p', { role: 'status', class: 'muted' });
  const drawOffices = (items) => {
    list.replaceChildren(
      ...(items.length === 0
        ? [h('li', { class: 'muted' }, t('noOffices'))]
        : items.map((o) => {
            const b = h(
              'button',
              { type: 'button', 'aria-pressed': String(st.office?.office_id === o.office_id), 'data-office': o.office_id },
              h('strong', {}, o.name),
              h('span', { class: 'muted' }, `${o.city} · ${tzName(o.timezone)}${o.distance_km != null ? ' · ' + t('km', { d: o.distance_km.toLocaleString(lang === 'id' ? 'id-ID' : 'en-GB') }) : ''}`),
            );
            b.addEventListener('click', () => {
              st.office = o;
              list.querySelectorAll('button').forEach((x) => x.setAttribute('aria-pressed', String(x === b)));
              openCalendar();
            });
            return h('li', {}, b);
          })),
    );
  };
  const near = h('button', { type: 'button', class: 'secondary', id: 'near-me' }, t('nearMe'));
  near.addEventListener('click', () => {
    if (!navigator.geolocation) return (geoMsg.textContent = t('geoFailed'));
    geoMsg.textContent = t('locating');
    navigator.geolocation.getCurrentPosition(
      async (pos) => {
        try {
          const lat = pos.coords.latitude.toFixed(4);
          const lon = pos.coords.longitude.toFixed(4);
          const r = await api('GET', `/v1/offices?lat=${lat}&lon=${lon}&limit=5`);
          geoMsg.textContent = '';
          drawOffices(r.items.filter((o) => o.passport_types.includes(app.passport_type)));
        } catch (err) {
          geoMsg.replaceChildren(problemBox(err));
        }
      },
      () => (geoMsg.textContent = t('geoFailed')),
      { timeout: 10000, maximumAge: 600000 },
    );
  });
  const searchId = nextId('city');
  const search = h('input', { type: 'search', id: searchId, autocomplete: 'address-level2' });
  search.addEventListener('input', () => {
    const q = search.value.trim().toLowerCase();
    drawOffices(usable.filter((o) => !q || o.city.toLowerCase().includes(q) || o.name.toLowerCase().includes(q)));
  });
  officeCard.append(
    ...[
      h('h2', { id: 'h-office' }, t('officeStep')),
      reschedule ? h('p', {}, h('strong', {}, st.office?.name ?? '')) : [h('div', { class: 'actions' }, near), geoMsg, h('div', { class: 'field' }, h('label', { for: searchId }, t('citySearch')), search), list],
    ].flat(),
  );
  if (!reschedule) drawOffices(usable);

  // -- step 2: the month, green where places are left, red where full
  const calBody = h('div');
  const calProblem = h('div');
  const slotsBox = h('div', { id: 'slots' });
  calCard.append(
    h('h2', { id: 'h-date' }, t('dateStep')),
    h(
      'ul',
      { class: 'legend' },
      h('li', {}, h('span', { class: 'open' }), t('legendOpen')),
      h('li', {}, h('span', { class: 'full' }), t('legendFull')),
      h('li', {}, h('span', { class: 'closed' }), t('legendClosed')),
      h('li', {}, h('span', { class: 'held' }), t('legendHeld')),
    ),
    calProblem,
    calBody,
    slotsBox,
  );

  async function loadMonth(fresh = false) {
    const last = new Date(Date.UTC(st.y, st.m, 0)).getUTCDate();
    // With the application: each hour's places are the ones it could take (its lane).
    const r = await api('GET', `/v1/offices/${st.office.office_id}/availability?from=${ymd(st.y, st.m, 1)}&to=${ymd(st.y, st.m, last)}&application_id=${encodeURIComponent(id)}`, { fresh });
    st.days = new Map(r.days.map((d) => [d.date, d.slots]));
  }

  function dayState(date) {
    const slots = st.days.get(date);
    if (!slots || slots.length === 0) return { cls: 'closed', left: 0 };
    const free = slots.filter((s) => !s.release_id);
    if (free.length === 0) return { cls: 'held', left: 0 };
    const left = free.reduce((n, s) => n + Math.max(0, s.remaining), 0);
    return { cls: left > 0 ? 'open' : 'full', left };
  }

  function drawMonth() {
    const first = new Date(Date.UTC(st.y, st.m - 1, 1));
    const last = new Date(Date.UTC(st.y, st.m, 0)).getUTCDate();
    const lead = (first.getUTCDay() + 6) % 7; // Monday first
    const cells = [];
    for (let i = 0; i < lead; i++) cells.push(h('td'));
    for (let d = 1; d <= last; d++) {
      const date = ymd(st.y, st.m, d);
      const s = dayState(date);
      const word = { open: t('places', { n: s.left }), full: t('full'), held: t('legendHeld') }[s.cls] ?? t('legendClosed');
      const b = h('button', { type: 'button', class: s.cls, disabled: s.cls !== 'open', 'data-date': date, 'aria-pressed': String(st.date === date), 'aria-label': t('dayLabel', { date: formatDate(date), state: word }) }, String(d), s.cls !== 'closed' && h('small', {}, { open: s.left, held: t('held') }[s.cls] ?? t('full')));
      b.addEventListener('click', () => {
        st.date = date;
        st.time = null;
        drawMonth();
        drawSlots();
        slotsBox.querySelector('button:not([disabled])')?.focus();
      });
      cells.push(h('td', {}, b));
    }
    while (cells.length % 7) cells.push(h('td'));
    const rows = [];
    for (let i = 0; i < cells.length; i += 7) rows.push(h('tr', {}, cells.slice(i, i + 7)));
    const prev = h('button', { type: 'button', class: 'secondary', 'aria-label': t('prevMonth') }, '‹');
    const next = h('button', { type: 'button', class: 'secondary', 'aria-label': t('nextMonth') }, '›');
    const now = new Date();
    prev.disabled = st.y * 12 + st.m <= now.getFullYear() * 12 + now.getMonth() + 1;
    prev.addEventListener('click', () => moveMonth(-1));
    next.addEventListener('click', () => moveMonth(1));
    // Days held for a draw are entered from the draw's page.
    const draws = [...new Set([...st.days.values()].flat().map((s) => s.release_id).filter(Boolean))];
    calBody.replaceChildren(
      h('div', { class: 'cal-head' }, prev, h('h3', { id: 'month', 'aria-live': 'polite' }, monthName(st.y, st.m)), next),
      h('table', { class: 'cal', 'aria-labelledby': 'month' }, h('thead', {}, h('tr', {}, [0, 1, 2, 3, 4, 5, 6].map((i) => h('th', { scope: 'col' }, weekdayShort(i))))), h('tbody', {}, rows)),
      draws.length > 0 && h('p', { class: 'hint', id: 'held-hint' }, t('heldHint'), ' ', draws.map((r, i) => [i > 0 && ' · ', h('a', { href: `#/release/${r}` }, t('heldLink'))])),
    );
  }

  function drawSlots() {
    const slots = st.date ? st.days.get(st.date) ?? [] : [];
    if (!st.date) return slotsBox.replaceChildren(h('p', { class: 'muted' }, t('pickDay')));
    slotsBox.replaceChildren(
      h('h3', {}, t('slotsOf', { date: formatDate(st.date) })),
      h(
        'ul',
        { class: 'slots' },
        slots.map((s) => {
          // An hour held for a draw is entered from the draw's page, never booked here.
          const held = Boolean(s.release_id);
          const full = held || s.remaining <= 0;
          const b = h('button', { type: 'button', class: held ? 'held' : full ? 'full' : 'open', disabled: full, 'data-time': s.time, 'aria-pressed': String(st.time === s.time) }, s.time, h('small', {}, held ? t('held') : full ? t('full') : t('places', { n: s.remaining })));
          b.addEventListener('click', () => {
            st.time = s.time;
            st.key = null; // a new choice is a new request
            drawSlots();
            drawConfirm();
            confirmCard.querySelector('button')?.focus();
          });
          return h('li', {}, b);
        }),
      ),
    );
  }

  async function moveMonth(delta) {
    const n = st.y * 12 + (st.m - 1) + delta;
    st.y = Math.floor(n / 12);
    st.m = (n % 12) + 1;
    st.date = null;
    st.time = null;
    confirmCard.hidden = true;
    calProblem.replaceChildren();
    try {
      await loadMonth();
    } catch (err) {
      calProblem.replaceChildren(problemBox(err));
    }
    drawMonth();
    drawSlots();
  }

  async function openCalendar() {
    const now = new Date();
    st.y = now.getFullYear();
    st.m = now.getMonth() + 1;
    st.date = null;
    st.time = null;
    confirmCard.hidden = true;
    calCard.hidden = false;
    calProblem.replaceChildren();
    try {
      await loadMonth();
      // Late in a month the quota may all lie in the next one: start where it opens.
      if (![...st.days.values()].some((s) => s.some((x) => !x.release_id && x.remaining > 0))) {
        st.m += 1;
        if (st.m > 12) (st.m = 1), (st.y += 1);
        await loadMonth();
      }
    } catch (err) {
      calProblem.replaceChildren(problemBox(err));
    }
    drawMonth();
    drawSlots();
    calCard.querySelector('h2').scrollIntoView({ block: 'start' });
  }

  // -- step 3: confirm; the same Idempotency-Key for every retry of this one choice
  const result = h('div');
  function drawConfirm() {
    confirmCard.hidden = false;
    result.replaceChildren();
    const go1 = h('button', { type: 'button', id: 'confirm' }, reschedule ? t('confirmReschedule') : t('confirmBook'));
    go1.addEventListener('click', async () => {
      go1.disabled = true;
      result.replaceChildren();
      st.key ||= newKey();
      try {
        const together = [...confirmCard.querySelectorAll('input[name=family]:checked')].map((x) => x.value);
        if (reschedule) await api('PUT', `/v1/applications/${id}/booking`, { body: { date: st.date, time: st.time }, key: st.key });
        else if (together.length > 0) await api('POST', '/v1/bookings', { body: { application_ids: [id, ...together], office_id: st.office.office_id, date: st.date, time: st.time }, key: st.key });
        else await api('POST', `/v1/applications/${id}/booking`, { body: { office_id: st.office.office_id, date: st.date, time: st.time }, key: st.key });
        go(`/app/${id}`);
      } catch (err) {
        if (err.status !== 0 && err.status < 500) st.key = null;
        result.replaceChildren(problemBox(err));
        result.firstChild.focus();
        go1.disabled = false;
        if (err.code === 'slot_full') {
          await loadMonth(true).catch(() => {});
          drawMonth();
          drawSlots();
        }
      }
    });
    confirmCard.replaceChildren(
      h('h2', { id: 'h-confirm' }, t('confirmStep')),
      h('p', { id: 'choice' }, h('strong', {}, t('confirmText', { office: st.office.name, date: formatDate(st.date), time: `${st.time} ${tzName(st.office.timezone)}` }))),
      ...(family.length === 0
        ? []
        : [h(
          'fieldset',
          { class: 'field family' },
          h('legend', {}, t('familyLegend')),
          h('p', { class: 'hint' }, t('familyHint')),
          ...family.map((a) => {
            const boxId = nextId('family');
            // A new key: booking with others is another request than booking alone.
            const box = h('input', { type: 'checkbox', id: boxId, name: 'family', value: a.application_id });
            box.addEventListener('change', () => (st.key = null));
            return h('div', { class: 'choice' }, box, h('label', { for: boxId }, `${a.applicant.full_name} · ${t('pt_' + a.passport_type)}`));
          }),
        )]),
      h('div', { class: 'actions' }, go1),
      result,
    );
  }

  show(heading(reschedule ? t('reschedule') : t('bookTitle')), h('p', { class: 'muted' }, `${app.applicant.full_name} · ${t('pt_' + app.passport_type)}`), officeCard, calCard, confirmCard, h('p', {}, h('a', { href: `#/app/${id}` }, '← ' + t('back'))));
  if (reschedule && st.office) openCalendar();
}

// ---------------------------------------------------------------- quota draw (fair release)

// Open first, then the coming ones, then those waiting for their draw, then the drawn.
const DRAW_ORDER = { open: 0, scheduled: 1, closed: 2, drawn: 3 };

const addDays = (date, n) => {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
};

/** The zone a release's times are shown in: its offices' own when they share one, else
 *  the browser's (undefined), said so beside each time. */
function releaseZone(r, offices) {
  const zones = new Set(r.office_ids.map((id) => offices.find((o) => o.office_id === id)?.timezone ?? 'Asia/Jakarta'));
  return zones.size === 1 ? [...zones][0] : undefined;
}
const zoneWord = (tz) => (tz ? tzName(tz) : t('deviceTime'));
const instantIn = (iso, tz) => `${formatInstant(iso, tz)} ${zoneWord(tz)}`;
const officeOf = (offices, id) => offices.find((o) => o.office_id === id);
const cities = (r, offices) => r.office_ids.map((id) => officeOf(offices, id)?.city ?? id).join(', ');
const releaseDays = (r) => {
  const long = { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' };
  return r.from === r.to ? formatDate(r.from, long) : `${formatDate(r.from, long)} – ${formatDate(r.to, long)}`;
};
/** A SHA-256 in hex, shortened; the whole of it in the title. */
const hashCode = (hex, cls) => h('code', { class: `hash ${cls}`, title: hex }, hex.slice(0, 12) + '…');
const releaseBadge = (status) => h('span', { class: `badge rs-${status}` }, t('rs_' + status));
const entryBadge = (entry) => entry && (entry.outcome ? h('span', { class: `badge out-${entry.outcome}` }, t('out_' + entry.outcome)) : h('span', { class: 'badge ok' }, t('entered')));
const appName = (a) => `${a.applicant.full_name} · ${t('pt_' + a.passport_type)}`;

function duration(s) {
  const pad = (n) => String(n).padStart(2, '0');
  const hms = `${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return s >= 86400 ? `${t('nDays', { n: Math.floor(s / 86400) })} ${hms}` : hms;
}

/**
 * What a release waits for next (its window opening, closing, or the draw), counted down.
 * The server's clock decides, not the browser's: at zero the view asks every few seconds
 * until the release has moved on, then draws itself again.
 */
function releaseCountdown(r) {
  const next = { scheduled: ['cdOpens', r.entry_opens_at], open: ['cdCloses', r.entry_closes_at], closed: ['cdDraw', r.draw_at] }[r.status];
  if (!next) return null;
  const out = h('span', { class: 'countdown', role: 'timer', 'aria-live': 'off' });
  let asking = false;
  every(1000, () => {
    const s = Math.max(0, Math.floor((Date.parse(next[1]) - Date.now()) / 1000));
    out.textContent = s > 0 ? duration(s) : t('cdSoon');
    if (s > 0 || asking) return;
    asking = true;
    timers.push(
      setInterval(async () => {
        const now = await api('GET', `/v1/releases/${encodeURIComponent(r.release_id)}`).catch(() => null);
        if (now && now.status !== r.status) render();
      }, 5000),
    );
  });
  return h('p', { class: 'release-next', 'data-next': next[0] }, t(next[0]), ' ', out);
}

/** The release's facts: offices, days, the window and the draw in their zone, the seed's
 *  commitment (and the entries' digest once closed). */
function releaseFacts(r, offices, { full = false } = {}) {
  const tz = releaseZone(r, offices);
  return h(
    'dl',
    { class: 'facts release-facts' },
    h('dt', {}, t('status')),
    h('dd', { class: 'release-status' }, releaseBadge(r.status)),
    full && [h('dt', {}, t('releaseOffices')), h('dd', {}, r.office_ids.map((id, i) => [i > 0 && h('br'), officeOf(offices, id)?.name ?? id]))],
    h('dt', {}, t('releaseDays')),
    h('dd', {}, releaseDays(r)),
    h('dt', {}, t('entryWindow')),
    h('dd', {}, `${formatSpan(r.entry_opens_at, r.entry_closes_at, tz)} ${zoneWord(tz)}`),
    h('dt', {}, t('drawTime')),
    h('dd', {}, instantIn(r.draw_at, tz)),
    full && r.payment_hours && [h('dt', {}, t('payHours')), h('dd', {}, t('payHoursValue', { n: r.payment_hours }))],
    h('dt', {}, t('seedCommit')),
    h('dd', {}, hashCode(r.seed_sha256, 'seed')),
    r.entries_digest && [h('dt', {}, t('entriesDigest')), h('dd', {}, hashCode(r.entries_digest, 'digest'))],
  );
}

/** Open and coming releases (and the drawn ones whose days are still ahead), with this
 *  account's entry in each. A failure here leaves the rest of the page as it is. */
async function drawsSection({ page = false } = {}) {
  const section = h('section', { class: page ? null : 'card', 'aria-labelledby': page ? null : 'h-draws', id: 'draws' }, !page && h('h2', { id: 'h-draws' }, t('drawsTitle')), h('p', { class: 'muted' }, t('drawsIntro')));
  try {
    const [{ items }, offices] = await Promise.all([api('GET', '/v1/releases'), allOffices()]);
    const today = new Date().toISOString().slice(0, 10);
    const shown = items.filter((r) => r.status !== 'drawn' || r.to >= today).sort((a, b) => DRAW_ORDER[a.status] - DRAW_ORDER[b.status] || a.entry_opens_at.localeCompare(b.entry_opens_at));
    // Before its window opens nobody has an entry; a failed read shows none.
    const entries = await Promise.all(shown.map((r) => (signedIn() && r.status !== 'scheduled' ? api('GET', `/v1/releases/${encodeURIComponent(r.release_id)}/entry`).catch(() => null) : null)));
    section.append(
      shown.length === 0
        ? h('p', {}, t('noDraws'))
        : h(
            'ul',
            { class: 'list releases' },
            shown.map((r, i) => {
              const action = r.status === 'open' && !entries[i] && signedIn() ? t('enterDraw') : t('open');
              return h(
                'li',
                { class: 'release', 'data-release': r.release_id },
                h('div', { class: 'row' }, h('strong', {}, cities(r, offices)), h('span', {}, entryBadge(entries[i]))),
                releaseFacts(r, offices),
                releaseCountdown(r),
                h('div', { class: 'actions' }, h('a', { class: action === t('enterDraw') ? 'button' : 'button secondary', href: `#/release/${r.release_id}`, 'aria-label': `${action}: ${cities(r, offices)}` }, action)),
              );
            }),
          ),
    );
  } catch (err) {
    if (!(err instanceof Problem) || err.status === 401) throw err;
    section.append(problemBox(err));
  }
  return section;
}

async function releasesPage() {
  const section = await drawsSection({ page: true });
  show(heading(t('drawsTitle')), section, h('p', {}, h('a', { href: signedIn() ? '#/home' : '#/signin' }, '← ' + (signedIn() ? t('homeTitle') : t('signInTitle')))));
}

/** Every hour the release holds, by office and day, as availability shows them. */
async function heldSlots(r) {
  const held = new Map();
  await Promise.all(
    r.office_ids.map(async (office) => {
      const days = new Map();
      for (let from = r.from; from <= r.to; ) {
        const last = addDays(from, 30) < r.to ? addDays(from, 30) : r.to; // 31 days a request at most
        const a = await api('GET', `/v1/offices/${encodeURIComponent(office)}/availability?from=${from}&to=${last}`);
        for (const d of a.days) {
          const times = d.slots.filter((s) => s.release_id === r.release_id).map((s) => s.time);
          if (times.length > 0) days.set(d.date, times);
        }
        from = addDays(last, 1);
      }
      if (days.size > 0) held.set(office, days);
    }),
  );
  return held;
}

/** Who is entered and the hours chosen, best first (and what may be done with it). */
function entrySummary(entry, byId, offices, actions = null) {
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'h-entry', id: 'entry' },
    h('h2', { id: 'h-entry' }, t('yourEntry')),
    h('p', { class: 'muted' }, t('entryWho')),
    h('ul', { id: 'entry-apps-now' }, entry.application_ids.map((id) => h('li', {}, byId.has(id) ? appName(byId.get(id)) : id))),
    h('p', { class: 'muted' }, t('entryChoicesList')),
    h(
      'ol',
      { id: 'entry-choices' },
      entry.choices.map((c) => {
        const o = officeOf(offices, c.office_id);
        return h('li', {}, t('confirmText', { office: o?.name ?? c.office_id, date: formatDate(c.date), time: `${c.time} ${tzName(o?.timezone ?? 'Asia/Jakarta')}` }));
      }),
    ),
    actions,
  );
}

/** Entering, or changing the entry: the family that enters together and up to 5 hours of
 *  the release, best first; withdrawing while the window is open. */
function entryForm(r, entry, apps, byId, offices, held) {
  const id = r.release_id;
  const card = h('section', { class: 'card', 'aria-labelledby': 'h-enter', id: 'enter-card' });
  // Oldest first, as the family was added (the account holder usually first).
  const ready = apps.filter((a) => a.status === 'submitted' && !a.booking).sort((a, b) => (a.created_at ?? '').localeCompare(b.created_at ?? ''));
  const inEntry = entry?.application_ids ?? [];
  // The entry's own first, in its order: the draw places a family in the order it lists them.
  const listed = [...inEntry.map((x) => byId.get(x)).filter(Boolean), ...ready.filter((a) => !inEntry.includes(a.application_id))];
  const title = h('h2', { id: 'h-enter' }, entry ? t('changeEntryTitle') : t('entryFormTitle'));
  if (listed.length === 0) {
    card.append(title, h('p', {}, t('noReadyApps')), h('p', {}, h('a', { href: '#/home' }, '← ' + t('homeTitle'))));
    return card;
  }

  const appsBox = h(
    'fieldset',
    { class: 'field', id: 'entry-apps' },
    h('legend', {}, t('entryApps')),
    h('p', { class: 'hint' }, t('entryAppsHint')),
    listed.map((a) => {
      const boxId = nextId('entrant');
      const checked = inEntry.includes(a.application_id) || (!entry && listed.length === 1);
      return h('div', { class: 'choice' }, h('input', { type: 'checkbox', id: boxId, name: 'app', value: a.application_id, checked }), h('label', { for: boxId }, appName(a)));
    }),
  );

  // The ranked choices; each row's office, day and hour follow one another.
  const onlyOffice = held.size === 1 ? [...held.keys()][0] : '';
  const rows = entry ? entry.choices.map((c) => ({ ...c })) : [{ office_id: onlyOffice, date: '', time: '' }];
  const list = h('ol', { class: 'choices', id: 'choices' });
  const add = h('button', { type: 'button', class: 'secondary', id: 'add-choice' }, t('addChoice'));
  const tzOf = (office) => officeOf(offices, office)?.timezone ?? 'Asia/Jakarta';
  const fill = (sel, options, value, placeholder) => {
    sel.replaceChildren(h('option', { value: '' }, placeholder), ...options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
    sel.disabled = options.length === 0;
  };

  function choiceRow(c, i) {
    const pick = (name, label) => {
      const selId = nextId(name);
      const sel = h('select', { id: selId, name });
      return [sel, h('div', { class: 'field' }, h('label', { for: selId }, label), sel)];
    };
    const [office, officeField] = pick('office', t('office'));
    const [date, dateField] = pick('date', t('date'));
    const [time, timeField] = pick('time', t('hour'));
    const refill = () => {
      fill(office, r.office_ids.filter((o) => held.has(o)).map((o) => [o, `${officeOf(offices, o)?.city ?? o} (${tzName(tzOf(o))})`]), c.office_id, t('pickOffice'));
      const days = held.get(c.office_id);
      fill(date, days ? [...days.keys()].map((d) => [d, formatDate(d, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' })]) : [], c.date, t('pickDate'));
      fill(time, (days?.get(c.date) ?? []).map((x) => [x, `${x} ${tzName(tzOf(c.office_id))}`]), c.time, t('pickHour'));
    };
    // A day or an hour that the new office also has stays chosen (a release's hours are the
    // same at each of its offices).
    office.addEventListener('change', () => {
      c.office_id = office.value;
      if (!held.get(c.office_id)?.has(c.date)) c.date = '';
      if (!held.get(c.office_id)?.get(c.date)?.includes(c.time)) c.time = '';
      refill();
    });
    date.addEventListener('change', () => {
      c.date = date.value;
      if (!held.get(c.office_id)?.get(c.date)?.includes(c.time)) c.time = '';
      refill();
    });
    time.addEventListener('change', () => (c.time = time.value));
    refill();
    const up = i > 0 ? h('button', { type: 'button', class: 'secondary', 'aria-label': t('moveUpLabel', { n: i + 1 }) }, t('moveUp')) : null;
    up?.addEventListener('click', () => {
      [rows[i - 1], rows[i]] = [rows[i], rows[i - 1]];
      drawChoices();
      list.querySelector(`li[data-rank="${i}"] select`)?.focus();
    });
    const remove = h('button', { type: 'button', class: 'link', 'aria-label': t('removeChoiceLabel', { n: i + 1 }) }, t('removeChoice'));
    remove.addEventListener('click', () => {
      rows.splice(i, 1);
      drawChoices();
      add.focus();
    });
    return h(
      'li',
      { 'data-rank': i + 1 },
      h('fieldset', {}, h('legend', {}, t('choiceN', { n: i + 1 })), h('div', { class: 'choice-grid' }, officeField, dateField, timeField), (up || rows.length > 1) && h('div', { class: 'actions' }, up, rows.length > 1 && remove)),
    );
  }

  function drawChoices() {
    list.replaceChildren(...rows.map(choiceRow));
    add.disabled = rows.length >= 5;
  }
  add.addEventListener('click', () => {
    const last = rows[rows.length - 1];
    rows.push({ office_id: last?.office_id ?? onlyOffice, date: last?.date ?? '', time: '' });
    drawChoices();
    list.lastChild.querySelector('select:not([disabled])')?.focus();
  });
  drawChoices();

  /** What the page itself can say is missing before the server is asked. */
  function missing(ids) {
    if (ids.length === 0) return t('needApps');
    if (ids.length > 5) return t('tooManyApps');
    if (rows.length === 0) return t('noChoices');
    const seen = new Set();
    for (const [i, c] of rows.entries()) {
      if (!c.office_id || !c.date || !c.time) return t('needChoice', { n: i + 1 });
      const k = `${c.office_id} ${c.date} ${c.time}`;
      if (seen.has(k)) return t('dupChoice', { n: i + 1 });
      seen.add(k);
    }
    return null;
  }

  const result = h('div', { id: 'entry-result' });
  const send = h('button', { type: 'button', id: 'send-entry' }, entry ? t('saveEntry') : t('enterDraw'));
  send.addEventListener('click', async () => {
    result.replaceChildren();
    const ids = [...appsBox.querySelectorAll('input[name=app]:checked')].map((x) => x.value);
    const wrong = missing(ids);
    if (wrong) {
      result.replaceChildren(localProblem(wrong));
      return result.firstChild.focus();
    }
    send.disabled = true;
    try {
      // A PUT: sent again after a dropped connection, it changes nothing more.
      await api('PUT', `/v1/releases/${encodeURIComponent(id)}/entry`, { body: { application_ids: ids, choices: rows.map(({ office_id, date, time }) => ({ office_id, date, time })) } });
      flash = entry ? t('entryChanged') : t('entryDone', { when: instantIn(r.draw_at, releaseZone(r, offices)) });
      go(`/release/${id}`);
    } catch (err) {
      if (!(err instanceof Problem)) throw err;
      const who = byId.get(err.body?.application_id);
      result.replaceChildren(problemBox(err, { hints: 'drawHint_', about: who && t('concerns', { name: appName(who) }) }));
      result.firstChild.focus();
      send.disabled = false;
    }
  });

  // A problem answered for what was sent goes once the person changes what they send.
  card.addEventListener('change', () => result.replaceChildren());
  card.append(
    title,
    appsBox,
    h('fieldset', { class: 'field' }, h('legend', {}, t('entryChoices')), h('p', { class: 'hint' }, t('entryChoicesHint')), list, h('div', { class: 'actions' }, add)),
    h('hr'),
    h('div', { class: 'actions' }, send),
    result,
  );
  return card;
}

/** While the window is open: change the entry (the form, shown on asking) or withdraw it,
 *  asked once more. */
function entryActions(r, form) {
  const id = r.release_id;
  const out = h('div');
  const change = h('button', { type: 'button', id: 'change-entry' }, t('changeEntryTitle'));
  change.addEventListener('click', () => {
    form.hidden = false;
    change.remove();
    form.scrollIntoView({ block: 'start' });
    form.querySelector('input, select')?.focus();
  });
  const ask = h('button', { type: 'button', class: 'secondary', id: 'withdraw' }, t('withdraw'));
  const actions = h('div', { class: 'actions' }, change, ask);
  ask.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger' }, t('withdrawYes'));
    const no = h('button', { type: 'button', class: 'secondary' }, t('cancelNo'));
    const before = [...actions.childNodes];
    no.addEventListener('click', () => actions.replaceChildren(...before));
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      out.replaceChildren();
      try {
        await api('DELETE', `/v1/releases/${encodeURIComponent(id)}/entry`);
        flash = t('withdrawn');
        go(`/release/${id}`);
      } catch (err) {
        if (!(err instanceof Problem)) throw err;
        out.replaceChildren(problemBox(err, { hints: 'drawHint_' }));
        yes.disabled = false;
      }
    });
    actions.replaceChildren(h('div', { role: 'alert' }, h('p', {}, t('withdrawConfirm'))), yes, no);
    yes.focus();
  });
  return [actions, out];
}

/** After the draw: the appointment won, each application with its billing; or the place
 *  on the waitlist. */
function outcomeCard(entry, byId, offices) {
  if (entry.outcome !== 'won') {
    return h(
      'section',
      { class: 'card outcome', id: 'outcome', 'data-outcome': entry.outcome, 'aria-labelledby': 'h-outcome' },
      h('h2', { id: 'h-outcome' }, t('waitlistedTitle')),
      h('p', { id: 'position' }, h('strong', {}, t('waitlistedText', { n: entry.position }))),
      h('p', {}, t('waitlistedNote')),
    );
  }
  const slot = entry.booking?.slot;
  const office = slot && officeOf(offices, slot.office_id);
  const tz = office?.timezone ?? 'Asia/Jakarta';
  return h(
    'section',
    { class: 'card outcome', id: 'outcome', 'data-outcome': 'won', 'aria-labelledby': 'h-outcome' },
    h('h2', { id: 'h-outcome' }, t('wonTitle')),
    h('p', { id: 'position' }, t('wonText', { n: entry.position })),
    slot && h('p', { id: 'won-slot' }, h('strong', {}, office?.name ?? slot.office_id), h('br'), office?.address ?? '', h('br'), t('at', { date: formatDate(slot.date), time: slot.time, tz: tzName(tz) })),
    h(
      'ul',
      { class: 'list', id: 'won-items' },
      (entry.booking?.items ?? []).map((item) => {
        const app = byId.get(item.application_id);
        const b = item.billing;
        const name = app ? appName(app) : item.application_id;
        return h(
          'li',
          { 'data-application': item.application_id },
          h('div', { class: 'row' }, h('strong', {}, name), badge(item.status)),
          b &&
            h(
              'dl',
              { class: 'facts' },
              h('dt', {}, t('billingCode')),
              h('dd', { class: 'code' }, b.billing_code.replace(/(\d{3})(?=\d)/g, '$1 ')),
              h('dt', {}, t('amount')),
              h('dd', {}, rupiah(b.amount_idr)),
              h('dt', {}, t('payBefore')),
              h('dd', { class: 'due' }, instantIn(b.expires_at, tz)),
              b.status === 'unpaid' && [h('dt', {}, t('timeLeft')), h('dd', {}, countdown(b.expires_at))],
            ),
          h('div', { class: 'actions' }, h('a', { class: 'button secondary', href: `#/app/${item.application_id}`, 'aria-label': `${t('openApp')}: ${name}` }, t('openApp'))),
        );
      }),
    ),
    h('p', { class: 'hint' }, t('wonPay')),
  );
}

/** The published draw, and how anyone checks it. */
function resultCard(r) {
  const href = new URL(`v1/releases/${encodeURIComponent(r.release_id)}/result`, document.baseURI).href;
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'h-result', id: 'result' },
    h('h2', { id: 'h-result' }, t('resultTitle')),
    h('p', {}, t('resultText')),
    h('p', {}, h('a', { href, id: 'result-link', target: '_blank', rel: 'noopener' }, t('resultLink'))),
    h('p', { class: 'hint', id: 'verify-line' }, t('verifyLine'), ' ', h('code', {}, 'scripts/verify-draw result.json')),
  );
}

async function releaseView(id) {
  const path = `/v1/releases/${encodeURIComponent(id)}`;
  const [r, offices] = await Promise.all([api('GET', path), allOffices()]);
  const tz = releaseZone(r, offices);
  let entry = null;
  let apps = [];
  if (signedIn()) {
    [entry, apps] = await Promise.all([
      api('GET', path + '/entry').catch((err) => {
        if (err.status === 404) return null;
        throw err;
      }),
      api('GET', '/v1/applications').then((x) => x.items),
    ]);
  }
  const byId = new Map(apps.map((a) => [a.application_id, a]));
  const facts = h('section', { class: 'card', id: 'release' }, releaseFacts(r, offices, { full: true }), releaseCountdown(r), h('p', { class: 'hint' }, t('drawHow')));
  const parts = [heading(t('drawOf', { offices: cities(r, offices) })), takeFlash()];
  if (!signedIn()) {
    parts.push(facts);
    if (r.status === 'open' || r.status === 'scheduled') parts.push(h('p', {}, h('a', { class: 'button', href: '#/signin' }, t('signInToEnter'))));
  } else if (entry?.outcome) {
    // What the person came for first: the outcome, then what it was drawn from.
    parts.push(outcomeCard(entry, byId, offices), facts, entrySummary(entry, byId, offices));
  } else if (r.status === 'open') {
    parts.push(facts);
    try {
      const form = entryForm(r, entry, apps, byId, offices, await heldSlots(r));
      if (entry) {
        form.hidden = true;
        parts.push(entrySummary(entry, byId, offices, entryActions(r, form)));
      }
      parts.push(form);
    } catch (err) {
      if (!(err instanceof Problem) || err.status === 401) throw err;
      if (entry) parts.push(entrySummary(entry, byId, offices));
      parts.push(problemBox(err));
    }
  } else if (entry) {
    parts.push(facts);
    parts.push(entrySummary(entry, byId, offices), h('p', { class: 'notice', id: 'waiting' }, t('waitDraw', { when: instantIn(r.draw_at, tz) })));
  } else {
    const line = { scheduled: t('opensAt', { when: instantIn(r.entry_opens_at, tz) }), closed: t('closedNoEntry'), drawn: t('drawnNoEntry') }[r.status];
    parts.push(facts, h('p', { class: 'card', id: 'no-entry' }, line));
  }
  if (r.status === 'drawn') parts.push(resultCard(r));
  parts.push(h('p', {}, h('a', { href: signedIn() ? '#/home' : '#/releases' }, '← ' + (signedIn() ? t('homeTitle') : t('drawsTitle')))));
  show(...parts);
}

// ---------------------------------------------------------------- shell and router

const routes = [
  [/^\/$/, () => (signedIn() ? home() : signIn(new URLSearchParams()))],
  [/^\/signin$/, (m, q) => signIn(q), true],
  [/^\/signup$/, () => signUp(), true],
  [/^\/verify$/, (m, q) => verify(q), true],
  [/^\/forgot$/, () => forgot(), true],
  [/^\/reset$/, (m, q) => reset(q), true],
  [/^\/home$/, () => home()],
  [/^\/applicants\/new$/, () => newApplicant()],
  [/^\/apply$/, (m, q) => apply(q)],
  [/^\/app\/([\w-]+)$/, (m) => detail(m[1])],
  [/^\/app\/([\w-]+)\/book$/, (m, q) => bookView(m[1], q)],
  [/^\/releases$/, () => releasesPage(), true],
  [/^\/release\/([\w-]+)$/, (m) => releaseView(m[1]), true],
];

function shell() {
  document.documentElement.lang = lang;
  document.title = 'Paspor';
  const langButton = document.getElementById('lang');
  langButton.textContent = t('switchLang');
  langButton.setAttribute('lang', lang === 'id' ? 'en' : 'id');
  langButton.setAttribute('aria-label', t('switchLangLabel'));
  const out = document.getElementById('signout');
  out.textContent = t('signOut');
  out.hidden = !signedIn();
  document.querySelector('.skip').textContent = t('skip');
  document.querySelector('.tools').setAttribute('aria-label', lang === 'id' ? 'Akun dan bahasa' : 'Account and language');
}

let navigated = false;
async function render() {
  timers.forEach(clearInterval);
  timers = [];
  const raw = location.hash.slice(1) || '/';
  const [path, query] = raw.split('?');
  const params = new URLSearchParams(query);
  const route = routes.find(([re]) => re.test(path)) ?? routes[0];
  const [re, view, open] = route;
  shell();
  if (!open && path !== '/' && !signedIn()) return go('/signin');
  main.setAttribute('aria-busy', 'true');
  try {
    await view(path.match(re), params);
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    if (err.status === 401) return;
    show(heading(t('problemTitle')), problemBox(err), h('p', {}, h('a', { href: '#/home' }, '← ' + t('homeTitle'))));
  } finally {
    main.removeAttribute('aria-busy');
  }
  // A screen reader hears the new view's title; the first load leaves focus alone.
  if (navigated) main.querySelector('h1')?.focus();
  navigated = true;
}

hooks.onUnauthorized = () => {
  flash = t('sessionEnded');
  go('/signin');
};
let waitTimer = null;
hooks.onWait = (secs) => {
  clearInterval(waitTimer);
  const until = Date.now() + secs * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    waitBar.textContent = t('busy', { s: left });
  };
  tick();
  waitBar.hidden = false;
  waitTimer = setInterval(tick, 1000);
};
hooks.onWaitEnd = () => {
  clearInterval(waitTimer);
  waitBar.hidden = true;
};

document.getElementById('lang').addEventListener('click', () => {
  setLang(lang === 'id' ? 'en' : 'id');
  render();
});
document.getElementById('signout').addEventListener('click', () => {
  setToken(null);
  officesCache = null;
  go('/signin');
});
window.addEventListener('hashchange', render);
render();
