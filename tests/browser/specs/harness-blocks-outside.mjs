// The harness's own check, run by crates/cli/tests/browser.rs, which expects this spec to
// FAIL: a page on the server tries to reach other hosts (fetch, an image, a websocket, a
// literal IP address); each must be blocked, and the run must fail naming every one.

export default async function (t) {
  const page = await t.newPage();
  await page.goto(t.url('/healthz'));
  const outcome = await page.evaluate(async () => {
    const results = {};
    try {
      await fetch('https://example.org/from-fetch');
      results.fetch = 'reached';
    } catch (error) {
      results.fetch = `failed: ${error.message}`;
    }
    results.image = await new Promise((resolve) => {
      const image = new Image();
      image.onload = () => resolve('reached');
      image.onerror = () => resolve('failed');
      image.src = 'http://93.184.215.14/from-image.png';
    });
    results.socket = await new Promise((resolve) => {
      const socket = new WebSocket('wss://example.org/from-websocket');
      socket.onopen = () => resolve('reached');
      socket.onerror = () => resolve('failed');
      socket.onclose = () => resolve('closed');
    });
    return results;
  });
  t.assert.match(outcome.fetch, /^failed/, JSON.stringify(outcome));
  t.assert.equal(outcome.image, 'failed');
  t.assert.notEqual(outcome.socket, 'reached');
  console.log(`  the page saw: ${JSON.stringify(outcome)}`);
}
