//! The archive file format: the whole log as JSON lines, one [`Envelope`] per line exactly as
//! `kpi-ledger log` prints it, then one trailer line that says where the archive ends:
//!
//! ```text
//! {"event_id":"...","position":1,...,"prev_hash":"...","hash":"..."}
//! ...
//! {"trailer":{"format":1,"events":3335,"head":{"position":3335,"hash":"..."},"sha256":"..."}}
//! ```
//!
//! `sha256` is the SHA-256 of every byte before the trailer line, so `head -n -1 FILE |
//! sha256sum` checks an archive without kpi-ledger. Without the trailer an archive cut after
//! a line break is indistinguishable from a shorter log: the chain of the events that are
//! left still checks. [`ArchiveReader`] therefore refuses an archive whose trailer is missing
//! or does not match its events. Writing ([`EventStore::export_archive`]) and reading are here
//! so the file export, the HTTP export and the import share one format.

use std::io::BufRead;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::StoreError;
use crate::event_store::EventStore;
use crate::types::{Envelope, Hash, Head};

/// The archive format this build writes and reads (the trailer's `format`).
pub const ARCHIVE_FORMAT: u32 = 1;

/// Bytes per piece yielded by [`ArchiveExport`]: a streamed export holds a few of these.
const PIECE_BYTES: usize = 64 * 1024;

/// The last line of an archive, as `{"trailer": {...}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trailer {
    /// [`ARCHIVE_FORMAT`] when written.
    pub format: u32,
    /// How many event lines come before the trailer.
    pub events: u64,
    /// The last event's position and hash: the digest `verify` prints for the restored store.
    pub head: Head,
    /// SHA-256 of every byte of the archive before the trailer line.
    pub sha256: Hash,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrailerLine {
    trailer: Trailer,
}

/// Just the format of a trailer line, whatever else it holds: a trailer of another format is
/// named as such, not as a line that is not an event.
#[derive(Deserialize)]
struct AnyTrailerLine {
    trailer: AnyTrailer,
}

#[derive(Deserialize)]
struct AnyTrailer {
    format: u32,
}

impl EventStore {
    /// The archive of the log up to the head at the moment of the call, as pieces of bytes
    /// ending with the trailer. Appends continue meanwhile and are left for the next archive:
    /// stored events never change, so reading them while the head moves is consistent.
    /// Reads are blocking (sled); a failed read ends the pieces with the error, never with a
    /// trailer, so a cut archive cannot pass for a whole one.
    pub fn export_archive(&self) -> ArchiveExport {
        let head = self.head();
        ArchiveExport {
            head,
            events: Box::new(self.iter_from(1).take(head.position as usize)),
            sha256: Sha256::new(),
            written: Head::empty(),
            done: false,
        }
    }
}

/// The pieces of an archive; see [`EventStore::export_archive`].
pub struct ArchiveExport {
    head: Head,
    events: Box<dyn Iterator<Item = Result<Envelope, StoreError>> + Send>,
    sha256: Sha256,
    written: Head,
    done: bool,
}

impl ArchiveExport {
    /// Where the archive ends: the head when the export started.
    pub fn head(&self) -> Head {
        self.head
    }

    fn fill(&mut self, piece: &mut Vec<u8>) -> Result<bool, StoreError> {
        while piece.len() < PIECE_BYTES {
            let Some(envelope) = self.events.next().transpose()? else {
                return Ok(true);
            };
            if envelope.position != self.written.position + 1 {
                return Err(corrupt(format!(
                    "expected position {} next, read {}",
                    self.written.position + 1,
                    envelope.position
                )));
            }
            let start = piece.len();
            serde_json::to_writer(&mut *piece, &envelope)
                .map_err(|error| corrupt(format!("event {}: {error}", envelope.position)))?;
            piece.push(b'\n');
            self.sha256.update(&piece[start..]);
            self.written = Head {
                position: envelope.position,
                hash: envelope.hash,
            };
        }
        Ok(false)
    }

    fn trailer(&mut self, piece: &mut Vec<u8>) -> Result<(), StoreError> {
        if self.written != self.head {
            return Err(corrupt(format!(
                "the log ended at {} before the head {}",
                self.written, self.head
            )));
        }
        let line = TrailerLine {
            trailer: Trailer {
                format: ARCHIVE_FORMAT,
                events: self.head.position,
                head: self.head,
                sha256: Hash::from_bytes(self.sha256.clone().finalize().into()),
            },
        };
        serde_json::to_writer(&mut *piece, &line).expect("a trailer serializes");
        piece.push(b'\n');
        Ok(())
    }
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        what: "archive export".to_owned(),
        reason,
    }
}

impl Iterator for ArchiveExport {
    type Item = Result<Vec<u8>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut piece = Vec::with_capacity(PIECE_BYTES + 4096);
        let result = self.fill(&mut piece).and_then(|ended| {
            if ended {
                self.done = true;
                self.trailer(&mut piece)?;
            }
            Ok(piece)
        });
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

/// Why an archive cannot be read as a whole one. `line` is the line at fault (from 1), if
/// one is.
#[derive(Debug, thiserror::Error)]
pub struct ArchiveReadError {
    pub line: Option<u64>,
    pub fault: ReadFault,
}

impl std::fmt::Display for ArchiveReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "{}", self.fault)
    }
}

/// What is wrong with a line, or with how the archive ends.
#[derive(Debug, thiserror::Error)]
pub enum ReadFault {
    #[error("cannot read: {0}")]
    Io(std::io::Error),
    #[error("not an archived event: {0}")]
    NotAnEvent(serde_json::Error),
    #[error("a line after the trailer: an archive ends with its trailer")]
    AfterTrailer,
    #[error(
        "the archive ends early: its last line is cut off part-way (no line break), after {} \
         whole events",
        thousands(*.events)
    )]
    CutLine { events: u64 },
    #[error(
        "the archive ends early: no trailer after {} events; an archive written by `archive \
         export` ends with a trailer line, so this one was cut short (or was written before \
         archives had trailers: `archive import --no-trailer` takes it if you know it is \
         whole)",
        thousands(*.events)
    )]
    NoTrailer { events: u64 },
    #[error("the archive ends early: {} of {} events", thousands(*.found), thousands(*.expected))]
    EndsEarly { found: u64, expected: u64 },
    #[error("the archive holds {} events but its trailer says {}", thousands(*.found), thousands(*.expected))]
    TooManyEvents { found: u64, expected: u64 },
    #[error("the events end at {found} but the trailer says {expected}")]
    HeadMismatch { found: Head, expected: Head },
    #[error("the bytes before the trailer have SHA-256 {found} but the trailer says {expected}: the file was changed after it was exported")]
    Sha256Mismatch { found: Hash, expected: Hash },
    #[error("archive format {0}: this build reads format {ARCHIVE_FORMAT} only")]
    UnsupportedFormat(u32),
}

/// `3335` as `3,335`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).expect("ASCII digits"))
        .collect();
    groups.join(",")
}

/// The events of an archive in file order, read one line at a time; after the last one, an
/// error if the trailer is missing (unless [`ArchiveReader::trailer_optional`]) or does not
/// match the events read. Each event's own hash and links are the restore's to check
/// ([`crate::check_archive`], [`EventStore::restore_from`]); this reader checks that the
/// archive is whole. It stops after the first error.
pub struct ArchiveReader<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
    sha256: Sha256,
    events: u64,
    last: Head,
    trailer: Option<(u64, Trailer)>,
    trailer_required: bool,
    finished: bool,
}

impl<R: BufRead> ArchiveReader<R> {
    pub fn new(reader: R) -> Self {
        ArchiveReader {
            reader,
            line: 0,
            buf: Vec::new(),
            sha256: Sha256::new(),
            events: 0,
            last: Head::empty(),
            trailer: None,
            trailer_required: true,
            finished: false,
        }
    }

    /// Takes an archive without a trailer (written before archives had them) as whole. A
    /// trailer that is there is still checked.
    pub fn trailer_optional(mut self) -> Self {
        self.trailer_required = false;
        self
    }

    /// The trailer read, once the reader has passed it.
    pub fn trailer(&self) -> Option<Trailer> {
        self.trailer.map(|(_, trailer)| trailer)
    }

    fn fail(
        &mut self,
        line: Option<u64>,
        fault: ReadFault,
    ) -> Option<Result<Envelope, ArchiveReadError>> {
        self.finished = true;
        Some(Err(ArchiveReadError { line, fault }))
    }

    /// At the end of the file: whether the trailer is there and matches what was read.
    fn end(&mut self) -> Option<Result<Envelope, ArchiveReadError>> {
        self.finished = true;
        let Some((line, trailer)) = self.trailer else {
            if self.trailer_required {
                return self.fail(
                    None,
                    ReadFault::NoTrailer {
                        events: self.events,
                    },
                );
            }
            return None;
        };
        let found = self.events;
        let expected = trailer.events;
        let sha256 = Hash::from_bytes(self.sha256.clone().finalize().into());
        let fault = if trailer.format != ARCHIVE_FORMAT {
            ReadFault::UnsupportedFormat(trailer.format)
        } else if found < expected {
            ReadFault::EndsEarly { found, expected }
        } else if found > expected {
            ReadFault::TooManyEvents { found, expected }
        } else if self.last != trailer.head {
            ReadFault::HeadMismatch {
                found: self.last,
                expected: trailer.head,
            }
        } else if sha256 != trailer.sha256 {
            ReadFault::Sha256Mismatch {
                found: sha256,
                expected: trailer.sha256,
            }
        } else {
            return None;
        };
        self.fail(Some(line), fault)
    }
}

impl<R: BufRead> Iterator for ArchiveReader<R> {
    type Item = Result<Envelope, ArchiveReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.finished {
                return None;
            }
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return self.end(),
                Ok(_) => {}
                Err(error) => return self.fail(Some(self.line + 1), ReadFault::Io(error)),
            }
            self.line += 1;
            if self.trailer.is_some() {
                return self.fail(Some(self.line), ReadFault::AfterTrailer);
            }
            match serde_json::from_slice::<Envelope>(&self.buf) {
                Ok(envelope) => {
                    self.sha256.update(&self.buf);
                    self.events += 1;
                    self.last = Head {
                        position: envelope.position,
                        hash: envelope.hash,
                    };
                    return Some(Ok(envelope));
                }
                Err(not_an_event) => match serde_json::from_slice::<TrailerLine>(&self.buf) {
                    Ok(TrailerLine { trailer }) => self.trailer = Some((self.line, trailer)),
                    Err(_) => {
                        let fault = if !self.buf.ends_with(b"\n") {
                            ReadFault::CutLine {
                                events: self.events,
                            }
                        } else {
                            match serde_json::from_slice::<AnyTrailerLine>(&self.buf) {
                                Ok(AnyTrailerLine { trailer })
                                    if trailer.format != ARCHIVE_FORMAT =>
                                {
                                    ReadFault::UnsupportedFormat(trailer.format)
                                }
                                _ => ReadFault::NotAnEvent(not_an_event),
                            }
                        };
                        return self.fail(Some(self.line), fault);
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(3335), "3,335");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
