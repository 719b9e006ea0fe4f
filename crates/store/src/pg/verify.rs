//! `verify` on PostgreSQL: every row up to the head read back in position order, through the
//! same checks as on sled (`crate::walk::ChainCheck`: hashes recomputed from the stored
//! body, links, gapless positions, stream versions, `recorded_at`, event ids), and the
//! lookup columns checked against the body they repeat.

use std::sync::Arc;

use super::{read, PgShared};
use crate::codec;
use crate::error::{StoreError, VerifyFailure, VerifyReason};
use crate::types::{Hash, Head};
use crate::walk::ChainCheck;

/// Rows read per query.
const PAGE: i64 = 1_024;

pub(crate) fn walk(
    shared: &Arc<PgShared>,
    head: Head,
    anchor: Option<(u64, Hash)>,
    proceed: &mut dyn FnMut(u64) -> bool,
) -> Option<Result<Head, VerifyFailure>> {
    let first = match anchor {
        Some((position, _)) if position > head.position => {
            return Some(Err(VerifyFailure {
                position,
                reason: VerifyReason::Missing,
            }))
        }
        Some((position, _)) => position,
        None => 1,
    };
    let mut check = ChainCheck::new(first, anchor);
    while check.expected_position <= head.position {
        let at = check.expected_position;
        if !proceed(at) {
            return None;
        }
        let rows = shared.query(
            "SELECT position, prev_hash, hash, body, event_id, stream_id, stream_version, \
             event_type, idempotency_key FROM kpi_events \
             WHERE position >= $1 AND position <= $2 ORDER BY position LIMIT $3",
            vec![
                Box::new(at as i64),
                Box::new(head.position as i64),
                Box::new(PAGE),
            ],
        );
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => return Some(Err(unreadable(at, error))),
        };
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            if let Err(failure) = event(&mut check, row) {
                return Some(Err(failure));
            }
        }
    }
    Some(check.end(head, None))
}

fn unreadable(position: u64, error: StoreError) -> VerifyFailure {
    let reason = match error {
        StoreError::Unavailable { reason, .. } => VerifyReason::StorageUnavailable(reason),
        other => VerifyReason::Unreadable(other.to_string()),
    };
    VerifyFailure { position, reason }
}

fn event(check: &mut ChainCheck, row: &tokio_postgres::Row) -> Result<(), VerifyFailure> {
    let expected = check.expected_position;
    let (position, record) = read::record(row).map_err(|error| VerifyFailure {
        position: expected,
        reason: VerifyReason::Undecodable(error.to_string()),
    })?;
    if position != expected {
        return Err(VerifyFailure {
            position: expected,
            reason: VerifyReason::Missing,
        });
    }
    let body = check.event(position, &record)?;
    let mismatch = |index| VerifyFailure {
        position,
        reason: VerifyReason::IndexMismatch { index },
    };
    let event_id: uuid::Uuid = row.get(4);
    if event_id.as_bytes() != &body.event_id {
        return Err(mismatch("event id"));
    }
    let stream: &str = row.get(5);
    let version: i64 = row.get(6);
    if stream != body.stream_id || version as u64 != body.stream_version {
        return Err(mismatch("stream"));
    }
    let event_type: &str = row.get(7);
    if event_type != body.event_type {
        return Err(mismatch("event type"));
    }
    let key: Option<&str> = row.get(8);
    if key != body.idempotency_key.as_deref() {
        return Err(mismatch("idempotency"));
    }
    debug_assert!(record.len() >= codec::HASHES_LEN);
    check.expected_position += 1;
    Ok(())
}
