use kpi_domain::ValidationError;
use kpi_store::{AppendError, StoreError};

/// Why a record (append) was refused. Nothing was written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The input broke a rule of the event catalogue; names the field.
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// The store refused the envelope (wrong expected version, idempotency conflict, size...).
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl RecordError {
    /// The field a client should fix, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            RecordError::Invalid(error) => Some(&error.field),
            RecordError::Append(AppendError::InvalidEvent { field, .. }) => Some(field),
            RecordError::Append(AppendError::IdempotencyConflict { .. }) => Some("idempotencyKey"),
            _ => None,
        }
    }

    /// Why the field named by [`field`](Self::field) was refused, when one field is at fault
    /// and the reason is about its value (not a conflict with earlier appends).
    pub fn field_reason(&self) -> Option<&str> {
        match self {
            RecordError::Invalid(error) => Some(&error.reason),
            RecordError::Append(AppendError::InvalidEvent { reason, .. }) => Some(reason),
            _ => None,
        }
    }

    /// A stable machine-readable code for clients.
    pub fn code(&self) -> &'static str {
        if self.is_storage_failure() {
            return STORAGE_UNAVAILABLE;
        }
        match self {
            RecordError::Invalid(_) => "BAD_USER_INPUT",
            RecordError::Append(AppendError::WrongExpectedVersion { .. }) => "CONFLICT",
            RecordError::Append(AppendError::IdempotencyConflict { .. }) => "CONFLICT",
            RecordError::Append(AppendError::EmptyBatch)
            | RecordError::Append(AppendError::EventTooLarge { .. })
            | RecordError::Append(AppendError::InvalidEvent { .. }) => "BAD_USER_INPUT",
            // The store found its log inconsistent (at open), or, on PostgreSQL, found the
            // database lacking an event it acknowledged (a promoted standby that was behind):
            // it refuses every write until an operator acts, as for a damaged log.
            RecordError::Ledger(LedgerError::LogDamaged { .. })
            | RecordError::Append(AppendError::Store(StoreError::Poisoned { .. })) => LOG_DAMAGED,
            RecordError::Append(AppendError::Unavailable { .. }) => STORAGE_UNAVAILABLE,
            RecordError::Append(AppendError::Store(_)) | RecordError::Ledger(_) => {
                "INTERNAL_SERVER_ERROR"
            }
        }
    }

    /// Whether the storage failed (a full disk, an I/O error) rather than the request or the
    /// log: nothing was acknowledged, the store recovers by itself, and the same request (the
    /// same idempotency key) may be sent again.
    pub fn is_storage_failure(&self) -> bool {
        match self {
            RecordError::Append(error) => error.is_storage_failure(),
            RecordError::Ledger(error) => error.is_storage_failure(),
            RecordError::Invalid(_) => false,
        }
    }
}

/// The `extensions.code` of a write refused because the log fails verification, or because
/// the store found it lacking or contradicting what it had acknowledged (it then refuses
/// every write).
pub const LOG_DAMAGED: &str = "LOG_DAMAGED";

/// The `extensions.code` of a request refused because the storage failed (a full disk, an
/// I/O error) and the store has not reopened it yet, or of a write not acknowledged because
/// the storage failed while writing it: send it again later with the same idempotency key.
pub const STORAGE_UNAVAILABLE: &str = "STORAGE_UNAVAILABLE";

/// Failures of the ledger itself (not of the caller's input).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown plan `{0}`")]
    UnknownPlan(String),
    /// No such cell: the plan, KPI row or fiscal year is unknown.
    #[error("unknown cell `{0}`")]
    UnknownCell(String),
    #[error("plan `{0}` has not been transferred to a successor")]
    NotTransferred(String),
    #[error(
        "the plan change at position {position} is recorded, but the projection under it could \
         not be built: {reason}"
    )]
    DefinitionsNotApplied { position: u64, reason: String },
    #[error("event at position {position} cannot be read as a ledger event: {reason}")]
    Unreadable { position: u64, reason: String },
    #[error("the projection stopped following the log")]
    ProjectionStopped,
    #[error("a rebuild started later was swapped in first; this one was dropped")]
    RebuildSuperseded,
    /// The log fails verification: nothing is appended to it, and a ledger is not opened on
    /// it when the events start-up folds fail.
    #[error(
        "the log fails verification at position {position}: {reason}; {}",
        damage_consequence(found_at)
    )]
    LogDamaged {
        position: u64,
        reason: String,
        /// When the walk that found it finished (none at start-up).
        found_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The ledger closed while a verification was asked for.
    #[error("the verification stopped: the ledger is closing")]
    VerificationStopped,
    #[error("cannot write the checkpoint {}: {source}", path.display())]
    Checkpoint {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl LedgerError {
    /// See [`RecordError::is_storage_failure`].
    pub fn is_storage_failure(&self) -> bool {
        matches!(self, LedgerError::Store(error) if error.is_storage_failure())
    }

    /// The refusal for a log that failed verification (`found_at`: when the walk finished).
    pub fn damaged(
        failure: &kpi_store::VerifyFailure,
        found_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> LedgerError {
        LedgerError::LogDamaged {
            position: failure.position,
            reason: failure.reason.to_string(),
            found_at,
        }
    }
}

/// What a damaged log means where it was found: at start-up, or by a walk while serving.
fn damage_consequence(found_at: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    match found_at {
        None => "the ledger is not opened".to_owned(),
        Some(at) => format!(
            "nothing is appended while it does (found by the walk of {})",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that refuses writes for good is reported as a damaged log, not an internal
    /// error or a passing storage failure a client should retry.
    #[test]
    fn a_store_refusing_writes_is_a_damaged_log() {
        let refused = RecordError::Append(AppendError::Store(StoreError::Poisoned {
            reason: "the database's log ends at position 989, before position 1123 that was \
                     acknowledged"
                .to_owned(),
        }));
        assert_eq!(refused.code(), LOG_DAMAGED);
        assert!(!refused.is_storage_failure());
    }
}
