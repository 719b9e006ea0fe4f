// The dashboard on a phone-sized screen (420 px wide): the page never scrolls sideways; the
// KPI table, wider than the screen, scrolls inside its own box; charts fit the width.

export default async function (t) {
  const page = await t.newPage({ viewport: { width: 420, height: 900 } });
  await t.step('the dashboard opens in Japanese', async () => {
    const response = await page.goto(t.url('/dashboard'));
    t.assert.equal(response.status(), 200);
    t.assert.equal(await page.getAttribute('html', 'lang'), 'ja');
    await page.locator('#kpi-2').waitFor();
    t.assert.match(await page.locator('#kpi-2 td.cumulative').innerText(), new RegExp(t.params.kpi2Cumulative));
  });
  await t.step('no sideways scroll of the page at 420 px', async () => {
    // Let lazy charts load first: an image wider than the screen would widen the page.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForLoadState('networkidle');
    const widths = await page.evaluate(() => ({
      viewport: document.documentElement.clientWidth,
      page: document.documentElement.scrollWidth,
      body: document.body.scrollWidth,
    }));
    t.assert.ok(widths.page <= widths.viewport, `page ${widths.page} px wide in a ${widths.viewport} px viewport`);
    t.assert.ok(widths.body <= widths.viewport, `body ${widths.body} px wide in a ${widths.viewport} px viewport`);
  });
  await t.step('the table scrolls inside its own box', async () => {
    const box = await page.evaluate(() => {
      const wrap = document.querySelector('.table-wrap');
      return {
        overflow: getComputedStyle(wrap).overflowX,
        inner: wrap.scrollWidth,
        outer: wrap.clientWidth,
      };
    });
    t.assert.equal(box.overflow, 'auto');
    t.assert.ok(box.inner > box.outer, `the table (${box.inner} px) is wider than its box (${box.outer} px)`);
  });
  await t.step('every chart fits the width', async () => {
    const charts = await page.evaluate(() =>
      [...document.querySelectorAll('.charts img')].map((img) => ({
        src: img.getAttribute('src'),
        right: img.getBoundingClientRect().right,
        loaded: img.complete && img.naturalWidth > 0,
      })),
    );
    t.assert.ok(charts.length >= 13, `${charts.length} charts`);
    for (const chart of charts) {
      t.assert.ok(chart.loaded, `${chart.src} loaded`);
      t.assert.ok(chart.right <= 420, `${chart.src} ends at ${chart.right} px`);
    }
  });
  await page.evaluate(() => window.scrollTo(0, 0));
  await t.screenshot(page, 'dashboard-420');
}
