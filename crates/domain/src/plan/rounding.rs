//! How a KPI's percentages are rounded: exact decimals, per row.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// 四捨五入: the default of the city's tables.
    #[default]
    HalfUp,
    /// Cut off, as the report prints the survey response rate (35.48 -> 35.4).
    Truncate,
}

/// How a percentage is rounded and how many decimals it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rounding {
    #[serde(default)]
    pub mode: RoundingMode,
    #[serde(default = "one_decimal")]
    pub decimals: u32,
}

fn one_decimal() -> u32 {
    1
}

impl Default for Rounding {
    fn default() -> Self {
        Self {
            mode: RoundingMode::HalfUp,
            decimals: 1,
        }
    }
}

impl Rounding {
    pub const HALF_UP_ONE_DECIMAL: Rounding = Rounding {
        mode: RoundingMode::HalfUp,
        decimals: 1,
    };
    pub const TRUNCATE_ONE_DECIMAL: Rounding = Rounding {
        mode: RoundingMode::Truncate,
        decimals: 1,
    };

    /// Rounds and fixes the scale, so 130 prints as "130.0" with one decimal.
    pub fn apply(self, value: Decimal) -> Decimal {
        let strategy = match self.mode {
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::Truncate => RoundingStrategy::ToZero,
        };
        let mut rounded = value.round_dp_with_strategy(self.decimals, strategy);
        rounded.rescale(self.decimals);
        rounded
    }

    /// `part / whole` as a rounded percentage; `None` when `whole` is zero.
    pub fn percent(self, part: Decimal, whole: Decimal) -> Option<Decimal> {
        if whole.is_zero() {
            return None;
        }
        part.checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|scaled| scaled.checked_div(whole))
            .map(|ratio| self.apply(ratio))
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn rounding_is_per_indicator_and_exact() {
        let half_up = Rounding::HALF_UP_ONE_DECIMAL;
        let truncate = Rounding::TRUNCATE_ONE_DECIMAL;
        let pct = |rounding: Rounding, part: i64, whole: i64| {
            rounding
                .percent(Decimal::from(part), Decimal::from(whole))
                .unwrap()
                .to_string()
        };
        assert_eq!(pct(half_up, 922, 800), "115.3");
        assert_eq!(pct(half_up, 16_969, 10_000), "169.7");
        assert_eq!(pct(half_up, 13, 10), "130.0");
        assert_eq!(pct(truncate, 187, 527), "35.4");
        assert_eq!(pct(half_up, 187, 527), "35.5");
        assert_eq!(pct(half_up, 67, 187), "35.8");
        let whole = Rounding {
            mode: RoundingMode::HalfUp,
            decimals: 0,
        };
        assert_eq!(pct(whole, 12, 12), "100");
        assert_eq!(half_up.percent(Decimal::ONE, Decimal::ZERO), None);
    }
}
