//! The schema's own scalars. Inputs pass through unchanged into the domain payload, so the
//! domain's parser is the one place that decides what a date, a fiscal year or a decimal is,
//! and its error names the field; outputs are written from already-valid domain values.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use kpi_domain::FiscalYear;
use rust_decimal::Decimal;
use serde::Serialize;

/// A calendar date written `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Date(pub String);

/// A calendar date written `YYYY-MM-DD`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(Date(text)),
            other => Err(InputValueError::custom(format!(
                "a date is written as a string YYYY-MM-DD, got {other}"
            ))),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// A Japanese fiscal year (April to March). Answers are the year it starts in (`2024` =
/// R6 = 令和6年度); inputs may also be written `"R6"`, `"FY2024"` or `"令和6年度"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct FiscalYearValue(pub serde_json::Value);

impl From<FiscalYear> for FiscalYearValue {
    fn from(year: FiscalYear) -> Self {
        Self(serde_json::Value::from(year.start_year()))
    }
}

impl FiscalYearValue {
    /// The fiscal year as the domain reads it; the error is the domain's own words.
    pub fn parse(&self) -> Result<FiscalYear, String> {
        serde_json::from_value(self.0.clone()).map_err(|error| error.to_string())
    }
}

/// A Japanese fiscal year (April to March). Answers are the year it starts in (`2024` =
/// R6 = 令和6年度); inputs may also be written `"R6"`, `"FY2024"` or `"令和6年度"`.
#[Scalar(name = "FiscalYear")]
impl ScalarType for FiscalYearValue {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::Number(number) => Ok(Self(serde_json::Value::Number(number))),
            Value::String(text) => Ok(Self(serde_json::Value::String(text))),
            other => Err(InputValueError::custom(format!(
                "a fiscal year is written 2024, \"R6\" or \"FY2024\", got {other}"
            ))),
        }
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

/// An exact decimal. Answers are strings (`"35.8"`) so no client reads them through binary
/// floating point; inputs are strings or integers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct DecimalValue(pub serde_json::Value);

impl From<Decimal> for DecimalValue {
    fn from(value: Decimal) -> Self {
        Self(serde_json::Value::String(value.to_string()))
    }
}

/// An exact decimal. Answers are strings (`"35.8"`) so no client reads them through binary
/// floating point; inputs are strings or integers.
#[Scalar(name = "Decimal")]
impl ScalarType for DecimalValue {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            // Fractions written as numbers pass through too: the domain refuses them with a
            // message that names the field, which a scalar error could not.
            Value::Number(number) => Ok(Self(serde_json::Value::Number(number))),
            Value::String(text) => Ok(Self(serde_json::Value::String(text))),
            other => Err(InputValueError::custom(format!(
                "a decimal is written as a string such as \"29.0\", got {other}"
            ))),
        }
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}
