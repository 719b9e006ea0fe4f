//! Records one lifecycle event, and tells a refusal by the flag or argument the user typed.

use std::process::ExitCode;

use kpi_domain::{LedgerEvent, ValidationError};
use kpi_service::{RecordError, RecordOptions};

use super::WriteArgs;
use crate::config::Loaded;

/// A lifecycle event ready to record (or refused by the domain), with the flag behind each
/// payload field.
pub(super) struct Draft {
    pub(super) event: Result<LedgerEvent, ValidationError>,
    /// Payload field (or the head of a field path) and the flag or argument that set it.
    pub(super) flags: Vec<(&'static str, String)>,
}

/// Parses, records and prints one lifecycle event. Refused input is reported with the flag
/// it came from; the service writes nothing then.
pub(super) fn record(
    mut draft: Draft,
    write: WriteArgs,
    loaded: &Loaded,
) -> anyhow::Result<ExitCode> {
    draft.flags.push(("actor", "--actor".to_owned()));
    let event = draft.event.map_err(|error| refused(&error, &draft.flags))?;
    let plan_id = event
        .plan_id()
        .expect("plan commands record lifecycle events, which name a plan")
        .to_string();
    let dir = write.data.unwrap_or_else(|| loaded.config.data_dir.clone());
    let (envelope, step) = crate::runtime()?.block_on(async {
        let ledger = crate::ledger::open(&dir, loaded).await?;
        let recorded = ledger
            .record(&write.actor, event, RecordOptions::default())
            .await;
        // The step this event added to the plan's history, to confirm what changed.
        let step = recorded.as_ref().ok().and_then(|envelope| {
            ledger.registry().entry(&plan_id).and_then(|entry| {
                entry
                    .history
                    .iter()
                    .find(|step| step.event_id == Some(envelope.event_id))
                    .map(|step| step.change.describe())
            })
        });
        ledger.close().await;
        anyhow::Ok((recorded, step))
    })?;
    let envelope = envelope.map_err(|error| match &error {
        RecordError::Invalid(invalid) => refused(invalid, &draft.flags),
        _ => anyhow::Error::new(error).context("nothing recorded"),
    })?;
    println!(
        "recorded {} at position {} (event {})",
        envelope.event_type, envelope.position, envelope.event_id
    );
    match step {
        Some(step) => println!("{plan_id}: {step}"),
        // Recorded but not applied (a concurrent change got there first): say so.
        None => println!("{plan_id}: no change to the plans in force; see `plan show {plan_id}`"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The domain's error, told with the flag the user typed.
fn refused(error: &ValidationError, flags: &[(&'static str, String)]) -> anyhow::Error {
    let field = error.field.as_str();
    let flag = flags
        .iter()
        .filter(|(name, _)| {
            field == *name
                || field
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
        .max_by_key(|(name, _)| name.len())
        .map(|(_, flag)| flag.clone());
    let place = match (flag, mapping_entry(field)) {
        (Some(flag), Some(entry)) => format!("{flag}, [[mapping]] entry {entry}"),
        (Some(flag), None) => flag,
        (None, _) => "input".to_owned(),
    };
    anyhow::anyhow!(
        "invalid {place} (field `{field}`): {}; nothing recorded",
        error.reason
    )
}

/// The 1-based entry of a `mapping[i]...` field, as a reader of the file counts them.
fn mapping_entry(field: &str) -> Option<usize> {
    let index = field.strip_prefix("mapping[")?.split(']').next()?;
    index.parse::<usize>().ok().map(|index| index + 1)
}
