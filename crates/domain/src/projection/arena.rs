//! Every event's contributions, packed one after another as bytes.
//!
//! A contribution is written with postcard (variable-length integers): a seminar's count,
//! its participants and its statistics take about 16 bytes, where a vector of
//! [`Contribution`] values took 84 (28 bytes each). An event finds its contributions again by
//! its byte range ([`super::fold::EventState`]'s `start` and `len`), read back only when the
//! event is amended and when a checkpoint is checked; the fold itself only appends.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::cells::Contribution;
use crate::values::Unit;

/// The packed contributions of every event folded, in fold order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Contributions {
    bytes: Vec<u8>,
}

/// A [`Contribution`] as it is written: decimals as mantissa and scale, dates as days.
#[derive(Serialize, Deserialize)]
enum Packed {
    Sum {
        cell: u32,
        mantissa: i128,
        scale: u32,
        foreign: Option<Unit>,
    },
    Share {
        cell: u32,
        group: u32,
        hit: bool,
        day: i32,
    },
    Direct {
        cell: u32,
        group: u32,
        mantissa: i128,
        scale: u32,
    },
    Stat {
        slot: u32,
        deltas: [u32; 4],
    },
}

impl From<Contribution> for Packed {
    fn from(contribution: Contribution) -> Packed {
        use chrono::Datelike;
        match contribution {
            Contribution::Sum {
                cell,
                amount,
                foreign,
            } => Packed::Sum {
                cell,
                mantissa: amount.mantissa(),
                scale: amount.scale(),
                foreign,
            },
            Contribution::Share {
                cell,
                group,
                hit,
                on,
            } => Packed::Share {
                cell,
                group,
                hit,
                day: on.num_days_from_ce(),
            },
            Contribution::Direct { cell, group, value } => Packed::Direct {
                cell,
                group,
                mantissa: value.mantissa(),
                scale: value.scale(),
            },
            Contribution::Stat { slot, deltas } => Packed::Stat { slot, deltas },
        }
    }
}

fn decimal(mantissa: i128, scale: u32) -> Result<Decimal, String> {
    Decimal::try_from_i128_with_scale(mantissa, scale)
        .map_err(|error| format!("a decimal out of range ({error})"))
}

impl TryFrom<Packed> for Contribution {
    type Error = String;

    fn try_from(packed: Packed) -> Result<Contribution, String> {
        Ok(match packed {
            Packed::Sum {
                cell,
                mantissa,
                scale,
                foreign,
            } => Contribution::Sum {
                cell,
                amount: decimal(mantissa, scale)?,
                foreign,
            },
            Packed::Share {
                cell,
                group,
                hit,
                day,
            } => Contribution::Share {
                cell,
                group,
                hit,
                on: NaiveDate::from_num_days_from_ce_opt(day)
                    .ok_or_else(|| format!("day {day} is not a date"))?,
            },
            Packed::Direct {
                cell,
                group,
                mantissa,
                scale,
            } => Contribution::Direct {
                cell,
                group,
                value: decimal(mantissa, scale)?,
            },
            Packed::Stat { slot, deltas } => Contribution::Stat { slot, deltas },
        })
    }
}

impl Contributions {
    /// Where the next contribution will start.
    pub(crate) fn end(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.bytes.reserve(bytes);
    }

    pub(crate) fn push(&mut self, contribution: Contribution) {
        let bytes = std::mem::take(&mut self.bytes);
        self.bytes = postcard::to_extend(&Packed::from(contribution), bytes)
            .expect("postcard writes a contribution into memory");
    }

    /// The contributions written in `start..start + len`, which must begin and end on
    /// contribution boundaries.
    pub(crate) fn range(&self, start: u64, len: u32) -> Result<Vec<Contribution>, String> {
        let mut out = Vec::new();
        self.try_for_each_in(start, len, |contribution| {
            out.push(contribution);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `each` with the contributions of `start..start + len` in order; stops at the
    /// first error, its own or one of reading.
    pub(crate) fn try_for_each_in(
        &self,
        start: u64,
        len: u32,
        each: impl FnMut(Contribution) -> Result<(), String>,
    ) -> Result<(), String> {
        let end = start.saturating_add(u64::from(len));
        let bytes = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| self.bytes.get(start..end))
            .ok_or_else(|| format!("bytes {start}..{end}, beyond the {}", self.end()))?;
        try_for_each(bytes, each)
    }

    /// [`Contributions::try_for_each_in`] over every contribution written.
    pub(crate) fn try_for_each(
        &self,
        each: impl FnMut(Contribution) -> Result<(), String>,
    ) -> Result<(), String> {
        try_for_each(&self.bytes, each)
    }
}

fn try_for_each(
    mut bytes: &[u8],
    mut each: impl FnMut(Contribution) -> Result<(), String>,
) -> Result<(), String> {
    while !bytes.is_empty() {
        let (packed, rest) = postcard::take_from_bytes::<Packed>(bytes)
            .map_err(|error| format!("an unreadable contribution ({error})"))?;
        each(Contribution::try_from(packed)?)?;
        bytes = rest;
    }
    Ok(())
}

impl Serialize for Contributions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.bytes)
    }
}

impl<'de> Deserialize<'de> for Contributions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("packed contributions (bytes)")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
                Ok(bytes.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(bytes)
            }
        }
        let bytes = deserializer.deserialize_byte_buf(Bytes)?;
        Ok(Contributions { bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_written_and_a_seminar_takes_a_few_bytes() {
        let written = [
            Contribution::Sum {
                cell: 3,
                amount: Decimal::ONE,
                foreign: None,
            },
            Contribution::Sum {
                cell: 70_000,
                amount: Decimal::new(-12_345, 2),
                foreign: Some(Unit::Firms),
            },
            Contribution::Share {
                cell: 9,
                group: 2,
                hit: true,
                on: NaiveDate::from_ymd_opt(2024, 6, 14).unwrap(),
            },
            Contribution::Direct {
                cell: 1,
                group: 0,
                value: Decimal::MAX,
            },
            Contribution::Stat {
                slot: 4,
                deltas: [1, 25, 50, u32::MAX],
            },
        ];
        let mut arena = Contributions::default();
        let mut starts = Vec::new();
        for contribution in written {
            starts.push(arena.end());
            arena.push(contribution);
        }
        let mut read = Vec::new();
        arena
            .try_for_each(|contribution| {
                read.push(contribution);
                Ok(())
            })
            .unwrap();
        assert_eq!(format!("{read:?}"), format!("{written:?}"));
        let second = arena.range(starts[1], (starts[2] - starts[1]) as u32);
        assert_eq!(
            format!("{:?}", second.unwrap()),
            format!("{:?}", [written[1]])
        );
        // A count of one in a small cell: tag, cell, mantissa, scale, no foreign unit.
        assert_eq!(starts[1] - starts[0], 5);

        let copy: Contributions =
            postcard::from_bytes(&postcard::to_allocvec(&arena).unwrap()).unwrap();
        assert_eq!(copy.bytes, arena.bytes);
    }

    #[test]
    fn a_range_off_the_boundaries_or_beyond_the_end_is_an_error_not_a_panic() {
        let mut arena = Contributions::default();
        arena.push(Contribution::Stat {
            slot: 1,
            deltas: [300, 2, 3, 4],
        });
        let end = arena.end();
        assert!(arena.range(0, end as u32 + 1).is_err());
        assert!(arena.range(1, end as u32 - 1).is_err());
        assert!(arena.range(u64::MAX, 2).is_err());
        assert!(arena.range(0, end as u32).is_ok());
    }
}
