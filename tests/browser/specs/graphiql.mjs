// GraphiQL works with no internet: the page and everything it loads come from the server
// (every other host is blocked by the harness), it loads the schema, and a query typed into
// its editor and run shows KPI 2's figures in the result pane.

const QUERY = '{ kpiTable(plan: "telework-roadmap") { planId rows { kpi series cumulative achievement } } }';

export default async function (t) {
  const page = await t.newPage();
  await t.step('the page and its embedded assets load', async () => {
    const response = await page.goto(t.url('/'));
    t.assert.equal(response.status(), 200);
    await page.locator('.graphiql-container').waitFor();
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
  });
  await t.step('the schema loads (the docs explorer lists the query type)', async () => {
    await page.getByRole('button', { name: /documentation explorer/i }).click();
    await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: false }).first().waitFor();
  });
  await t.step('a typed query runs and shows KPI 2', async () => {
    const editor = page.locator('.graphiql-query-editor .CodeMirror');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type(QUERY);
    await t.assert.equal(
      await page.evaluate(() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()),
      QUERY,
      'the editor holds the typed query',
    );
    await page.locator('.graphiql-execute-button').click();
    const result = page.locator('.graphiql-response .CodeMirror');
    await result.getByText('"planId": "telework-roadmap"').waitFor();
    const text = await page.evaluate(() =>
      document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue(),
    );
    const answer = JSON.parse(text);
    t.assert.equal(answer.errors, undefined, text);
    const kpi2 = answer.data.kpiTable.rows.find((row) => row.kpi === '2' && row.series === 'MAIN');
    t.assert.ok(kpi2, `KPI 2 in ${text}`);
    t.assert.equal(String(kpi2.cumulative), t.params.kpi2Cumulative);
    t.assert.equal(String(kpi2.achievement), t.params.kpi2Achievement);
  });
  await t.step('prettify, for a readable screenshot', async () => {
    await page.getByRole('button', { name: /prettify/i }).click();
    await page.locator('.graphiql-query-editor .CodeMirror-line').nth(3).waitFor();
  });
  await t.screenshot(page, 'graphiql', { fullPage: false });
}
