// The quota draw (fair release) in headless Chromium against a real paspor-local: an
// operator creates a release, the clock opens its window, a family of two enters with two
// ranked choices through the page, the clock closes the window and passes the draw, and the
// page shows the outcome the API gives and the public result that scripts/verify-draw
// checks. Each step is saved as a screenshot in target/e2e-screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startServer, launch, shot, email, client, repo, STACK, signIn, visible, assertLabelled, useSerialsFrom } from './lib.mjs';

let server;
let api;

before(async () => {
  // The sweeper every second: the window is shut and the draw run a moment after their times.
  server = await startServer({ PASPOR_SWEEP_SECS: '1' });
  api = client(server.base);
  // The journey's applicants take serials from 100: this file's people are others.
  useSerialsFrom(5000);
});
after(async () => server?.stop());


/** Lets the server's clock pass `iso`, by a second. */
async function pass(iso) {
  const left = Math.ceil((Date.parse(iso) - Date.parse(await api.now())) / 1000) + 1;
  if (left > 0) await api.advance(left);
}

/** Waits for the sweeper to bring the release to `status` (closed: with its digest). */
async function until(id, status) {
  const deadline = Date.now() + (STACK ? 120000 : 30000);
  for (;;) {
    const r = (await api.call('GET', `/v1/releases/${id}`, { expect: 200 })).body;
    if (r.status === status && (status !== 'closed' || r.entries_digest)) return r;
    if (Date.now() > deadline) throw new Error(`release ${id} never reached ${status}: ${JSON.stringify(r)}`);
    await new Promise((ok) => setTimeout(ok, 200));
  }
}

test('a family enters a quota draw with two ranked choices; after the draw the page shows the outcome and the public result', async (ctx) => {
  const b = await launch();
  const { page } = b;
  try {
    // Windows of minutes (an access token lives an hour); on the stack, whose clock only
    // runs, short enough to wait for.
    const now = Date.parse(await api.now());
    const at = (secs) => new Date(now + secs * 1000).toISOString();
    const open = STACK ? 90 : 600;
    // Past the demo seed's 30 days of quota and its own release's days.
    const date = new Date(now + 45 * 86400e3).toISOString().slice(0, 10);
    const id = `rilis-e2e-${randomUUID().slice(0, 8)}`;
    // Two places at 09:00 in Semarang (WIB) and in Denpasar (WITA): two families of two fit,
    // the third is waitlisted. Balikpapan issues no e-passport.
    const created = await api.call('PUT', `/v1/ops/releases/${id}`, {
      ops: true,
      expect: 201,
      body: { office_ids: ['semarang', 'denpasar', 'balikpapan'], from: date, to: date, slots: { '09:00': 2, '10:00': 1 }, include_weekends: true, entry_opens_at: at(30), entry_closes_at: at(30 + open), draw_at: at(60 + open) },
    });
    const release = created.body;
    const seed = release.seed_sha256;
    const semarang = { office_id: 'semarang', date, time: '09:00' };
    const denpasar = { office_id: 'denpasar', date, time: '09:00' };

    // Two other families want the same hours.
    const rivals = [];
    for (const tag of ['saingan-a', 'saingan-b']) {
      const token = await api.account(server.dataDir, email(tag));
      rivals.push({ token, ids: [(await api.application(token, 1)).application_id, (await api.application(token, 2)).application_id] });
    }
    const mine = email('undian');
    const token = await api.account(server.dataDir, mine);
    const [me, brother] = [await api.application(token, 1), await api.application(token, 2)];

    // Scheduled: on Home with its days, window, the committed seed and a countdown.
    await signIn(page, server.base, mine, 'rahasia-e2e-1');
    const item = page.locator(`#draws li.release[data-release="${id}"]`);
    await item.waitFor();
    assert.match(await item.innerText(), /Semarang, Denpasar, Balikpapan/);
    assert.match(await item.locator('.release-status').innerText(), /Belum dibuka/);
    assert.equal(await item.locator('code.seed').getAttribute('title'), seed);
    assert.equal(await item.locator('code.seed').innerText(), seed.slice(0, 12) + '…');
    assert.match(await item.locator('.release-next').innerText(), /Dibuka dalam \d\d:\d\d:\d\d/);
    // WIB and WITA offices: the times are the device's, and say so.
    assert.match(await item.innerText(), /waktu perangkat Anda/);
    await shot(page, 'draw-scheduled', 40);

    // The clock opens the window.
    await pass(release.entry_opens_at);
    for (const r of rivals) await api.call('PUT', `/v1/releases/${id}/entry`, { token: r.token, expect: 201, body: { application_ids: r.ids, choices: [semarang, denpasar] } });
    await page.reload();
    await item.waitFor();
    assert.match(await item.locator('.release-status').innerText(), /Pendaftaran dibuka/);
    assert.match(await item.locator('.release-next').innerText(), /Ditutup dalam/);
    await item.getByRole('link', { name: /^Ikut undian/ }).click();
    await visible(page, '#enter-card');

    // Nobody chosen yet: the page says so before asking the server.
    const send = page.locator('#send-entry');
    await send.click();
    assert.match(await page.locator('#entry-result .problem').innerText(), /Pilih paling sedikit satu permohonan/);

    // The family, and a first choice at an office without e-passports: the server refuses it,
    // naming the application.
    await page.locator(`#entry-apps input[value="${me.application_id}"]`).check();
    await page.locator(`#entry-apps input[value="${brother.application_id}"]`).check();
    const rows = page.locator('#choices > li');
    await rows.nth(0).getByLabel('Kantor', { exact: true }).selectOption('balikpapan');
    await rows.nth(0).getByLabel('Tanggal', { exact: true }).selectOption(date);
    await rows.nth(0).getByLabel('Jam', { exact: true }).selectOption('09:00');
    assert.deepEqual(await rows.nth(0).getByLabel('Jam', { exact: true }).locator('option').allInnerTexts(), ['— pilih jam —', '09:00 WITA', '10:00 WITA']);
    await send.click();
    const refused = page.locator('#entry-result .problem[data-code=passport_type_not_offered]');
    await refused.waitFor();
    assert.match(await refused.innerText(), /Menyangkut: Budi Santoso · Paspor elektronik/);
    assert.match(await refused.innerText(), /Ganti kantor pada pilihan tersebut/);
    await shot(page, 'draw-refused', 41);

    // Semarang first (the day and hour stay), Denpasar second.
    await rows.nth(0).getByLabel('Kantor', { exact: true }).selectOption('semarang');
    assert.equal(await rows.nth(0).getByLabel('Jam', { exact: true }).inputValue(), '09:00');
    await page.getByRole('button', { name: '+ Tambah pilihan' }).click();
    await rows.nth(1).getByLabel('Kantor', { exact: true }).selectOption('denpasar');
    assert.equal(await rows.nth(1).getByLabel('Tanggal', { exact: true }).inputValue(), date);
    await rows.nth(1).getByLabel('Jam', { exact: true }).selectOption('09:00');
    await shot(page, 'draw-choices', 42);
    await send.click();
    await visible(page, '.notice:has-text("Anda terdaftar di undian")');
    const entered = (await api.call('GET', `/v1/releases/${id}/entry`, { token, expect: 200 })).body;
    assert.deepEqual(entered.application_ids, [me.application_id, brother.application_id]);
    assert.deepEqual(entered.choices, [semarang, denpasar]);
    assert.equal((await page.locator('#entry-choices li').allInnerTexts()).length, 2);
    assert.match(await page.locator('#entry-choices li').first().innerText(), /Semarang.*09:00 WIB/);
    assert.match(await page.locator('#entry-choices li').nth(1).innerText(), /Denpasar.*09:00 WITA/);
    await shot(page, 'draw-entered', 43);
    // Changing it starts from what was entered.
    assert.equal(await page.locator('#enter-card').isHidden(), true);
    await page.getByRole('button', { name: 'Ubah pendaftaran' }).click();
    await visible(page, '#enter-card');
    assert.equal(await page.locator('#send-entry').innerText(), 'Simpan perubahan');
    assert.equal(await page.locator('#entry-apps input:checked').count(), 2);
    assert.deepEqual(await page.locator('#choices select[name=office]').evaluateAll((els) => els.map((e) => e.value)), ['semarang', 'denpasar']);

    // The clock shuts the window: the entry stands, the draw is next.
    await pass(release.entry_closes_at);
    const closed = await until(id, 'closed');
    await page.reload();
    await visible(page, '#waiting');
    assert.equal(await page.locator('#send-entry').count(), 0);
    assert.equal(await page.locator('code.digest').getAttribute('title'), closed.entries_digest);
    assert.match(await page.locator('#release .release-next').innerText(), /Diundi dalam/);

    // And passes the draw.
    await pass(release.draw_at);
    await until(id, 'drawn');
    await page.reload();
    await visible(page, '#outcome');
    const drawn = (await api.call('GET', `/v1/releases/${id}/entry`, { token, expect: 200 })).body;
    const outcome = page.locator('#outcome');
    ctx.diagnostic(`outcome: ${drawn.outcome}, position ${drawn.position}`);
    assert.equal(await outcome.getAttribute('data-outcome'), drawn.outcome);
    if (drawn.outcome === 'won') {
      assert.match(await outcome.innerText(), /Anda mendapat jadwal/);
      assert.match(await page.locator('#position').innerText(), new RegExp(`ke-${drawn.position}\\b`));
      const won = drawn.booking.slot;
      assert.match(await page.locator('#won-slot').innerText(), new RegExp(`${won.office_id === 'semarang' ? 'Semarang' : 'Denpasar'}[\\s\\S]*pukul 09:00 \\(${won.office_id === 'semarang' ? 'WIB' : 'WITA'}\\)`, 'i'));
      const items = page.locator('#won-items > li');
      assert.equal(await items.count(), 2);
      for (const x of drawn.booking.items) {
        const li = page.locator(`#won-items > li[data-application="${x.application_id}"]`);
        assert.equal((await li.locator('dd.code').innerText()).replace(/\s/g, ''), x.billing.billing_code);
        assert.match(await li.innerText(), /Menunggu pembayaran/);
        assert.match(await li.locator('dd.due').innerText(), won.office_id === 'semarang' ? /WIB/ : /WITA/);
        assert.equal(x.billing.expires_at.slice(0, 10) >= new Date(now).toISOString().slice(0, 10), true);
      }
    } else {
      assert.equal(drawn.outcome, 'waitlisted');
      assert.match(await outcome.innerText(), /Anda di daftar tunggu/);
      assert.match(await page.locator('#position').innerText(), new RegExp(`Urutan undian Anda: ke-${drawn.position}\\.`));
    }

    // The public result, as linked, with the seed committed before and this entry in it;
    // scripts/verify-draw recomputes it.
    const href = await page.locator('#result-link').getAttribute('href');
    // On the stack the API sits under its stage (`server.base` ends in it).
    const stage = new URL(server.base).pathname.replace(/\/$/, '');
    assert.equal(new URL(href).pathname, `${stage}/v1/releases/${id}/result`);
    assert.match(await page.locator('#verify-line').innerText(), /scripts\/verify-draw/);
    const result = (await api.call('GET', `/v1/releases/${id}/result`, { expect: 200 })).body;
    assert.equal(result.seed_sha256, seed);
    const published = result.entries.find((e) => e.entry_id === drawn.entry_id);
    assert.deepEqual([published.position, published.outcome], [drawn.position, drawn.outcome]);
    assert.deepEqual(result.entries.map((e) => e.outcome).sort(), ['waitlisted', 'won', 'won']);
    assert.match(execFileSync('python3', [join(repo, 'scripts/verify-draw'), '-'], { input: JSON.stringify(result), encoding: 'utf8' }), /./);
    await shot(page, 'draw-outcome', 44);

    await page.getByRole('button', { name: 'Switch to English' }).click();
    await visible(page, 'h1:has-text("Quota draw")');
    assert.match(await outcome.innerText(), drawn.outcome === 'won' ? /You won an appointment/ : /You are on the waitlist/);
    assert.match(await page.locator('#verify-line').innerText(), /Anyone can check it/);
    await assertLabelled(page);
    await shot(page, 'draw-outcome-english', 45);
    assert.deepEqual(page.errors, []);
  } catch (e) {
    await shot(page, 'FAILED-draw').catch(() => {});
    throw e;
  } finally {
    await b.close();
  }
});
