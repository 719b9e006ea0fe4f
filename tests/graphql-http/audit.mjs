// Runs the graphql-http server audit (GraphQL-over-HTTP conformance) against a live server.
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
// Exits 0 only when every audit is ok: a warn or notice is a conformance gap too.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint url>');
  process.exit(2);
}

const results = await Promise.all(serverAudits({ url }).map((audit) => audit.fn()));

const counts = { ok: 0, warn: 0, notice: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== 'ok') {
    let body = '';
    try {
      body = await result.response.text();
    } catch {
      // the body may already have been read by the audit itself
    }
    console.log(`${result.status} ${result.id} ${result.name}: ${result.reason}`);
    if (body) console.log(`    status ${result.response.status}, body ${body.slice(0, 300)}`);
  }
}
console.log(`graphql-http audit: ${JSON.stringify(counts)} of ${results.length}`);
process.exit(results.every((result) => result.status === 'ok') ? 0 : 1);
