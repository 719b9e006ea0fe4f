//! Who may introspect the schema (`server.introspection`): over HTTP the handler refuses
//! before anything runs (401 or 403); over websocket [`Guarded`] refuses each operation.
//! `__typename` is not introspection of the schema and is always allowed.

use std::any::TypeId;
use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Data, ErrorExtensions, Executor};
use futures::stream::BoxStream;
use futures::StreamExt;
use kpi_access::Caller;

use crate::config::Introspection;

/// Why an introspection request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The caller may not read: a token would help.
    Unauthenticated,
    /// Introspection is off for everyone.
    Off,
}

impl Refused {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refused::Unauthenticated => {
                "introspection needs a token: send `Authorization: Bearer <token>` (in GraphiQL, \
                 in its Headers pane); nothing was executed"
            }
            Refused::Off => "introspection is switched off on this server (server.introspection)",
        }
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Refused::Unauthenticated => "UNAUTHENTICATED",
            Refused::Off => "FORBIDDEN",
        }
    }

    fn into_response(self) -> async_graphql::Response {
        let error = async_graphql::Error::new(self.message())
            .extend_with(|_, extensions| extensions.set("code", self.code()));
        async_graphql::Response::from_errors(vec![error.into_server_error(Default::default())])
    }
}

impl Introspection {
    /// Whether `caller` may run `document`, as far as introspection goes.
    pub(crate) fn check(
        self,
        caller: &Caller,
        document: &ExecutableDocument,
    ) -> Result<(), Refused> {
        if self == Introspection::Public || !asks_for_schema(document) {
            return Ok(());
        }
        match self {
            Introspection::Off => Err(Refused::Off),
            _ if caller.role().is_some() => Ok(()),
            _ => Err(Refused::Unauthenticated),
        }
    }
}

/// Whether any operation or fragment of `document` selects `__schema` or `__type`.
fn asks_for_schema(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .any(|(_, operation)| selects_schema(&operation.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|fragment| selects_schema(&fragment.node.selection_set.node))
}

fn selects_schema(set: &SelectionSet) -> bool {
    set.items.iter().any(|selection| match &selection.node {
        Selection::Field(field) => {
            matches!(field.node.name.node.as_str(), "__schema" | "__type")
                || selects_schema(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => selects_schema(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

/// An executor that applies the introspection rule to each operation before handing it on,
/// for websocket sessions, whose caller is in the session data (`connection_init`).
#[derive(Clone)]
pub(crate) struct Guarded<E> {
    pub inner: E,
    pub rule: Introspection,
}

impl<E> Guarded<E> {
    fn refusal(
        &self,
        request: &mut async_graphql::Request,
        session: Option<&Data>,
    ) -> Option<Refused> {
        const NOBODY: Caller = Caller::Anonymous { may_read: false };
        let caller = caller_in(&request.data)
            .or_else(|| session.and_then(caller_in))
            .cloned()
            .unwrap_or(NOBODY);
        // A document that does not parse is left to the executor to report.
        let document = request.parsed_query().ok()?;
        self.rule.check(&caller, document).err()
    }
}

fn caller_in(data: &Data) -> Option<&Caller> {
    data.get(&TypeId::of::<Caller>())
        .and_then(|value| value.downcast_ref::<Caller>())
}

impl<E: Executor> Executor for Guarded<E> {
    async fn execute(&self, mut request: async_graphql::Request) -> async_graphql::Response {
        match self.refusal(&mut request, None) {
            Some(refused) => refused.into_response(),
            None => self.inner.execute(request).await,
        }
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        match self.refusal(&mut request, session_data.as_deref()) {
            Some(refused) => futures::stream::once(async move { refused.into_response() }).boxed(),
            None => self.inner.execute_stream(request, session_data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rule: Introspection, caller: &Caller, query: &str) -> Result<(), Refused> {
        rule.check(caller, &async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn schema_fields_are_found_wherever_they_are_selected() {
        let nobody = Caller::Anonymous { may_read: false };
        for query in [
            "{ __schema { queryType { name } } }",
            "{ __type(name: \"Query\") { name } }",
            "query A { head } query B { __schema { types { name } } }",
            "{ ... on Query { __schema { types { name } } } }",
            "{ ...F } fragment F on Query { __type(name: \"Query\") { name } }",
        ] {
            assert_eq!(
                check(Introspection::ReadRule, &nobody, query),
                Err(Refused::Unauthenticated),
                "{query}"
            );
        }
        for query in ["{ head }", "{ __typename }", "{ nested { __typename } }"] {
            assert_eq!(
                check(Introspection::ReadRule, &nobody, query),
                Ok(()),
                "{query}"
            );
        }
    }

    #[test]
    fn each_rule_decides_for_each_caller() {
        let query = "{ __schema { queryType { name } } }";
        let nobody = Caller::Anonymous { may_read: false };
        let anonymous_reader = Caller::Anonymous { may_read: true };
        let reader = Caller::Token {
            name: "viewer".into(),
            role: kpi_access::Role::Reader,
        };
        let admin = Caller::Token {
            name: "ops".into(),
            role: kpi_access::Role::Admin,
        };
        assert_eq!(
            check(Introspection::ReadRule, &nobody, query),
            Err(Refused::Unauthenticated)
        );
        assert_eq!(
            check(Introspection::ReadRule, &anonymous_reader, query),
            Ok(())
        );
        assert_eq!(check(Introspection::ReadRule, &reader, query), Ok(()));
        assert_eq!(check(Introspection::Public, &nobody, query), Ok(()));
        assert_eq!(check(Introspection::Off, &admin, query), Err(Refused::Off));
        assert_eq!(check(Introspection::Off, &nobody, "{ head }"), Ok(()));
    }
}
