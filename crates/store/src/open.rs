//! Opening a store directory: the format marker, the head written at the last close, the sled
//! database and the writer's state loaded from it.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::chunk::{self, Format};
use crate::codec;
use crate::config::StoreConfig;
use crate::error::{StoreError, VerifyFailure, VerifyReason};
use crate::read;
use crate::store::{CLOSED_HEAD_FILE, FORMAT_VERSION, MARKER_FILE, SLED_DIR};
use crate::types::{Hash, Head};
use crate::writer::WriterState;

const CLOSED_HEAD_TMP: &str = ".kpi-ledger-closed-head.toml.tmp";
const MARKER_TMP: &str = ".kpi-ledger-store.toml.tmp";

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Makes sure `dir` is a store of a format this build reads, or an empty directory turned
/// into one of the current format, before sled opens anything: sled writes to a directory as
/// soon as it opens it. The store's format, which it is read and written in.
pub(crate) fn claim_directory(dir: &Path) -> Result<Format, StoreError> {
    let not_a_store = |reason: String| StoreError::NotAStore {
        dir: dir.to_owned(),
        reason,
    };
    match fs::metadata(dir) {
        Ok(metadata) if !metadata.is_dir() => {
            return Err(not_a_store("it is not a directory".to_owned()))
        }
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        Err(error) => return Err(io_error(dir)(error)),
    }
    let marker = dir.join(MARKER_FILE);
    match fs::read_to_string(&marker) {
        Ok(text) => {
            let found = parse_marker(&text).ok_or_else(|| {
                not_a_store(format!(
                    "{MARKER_FILE} does not name a format version (expected a line `format = N`)"
                ))
            })?;
            Format::from_version(found).ok_or_else(|| StoreError::UnsupportedFormat {
                dir: dir.to_owned(),
                found,
                supported: FORMAT_VERSION,
            })
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut others: Vec<String> = fs::read_dir(dir)
                .map_err(io_error(dir))?
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                // A marker half-written by an interrupted creation does not make a
                // directory foreign.
                .filter(|name| name != MARKER_TMP)
                .collect();
            if !others.is_empty() {
                others.sort();
                others.truncate(5);
                return Err(not_a_store(format!(
                    "it is not empty and has no {MARKER_FILE} (it holds {})",
                    others.join(", ")
                )));
            }
            write_marker(dir)?;
            Ok(Format::CURRENT)
        }
        Err(error) => Err(io_error(&marker)(error)),
    }
}

fn parse_marker(text: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == "format").then(|| value.trim().parse().ok())?
    })
}

/// Written through a temporary file and a rename, so a crash leaves either no marker or a
/// whole one.
fn write_marker(dir: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(MARKER_TMP);
    let marker = dir.join(MARKER_FILE);
    let text = format!(
        "# A kpi-ledger event store. The log itself is in {SLED_DIR}/ (sled).\n\
         format = {FORMAT_VERSION}\n"
    );
    let mut file = fs::File::create(&tmp).map_err(io_error(&tmp))?;
    file.write_all(text.as_bytes()).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    fs::rename(&tmp, &marker).map_err(io_error(&marker))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    tracing::info!(dir = %dir.display(), "created a new event store");
    Ok(())
}

/// The head written at the last close, if any.
pub(crate) fn read_closed_head(dir: &Path) -> Result<Option<Head>, StoreError> {
    let path = dir.join(CLOSED_HEAD_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(&path)(error)),
    };
    let value = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    let position = value("position").and_then(|position| position.parse().ok());
    let hash = value("hash").and_then(|hash| hash.parse().ok());
    match (position, hash) {
        (Some(position), Some(hash)) => Ok(Some(Head { position, hash })),
        _ => Err(StoreError::Corrupt {
            what: path.display().to_string(),
            reason: "expected the lines `position = N` and `hash = \"HEX\"` (delete the file \
                     to open the store without this check)"
                .to_owned(),
        }),
    }
}

/// Whether the log still holds the head it had when it was last closed.
pub(crate) fn check_closed_head(
    db: &sled::Db,
    format: Format,
    closed: Head,
    position: u64,
) -> Option<VerifyFailure> {
    if closed.position > position {
        return Some(VerifyFailure {
            position: position + 1,
            reason: VerifyReason::Truncated {
                closed_at: closed.position,
            },
        });
    }
    if closed.position == 0 {
        return None;
    }
    let stored = read::record_at(db, format, closed.position)
        .map_err(|error| VerifyReason::Unreadable(error.to_string()))
        .and_then(|record| record.ok_or(VerifyReason::Missing))
        .and_then(|record| {
            codec::split_record(&record)
                .map(|raw| raw.hash)
                .map_err(VerifyReason::Undecodable)
        });
    let reason = match stored {
        Ok(hash) if hash == closed.hash => return None,
        Ok(hash) => VerifyReason::UnexpectedHash {
            expected: closed.hash.to_hex(),
            found: hash.to_hex(),
        },
        Err(reason) => reason,
    };
    Some(VerifyFailure {
        position: closed.position,
        reason,
    })
}

/// Written through a temporary file and a rename, both synced.
pub(crate) fn write_closed_head(dir: &Path, head: Head) -> io::Result<()> {
    let tmp = dir.join(CLOSED_HEAD_TMP);
    let text = format!(
        "# The head of the log when this store was last closed. A log that opens shorter, or\n\
         # with another event at this position, is refused as damaged (appends, verify).\n\
         position = {}\nhash = \"{}\"\n",
        head.position,
        head.hash.to_hex()
    );
    let mut file = fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(CLOSED_HEAD_FILE))?;
    fs::File::open(dir)?.sync_all()
}

/// How long `open` waits for sled's lock on the database file.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the sled database, waiting briefly for its file lock: after a store in this process
/// is closed, sled's I/O threads can hold the file for a moment longer, and reopening right
/// away (a restart, a restore, a test) must not fail for that.
pub(crate) fn open_sled(dir: &Path, config: &StoreConfig) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let compression = match made_with_compression(&dir.join(SLED_DIR)) {
        Some(made) => {
            if made != config.compression {
                tracing::info!(
                    compression = made,
                    "store.compression is {} but this store was made with compression {}; \
                     it keeps its own (sled cannot change it)",
                    config.compression,
                    if made { "on" } else { "off" }
                );
            }
            made
        }
        None => config.compression,
    };
    loop {
        let opened = sled::Config::new()
            .path(dir.join(SLED_DIR))
            .cache_capacity(config.cache_capacity_bytes)
            .use_compression(compression)
            // The writer flushes every group itself; a timer flush would only compete.
            .flush_every_ms(None)
            .open();
        match opened {
            Ok(db) => {
                // sled creates its directory and files (db, conf, blobs/) without syncing
                // the directories naming them; a power cut soon after a store is created
                // must not lose them.
                for synced in [dir.join(SLED_DIR), dir.to_owned()] {
                    fs::File::open(&synced)
                        .and_then(|d| d.sync_all())
                        .map_err(io_error(&synced))?;
                }
                return Ok(db);
            }
            Err(error) if is_lock_conflict(&error) => {
                if Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        dir: dir.to_owned(),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Whether the sled database at `sled_dir` was made with compression, from the settings sled
/// keeps in its `conf` file (`use_compression: true`, then a checksum); `None` for a new
/// database or a file that does not say.
fn made_with_compression(sled_dir: &Path) -> Option<bool> {
    let conf = fs::read(sled_dir.join("conf")).ok()?;
    let text = String::from_utf8_lossy(&conf);
    text.lines()
        .find_map(|line| match line.trim().strip_prefix("use_compression:") {
            Some(value) => value.trim().parse().ok(),
            None => None,
        })
}

/// sled 0.34 reports a held lock only as this I/O error text.
fn is_lock_conflict(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Checks that the log is of `format`, the format its marker file names (a new, empty log
/// is stamped with it).
pub(crate) fn check_inner_format(
    dir: &Path,
    db: &sled::Db,
    format: Format,
) -> Result<(), StoreError> {
    match db.get(codec::META_FORMAT_KEY)? {
        Some(value) => {
            let found = <[u8; 4]>::try_from(value.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    what: "format version key".to_owned(),
                    reason: format!("{} bytes instead of 4", value.len()),
                })?;
            if Format::from_version(found).is_none() {
                return Err(StoreError::UnsupportedFormat {
                    dir: dir.to_owned(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            if found != format.version() {
                return Err(StoreError::Corrupt {
                    what: "format version key".to_owned(),
                    reason: format!(
                        "the log is of format {found}, {MARKER_FILE} says {}",
                        format.version()
                    ),
                });
            }
            Ok(())
        }
        None if db.first()?.is_none() => {
            db.insert(codec::META_FORMAT_KEY, &format.version().to_be_bytes()[..])?;
            db.flush()?;
            Ok(())
        }
        None => Err(StoreError::Corrupt {
            what: "store metadata".to_owned(),
            reason: "the log has entries but no format version key".to_owned(),
        }),
    }
}

pub(crate) struct Loaded {
    pub state: WriterState,
    pub inconsistency: Option<VerifyFailure>,
}

pub(crate) fn load_state(db: &sled::Db, format: Format) -> Result<Loaded, StoreError> {
    let mut inconsistency = None;
    let (position, hash) = match db.get(codec::META_HEAD_KEY)? {
        None => (0, Hash::genesis()),
        Some(value) => codec::decode_head(&value).ok_or_else(|| StoreError::Corrupt {
            what: "head metadata".to_owned(),
            reason: format!("{} bytes instead of 40", value.len()),
        })?,
    };
    let last_chunk = db
        .range(&codec::event_key(0)[..]..&codec::EVENTS_END[..])
        .next_back()
        .transpose()?;
    let last_stored = match &last_chunk {
        None => 0,
        Some((key, chunk)) => {
            let first = codec::position_of_event_key(key).unwrap_or(0);
            // A chunk that does not decode counts as holding no event, like one whose first
            // record does not split off: the head's event is then found unreadable below.
            let chunk = chunk::decode_chunk(format, chunk.clone()).ok();
            let mut count = 0;
            let mut rest = chunk.as_deref().unwrap_or_default();
            while let Ok((_, used)) = chunk::next_chunk_record(rest) {
                count += 1;
                rest = &rest[used..];
            }
            (first + count).saturating_sub(1)
        }
    };
    if last_stored > position {
        inconsistency = Some(VerifyFailure {
            position: position + 1,
            reason: VerifyReason::BeyondHead,
        });
    }
    let mut last_recorded_at = DateTime::<Utc>::MIN_UTC;
    let mut last_event_id = None;
    if position > 0 {
        let stored = match read::record_at(db, format, position) {
            Ok(stored) => stored.ok_or(VerifyReason::Missing),
            // A damaged chunk makes the store inconsistent (appends refused, `verify` names
            // it) rather than unopenable.
            Err(StoreError::Corrupt { what, reason }) => {
                Err(VerifyReason::Undecodable(format!("{what}: {reason}")))
            }
            Err(other) => return Err(other),
        };
        let last = stored.and_then(|record| {
            let raw = codec::split_record(&record).map_err(VerifyReason::Undecodable)?;
            let body = codec::decode_body(raw.body_bytes).map_err(VerifyReason::Undecodable)?;
            let recorded_at =
                DateTime::<Utc>::from_timestamp(body.recorded_at_secs, body.recorded_at_nanos)
                    .ok_or_else(|| {
                        VerifyReason::Undecodable("recorded_at is out of range".into())
                    })?;
            Ok((recorded_at, Uuid::from_bytes(body.event_id)))
        });
        match last {
            Ok((recorded_at, event_id)) => {
                last_recorded_at = recorded_at;
                last_event_id = Some(event_id);
            }
            Err(reason) => {
                inconsistency.get_or_insert(VerifyFailure { position, reason });
            }
        }
    }
    Ok(Loaded {
        state: WriterState {
            position,
            hash,
            last_recorded_at,
            last_event_id,
            stream_versions: HashMap::new(),
        },
        inconsistency,
    })
}
