//! Plans and their KPIs, as data (`config/plans/*.toml`).
//!
//! A KPI row names its unit, target, how yearly values are aggregated, and the *sources*
//! that feed it: an event type, what to take from each event (a numeric field, a count of
//! events, or the share of `true` answers of a boolean field), and optional filters on
//! payload fields. No KPI number appears in code, so a successor plan can re-project the
//! same events under its own definitions.
//!
//! ```toml
//! id = "telework-roadmap"
//! period = { first = "R3", last = "R7" }
//! name = { ja = "富士市テレワーク推進ロードマップ", en = "Fuji City Telework Promotion Roadmap" }
//!
//! [[pillars]]
//! id = "1"
//! name = { ja = "市内企業へのテレワーク導入の促進と支援", en = "Telework in local firms" }
//!
//! [[kpis]]
//! id = "2"                      # series = "main" by default; "b" for the bracketed rows
//! pillar = "1"
//! name = { ja = "セミナー・相談会参加者", en = "Seminar and consultation participants" }
//! unit = "persons"
//! target = { value = "1000", kind = "cumulative" }
//! aggregation = "sum"           # or "latest_rate"
//! cumulative = true             # show the period total
//! achievement = { show = true } # decimals = 1, rounding = "half_up" by default
//! sources = [
//!   { event = "seminar", field = "participants.unique" },
//!   { event = "consultation", field = "persons" },
//!   { event = "opening_figure", field = "value", where = { measure = "seminar_consultation_participants" } },
//! ]
//! ```
//!
//! Source forms: `field = "<numeric field>"` sums the field; `count = true` counts events;
//! `share_of = "<bool field>"` (with `group_by`) gives the percentage of `true` answers per
//! group, for `latest_rate` rows. `where` maps a field to a value or a list of accepted values.
//! Opening figures carry a unit; a figure in another unit than the row's is shown but never
//! summed into the cumulative.
//!
//! Where things are: `model.rs` holds the definitions, `rounding.rs` how percentages are
//! rounded, `transfer.rs` a plan's hand-over as the definition holds it once the lifecycle's
//! transfer event is applied, and `parse.rs` the TOML and every rule a definition must meet.
//! Plans name event kinds ([`crate::kind`]) but import nothing from events: whether a kind has
//! a field a source may read is asked of a lookup the reader is handed, and the public
//! readers ([`PlanDefinition::from_toml`], [`KpiDefinition::from_toml`],
//! [`SourceDefinition::from_json`]) hand in the event catalogue's, in `event/sources.rs`. So
//! imports run one way: events (and the lifecycle events among them) import plans, plans
//! import only the kinds (`tests/layers.rs` holds them to it).

mod model;
pub(crate) mod parse;
mod rounding;
mod transfer;

pub use model::{
    AchievementRule, Aggregation, Filter, KpiDefinition, KpiRef, LocalizedText, Pillar,
    PlanDefinition, PlanError, PlanPeriod, Series, SourceDefinition, SourceMeasure, Target,
    TargetKind,
};
pub use rounding::{Rounding, RoundingMode};
pub use transfer::{HistoryRule, KpiMapping, PlanTransfer};
