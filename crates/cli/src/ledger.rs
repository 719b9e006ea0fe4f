//! Reading the files the library crates are given as text, and opening the ledger with them.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use kpi_domain::PlanDefinition;
use kpi_service::{ImportRecord, Ledger};

use crate::config::Loaded;

/// Reads every configured plan definition.
pub fn read_plans(loaded: &Loaded) -> anyhow::Result<Vec<PlanDefinition>> {
    loaded
        .config
        .plans
        .iter()
        .map(|path| {
            let path = loaded.resolve(path);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read plan {}", path.display()))?;
            PlanDefinition::from_toml(&text)
                .with_context(|| format!("invalid plan {}", path.display()))
        })
        .collect()
}

/// Reads and expands a seed file; an invalid file yields no records at all.
pub fn read_seed(path: &Path) -> anyhow::Result<Vec<ImportRecord>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read seed file {}", path.display()))?;
    let records = kpi_domain::seed::parse(&text)
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    Ok(records
        .into_iter()
        .map(|record| ImportRecord {
            idempotency_key: record.idempotency_key,
            provenance: record.provenance,
            event: record.event,
        })
        .collect())
}

pub async fn open(dir: &Path, loaded: &Loaded) -> anyhow::Result<Ledger> {
    let plans = read_plans(loaded)?;
    Ledger::open(dir, loaded.config.store.clone(), plans)
        .await
        .with_context(|| format!("cannot open the ledger at {}", dir.display()))
}

pub fn default_plan(ledger: &Ledger) -> anyhow::Result<String> {
    ledger
        .plans()
        .first()
        .map(|plan| plan.id.to_string())
        .context("no plan is configured (`plans` in the configuration)")
}

/// `--as-of`: an RFC 3339 instant, or a date meaning the end of that day in Japan.
pub fn parse_as_of(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!("`{text}` is neither an RFC 3339 time (2025-04-01T09:00:00+09:00) nor a date (2025-03-31)")
    })?;
    let japan = chrono::FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset");
    let end_of_day = date
        .succ_opt()
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .and_then(|midnight| japan.from_local_datetime(&midnight).single())
        .ok_or_else(|| format!("`{text}` is out of range"))?;
    Ok(end_of_day.with_timezone(&Utc) - chrono::Duration::nanoseconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_reads_instants_and_japanese_dates() {
        assert_eq!(
            parse_as_of("2025-04-01T09:00:00+09:00")
                .unwrap()
                .to_rfc3339(),
            "2025-04-01T00:00:00+00:00"
        );
        // The end of 31 March in Japan is 15:00 UTC that day.
        let end = parse_as_of("2025-03-31").unwrap();
        assert!(end < "2025-03-31T15:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert!(end > "2025-03-31T14:59:59Z".parse::<DateTime<Utc>>().unwrap());
        assert!(parse_as_of("yesterday").unwrap_err().contains("yesterday"));
    }
}
