//! The dashboard for the council: Japanese by default (English with `?lang=en`), the two axes
//! of time explained, audit findings as sentences with their code as a label, a stylesheet
//! for phones and for printing the table as an A4 landscape handout, and the XLSX download
//! stamped with the log head. (How the pages lay out in a browser: crates/cli/tests/browser.rs.)

use std::sync::Arc;

use kpi_domain::PlanDefinition;
use kpi_server::{AuthHandle, Authenticator};
use kpi_service::{ImportRecord, Ledger};
use poem::test::TestClient;
use poem::{EndpointExt, Route};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

async fn client(dir: &std::path::Path) -> (Ledger, TestClient<impl poem::Endpoint>) {
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let ledger = Ledger::open(dir, Default::default(), vec![plan])
        .await
        .unwrap();
    let records = kpi_domain::seed::parse(SEED)
        .unwrap()
        .into_iter()
        .map(ImportRecord::from)
        .collect();
    ledger.import("seed", records).await.unwrap();
    let web = Arc::new(kpi_web::Web {
        ledger: ledger.clone(),
        auth: AuthHandle::new(Authenticator::new(&[], true).unwrap()),
        signer: None,
    });
    let app = Route::new()
        .nest("/reports", kpi_web::reports(web.clone()))
        .nest("/dashboard", kpi_web::dashboard(web))
        .map_to_response();
    (ledger, TestClient::new(app))
}

async fn text(response: poem::test::TestResponse) -> String {
    response.assert_status_is_ok();
    response.0.into_body().into_string().await.unwrap()
}

/// The English words the dashboard used to show, none of which may remain in Japanese.
const ENGLISH_CHROME: [&str; 8] = [
    "As of",
    "Ledger head",
    "Downloads",
    "Charts",
    "Audit findings",
    "Figures:",
    "Through the end of",
    "contributing events",
];

#[tokio::test]
async fn the_dashboard_speaks_japanese_and_explains_its_axes_and_findings() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, client) = client(dir.path()).await;
    let page = text(client.get("/dashboard/telework-roadmap").send().await).await;

    assert!(page.contains("<html lang=\"ja\">"), "{page}");
    for english in ENGLISH_CHROME {
        assert!(
            !page.contains(english),
            "`{english}` left in Japanese:\n{page}"
        );
    }
    for japanese in [
        "台帳の状態: 記録位置 <span id=\"head-position\">",
        "ダウンロード: ",
        "<h2>グラフ</h2>",
        "<h2>監査所見</h2>",
        "<th>重要業績評価指標</th><th>目標</th><th>R3年度</th>",
        "<th>累計</th><th>達成度</th>",
    ] {
        assert!(page.contains(japanese), "`{japanese}` missing:\n{page}");
    }
    // What as-of and through mean, in a sentence each.
    assert!(
        page.contains("その時点までに台帳に記録されていた内容だけで表を作ります"),
        "{page}"
    );
    assert!(
        page.contains("その日までに行われた活動だけを数えます"),
        "{page}"
    );

    // Each finding of the seed: a Japanese title and sentence, the code as a small label,
    // and the domain's detail line with where it points.
    let findings = page.split("<ul id=\"findings\">").nth(1).unwrap();
    let findings = findings.split("</ul>").next().unwrap();
    for (title, code) in [
        ("予定のまま実績に計上", "SCHEDULED_COUNTED_AS_HELD"),
        ("単位の異なる数値", "WRONG_UNIT"),
        ("資料の件数と記録の不一致", "DECLARED_TOTAL_MISMATCH"),
    ] {
        assert!(
            findings.contains(&format!(
                "<span class=\"finding-title\">{title}</span><span class=\"finding-code\">{code}</span>"
            )),
            "{title} / {code}:\n{findings}"
        );
    }
    assert!(
        findings.contains("KPI とは別の単位で記録された数値があります。"),
        "{findings}"
    );
    assert!(
        findings.contains("詳細: R5年度・KPI 3 — KPI 3 R5: 19 firms"),
        "{findings}"
    );

    // The same page in English, and a drill-down in both.
    let english = text(
        client
            .get("/dashboard/telework-roadmap?lang=en")
            .send()
            .await,
    )
    .await;
    assert!(english.contains("Ledger head: position"), "{english}");
    assert!(english.contains(
        "Scheduled, counted as held</span><span class=\"finding-code\">SCHEDULED_COUNTED_AS_HELD"
    ));
    assert!(english.contains("<th>R6 (FY2024)</th>"), "{english}");
    let cell = text(
        client
            .get("/dashboard/telework-roadmap/cells/2/main/R6")
            .send()
            .await,
    )
    .await;
    assert!(cell.contains("この数値に寄与した記録: "), "{cell}");
    assert!(cell.contains("<th>記録日時（日本時間）</th>"), "{cell}");
    ledger.close().await;
}

/// The stylesheet prints the table as the council handout and keeps the page within a
/// phone's width; the layout itself is checked in Chromium (crates/cli/tests/browser.rs).
#[tokio::test]
async fn the_page_carries_its_print_and_narrow_screen_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, client) = client(dir.path()).await;
    let page = text(client.get("/dashboard/telework-roadmap").send().await).await;
    assert!(
        page.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(page.contains("size: A4 landscape;"), "{page}");
    assert!(page.contains("@media print"), "{page}");
    assert!(
        page.contains(
            "font-family: 'Noto Sans CJK JP', 'Hiragino Sans', 'Yu Gothic', Meiryo, sans-serif;"
        ),
        "{page}"
    );
    assert!(
        page.contains(&format!("font-family: {};", kpi_charts::FONT_FALLBACKS)),
        "the page and the charts name the same fonts"
    );
    // What the handout leaves out: navigation, forms, downloads, charts, findings.
    for hidden in [
        "<p class=\"lang no-print\">",
        "<div class=\"no-print\"><form id=\"axes-form\"",
        "<p class=\"no-print\" id=\"downloads\">",
    ] {
        assert!(page.contains(hidden), "`{hidden}` missing:\n{page}");
    }
    assert_eq!(
        page.matches("<section class=\"no-print\">").count(),
        2,
        "charts, findings"
    );
    assert!(page.contains("<div class=\"table-wrap\"><table id=\"kpi-table\">"));
    ledger.close().await;
}

/// The XLSX download names, in its printed footer, the log head the table was read at (the
/// head the dashboard shows), and the axes it was cut on in its header.
#[tokio::test]
async fn the_xlsx_download_prints_the_log_head_and_the_axes() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, client) = client(dir.path()).await;
    let response = client
        .get("/reports/telework-roadmap/kpi.xlsx")
        .query("through", &"2025-03-31")
        .send()
        .await;
    response.assert_status_is_ok();
    let bytes = response.0.into_body().into_vec().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut sheet = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut sheet,
    )
    .unwrap();
    let head = ledger.head();
    assert!(
        sheet.contains(&format!(
            "<oddFooter>&amp;L台帳の位置 {}・ダイジェスト {}&amp;R&amp;P / &amp;N</oddFooter>",
            head.position, head.hash
        )),
        "{sheet}"
    );
    assert!(
        sheet.contains("&amp;R現在までの全記録、2025-03-31までの活動</oddHeader>"),
        "{sheet}"
    );
    ledger.close().await;
}
