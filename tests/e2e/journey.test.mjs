// The web client in headless Chromium against a real paspor-local: the whole journey from
// sign-up to an invoice and beyond, a full slot, and bad uploads. Each step is saved as a
// screenshot in target/e2e-screenshots/ for a person to look at.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, launch, shot, otp, email, nik, client, fakePdf, signIn, visible, assertLabelled } from './lib.mjs';

let server;
let api;

before(async () => {
  // A short availability cache, so the calendar shows a slot that just filled at once.
  server = await startServer({ PASPOR_AVAILABILITY_TTL_MS: '100' });
  api = client(server.base);
});
after(async () => server?.stop());

const JAKARTA_SELATAN = { latitude: -6.2615, longitude: 106.8106 };


test('the whole journey: sign-up and OTP to an invoice, paid, rescheduled, cancelled; forgot password', async () => {
  const b = await launch({ geolocation: JAKARTA_SELATAN, permissions: ['geolocation'] });
  const { page } = b;
  const me = email('siti');
  try {
    await page.goto(server.base + '/');
    await visible(page, 'h1:has-text("Masuk")');
    assert.equal(await page.getAttribute('html', 'lang'), 'id');
    await shot(page, 'sign-in', 1);

    // Sign-up: a wrong phone first, so the API's field error shows beside its field.
    await page.getByRole('link', { name: 'Daftar' }).click();
    await page.getByLabel('Nama lengkap').fill('Siti Aminah');
    await page.getByLabel('Email').fill(me);
    await page.getByLabel('Nomor ponsel').fill('12345');
    await page.getByLabel('Kata sandi').fill('rahasia-siti');
    await page.getByRole('button', { name: 'Daftar' }).click();
    await visible(page, '.problem');
    assert.match(await page.locator('.field-error').innerText(), /Nomor ponsel harus/);
    assert.equal(await page.getByLabel('Nomor ponsel').getAttribute('aria-invalid'), 'true');
    await assertLabelled(page);
    await shot(page, 'sign-up-field-error');
    await page.getByLabel('Nomor ponsel').fill('081234567890');
    const signedUpAt = Date.now();
    await page.getByRole('button', { name: 'Daftar' }).click();

    // The code, read from the outbox as the person reads their email.
    await visible(page, 'h1:has-text("kode verifikasi")');
    await page.getByLabel('Kode 6 angka').fill(await otp(server.dataDir, me));
    await shot(page, 'otp');
    await page.getByRole('button', { name: 'Verifikasi' }).click();
    await visible(page, 'h1:has-text("Halo, Siti Aminah")');
    await shot(page, 'home-empty');

    // Tambah Pemohon.
    await page.getByRole('link', { name: 'Tambah pemohon' }).click();
    await page.getByLabel('NIK').fill(nik('1992-07-09', true, 17));
    await page.getByLabel('Nama lengkap').fill('Siti Aminah');
    await page.getByLabel('Tanggal lahir').fill('1992-07-09');
    await page.getByLabel('Tempat lahir').fill('Bandung');
    await page.getByLabel('Perempuan').check();
    await assertLabelled(page);
    await shot(page, 'applicant');
    await page.getByRole('button', { name: 'Simpan' }).click();

    // The questionnaire, with the fee as it changes.
    await visible(page, 'h1:has-text("Pengajuan permohonan")');
    const fee = page.locator('output');
    assert.equal(await fee.innerText(), 'Rp950.000 · berlaku 10 tahun');
    await page.getByLabel('Layanan percepatan').check();
    assert.equal(await fee.innerText(), 'Rp1.950.000 · berlaku 10 tahun');
    await page.getByLabel('Layanan percepatan').uncheck();
    await page.getByLabel('Paspor biasa').check();
    assert.equal(await fee.innerText(), 'Rp650.000 · berlaku 10 tahun');
    await page.getByLabel('Paspor elektronik').check();
    await page.getByLabel('Tujuan perjalanan').selectOption('tourism');
    await page.getByLabel('Negara tujuan').fill('JP');
    await assertLabelled(page);
    await shot(page, 'questionnaire-fee');
    await page.getByRole('button', { name: 'Lanjut' }).click();

    // Documents straight to storage, with a progress bar (on a throttled connection).
    await visible(page, 'h1:has-text("Permohonan · Siti Aminah")');
    assert.match(await page.locator('#fee').innerText(), /Rp950\.000/);
    const kinds = await page.locator('li.doc').evaluateAll((els) => els.map((e) => e.dataset.kind));
    assert.deepEqual(kinds, ['ktp', 'kk', 'civil_record']);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 150, downloadThroughput: 400 * 1024, uploadThroughput: 250 * 1024 });
    await page.locator('li[data-kind=ktp] input[type=file]').setInputFiles({ name: 'ktp.pdf', mimeType: 'application/pdf', buffer: fakePdf(1500 * 1024) });
    await page.waitForFunction(() => {
      const p = document.querySelector('li[data-kind=ktp] progress');
      return p && !p.hidden && p.value > 5 && p.value < 95;
    });
    await assertLabelled(page);
    await shot(page, 'upload-progress');
    await visible(page, 'li[data-kind=ktp] .badge.ok');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    for (const kind of ['kk', 'civil_record']) {
      await page.locator(`li[data-kind=${kind}] input[type=file]`).setInputFiles({ name: `${kind}.pdf`, mimeType: 'application/pdf', buffer: fakePdf(40 * 1024) });
      await visible(page, `li[data-kind=${kind}] .badge.ok`);
    }
    await shot(page, 'documents-uploaded');
    await page.getByRole('button', { name: 'Ajukan permohonan' }).click();

    // Offices: a city search, then the nearest by the browser's location.
    await visible(page, 'h1:has-text("Pilih kantor dan jadwal")');
    await page.getByLabel('Cari kota atau nama kantor').fill('bandung');
    assert.deepEqual(await page.locator('#offices button').evaluateAll((els) => els.map((e) => e.dataset.office)), ['bandung']);
    await page.getByLabel('Cari kota atau nama kantor').fill('');
    await page.getByRole('button', { name: 'Kantor terdekat dari lokasi saya' }).click();
    await page.waitForFunction(() => document.querySelectorAll('#offices button').length === 5 && /km/.test(document.querySelector('#offices').innerText));
    assert.equal(await page.locator('#offices button').first().getAttribute('data-office'), 'jakarta-selatan');
    await shot(page, 'offices-near-me');
    await page.locator('#offices button').first().click();

    // The month: green days with places left; a day's hours with their remaining places.
    await visible(page, 'table.cal button.open');
    const days = await page.locator('table.cal button.open').evaluateAll((els) => els.map((e) => e.dataset.date));
    await page.locator(`table.cal button[data-date="${days[0]}"]`).click();
    await visible(page, '.slots button[data-time="09:00"]');
    assert.match(await page.locator('.slots button[data-time="09:00"]').innerText(), /20 tempat/);
    // By keyboard: the hour is a real button, Enter chooses it and moves focus to the confirmation.
    await page.locator('.slots button[data-time="09:00"]').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'confirm');
    await assertLabelled(page);
    await shot(page, 'calendar');

    // The service sheds load once: the page waits Retry-After, then sends the same request
    // with the same Idempotency-Key.
    const keys = [];
    let shed = false;
    await page.route('**/v1/applications/*/booking', async (route) => {
      keys.push(route.request().headers()['idempotency-key']);
      if (!shed) {
        shed = true;
        return route.fulfill({ status: 503, headers: { 'retry-after': '2', 'content-type': 'application/problem+json' }, body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'busy', detail: 'Layanan sedang sibuk.' }) });
      }
      return route.continue();
    });
    await page.getByRole('button', { name: 'Pesan jadwal ini' }).click();
    await visible(page, '#wait');
    assert.match(await page.locator('#wait').innerText(), /Layanan sedang ramai\. Mencoba lagi otomatis dalam [12] detik/);
    await shot(page, 'busy-retry-after');
    await visible(page, '#billing-code');
    await page.unroute('**/v1/applications/*/booking');
    assert.equal(keys.length, 2);
    assert.ok(keys[0] && keys[0] === keys[1], `same Idempotency-Key on the retry: ${keys}`);
    assert.equal(await page.locator('#wait').isHidden(), true);

    // The billing: code, amount, deadline countdown, invoice PDF.
    const code = (await page.locator('#billing-code').innerText()).replace(/\s/g, '');
    assert.match(code, /^\d{15}$/);
    assert.equal(await page.locator('#amount').innerText(), 'Rp950.000');
    assert.match(await page.locator('[role=timer]').innerText(), /^0[12]:[0-5]\d:[0-5]\d$/);
    assert.match(await page.locator('#status').innerText(), /Menunggu pembayaran/);
    await assertLabelled(page);
    await shot(page, 'billing');
    const [invoice] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Unduh tagihan (PDF)' }).click()]);
    const pdf = readFileSync(await invoice.path());
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
    assert.equal(invoice.suggestedFilename(), `invoice-${code}.pdf`);

    // Paid at a channel; the status timeline shows it.
    assert.equal((await api.pay(code, 950000)).result, 'accepted');
    await page.reload();
    await visible(page, '#status .st-paid');
    assert.deepEqual(await page.locator('#timeline strong').allInnerTexts(), ['Draf', 'Diajukan', 'Menunggu pembayaran', 'Lunas']);
    await shot(page, 'paid-timeline');

    // English with one switch.
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await visible(page, 'h1:has-text("Application · Siti Aminah")');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await page.locator('#status').innerText(), /Paid/);
    await shot(page, 'english');

    // Reschedule once, at the same office, to another day.
    await page.getByRole('link', { name: 'Reschedule' }).click();
    await visible(page, 'table.cal button.open');
    const other = (await page.locator('table.cal button.open').evaluateAll((els) => els.map((e) => e.dataset.date))).find((d) => d !== days[0]);
    await page.locator(`table.cal button[data-date="${other}"]`).click();
    await page.locator('.slots button[data-time="10:00"]').click();
    await page.getByRole('button', { name: 'Move to this time' }).click();
    await visible(page, '#booking');
    assert.match(await page.locator('#booking').innerText(), /10:00 \(WIB\)/);
    assert.equal(await api.availability('jakarta-selatan', other).then((s) => s.find((x) => x.time === '10:00').remaining), 19);
    await shot(page, 'rescheduled');

    // Cancel: asked once more, then the place goes back at once.
    await page.getByRole('button', { name: 'Cancel the application' }).click();
    await page.getByRole('button', { name: 'Yes, cancel' }).click();
    await visible(page, '#status .st-cancelled');
    assert.equal(await api.availability('jakarta-selatan', other).then((s) => s.find((x) => x.time === '10:00').remaining), 20);
    await shot(page, 'cancelled');

    // Forgot password, in English, then signed in with the new one.
    await page.getByRole('button', { name: 'Sign out' }).click();
    // Past the 60 s between codes (on the stack, the rest of them in real time).
    await api.advance(Math.max(0, 61 - Math.floor((Date.now() - signedUpAt) / 1000)));
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    // The sign-in page has an Email field too: wait for the new page before filling it.
    await visible(page, 'h1:has-text("Forgot password")');
    await page.getByLabel('Email').fill(me);
    await page.getByRole('button', { name: 'Send code' }).click();
    await visible(page, 'h1:has-text("Set a new password")');
    await page.getByLabel('6-digit code').fill(await otp(server.dataDir, me, 2));
    await page.getByLabel('New password').fill('rahasia-baru-siti');
    await page.getByRole('button', { name: 'Save' }).click();
    await visible(page, '.notice:has-text("Your password was changed")');
    await page.getByLabel('Password').fill('rahasia-baru-siti');
    await shot(page, 'password-reset-sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page, 'h1:has-text("Hello, Siti Aminah")');
    await shot(page, 'home-again');
    assert.deepEqual(page.errors, []);
  } catch (e) {
    await shot(page, 'FAILED-journey').catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
});

test('a full day is red and unbookable; a slot taken meanwhile answers slot_full, shown with what to do', async () => {
  const b = await launch();
  const { page } = b;
  try {
    // Someone else takes the only place of a Saturday and, later, of a weekday hour.
    const now = new Date(await api.now());
    const sat = new Date(now);
    sat.setUTCDate(sat.getUTCDate() + 2);
    while (sat.getUTCDay() !== 6) sat.setUTCDate(sat.getUTCDate() + 1);
    const saturday = sat.toISOString().slice(0, 10);
    await api.call('PUT', '/v1/ops/offices/jakarta-pusat/quota', { ops: true, expect: 200, body: { from: saturday, to: saturday, slots: { '10:00': 1 }, include_weekends: true } });
    const rival = await api.account(server.dataDir, email('rival'));
    const [r1, r2] = [await api.application(rival, 1), await api.application(rival, 2)];
    await api.call('POST', `/v1/applications/${r1.application_id}/booking`, { token: rival, expect: 201, body: { office_id: 'jakarta-pusat', date: saturday, time: '10:00' } });
    const weekday = (await api.call('GET', '/v1/offices/jakarta-pusat/availability', { expect: 200 })).body.days[0].date;
    await api.call('PUT', '/v1/ops/offices/jakarta-pusat/quota', { ops: true, expect: 200, body: { from: weekday, to: weekday, slots: { '14:00': 1 } } });

    const mine = email('andi');
    const token = await api.account(server.dataDir, mine);
    const app = await api.application(token, 1);
    await signIn(page, server.base, mine, 'rahasia-e2e-1');
    await page.goto(`${server.base}/#/app/${app.application_id}/book`);
    await page.getByLabel('Cari kota atau nama kantor').fill('pusat');
    await page.locator('#offices button[data-office=jakarta-pusat]').click();
    await visible(page, 'table.cal button.open');
    const satButton = page.locator(`table.cal button[data-date="${saturday}"]`);
    if ((await satButton.count()) === 0) await page.getByRole('button', { name: 'Bulan berikutnya' }).click();
    await visible(page, `table.cal button[data-date="${saturday}"].full`);
    assert.equal(await satButton.isDisabled(), true);
    assert.match(await satButton.getAttribute('aria-label'), /Penuh/);
    await shot(page, 'full-day-red', 20);

    // The weekday's 14:00 shows its last place; someone takes it before the click.
    if ((await page.locator(`table.cal button[data-date="${weekday}"]`).count()) === 0) await page.getByRole('button', { name: 'Bulan sebelumnya' }).click();
    await page.locator(`table.cal button[data-date="${weekday}"]`).click();
    const last = page.locator('.slots button[data-time="14:00"]');
    assert.match(await last.innerText(), /1 tempat/);
    await last.click();
    await api.call('POST', `/v1/applications/${r2.application_id}/booking`, { token: rival, expect: 201, body: { office_id: 'jakarta-pusat', date: weekday, time: '14:00' } });
    await page.getByRole('button', { name: 'Pesan jadwal ini' }).click();
    await visible(page, '.problem[data-code=slot_full]');
    assert.match(await page.locator('.problem[data-code=slot_full]').innerText(), /Jam ini baru saja penuh\. Pilih jam atau tanggal lain/);
    await visible(page, '.slots button[data-time="14:00"].full');
    assert.equal(await page.locator('.slots button[data-time="14:00"]').isDisabled(), true);
    await shot(page, 'slot-full-problem', 21);
    assert.deepEqual(page.errors, []);
  } catch (e) {
    await shot(page, 'FAILED-full-slot').catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
});

test('the calendar shows the person\'s own lane; the questionnaire asks for a priority reason', async () => {
  const b = await launch();
  const { page } = b;
  try {
    // The e-passport blanks ran out for one hour: that lane is at 0, the rest is open.
    const weekday = (await api.call('GET', '/v1/offices/tangerang/availability', { expect: 200 })).body.days[1].date;
    await api.call('PUT', '/v1/ops/offices/tangerang/quota', { ops: true, expect: 200, body: { from: weekday, to: weekday, slots: { '13:00': { regular: 5, electronic: 0 } } } });
    const mine = email('lajur');
    const token = await api.account(server.dataDir, mine);
    const app = await api.application(token, 1); // an e-passport
    await signIn(page, server.base, mine, 'rahasia-e2e-1');
    await page.goto(`${server.base}/#/app/${app.application_id}/book`);
    await page.getByLabel('Cari kota atau nama kantor').fill('tangerang');
    await page.locator('#offices button[data-office=tangerang]').click();
    await visible(page, 'table.cal button.open');
    if ((await page.locator(`table.cal button[data-date="${weekday}"]`).count()) === 0) await page.getByRole('button', { name: 'Bulan berikutnya' }).click();
    await page.locator(`table.cal button[data-date="${weekday}"]`).click();
    // Five places in the hour, none of them in this application's lane.
    await visible(page, '.slots button[data-time="13:00"].full');
    assert.equal(await page.locator('.slots button[data-time="13:00"]').isDisabled(), true);
    assert.match(await page.locator('.slots button[data-time="14:00"]').innerText(), /20 tempat/);
    await shot(page, 'own-lane-full', 30);

    // The questionnaire: a declared reason goes with the application, in either language.
    const birth = '1990-05-05';
    const sister = await api.call('POST', '/v1/applicants', { token, expect: 201, body: { nik: nik(birth, true, 9101), full_name: 'Sari Santoso', birth_date: birth, birth_place: 'Surabaya', sex: 'F', relationship: 'sibling' } });
    await page.goto(`${server.base}/#/apply?applicant=${sister.body.applicant_id}`);
    const reason = page.getByLabel('Layanan prioritas');
    await reason.waitFor({ state: 'visible' });
    await reason.selectOption('pregnant');
    await page.getByLabel('Negara tujuan').fill('JP');
    await page.getByRole('button', { name: 'Lanjut' }).click();
    await page.waitForURL(/#\/app\//);
    const id = page.url().split('/app/')[1].split(/[/?]/)[0];
    const created = await api.call('GET', `/v1/applications/${id}`, { token, expect: 200 });
    assert.equal(created.body.priority_reason, 'pregnant');
    assert.equal(created.body.priority, true);
    await page.goto(`${server.base}/#/apply`);
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await page.getByLabel('Priority service').waitFor({ state: 'visible' });
    await assertLabelled(page);
    assert.deepEqual(page.errors, []);
  } catch (e) {
    await shot(page, 'FAILED-own-lane').catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
});

test('a family is booked into one hour together, each with its own billing', async () => {
  const b = await launch();
  const { page } = b;
  try {
    const mine = email('keluarga');
    const token = await api.account(server.dataDir, mine);
    const [me, brother] = [await api.application(token, 1), await api.application(token, 2)];
    await signIn(page, server.base, mine, 'rahasia-e2e-1');
    await page.goto(`${server.base}/#/app/${me.application_id}/book`);
    await page.getByLabel('Cari kota atau nama kantor').fill('bandung');
    await page.locator('#offices button[data-office=bandung]').click();
    await visible(page, 'table.cal button.open');
    await page.locator('table.cal button.open').first().click();
    await page.locator('.slots button.open').first().click();
    await page.getByLabel('Budi Santoso · Paspor elektronik').check();
    await shot(page, 'family-booking', 31);
    await page.getByRole('button', { name: 'Pesan jadwal ini' }).click();
    await page.waitForURL(new RegExp(`#/app/${me.application_id}$`));
    const [a, c] = await Promise.all([me, brother].map((x) => api.call('GET', `/v1/applications/${x.application_id}`, { token, expect: 200 })));
    assert.equal(a.body.status, 'awaiting_payment');
    assert.equal(c.body.status, 'awaiting_payment');
    assert.ok(a.body.booking.group_id, 'booked as a group');
    assert.equal(a.body.booking.group_id, c.body.booking.group_id);
    assert.equal(`${a.body.booking.date} ${a.body.booking.time}`, `${c.body.booking.date} ${c.body.booking.time}`);
    assert.notEqual(a.body.billing.billing_code, c.body.billing.billing_code);
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await page.goto(`${server.base}/#/app/${brother.application_id}`);
    await assertLabelled(page);
    assert.deepEqual(page.errors, []);
  } catch (e) {
    await shot(page, 'FAILED-family').catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
});

test('a bad upload says what is wrong; a retry after a dropped check sends the file only once', async () => {
  const b = await launch();
  const { page } = b;
  try {
    const mine = email('rina');
    const token = await api.account(server.dataDir, mine);
    const app = await api.application(token, 1, { draft: true });
    await signIn(page, server.base, mine, 'rahasia-e2e-1');
    await page.goto(`${server.base}/#/app/${app.application_id}`);
    await visible(page, 'li.doc');

    // Not a PDF, though it says so: storage takes it, the server's check refuses it.
    await page.locator('li[data-kind=ktp] input[type=file]').setInputFiles({ name: 'ktp.pdf', mimeType: 'application/pdf', buffer: Buffer.from('this is a holiday photo, not a scan'.padEnd(2000, '.')) });
    const rejected = page.locator('li[data-kind=ktp] .problem[data-code=upload_rejected]');
    await rejected.waitFor();
    assert.match(await rejected.innerText(), /Pilih berkas lain yang benar-benar JPEG, PNG atau PDF/);
    assert.equal(await page.locator('li[data-kind=ktp] button:has-text("Coba lagi")').isHidden(), true);

    // Larger than 2 MiB: refused before a byte is sent.
    await page.locator('li[data-kind=kk] input[type=file]').setInputFiles({ name: 'kk.pdf', mimeType: 'application/pdf', buffer: fakePdf(3 * 1024 * 1024) });
    await page.locator('li[data-kind=kk] .problem[data-code=document_too_large]').waitFor();
    await shot(page, 'bad-uploads', 30);

    // The connection drops after the file reached storage; the retry only asks for the check.
    const sent = [];
    // The form goes to storage (paspor-local's /_local/uploads, or S3), never to the API.
    page.on('request', (r) => r.method() === 'POST' && !new URL(r.url()).pathname.includes('/v1/') && sent.push(r.url()));
    let dropped = false;
    await page.route('**/documents/civil_record/complete', (route) => (dropped ? route.continue() : ((dropped = true), route.abort('connectionreset'))));
    await page.locator('li[data-kind=civil_record] input[type=file]').setInputFiles({ name: 'akta.pdf', mimeType: 'application/pdf', buffer: fakePdf(30 * 1024) });
    await page.locator('li[data-kind=civil_record] .problem[data-code=network]').waitFor();
    assert.match(await page.locator('li[data-kind=civil_record] .problem').innerText(), /Tidak ada koneksi/);
    await shot(page, 'upload-retry', 31);
    await page.locator('li[data-kind=civil_record] button:has-text("Coba lagi")').click();
    await visible(page, 'li[data-kind=civil_record] .badge.ok');
    assert.equal(sent.length, 1, 'the file went to storage once');
    const stored = await api.call('GET', `/v1/applications/${app.application_id}`, { token, expect: 200 });
    assert.deepEqual(stored.body.documents.map((d) => [d.kind, d.uploaded]), [['ktp', false], ['kk', false], ['civil_record', true]]);
    await shot(page, 'upload-retried', 32);
    assert.deepEqual(page.errors.filter((e) => !e.includes('ERR_CONNECTION_RESET')), []);
  } catch (e) {
    await shot(page, 'FAILED-bad-upload').catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
});
