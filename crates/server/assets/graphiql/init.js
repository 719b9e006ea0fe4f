// Starts GraphiQL on the page kpi-server serves at `/` (crates/server/src/graphiql.rs). Kept
// out of the page so its Content-Security-Policy needs no inline script: the endpoints come
// from the data attributes of #graphiql. React, ReactDOM and GraphiQL are the embedded
// browser builds the page loads before this file.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  function url(path, websocket) {
    var resolved = new URL(path, window.location.origin);
    if (websocket) {
      resolved.protocol = resolved.protocol === 'https:' ? 'wss:' : 'ws:';
    }
    return resolved.toString();
  }
  var fetcher = GraphiQL.createFetcher({
    url: url(root.dataset.endpoint, false),
    subscriptionUrl: url(root.dataset.subscriptionEndpoint, true),
    fetch: function (input, init) {
      return window.fetch(input, Object.assign({}, init, { credentials: 'same-origin' }));
    },
  });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
    }),
  );
})();
