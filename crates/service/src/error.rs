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

    /// A stable machine-readable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Invalid(_) => "BAD_USER_INPUT",
            RecordError::Append(AppendError::WrongExpectedVersion { .. }) => "CONFLICT",
            RecordError::Append(AppendError::IdempotencyConflict { .. }) => "CONFLICT",
            RecordError::Append(AppendError::EmptyBatch)
            | RecordError::Append(AppendError::EventTooLarge { .. })
            | RecordError::Append(AppendError::InvalidEvent { .. }) => "BAD_USER_INPUT",
            RecordError::Append(AppendError::Store(_)) | RecordError::Ledger(_) => {
                "INTERNAL_SERVER_ERROR"
            }
        }
    }
}

/// Failures of the ledger itself (not of the caller's input).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown plan `{0}`")]
    UnknownPlan(String),
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
    #[error("cannot write the checkpoint {}: {source}", path.display())]
    Checkpoint {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
