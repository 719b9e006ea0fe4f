//! The views of the plans: the list, a plan's history and definition in force, and a
//! transfer report, as text or JSON.

use kpi_domain::{
    BaselineOrigin, HistoryRule, PlanDefinition, PlanEntry, TargetKind, TransferReport,
};
use serde_json::{json, Value};

use super::ViewFormat;

fn period(plan: &PlanDefinition) -> String {
    format!("{}-{}", plan.period.first.label(), plan.period.last.label())
}

/// Where a plan in force came from: the configuration, or an adoption recorded in the log
/// (which replaces a configured definition of the same id).
fn source(entry: &PlanEntry) -> &'static str {
    if entry.is_adopted() {
        "adopted"
    } else {
        "configured"
    }
}

pub(super) fn render_list(entries: &[PlanEntry], format: ViewFormat) -> anyhow::Result<String> {
    if format == ViewFormat::Json {
        let plans: Vec<Value> = entries
            .iter()
            .map(|entry| {
                let plan = &entry.definition;
                json!({
                    "id": plan.id,
                    "name": plan.name,
                    "period": plan.period,
                    "source": source(entry),
                    "transferred_to": plan.transfer.as_ref().map(|t| &t.successor),
                    "effective_from": plan.transfer.as_ref().map(|t| t.effective_from),
                })
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&plans)? + "\n");
    }
    let mut out = String::new();
    for entry in entries {
        let plan = &entry.definition;
        let transfer = plan.transfer.as_ref().map_or_else(String::new, |transfer| {
            format!(
                "  transferred to {} from {}",
                transfer.successor,
                transfer.effective_from.label()
            )
        });
        out.push_str(&format!(
            "{}  {}  {}  {}{transfer}\n",
            plan.id,
            plan.name.en,
            period(plan),
            source(entry)
        ));
    }
    Ok(out)
}

pub(super) fn render_show(entry: &PlanEntry, format: ViewFormat) -> anyhow::Result<String> {
    if format == ViewFormat::Json {
        // Each step as the registry has it, plus the sentence the text view shows.
        let mut value = serde_json::to_value(entry)?;
        if let Some(steps) = value["history"].as_array_mut() {
            for (step, change) in steps.iter_mut().zip(&entry.history) {
                step["description"] = json!(change.change.describe());
            }
        }
        return Ok(serde_json::to_string_pretty(&value)? + "\n");
    }
    let plan = &entry.definition;
    let mut out = format!("{} {} / {}\n", plan.id, plan.name.ja, plan.name.en);
    out.push_str("\nDefinition history:\n");
    for (number, step) in entry.history.iter().enumerate() {
        let at = match (step.position, step.recorded_at) {
            (Some(position), Some(at)) => {
                format!(
                    "position {position}, recorded {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            }
            _ => "configuration".to_owned(),
        };
        let by = step
            .actor
            .as_deref()
            .map_or_else(String::new, |actor| format!(" by {actor}"));
        let decided = step
            .decided_on
            .map_or_else(String::new, |date| format!(", decided on {date}"));
        out.push_str(&format!(
            "  {}. {at}{by}{decided}: {}\n",
            number + 1,
            step.change.describe()
        ));
    }
    out.push_str(&format!("\nIn force: period {}\n", period(plan)));
    for kpi in &plan.kpis {
        let id = kpi.reference().to_string();
        let target = kpi.target.map_or_else(
            || "no target".to_owned(),
            |target| {
                // The words of `Change::describe`, so the history and the definition agree.
                let kind = match target.kind {
                    TargetKind::Cumulative => "cumulative",
                    TargetKind::Annual => "annual",
                    TargetKind::AnnualMinimum => "annual minimum",
                    TargetKind::Rate => "rate",
                };
                format!("target {} ({kind})", target.value)
            },
        );
        let retired = kpi.last_year.map_or_else(String::new, |last| {
            format!(", retired after {}", last.label())
        });
        out.push_str(&format!(
            "  KPI {id:<5} {} [{}] {target}{retired}\n",
            kpi.name.en, kpi.unit
        ));
    }
    if let Some(transfer) = &plan.transfer {
        out.push_str(&format!(
            "Transferred to {} from {} ({} mapping entries; `plan transfer-report {}`)\n",
            transfer.successor,
            transfer.effective_from.label(),
            transfer.mapping.len(),
            plan.id
        ));
    }
    Ok(out)
}

pub(super) fn render_transfer_report(
    report: &TransferReport,
    format: ViewFormat,
) -> anyhow::Result<String> {
    if format == ViewFormat::Json {
        return Ok(serde_json::to_string_pretty(report)? + "\n");
    }
    let years = match (
        report.predecessor_years.first(),
        report.predecessor_years.last(),
    ) {
        (Some(first), Some(last)) => format!("{}-{}", first.label(), last.label()),
        _ => String::new(),
    };
    let mut out = format!(
        "{} ({}, {years}) -> {} ({}) from {}\n",
        report.predecessor,
        report.predecessor_name.en,
        report.successor,
        report.successor_name.en,
        report.effective_from.label()
    );
    for entry in &report.entries {
        let kpi = entry.successor_kpi.to_string();
        out.push_str(&format!("\n{kpi} {} [{}]\n", entry.name.en, entry.unit));
        let rule = match entry.history {
            None => {
                out.push_str("  new KPI: no predecessor, no baseline\n");
                continue;
            }
            Some(HistoryRule::Counts) => "history counts",
            Some(HistoryRule::Ignored) => "history ignored (reported only)",
        };
        let baseline = entry
            .baseline
            .map_or_else(|| "none".to_owned(), |figure| figure.to_string());
        let decided = if entry.baseline.is_some() {
            " (as decided at the transfer)"
        } else {
            ""
        };
        out.push_str(&format!("  {rule}; baseline {baseline}{decided}\n"));
        if let Some(adjustment) = entry.adjustment {
            let now = entry
                .current_baseline
                .map_or_else(|| "none".to_owned(), |figure| figure.to_string());
            let events: Vec<String> = entry
                .adjustment_event_ids
                .iter()
                .map(ToString::to_string)
                .collect();
            out.push_str(&format!(
                "  adjustment {adjustment:+} since the transfer (history now {now}; not counted): \
                 {}\n",
                events.join(", ")
            ));
        }
        for source in &entry.sources {
            let origin = match &source.origin {
                BaselineOrigin::Kpi { kpi, name } => {
                    format!("{} KPI {kpi} ({})", report.predecessor, name.en)
                }
                BaselineOrigin::Events { event, measure } => {
                    format!("{event} events ({measure})")
                }
            };
            let figure = |figure: Option<_>| {
                figure.map_or_else(|| "no figure".to_owned(), |figure| format!("{figure}"))
            };
            let now = if source.current == source.figure {
                String::new()
            } else {
                format!(" (now {})", figure(source.current))
            };
            out.push_str(&format!(
                "  from {origin}: {}{now}\n",
                figure(source.figure)
            ));
        }
    }
    Ok(out)
}
