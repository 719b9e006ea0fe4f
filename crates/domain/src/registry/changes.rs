//! What each lifecycle event changes in the plans in force, and when it may: the rules
//! [`PlanRegistry::check`] applies before an event is recorded and [`PlanRegistry::apply`]
//! when it is folded.

use super::{Change, PlanRegistry};
use crate::error::ValidationError;
use crate::event::LedgerEvent;
use crate::lifecycle::{KpiAdded, KpiRetired, KpiTargetRevised, PlanExtended, PlanTransferred};
use crate::plan::{
    Aggregation, KpiDefinition, KpiRef, PlanDefinition, PlanTransfer, Series, TargetKind,
};

impl PlanRegistry {
    /// The entry index (None: a new plan), the definition after the change, and the change.
    pub(super) fn changed(
        &self,
        event: &LedgerEvent,
        position: u64,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        match event {
            LedgerEvent::PlanAdopted(adopted) => {
                let id = adopted.plan.id.as_str();
                let index = self.index_of(id);
                if let Some(entry) = index.map(|index| &self.entries[index]) {
                    let reason = if entry.is_adopted() {
                        format!("plan `{id}` is already adopted; record changes to it instead")
                    } else if entry.history.len() > 1 {
                        // Its definition would silently drop the changes already recorded.
                        format!(
                            "plan `{id}` is configured and already changed by recorded events; \
                             record further changes instead"
                        )
                    } else {
                        String::new()
                    };
                    if !reason.is_empty() {
                        return Err(ValidationError::new("definition", reason));
                    }
                }
                Ok((index, adopted.plan.clone(), Change::Adopted))
            }
            LedgerEvent::PlanExtended(extended) => self.extend(extended),
            LedgerEvent::KpiTargetRevised(revised) => self.revise(revised),
            LedgerEvent::KpiAdded(added) => self.add(added),
            LedgerEvent::KpiRetired(retired) => self.retire(retired),
            LedgerEvent::PlanTransferred(transfer) => self.transfer(transfer, position),
            _ => unreachable!("only lifecycle events reach here"),
        }
    }

    fn extend(
        &self,
        extended: &PlanExtended,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(extended.plan_id.as_str())?;
        let current = &self.entries[index].definition;
        if extended.last <= current.period.last {
            return Err(ValidationError::new(
                "last",
                format!(
                    "must be after the plan's current last year {}",
                    current.period.last.label()
                ),
            ));
        }
        let definition = current
            .extended_to(extended.last)
            .map_err(|error| ValidationError::new("last", error.reason))?;
        let change = Change::PeriodExtended {
            from: current.period.last,
            to: extended.last,
        };
        Ok((Some(index), definition, change))
    }

    fn kpi_index(definition: &PlanDefinition, kpi: &KpiRef) -> Result<usize, ValidationError> {
        definition
            .kpis
            .iter()
            .position(|known| known.id == kpi.kpi.as_str() && known.series == kpi.series)
            .ok_or_else(|| {
                ValidationError::new("kpi", format!("plan `{}` has no KPI {kpi}", definition.id))
            })
    }

    fn revise(
        &self,
        revised: &KpiTargetRevised,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(revised.plan_id.as_str())?;
        let mut definition = self.entries[index].definition.clone();
        let kpi_ref = revised.kpi_ref();
        let kpi_index = Self::kpi_index(&definition, &kpi_ref)?;
        let kpi = &mut definition.kpis[kpi_index];
        let target = revised.target.target();
        let rate_target = target.kind == TargetKind::Rate;
        if rate_target != (kpi.aggregation == Aggregation::LatestRate) {
            return Err(ValidationError::new(
                "target.kind",
                "a rate target goes with a rate KPI (aggregation latest_rate), and only with it",
            ));
        }
        if target.kind == TargetKind::Cumulative && kpi.achievement.show && !kpi.show_cumulative {
            return Err(ValidationError::new(
                "target.kind",
                "this KPI shows no cumulative, so a cumulative target has nothing to compare",
            ));
        }
        let from = kpi.target.replace(target);
        Ok((
            Some(index),
            definition,
            Change::TargetRevised {
                kpi: kpi_ref,
                from,
                to: target,
            },
        ))
    }

    fn add(
        &self,
        added: &KpiAdded,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(added.plan_id.as_str())?;
        let mut definition = self.entries[index].definition.clone();
        let kpi: &KpiDefinition = &added.kpi;
        if !definition
            .pillars
            .iter()
            .any(|pillar| pillar.id == kpi.pillar)
        {
            return Err(ValidationError::new(
                "definition",
                format!(
                    "kpi.pillar: plan `{}` has no pillar `{}`",
                    definition.id, kpi.pillar
                ),
            ));
        }
        let kpi_ref = kpi.reference();
        if definition.kpi(&kpi.id, kpi.series).is_some() {
            return Err(ValidationError::new(
                "definition",
                format!("kpi.id: plan `{}` already has KPI {kpi_ref}", definition.id),
            ));
        }
        if kpi.series == Series::B && definition.kpi(&kpi.id, Series::Main).is_none() {
            return Err(ValidationError::new(
                "definition",
                format!(
                    "kpi.series: a b-series row needs a main row for KPI {}",
                    kpi.id
                ),
            ));
        }
        definition.kpis.push(kpi.clone());
        Ok((Some(index), definition, Change::KpiAdded { kpi: kpi_ref }))
    }

    fn retire(
        &self,
        retired: &KpiRetired,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(retired.plan_id.as_str())?;
        let mut definition = self.entries[index].definition.clone();
        let kpi_ref = retired.kpi_ref();
        let kpi_index = Self::kpi_index(&definition, &kpi_ref)?;
        let period = definition.period;
        if retired.last_year < period.first || retired.last_year > period.last {
            return Err(ValidationError::new(
                "last_year",
                format!(
                    "must be within the plan's period {} to {}",
                    period.first.label(),
                    period.last.label()
                ),
            ));
        }
        let kpi = &mut definition.kpis[kpi_index];
        if let Some(last) = kpi.last_year {
            return Err(ValidationError::new(
                "kpi",
                format!("KPI {kpi_ref} is already retired after {}", last.label()),
            ));
        }
        kpi.last_year = Some(retired.last_year);
        Ok((
            Some(index),
            definition,
            Change::KpiRetired {
                kpi: kpi_ref,
                last_year: retired.last_year,
            },
        ))
    }

    fn transfer(
        &self,
        transfer: &PlanTransferred,
        position: u64,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(transfer.plan_id.as_str())?;
        let predecessor = &self.entries[index].definition;
        let successor_id = transfer.successor.as_str();
        let successor = self
            .entry(successor_id)
            .map(|entry| &entry.definition)
            .ok_or_else(|| {
                ValidationError::new(
                    "successor",
                    format!("no plan `{successor_id}` is in force; adopt it first"),
                )
            })?;
        if let Some(other) = self.predecessor_of(successor_id) {
            return Err(ValidationError::new(
                "successor",
                format!(
                    "plan `{successor_id}` already succeeds `{}`",
                    other.definition.id
                ),
            ));
        }
        // The year right after the predecessor's period: no year falls between the plans.
        if Some(transfer.effective_from) != predecessor.period.last.next() {
            return Err(ValidationError::new(
                "effective_from",
                format!(
                    "must be the year after the predecessor's last year {}; extend the plan \
                     first to close a gap",
                    predecessor.period.last.label()
                ),
            ));
        }
        if transfer.effective_from < successor.period.first
            || transfer.effective_from > successor.period.last
        {
            return Err(ValidationError::new(
                "effective_from",
                format!(
                    "must be within the successor's period {} to {}",
                    successor.period.first.label(),
                    successor.period.last.label()
                ),
            ));
        }
        for (entry_index, entry) in transfer.mapping.iter().enumerate() {
            let path = format!("mapping[{entry_index}]");
            let target = successor
                .kpi(entry.successor_kpi.kpi.as_str(), entry.successor_kpi.series)
                .ok_or_else(|| {
                    ValidationError::new(
                        format!("{path}.successor_kpi"),
                        format!("plan `{successor_id}` has no KPI {}", entry.successor_kpi),
                    )
                })?;
            for (from_index, from) in entry.from_kpis.iter().enumerate() {
                let field = format!("{path}.from_kpis[{from_index}]");
                let source = predecessor
                    .kpi(from.kpi.as_str(), from.series)
                    .ok_or_else(|| {
                        ValidationError::new(
                            field.clone(),
                            format!("plan `{}` has no KPI {from}", predecessor.id),
                        )
                    })?;
                if source.unit != target.unit {
                    return Err(ValidationError::new(
                        field,
                        format!(
                            "KPI {from} counts {} but {} counts {}",
                            source.unit, entry.successor_kpi, target.unit
                        ),
                    ));
                }
                if source.aggregation != target.aggregation {
                    return Err(ValidationError::new(
                        field,
                        "a rate and a sum cannot feed each other",
                    ));
                }
            }
            if !entry.from_events.is_empty() && target.aggregation != Aggregation::Sum {
                return Err(ValidationError::new(
                    format!("{path}.from_events"),
                    "event selectors give sums; the successor KPI is a rate",
                ));
            }
        }
        let mut definition = predecessor.clone();
        definition.transfer = Some(PlanTransfer {
            successor: transfer.successor.clone(),
            effective_from: transfer.effective_from,
            position,
            mapping: transfer.mapping.clone(),
        });
        Ok((
            Some(index),
            definition,
            Change::Transferred {
                successor: successor_id.to_owned(),
                effective_from: transfer.effective_from,
            },
        ))
    }
}
