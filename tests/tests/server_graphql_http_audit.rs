//! GraphQL-over-HTTP conformance of the HTTP shell with its own test schema: the
//! `graphql-http` package's server audit must report every audit ok. The audit asks
//! anonymously, and some of its requests introspect (`__type`), so introspection is public here.

mod audit_support;
mod server_support;

use server_support::TestServer;

#[tokio::test]
async fn graphql_http_server_audit_is_all_ok() {
    let server =
        TestServer::start_with(|config| config.introspection = kpi_server::Introspection::Public)
            .await;
    audit_support::assert_graphql_http_audit_all_ok(server.graphql_url()).await;
    server.stop().await.unwrap();
}
