//! Amendments: a correction replaces an earlier event's contribution by a full replacement
//! of the same kind; a retraction withdraws it. Neither edits anything: both are new events
//! that name their target, and the projection swaps or removes the target's contribution.
//! Whether the target may be amended is `crate::amendment`'s rule, as it needs the target.

use std::borrow::Cow;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::payload::EventPayload;
use super::rules::in_valid_year;
use super::{EventKind, FieldInfo, LedgerEvent, PayloadOf};
use crate::error::ValidationError;
use crate::values::{iso_date, Text};

/// Replaces the contribution of an earlier event by the replacement's.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    pub target: Uuid,
    pub replacement: Box<LedgerEvent>,
    pub reason: Text,
    pub decided_on: NaiveDate,
}

/// The fields of a correction's payload, however each is held: the one place they are
/// named. Read from the wire as [`CorrectionWire`], written from a parsed [`Correction`], and
/// built from what a front-end was given by [`crate::command::CorrectEvent`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CorrectionFields<Target, Replacement, Reason, Day> {
    pub target: Target,
    /// The event type of the target, and of the replacement.
    pub target_type: Cow<'static, str>,
    /// A complete payload of `target_type`.
    pub replacement: Replacement,
    pub reason: Reason,
    pub decided_on: Day,
}

/// A correction as stored, before its replacement is parsed.
pub(crate) type CorrectionWire = CorrectionFields<Uuid, serde_json::Value, Text, IsoDate>;

/// A date written `YYYY-MM-DD`, like every date of a payload.
pub(crate) struct IsoDate(NaiveDate);

impl Serialize for IsoDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        iso_date::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for IsoDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        iso_date::deserialize(deserializer).map(IsoDate)
    }
}

impl Serialize for Correction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CorrectionFields {
            target: self.target,
            target_type: Cow::Borrowed(self.replacement.event_type()),
            replacement: PayloadOf(&self.replacement),
            reason: &self.reason,
            decided_on: IsoDate(self.decided_on),
        }
        .serialize(serializer)
    }
}

impl Correction {
    /// Parses the replacement as an event of `target_type`, which must be an activity.
    pub(crate) fn from_wire(wire: CorrectionWire) -> Result<Correction, ValidationError> {
        let target_kind = EventKind::from_name(&wire.target_type).ok_or_else(|| {
            ValidationError::new(
                "target_type",
                format!("`{}` is not an event type", wire.target_type),
            )
        })?;
        if target_kind.is_lifecycle() {
            return Err(ValidationError::new(
                "target_type",
                "plan lifecycle events are not corrected; record a further lifecycle event",
            ));
        }
        if target_kind.is_amendment() {
            return Err(ValidationError::new(
                "target_type",
                "a correction replaces an activity or figure, not another correction or \
                 retraction; retract the amendment's target and record it anew instead",
            ));
        }
        let replacement = LedgerEvent::parse(target_kind.name(), &wire.replacement)
            .map_err(|error| error.nested_in("replacement"))?;
        Ok(Correction {
            target: wire.target,
            replacement: Box::new(replacement),
            reason: wire.reason,
            decided_on: wire.decided_on.0,
        })
    }
}

impl EventPayload for Correction {
    const LABEL: super::Label = super::Label {
        ja: "訂正",
        en: "Correction",
    };
    const SUMMARY_JA: &'static str = "以前の記録を、同じ種類の完全な内容で置き換える。";
    const SUMMARY: &'static str = "Replaces an earlier event's contribution with a full replacement payload of the same type.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("target", Uuid, true, "Id of the corrected event.", "対象の記録ID" / "Target", "訂正する記録のID。"),
        field!("target_type", EventType, true, "Event type of the target and the replacement.", "対象の種類" / "Target type", "訂正する記録の種類。"),
        field!("replacement", Payload, true, "Complete payload of target_type.", "訂正後の内容（JSON）" / "Replacement", "対象と同じ種類の、訂正後の完全な内容。"),
        field!("reason", Text, true, "Why.", "理由" / "Reason", "なぜそうするか。"),
        field!("decided_on", Date, true, "When the correction was decided.", "決定日" / "Decided on", "決定した日。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("decided_on", self.decided_on).map(|_| ())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.decided_on
    }

    fn title(&self) -> Option<&str> {
        Some(self.reason.as_str())
    }

    fn stream_id(&self) -> Option<String> {
        Some(format!("amendment/{}", self.target))
    }
}

/// Withdraws an earlier event's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retraction {
    pub target: Uuid,
    pub reason: Text,
    #[serde(with = "iso_date")]
    pub decided_on: NaiveDate,
}

impl EventPayload for Retraction {
    const LABEL: super::Label = super::Label {
        ja: "取消",
        en: "Retraction",
    };
    const SUMMARY_JA: &'static str = "以前の記録を取り消す。";
    const SUMMARY: &'static str = "Withdraws an earlier event's contribution.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("target", Uuid, true, "Id of the retracted event.", "対象の記録ID" / "Target", "取り消す記録のID。"),
        field!("reason", Text, true, "Why.", "理由" / "Reason", "なぜそうするか。"),
        field!("decided_on", Date, true, "When the retraction was decided.", "決定日" / "Decided on", "決定した日。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("decided_on", self.decided_on).map(|_| ())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.decided_on
    }

    fn title(&self) -> Option<&str> {
        Some(self.reason.as_str())
    }

    /// The amendments of one target share a stream, so they are judged in order.
    fn stream_id(&self) -> Option<String> {
        Some(format!("amendment/{}", self.target))
    }
}
