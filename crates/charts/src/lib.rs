//! SVG charts of a [`KpiTable`], drawn with plotters. Pure: returns the SVG text.
//!
//! - [`kpi_chart`]: one KPI's yearly figures as bars; for a cumulative KPI, the running total
//!   as a line against the target; for an annual or rate KPI, the target as a level line.
//!   Fiscal years are labelled like "R6 (FY2024)".
//! - [`overview`]: every row's achievement as % of target, with the 100% line.
//!
//! The legend sits below the plot, never over the bars; numbers on the axes, in the legend
//! and on the bars share one format (thousands separators: "1,000人", "16,969").
//!
//! Text is written as SVG `<text>` elements, so the viewer's fonts draw it: the charts name
//! [`FONT_FAMILY`] first (Debian's `fonts-noto-cjk` package provides it), then the Japanese
//! fonts of other systems ([`FONT_FALLBACKS`]). Plotters lays out text with its built-in
//! estimate of glyph widths (no font file is read), which keeps the crate free of font I/O.
//!
//! Pixel positions are floating point, as any drawing is; the figures themselves are computed
//! exactly (running totals in `Decimal`) and only converted for placement.

use kpi_domain::{FiscalYear, KpiRow, KpiTable, Series, TargetKind, Unit};
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// The font family the charts ask for first: Noto Sans CJK JP (Debian: `fonts-noto-cjk`),
/// which draws Japanese and Latin text alike.
pub const FONT_FAMILY: &str = "Noto Sans CJK JP";

/// The whole `font-family` list, as CSS writes it: Noto Sans CJK JP, then the Japanese fonts
/// of macOS (Hiragino Sans) and Windows (Yu Gothic, Meiryo), then any sans-serif. The
/// dashboard's stylesheet uses the same list.
pub const FONT_FALLBACKS: &str =
    "'Noto Sans CJK JP', 'Hiragino Sans', 'Yu Gothic', Meiryo, sans-serif";

const WIDTH: u32 = 800;
const HEIGHT: u32 = 480;
/// Height of one legend line below the plot.
const LEGEND_LINE: u32 = 22;
const BAR: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
const B_SERIES: RGBColor = RGBColor(0xf2, 0x8e, 0x2b);
const CUMULATIVE: RGBColor = RGBColor(0x59, 0xa1, 0x4f);
const TARGET: RGBColor = RGBColor(0xe1, 0x57, 0x59);

/// A failure of the drawing backend; with an in-memory SVG it does not happen in practice.
#[derive(Debug)]
pub struct ChartError(String);

impl std::fmt::Display for ChartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot draw the chart: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

fn drawing<E: std::fmt::Debug>(error: E) -> ChartError {
    ChartError(format!("{error:?}"))
}

/// "R6 (FY2024)".
pub fn year_label(year: FiscalYear) -> String {
    format!("{} (FY{})", year.label(), year.start_year())
}

fn font(size: u32) -> FontDesc<'static> {
    FontDesc::new(
        FontFamily::Name(FONT_FALLBACKS),
        f64::from(size),
        FontStyle::Normal,
    )
}

fn to_f64(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

/// The figures of a row drawn as bars: those in the row's own unit ("19社" on a row of
/// persons is not comparable and is left out).
fn comparable(row: &KpiRow) -> Vec<Option<Decimal>> {
    row.cells
        .iter()
        .map(|cell| match cell.unit {
            Some(unit) if unit != row.unit => None,
            _ => cell.value,
        })
        .collect()
}

/// Running total at each year that has a figure; `None` elsewhere, so the line stops where
/// the figures do instead of running flat into years not yet reported.
fn running_total(values: &[Option<Decimal>]) -> Vec<Option<Decimal>> {
    let mut total: Option<Decimal> = None;
    values
        .iter()
        .map(|value| {
            let value = (*value)?;
            total = Some(total.unwrap_or_default() + value);
            total
        })
        .collect()
}

/// The chart of one KPI (its main row, and its b-series as a second series), or `None` when
/// the table has no such KPI.
pub fn kpi_chart(table: &KpiTable, kpi: &str) -> Result<Option<String>, ChartError> {
    let Some(main) = table.row(kpi, Series::Main) else {
        return Ok(None);
    };
    let b_row = table.row(kpi, Series::B);
    let years = &table.fiscal_years;
    let values = comparable(main);
    let b_values = b_row.map(comparable);
    let cumulative_target = main
        .target
        .filter(|target| target.kind == TargetKind::Cumulative);
    let running = cumulative_target.map(|_| running_total(&values));
    let b_running = match (cumulative_target, b_values.as_ref()) {
        (Some(_), Some(b_values)) => Some(running_total(b_values)),
        _ => None,
    };

    let mut top = Decimal::ZERO;
    for value in values
        .iter()
        .chain(b_values.iter().flatten())
        .chain(running.iter().flatten())
        .chain(b_running.iter().flatten())
        .flatten()
    {
        top = top.max(*value);
    }
    if let Some(target) = main.target {
        top = top.max(target.value);
    }
    let top = (to_f64(top) * 1.15).max(1.0);
    let unit = main.unit.suffix_ja();

    // What the legend lists, in drawing order.
    let mut legend = vec![LegendEntry::bar(format!("年度実績 {}", main.name.ja), BAR)];
    if let Some(b_row) = b_row {
        legend.push(LegendEntry::bar(
            format!("(下段) {}", b_row.name.ja),
            B_SERIES,
        ));
    }
    if running.is_some() {
        legend.push(LegendEntry::line("累計".to_owned(), CUMULATIVE, 3));
    }
    if b_running.is_some() {
        legend.push(LegendEntry::line("累計 (下段)".to_owned(), B_SERIES, 3));
    }
    if let Some(target) = main.target {
        let label = match target.kind {
            TargetKind::Cumulative => "目標 (累計)",
            TargetKind::Annual => "目標 (年間)",
            TargetKind::AnnualMinimum => "目標 (年度ごと以上)",
            TargetKind::Rate => "目標",
        };
        legend.push(LegendEntry::line(
            format!("{label} {}{unit}", decimal_number(target.value)),
            TARGET,
            2,
        ));
    }

    let mut svg = String::new();
    {
        let height = HEIGHT + legend_height(legend.len());
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let (plot_area, legend_area) = root.split_vertically(HEIGHT);
        let title = format!("KPI {} {}", main.kpi, main.name.ja);
        let count = years.len();
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, font(22))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(count as f64 - 0.5), 0f64..top)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(count)
            .x_label_formatter(&|x| {
                let index = x.round();
                if (x - index).abs() > 0.01 || index < 0.0 {
                    return String::new();
                }
                years
                    .get(index as usize)
                    .map(|year| year_label(*year))
                    .unwrap_or_default()
            })
            .y_label_formatter(&|y| axis_number(*y, main.unit))
            .y_desc(format!("単位: {unit}"))
            .label_style(font(13))
            .axis_desc_style(font(14))
            .draw()
            .map_err(drawing)?;

        let width = if b_values.is_some() { 0.35 } else { 0.6 };
        let offset = if b_values.is_some() { -0.18 } else { 0.0 };
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                let x = i as f64 + offset;
                v.map(|v| {
                    Rectangle::new(
                        [(x - width / 2.0, 0.0), (x + width / 2.0, to_f64(v))],
                        BAR.filled(),
                    )
                })
            }))
            .map_err(drawing)?;
        if let Some(b_values) = b_values.as_ref() {
            chart
                .draw_series(b_values.iter().enumerate().filter_map(|(i, v)| {
                    let x = i as f64 + 0.18;
                    v.map(|v| {
                        Rectangle::new(
                            [(x - width / 2.0, 0.0), (x + width / 2.0, to_f64(v))],
                            B_SERIES.filled(),
                        )
                    })
                }))
                .map_err(drawing)?;
        }
        for (totals, colour) in [
            (running.as_ref(), CUMULATIVE),
            (b_running.as_ref(), B_SERIES),
        ] {
            let Some(totals) = totals else { continue };
            let points: Vec<(f64, f64)> = totals
                .iter()
                .enumerate()
                .filter_map(|(i, total)| total.map(|t| (i as f64, to_f64(t))))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(3)))
                .map_err(drawing)?;
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|point| Circle::new(point, 4, colour.filled())),
                )
                .map_err(drawing)?;
        }
        if let Some(target) = main.target {
            let level = to_f64(target.value);
            chart
                .draw_series(LineSeries::new(
                    [(-0.5, level), (count as f64 - 0.5, level)],
                    TARGET.stroke_width(2),
                ))
                .map_err(drawing)?;
        }
        draw_legend(&legend_area, &legend)?;
        root.present().map_err(drawing)?;
    }
    Ok(Some(svg))
}

/// One line of a legend: a swatch (a bar's colour, or a line's stroke) and its label.
struct LegendEntry {
    label: String,
    colour: RGBColor,
    /// `None` for a bar swatch, the stroke width for a line.
    line: Option<u32>,
}

impl LegendEntry {
    fn bar(label: String, colour: RGBColor) -> Self {
        Self {
            label,
            colour,
            line: None,
        }
    }

    fn line(label: String, colour: RGBColor, width: u32) -> Self {
        Self {
            label,
            colour,
            line: Some(width),
        }
    }
}

fn legend_height(entries: usize) -> u32 {
    8 + LEGEND_LINE * u32::try_from(entries).unwrap_or(u32::MAX / LEGEND_LINE / 2)
}

/// The legend below the plot, one entry per line, aligned with the plot's left edge.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[LegendEntry],
) -> Result<(), ChartError> {
    let left = 86;
    for (index, entry) in entries.iter().enumerate() {
        let middle = 4 + LEGEND_LINE as i32 * index as i32 + LEGEND_LINE as i32 / 2;
        match entry.line {
            None => area
                .draw(&Rectangle::new(
                    [(left, middle - 6), (left + 14, middle + 6)],
                    entry.colour.filled(),
                ))
                .map_err(drawing)?,
            Some(width) => area
                .draw(&PathElement::new(
                    [(left, middle), (left + 14, middle)],
                    entry.colour.stroke_width(width),
                ))
                .map_err(drawing)?,
        }
        area.draw(&Text::new(
            entry.label.clone(),
            (left + 22, middle - 7),
            font(13),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

/// Every row with an achievement, as % of its target, with a line at 100%; the legend below
/// tells KPI bars from b-series bars.
pub fn overview(table: &KpiTable) -> Result<String, ChartError> {
    let rows: Vec<(&KpiRow, Decimal)> = table
        .rows
        .iter()
        .filter_map(|row| row.achievement.map(|a| (row, a)))
        .collect();
    let highest = rows
        .iter()
        .map(|(_, a)| *a)
        .max()
        .unwrap_or(Decimal::ONE_HUNDRED)
        .max(Decimal::ONE_HUNDRED);
    let right = to_f64(highest) * 1.15;
    let height = 120 + 34 * rows.len().max(1) as u32;
    let mut legend = vec![LegendEntry::bar("KPI".to_owned(), BAR)];
    if rows.iter().any(|(row, _)| row.series == Series::B) {
        legend.push(LegendEntry::bar("(下段) b系列".to_owned(), B_SERIES));
    }
    legend.push(LegendEntry::line("目標 100%".to_owned(), TARGET, 2));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height + legend_height(legend.len())))
            .into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let (plot_area, legend_area) = root.split_vertically(height);
        let count = rows.len();
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(
                format!("{} 達成度 (目標に対する%)", table.plan_name.ja),
                font(20),
            )
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(300)
            .build_cartesian_2d(0f64..right, -0.5f64..(count as f64 - 0.5))
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(count.max(1))
            .y_label_formatter(&|y| {
                let index = y.round();
                if (y - index).abs() > 0.01 || index < 0.0 {
                    return String::new();
                }
                // Top to bottom in table order.
                rows.get(count.saturating_sub(1 + index as usize))
                    .map(|(row, _)| row_label(row))
                    .unwrap_or_default()
            })
            .x_label_formatter(&|x| format!("{}%", axis_number(*x, Unit::Persons)))
            .label_style(font(13))
            .draw()
            .map_err(drawing)?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (row, achievement))| {
                let y = (count - 1 - i) as f64;
                let colour = if row.series == Series::B {
                    B_SERIES
                } else {
                    BAR
                };
                Rectangle::new(
                    [(0.0, y - 0.3), (to_f64(*achievement), y + 0.3)],
                    colour.filled(),
                )
            }))
            .map_err(drawing)?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, achievement))| {
                let y = (count - 1 - i) as f64;
                Text::new(
                    format!("{}%", decimal_number(*achievement)),
                    (to_f64(*achievement) + right * 0.01, y + 0.15),
                    font(12),
                )
            }))
            .map_err(drawing)?;
        chart
            .draw_series(LineSeries::new(
                [(100.0, -0.5), (100.0, count as f64 - 0.5)],
                TARGET.stroke_width(2),
            ))
            .map_err(drawing)?;
        draw_legend(&legend_area, &legend)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// Axis ticks: "1,600" for counts, "35.0" for rates; the same grouping as
/// [`decimal_number`], which labels legends and bars.
fn axis_number(value: f64, unit: Unit) -> String {
    if unit == Unit::Percent {
        return group_thousands(&format!("{value:.1}"));
    }
    group_thousands(&format!("{:.0}", value.round()))
}

/// An exact figure as the legends and labels show it: "1,000", "156.5", "16,969".
fn decimal_number(value: Decimal) -> String {
    group_thousands(&value.to_string())
}

/// Thousands separators in the integer part of a plain number: "-1234.5" is "-1,234.5".
fn group_thousands(number: &str) -> String {
    let (sign, rest) = number
        .strip_prefix('-')
        .map_or(("", number), |rest| ("-", rest));
    let (integer, fraction) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut grouped = String::from(sign);
    for (i, digit) in integer.chars().enumerate() {
        if i > 0 && (integer.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if let Some(fraction) = fraction {
        grouped.push('.');
        grouped.push_str(fraction);
    }
    grouped
}

/// "2 セミナー・相談会参加者", "4b スキルトレーニング…".
fn row_label(row: &KpiRow) -> String {
    let number = match row.series {
        Series::Main => row.kpi.clone(),
        Series::B => format!("{}b", row.kpi),
    };
    format!("{number} {}", row.name.ja)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_totals_start_at_the_first_figure() {
        let d = |n: i64| Some(Decimal::from(n));
        assert_eq!(
            running_total(&[None, d(104), d(91), None, d(176)]),
            [None, d(104), d(195), None, d(371)]
        );
    }

    #[test]
    fn axes_legends_and_labels_group_thousands_alike() {
        assert_eq!(axis_number(16969.0, Unit::Persons), "16,969");
        assert_eq!(axis_number(1000.0, Unit::Persons), "1,000");
        assert_eq!(axis_number(35.0, Unit::Percent), "35.0");
        assert_eq!(decimal_number(Decimal::from(10000)), "10,000");
        assert_eq!(decimal_number("1234.5".parse().unwrap()), "1,234.5");
        assert_eq!(group_thousands("-1234567"), "-1,234,567");
        assert_eq!(group_thousands("999"), "999");
    }

    #[test]
    fn years_are_labelled_in_both_calendars() {
        assert_eq!(
            year_label(FiscalYear::from_reiwa(6).unwrap()),
            "R6 (FY2024)"
        );
    }
}
