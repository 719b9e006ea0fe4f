// The clerk's workbench: a clerk signs in (keyboard only), opens the event browser, filters
// it, opens a seminar, corrects it, retracts another and signs out; a reader signed in with a
// reader token sees the same pages with no form. Every visible input has a label and the
// text on the pages keeps a contrast of 4.5:1. Screenshots of each page are kept.

import { accessibilityProblems } from '../accessibility.mjs';

export default async function (t) {
  const page = await t.newPage();
  const check = async (where) => {
    const problems = await accessibilityProblems(page);
    t.assert.deepEqual(problems, [], `${where}: ${problems.join('; ')}`);
  };

  await t.step('the clerk signs in with the keyboard alone', async () => {
    const response = await page.goto(t.url('/workbench/sign-in'));
    t.assert.equal(response.status(), 200);
    t.assert.equal(await page.getAttribute('html', 'lang'), 'ja');
    await check('sign-in');
    await t.screenshot(page, 'sign-in');
    // From the top of the page, Tab reaches the token field; Enter sends the form.
    await page.locator('body').focus();
    for (let i = 0; i < 20; i += 1) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.id === 'token')) break;
    }
    t.assert.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'Tab reaches the token field');
    await page.keyboard.type(t.params.clerkToken);
    await Promise.all([page.waitForURL(/\/workbench\/events$/), page.keyboard.press('Enter')]);
    t.assert.match(await page.locator('#signed-in').innerText(), /clerk/);
    const cookies = await page.context().cookies();
    const session = cookies.find((cookie) => cookie.name === 'kpi_ledger_session');
    t.assert.ok(session, 'a session cookie');
    t.assert.equal(session.httpOnly, true);
    t.assert.equal(session.sameSite, 'Strict');
    t.assert.ok(!session.value.includes(t.params.clerkToken), 'the cookie holds no token');
  });

  await t.step('the event browser opens and filters', async () => {
    await check('events');
    await t.screenshot(page, 'events');
    await page.getByLabel('種類').selectOption({ label: 'セミナー' });
    await page.getByLabel('年度').fill('R6');
    await Promise.all([page.waitForURL(/kind=seminar/), page.getByRole('button', { name: '絞り込む' }).click()]);
    const kinds = await page.locator('#event-list tbody tr td:nth-child(2)').allInnerTexts();
    t.assert.ok(kinds.length >= 2, `${kinds.length} seminars`);
    t.assert.ok(kinds.every((kind) => kind === 'セミナー'), kinds.join(','));
    await t.screenshot(page, 'events-seminars-r6');
  });
  const filtered = page.url();

  await t.step('a seminar opens in plain words', async () => {
    await Promise.all([
      page.waitForURL(/\/workbench\/events\/[0-9a-f-]+$/),
      page.locator('#event-list tbody tr').first().locator('td:nth-child(4) a').click(),
    ]);
    t.assert.match(await page.locator('#event-title').innerText(), /^セミナー: /);
    t.assert.match(await page.locator('#fact-activity').innerText(), /^令和\d+年\d+月\d+日 \(\d{4}-\d{2}-\d{2}\)$/);
    t.assert.match(await page.locator('#fact-recorded').innerText(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    t.assert.equal(await page.locator('#raw pre').isVisible(), false, 'the payload waits behind its toggle');
    await page.locator('#raw summary').click();
    t.assert.equal(await page.locator('#raw pre').isVisible(), true);
    await check('event');
    await t.screenshot(page, 'event');
  });

  await t.step('the clerk corrects it', async () => {
    const unique = Number(await page.locator('#f-participants-unique').inputValue());
    const attendances = Number(await page.locator('#f-participants-attendances').inputValue());
    // First a refusal: more participants than attendances, named beside the field.
    await page.locator('#f-participants-unique').fill(String(attendances + 1));
    await page.locator('#correct-reason').fill('受付名簿の数え直し');
    await page.getByRole('button', { name: '訂正を記録する' }).click();
    await page.locator('#f-participants-unique-error').waitFor();
    await t.screenshot(page, 'correct-refused');
    await page.locator('#f-participants-unique').fill(String(unique + 1));
    await page.locator('#f-participants-attendances').fill(String(attendances + 1));
    await page.getByRole('button', { name: '訂正を記録する' }).click();
    await page.locator('#saved').waitFor();
    t.assert.equal(await page.locator('#amendments li').count(), 1);
    t.assert.match(await page.locator('#amendments').innerText(), /訂正.*受付名簿の数え直し/s);
    t.assert.equal(await page.locator('#f-participants-unique').inputValue(), String(unique + 1), 'the form starts from the correction');
    await t.screenshot(page, 'corrected');
  });

  await t.step('the clerk retracts another', async () => {
    await page.goto(filtered);
    await Promise.all([
      page.waitForURL(/\/workbench\/events\/[0-9a-f-]+$/),
      page.locator('#event-list tbody tr').nth(1).locator('td:nth-child(4) a').click(),
    ]);
    await page.locator('#retract-reason').fill('同じセミナーの二重記録');
    await page.getByRole('button', { name: '取消を記録する' }).click();
    await page.locator('#retracted').waitFor();
    t.assert.equal(await page.locator('#retract-form').count(), 0, 'a retracted event has no form');
    await t.screenshot(page, 'retracted');
  });

  await t.step('the clerk signs out', async () => {
    await Promise.all([page.waitForURL(/\/workbench\/sign-in$/), page.locator('#sign-out').click()]);
    const cookies = await page.context().cookies();
    t.assert.ok(!cookies.some((cookie) => cookie.name === 'kpi_ledger_session'), 'the cookie is gone');
    await t.screenshot(page, 'signed-out');
  });

  await t.step('a reader sees the pages and no form', async () => {
    const reader = await t.newPage();
    await reader.goto(t.url(`/workbench/sign-in?next=${encodeURIComponent(new URL(filtered).pathname + new URL(filtered).search)}`));
    await reader.getByLabel('トークン').fill(t.params.readerToken);
    await Promise.all([reader.waitForURL(/kind=seminar/), reader.getByRole('button', { name: 'ログイン' }).click()]);
    await Promise.all([
      reader.waitForURL(/\/workbench\/events\/[0-9a-f-]+$/),
      reader.locator('#event-list tbody tr').first().locator('td:nth-child(4) a').click(),
    ]);
    t.assert.equal(await reader.locator('form#correct-form, form#retract-form').count(), 0);
    await reader.locator('#reader-only').waitFor();
    await t.screenshot(reader, 'reader-event');
  });
}

// The refused correction answers 422 on purpose.
export const allowConsoleErrors = [/status of 422/];
