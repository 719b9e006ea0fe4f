// The clerk records and imports in the workbench: signs in, records a seminar through its
// form with a 和暦 date (KPI 2 moves by its participants, on the saved page and the
// dashboard), uploads a CSV with one bad row (the row is named, nothing is written), fixes
// it and imports it. Every input labelled, the form sent from the keyboard, text at 4.5:1
// contrast or more. Screenshots of each page are kept.

import { accessibilityProblems } from '../accessibility.mjs';

const HEADER = 'title,organiser,first_date,sessions,participants.unique,participants.attendances,status\n';
const csv = (attendances) =>
  HEADER +
  'ブラウザ創業セミナー,産業支援課,2024/9/10,1,12,12,held\n' +
  `ブラウザDXセミナー,産業支援課,令和6年9月11日,2,10,${attendances},held\n` +
  'ブラウザ相談会,産業支援課,R6.9.12,1,5,5,held\n';

export default async function (t) {
  const page = await t.newPage();
  const check = async (where) => {
    const problems = await accessibilityProblems(page);
    t.assert.deepEqual(problems, [], `${where}: ${problems.join('; ')}`);
  };
  const kpi2 = async () => {
    await page.goto(t.url('/dashboard/telework-roadmap'));
    const text = await page.locator('#kpi-2 td.cumulative').innerText();
    const head = Number(await page.locator('#head-position').innerText());
    return { cumulative: Number(text.replace(/[^0-9]/g, '')), head };
  };

  await t.step('the clerk signs in', async () => {
    await page.goto(t.url('/workbench/sign-in?next=/workbench/record'));
    await page.locator('#token').fill(t.params.clerkToken);
    await Promise.all([page.waitForURL(/\/workbench\/record$/), page.locator('#token').press('Enter')]);
    t.assert.match(await page.locator('#signed-in').innerText(), /clerk/);
  });
  const before = await kpi2();

  await t.step('every kind is listed by its Japanese name', async () => {
    await page.goto(t.url('/workbench/record'));
    const kinds = await page.locator('ul.kinds li a').allInnerTexts();
    t.assert.ok(kinds.length >= 20, `${kinds.length} kinds`);
    t.assert.ok(kinds.includes('セミナー'), kinds.join(','));
    await check('record list');
    await t.screenshot(page, 'record-kinds');
  });

  await t.step('a seminar is recorded through its form, typed and sent from the keyboard', async () => {
    await Promise.all([page.waitForURL(/\/workbench\/record\/seminar$/), page.getByRole('link', { name: 'セミナー', exact: true }).click()]);
    await check('seminar form');
    await page.getByLabel('タイトル').fill('ブラウザから記録したセミナー');
    await page.getByLabel('主催者').fill('産業支援課');
    await page.getByLabel('開催日（初回）').fill('令和6年10月10日');
    await page.getByLabel('回数').fill('1');
    await page.getByLabel('参加者数（実人数）').fill('20');
    await page.getByLabel('延べ参加者数').fill('20');
    await page.getByLabel('状態').selectOption('held');
    await t.screenshot(page, 'record-seminar');
    await Promise.all([page.waitForURL(/\/workbench\/record\/saved\//), page.getByLabel('延べ参加者数').press('Enter')]);
    const row = page.locator('#moved tbody tr', { hasText: 'セミナー・相談会参加者' });
    t.assert.match(await row.innerText(), /R6年度/);
    const figures = async (cell) => Number((await row.locator(cell).innerText()).replace(/[^0-9]/g, ''));
    t.assert.equal((await figures('td.after')) - (await figures('td.before')), 20, 'KPI 2 moved by 20');
    await check('saved');
    await t.screenshot(page, 'record-saved');
  });

  await t.step('the dashboard shows KPI 2 moved', async () => {
    const after = await kpi2();
    t.assert.equal(after.cumulative - before.cumulative, 20);
    t.assert.equal(after.head, before.head + 1, 'one event recorded');
    before.head = after.head;
    await t.screenshot(page, 'record-dashboard');
  });

  await t.step('a CSV with one bad row: the row is named, nothing is written', async () => {
    await page.goto(t.url('/workbench/import'));
    await check('import');
    await page.getByLabel('ファイル').setInputFiles({ name: 'seminar.csv', mimeType: 'text/csv', buffer: Buffer.from(csv(40)) });
    await page.getByRole('button', { name: '確認のみ（記録しない）' }).click();
    await page.locator('#result').waitFor({ timeout: 15000 });
    const rows = await page.locator('#bad-rows tbody tr').allInnerTexts();
    t.assert.equal(rows.length, 1, rows.join('\n'));
    t.assert.match(rows[0], /^3\s+延べ参加者数 participants\.attendances\s+実参加者数×回数（\d+）を超えることはできません/);
    t.assert.equal(await page.locator('#commit-now').count(), 0, 'no import offered');
    await check('import with a bad row');
    await t.screenshot(page, 'import-bad-row');
    t.assert.equal((await kpi2()).head, before.head, 'nothing written');
  });

  await t.step('the fixed file is checked and imported', async () => {
    await page.goto(t.url('/workbench/import'));
    await page.getByLabel('ファイル').setInputFiles({ name: 'seminar.csv', mimeType: 'text/csv', buffer: Buffer.from(csv(20)) });
    await page.getByRole('button', { name: '確認のみ（記録しない）' }).click();
    await page.locator('#result').waitFor({ timeout: 15000 });
    t.assert.equal(await page.locator('#bad').innerText(), '0');
    await page.locator('#commit-now').click();
    await page.locator('#appended-count').waitFor({ timeout: 15000 });
    t.assert.equal(await page.locator('#appended-count').innerText(), '3');
    await check('imported');
    await t.screenshot(page, 'import-done');
    const after = await kpi2();
    t.assert.equal(after.head, before.head + 3);
    t.assert.equal(after.cumulative - before.cumulative, 20 + 12 + 10 + 5);
  });
}

// The refused dry run answers 200; nothing here is refused on purpose.
export const allowConsoleErrors = [];
