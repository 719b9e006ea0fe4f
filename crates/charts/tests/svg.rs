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
    let document = roxmltree::Document::parse(svg).unwrap_or_else(|error| panic!("{error}"));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let texts: Vec<roxmltree::Node> = document
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .collect();
    for text in &texts {
        let family = text.attribute("font-family").unwrap_or_default();
        assert!(family.contains(kpi_charts::FONT_FAMILY), "{family}");
    }
    texts
        .iter()
        .map(|node| {
            node.descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect::<String>()
                .trim()
                .to_owned()
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
    assert!(texts.iter().any(|t| t == "目標 (累計) 1000人"), "{texts:?}");
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
    ] {
        assert!(texts.iter().any(|t| t == expected), "{expected}: {texts:?}");
    }
}
