// The dashboard as the council handout: printed (print media), only the title, the axes of
// time, the KPI table and the ledger head remain, the table fits the width of A4 landscape,
// and Chromium's print to PDF gives one A4 landscape page.

import { readFileSync } from 'node:fs';

// A4 landscape less the 10 mm margins of the page's @page rule, in CSS pixels (96 per inch).
const PRINTABLE_WIDTH = Math.floor(((297 - 2 * 10) / 25.4) * 96);

export default async function (t) {
  const page = await t.newPage({ viewport: { width: 1280, height: 900 } });
  await t.step('the dashboard on a desktop screen', async () => {
    await page.goto(t.url('/dashboard'));
    await page.locator('#kpi-table').waitFor();
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForLoadState('networkidle');
    await page.evaluate(() => window.scrollTo(0, 0));
  });
  await t.screenshot(page, 'dashboard');

  await t.step('print media: navigation, forms, charts and findings are left out', async () => {
    await page.setViewportSize({ width: PRINTABLE_WIDTH, height: 700 });
    await page.emulateMedia({ media: 'print' });
    for (const hidden of ['#axes-form', '#through-links', '#downloads', '.charts', '#findings', '.lang']) {
      t.assert.equal(await page.locator(hidden).isVisible(), false, `${hidden} is not printed`);
    }
    for (const kept of ['h1', '#axes', '#kpi-table', '#head']) {
      t.assert.ok(await page.locator(kept).isVisible(), `${kept} is printed`);
    }
  });
  await t.step(`the table fits the printable width (${PRINTABLE_WIDTH} px)`, async () => {
    const sizes = await page.evaluate(() => ({
      table: document.querySelector('#kpi-table').getBoundingClientRect().right,
      page: document.documentElement.scrollWidth,
    }));
    t.assert.ok(sizes.table <= PRINTABLE_WIDTH, `the table ends at ${sizes.table} px`);
    t.assert.ok(sizes.page <= PRINTABLE_WIDTH, `the page is ${sizes.page} px wide`);
  });
  await t.screenshot(page, 'dashboard-print');

  await t.step('print to PDF: one A4 landscape page', async () => {
    const path = await t.pdf(page, 'dashboard-a4', { preferCSSPageSize: true });
    const pdf = readFileSync(path).toString('latin1');
    const pages = pdf.match(/\/Type\s*\/Page(?!s)/g) ?? [];
    t.assert.equal(pages.length, 1, 'the handout is one page');
    const box = pdf.match(/\/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]/);
    t.assert.ok(box, 'the PDF has a media box');
    const [width, height] = [Number(box[1]), Number(box[2])];
    // A4 is 841.89 x 595.28 points; Chromium rounds to its own units.
    t.assert.ok(Math.abs(width - 841.89) < 2 && Math.abs(height - 595.28) < 2, `page ${width} x ${height} pt`);
  });
}
