//! GraphQL-over-HTTP conformance of the real ledger schema (as `serve --demo` runs it, with
//! anonymous read on): the `graphql-http` server audit must report every audit ok.
//! `server_graphql_http_audit.rs` runs the same audit against the shell's own test schema.

mod audit_support;
mod graphql_support;

use graphql_support::LedgerServer;

#[tokio::test]
async fn the_ledger_schema_passes_every_graphql_http_audit() {
    let server = LedgerServer::start_with(|config| config.anonymous_read = true).await;
    let head_before = server.head();
    audit_support::assert_graphql_http_audit_all_ok(server.url("/graphql")).await;
    assert_eq!(server.head(), head_before, "the audit wrote nothing");
    server.stop().await;
}
