//! Errors as clients see them: a message that names the field, plus `extensions.code` (and
//! `extensions.field` when one field is at fault), so a client can react without parsing text.

use async_graphql::{Context, ErrorExtensions};
use kpi_domain::EventKind;
use kpi_service::auth::{AccessDenied, Caller, Role};
use kpi_service::{LedgerError, RecordError};

/// The role check of every resolver. A request the server did not authenticate (no caller in
/// the request data, as when the schema is executed directly) is anonymous without read access.
pub(crate) fn require<'a>(ctx: &'a Context<'_>, needed: Role) -> async_graphql::Result<&'a Caller> {
    static NOBODY: Caller = Caller::Anonymous { may_read: false };
    let caller = ctx.data_opt::<Caller>().unwrap_or(&NOBODY);
    caller.require(needed).map_err(access_denied)
}

fn access_denied(denied: AccessDenied) -> async_graphql::Error {
    async_graphql::Error::new(denied.to_string())
        .extend_with(|_, ext| ext.set("code", denied.code()))
}

/// An argument the client must fix, named by its GraphQL path (`first`, `filter.fiscalYear`).
pub(crate) fn bad_argument(field: &str, reason: impl std::fmt::Display) -> async_graphql::Error {
    let field = field.to_owned();
    async_graphql::Error::new(format!("field `{field}`: {reason}")).extend_with(|_, ext| {
        ext.set("code", "BAD_USER_INPUT");
        ext.set("field", field.as_str());
    })
}

/// Something asked for by id or name that does not exist.
pub(crate) fn not_found(field: &str, message: impl Into<String>) -> async_graphql::Error {
    let field = field.to_owned();
    async_graphql::Error::new(message.into()).extend_with(|_, ext| {
        ext.set("code", "NOT_FOUND");
        ext.set("field", field.as_str());
    })
}

/// A failure of the ledger, not of the request. Logged here with its detail; clients get the
/// message and a code.
pub(crate) fn ledger_error(error: LedgerError) -> async_graphql::Error {
    match error {
        LedgerError::UnknownPlan(plan) => not_found("plan", format!("unknown plan `{plan}`")),
        LedgerError::NotTransferred(plan) => bad_argument(
            "plan",
            format!("plan `{plan}` has not been transferred to a successor"),
        ),
        // The log fails verification: not the caller's doing, and not to be retried.
        damaged @ LedgerError::LogDamaged { .. } => async_graphql::Error::new(damaged.to_string())
            .extend_with(|_, ext| ext.set("code", kpi_service::LOG_DAMAGED)),
        // The storage failed and the store has not reopened it yet: the caller may retry
        // later. Not logged here: the store logs the outage once, not once per request.
        unavailable if unavailable.is_storage_failure() => {
            storage_unavailable(unavailable.to_string())
        }
        // Another rebuild started later and is live: nothing was lost, the caller may retry.
        LedgerError::RebuildSuperseded => {
            async_graphql::Error::new(LedgerError::RebuildSuperseded.to_string())
                .extend_with(|_, ext| ext.set("code", "CONFLICT"))
        }
        other => internal(other),
    }
}

/// A read or write refused because the storage failed and the store has not reopened it yet.
pub(crate) fn storage_unavailable(message: String) -> async_graphql::Error {
    async_graphql::Error::new(message)
        .extend_with(|_, ext| ext.set("code", kpi_service::STORAGE_UNAVAILABLE))
}

pub(crate) fn internal(error: impl std::fmt::Display) -> async_graphql::Error {
    tracing::error!(%error, "ledger failure while answering a GraphQL request");
    async_graphql::Error::new(error.to_string())
        .extend_with(|_, ext| ext.set("code", "INTERNAL_SERVER_ERROR"))
}

/// Which mutation's arguments a domain field path is translated into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arguments {
    /// `recordX(input: XInput!, idempotencyKey, provenance)`.
    Record,
    /// `correctEvent(target, replacement: { <kind>: ... }, reason, decidedOn, ...)`.
    Correct { replacement: EventKind },
    /// `retractEvent(target, reason, decidedOn, ...)`.
    Retract,
    /// A plan lifecycle mutation (`extendPlan(planId, last, ...)`, `transferPlan(..., mapping)`):
    /// its arguments are the payload's fields; `whole` is the argument blamed when the event
    /// as a whole is refused (recorded twice).
    Lifecycle { whole: &'static str },
}

/// A refused record, with the field path translated from the domain's payload names to the
/// mutation's arguments (`first_date` -> `input.firstDate`).
pub(crate) fn record_error(error: RecordError, arguments: Arguments) -> async_graphql::Error {
    let code = error.code();
    let field = error.field().map(|field| argument_path(field, arguments));
    let message = match (error.field_reason(), &field) {
        (Some(reason), Some(field)) => format!("field `{field}`: {reason}"),
        _ => error.to_string(),
    };
    if code == "INTERNAL_SERVER_ERROR" {
        tracing::error!(%error, "recording failed");
    }
    async_graphql::Error::new(message).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
    })
}

/// Translates a domain or store field path into the GraphQL argument path of `arguments`.
pub(crate) fn argument_path(field: &str, arguments: Arguments) -> String {
    // Store-level fields are named per event of the batch: `events[0].provenance`.
    let field = match field.strip_prefix("events[") {
        Some(rest) => rest.split_once("].").map_or(field, |(_, name)| name),
        None => field,
    };
    match field {
        "idempotency_key" | "idempotencyKey" => return "idempotencyKey".to_owned(),
        "provenance" | "actor" => return field.to_owned(),
        _ => {}
    }
    match arguments {
        Arguments::Record => match field {
            // The whole event is at fault (a duplicate, an unreadable payload).
            "" | "." | "payload" | "stream" => "input".to_owned(),
            path => format!("input.{}", camel_path(path)),
        },
        Arguments::Correct { replacement } => {
            let replacement = format!("replacement.{}", camel(replacement.name()));
            match field {
                // The replacement's kind does not match the target's.
                "target_type" => "replacement".to_owned(),
                "replacement" | "payload" => replacement,
                path => match path.strip_prefix("replacement.") {
                    Some(inner) if inner != "payload" => {
                        format!("{replacement}.{}", camel_path(inner))
                    }
                    Some(_) => replacement,
                    None => camel_path(path),
                },
            }
        }
        Arguments::Retract => camel_path(field),
        Arguments::Lifecycle { whole } => match field {
            "" | "." | "payload" | "stream" => whole.to_owned(),
            path => camel_path(path),
        },
    }
}

/// `participants.first_date` -> `participants.firstDate`.
fn camel_path(path: &str) -> String {
    path.split('.').map(camel).collect::<Vec<_>>().join(".")
}

fn camel(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let mut upper = false;
    for c in segment.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_fields_become_input_paths() {
        let path = |field| argument_path(field, Arguments::Record);
        assert_eq!(path("first_date"), "input.firstDate");
        assert_eq!(path("participants.unique"), "input.participants.unique");
        assert_eq!(path("period.to"), "input.period.to");
        assert_eq!(path("from_outside_city"), "input.fromOutsideCity");
        assert_eq!(path("payload"), "input");
        assert_eq!(path("stream"), "input");
        assert_eq!(path("idempotencyKey"), "idempotencyKey");
        assert_eq!(path("events[0].idempotency_key"), "idempotencyKey");
        assert_eq!(path("events[0].provenance"), "provenance");
    }

    #[test]
    fn correction_fields_point_into_the_chosen_replacement() {
        let path = |field| {
            argument_path(
                field,
                Arguments::Correct {
                    replacement: EventKind::SkillTraining,
                },
            )
        };
        assert_eq!(
            path("replacement.first_date"),
            "replacement.skillTraining.firstDate"
        );
        assert_eq!(path("replacement"), "replacement.skillTraining");
        assert_eq!(path("target_type"), "replacement");
        assert_eq!(path("decided_on"), "decidedOn");
        assert_eq!(path("target"), "target");
        assert_eq!(argument_path("decided_on", Arguments::Retract), "decidedOn");
    }

    #[test]
    fn lifecycle_fields_become_argument_paths() {
        let path = |field| argument_path(field, Arguments::Lifecycle { whole: "planId" });
        assert_eq!(path("plan_id"), "planId");
        assert_eq!(path("effective_from"), "effectiveFrom");
        assert_eq!(path("target.kind"), "target.kind");
        assert_eq!(path("mapping[2].from_kpis[0]"), "mapping[2].fromKpis[0]");
        assert_eq!(
            path("mapping[0].from_events[0].event"),
            "mapping[0].fromEvents[0].event"
        );
        assert_eq!(path("stream"), "planId");
        assert_eq!(path("events[0].idempotency_key"), "idempotencyKey");
    }
}
