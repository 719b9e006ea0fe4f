//! Every chart of the seed table is well-formed SVG that names every fiscal year, asks for
//! the CJK font, and carries the KPI's Japanese name. The SVGs are kept in
//! target/test-output/charts/ for a look.

use chrono::{TimeZone, Utc};
use kpi_domain::{seed, KpiTable, PlanDefinition, Projection};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

fn seed_table() -> KpiTable {
    let records = seed::parse(SEED).unwrap_or_else(|error| panic!("{error}"));
    let events = seed::recorded_log(&records, Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap());
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    Projection::replay(vec![plan], &events)
        .table("telework-roadmap")
        .unwrap()
}

/// The text content of every `<text>` element, and whether each names the CJK font.
fn texts(svg: &str) -> Vec<String> {
    placed_texts(svg)
        .into_iter()
        .map(|(text, _)| text)
        .collect()
}

/// Each `<text>` element's content and its y position; every one asks for the CJK font
/// first, then the Japanese fonts of other systems.
fn placed_texts(svg: &str) -> Vec<(String, f64)> {
    let document = roxmltree::Document::parse(svg).unwrap_or_else(|error| panic!("{error}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts: Vec<roxmltree::Node> = document
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .collect();
    for text in &texts {
        let family = text.attribute("font-family").unwrap_or_default();
        assert!(
            family.starts_with(&format!("'{}'", kpi_charts::FONT_FAMILY))
                && family.ends_with("'Hiragino Sans', 'Yu Gothic', Meiryo, sans-serif"),
            "{family}"
        );
    }
    texts
        .iter()
        .map(|node| {
            let text = node
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect::<String>()
                .trim()
                .to_owned();
            let y = node
                .attribute("y")
                .and_then(|y| y.parse().ok())
                .unwrap_or(0.0);
            (text, y)
        })
        .collect()
}

fn keep(name: &str, svg: &str) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-output/charts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), svg).unwrap();
}

#[test]
fn every_kpi_chart_parses_and_names_every_fiscal_year() {
    let table = seed_table();
    let years = [
        "R3 (FY2021)",
        "R4 (FY2022)",
        "R5 (FY2023)",
        "R6 (FY2024)",
        "R7 (FY2025)",
    ];
    let mut kpis: Vec<&str> = table.rows.iter().map(|row| row.kpi.as_str()).collect();
    kpis.dedup();
    assert_eq!(kpis.len(), 12);
    for kpi in kpis {
        let svg = kpi_charts::kpi_chart(&table, kpi).unwrap().unwrap();
        keep(&format!("kpi-{kpi}.svg"), &svg);
        let texts = texts(&svg);
        for year in years {
            assert!(
                texts.iter().any(|t| t == year),
                "KPI {kpi} lacks {year}: {texts:?}"
            );
        }
        let name = &table.row(kpi, kpi_domain::Series::Main).unwrap().name.ja;
        assert!(
            texts.iter().any(|t| t.contains(name.as_str())),
            "KPI {kpi}: {texts:?}"
        );
    }
    assert!(kpi_charts::kpi_chart(&table, "99").unwrap().is_none());
}

#[test]
fn a_cumulative_kpi_shows_its_running_total_against_the_target() {
    let table = seed_table();
    let svg = kpi_charts::kpi_chart(&table, "2").unwrap().unwrap();
    let texts = texts(&svg);
    assert!(texts.iter().any(|t| t == "累計"), "{texts:?}");
    assert!(
        texts.iter().any(|t| t == "目標 (累計) 1,000人"),
        "{texts:?}"
    );
    // The running total reaches 1,565 and the axis goes past it.
    assert!(
        texts.iter().any(|t| t == "1,600" || t == "1,750"),
        "{texts:?}"
    );
}

#[test]
fn the_overview_names_every_kpi_with_its_achievement() {
    let table = seed_table();
    let svg = kpi_charts::overview(&table).unwrap();
    keep("overview.svg", &svg);
    let texts = texts(&svg);
    for expected in [
        "2 セミナー・相談会参加者",
        "156.5%",
        "4b スキルトレーニング参加者（2のセミナー参加者を含む）",
        "146.8%",
        "12 情報発信回数",
        "100%",
        "(下段) b系列",
        "目標 100%",
    ] {
        assert!(texts.iter().any(|t| t == expected), "{expected}: {texts:?}");
    }
}

/// The legend is below the plot, under the fiscal years of the x axis, never over the bars;
/// its figures are grouped in thousands like the axis ticks.
#[test]
fn the_legend_sits_below_the_plot_and_shares_the_axis_number_format() {
    let table = seed_table();
    let svg = kpi_charts::kpi_chart(&table, "5").unwrap().unwrap();
    keep("kpi-5.svg", &svg);
    let placed = placed_texts(&svg);
    let axis_bottom = placed
        .iter()
        .filter(|(text, _)| text.starts_with("R3 (FY"))
        .map(|(_, y)| *y)
        .fold(f64::MIN, f64::max);
    assert!(axis_bottom > 0.0, "{placed:?}");
    let legend: Vec<&(String, f64)> = placed
        .iter()
        .filter(|(text, _)| {
            text.starts_with("年度実績") || text.starts_with("目標") || text.starts_with("(下段)")
        })
        .collect();
    assert_eq!(legend.len(), 3, "bars, b-series and target: {placed:?}");
    for (text, y) in &legend {
        assert!(
            *y > axis_bottom,
            "{text} at {y} is not below the axis at {axis_bottom}"
        );
    }
    assert!(
        legend
            .iter()
            .any(|(text, _)| text == "目標 (年間) 10,000人"),
        "{legend:?}"
    );
    assert!(
        placed
            .iter()
            .any(|(text, _)| text == "10,000" || text == "15,000"),
        "the axis groups thousands as the legend does: {placed:?}"
    );
}
