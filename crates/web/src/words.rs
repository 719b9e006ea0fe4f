//! Every word the dashboard shows around the figures, in Japanese (the default: the city's
//! clerks and council read it) and English (`?lang=en`). The figures themselves are
//! rendered by kpi-report, in the council's Japanese layout, in both.

use kpi_domain::FiscalYear;
use kpi_report::Axes;

/// The dashboard's language, from `?lang=` (absent: Japanese).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// `ja`, `en`, or nothing; anything else names the parameter and the choices.
    pub fn parse(text: Option<&str>) -> Result<Lang, String> {
        match text.map(str::trim) {
            None | Some("" | "ja") => Ok(Lang::Ja),
            Some("en") => Ok(Lang::En),
            Some(other) => Err(format!(
                "`{other}` is not a language of the dashboard; expected ja or en"
            )),
        }
    }

    /// The value of `?lang=` that keeps this language in a link, `None` for the default.
    pub fn param(self) -> Option<&'static str> {
        match self {
            Lang::Ja => None,
            Lang::En => Some("en"),
        }
    }

    pub fn words(self) -> &'static Words {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }
}

/// The words of one language.
pub struct Words {
    pub lang: Lang,
    /// The `lang` attribute of the page.
    pub html_lang: &'static str,
    /// The link to the other language, and that language.
    pub other_language: &'static str,
    pub other: Lang,
    pub table_title: &'static str,
    pub figures_for: &'static str,
    pub as_of_label: &'static str,
    pub through_label: &'static str,
    pub show: &'static str,
    /// What the two axes of time mean, in a sentence or two each.
    pub axes_help: [&'static str; 3],
    pub through_end_of: &'static str,
    pub all_activities: &'static str,
    pub ledger_head: &'static str,
    pub position: &'static str,
    pub digest: &'static str,
    pub print_hint: &'static str,
    /// The signed tree head the page was read at: size, root hash, key fingerprint.
    pub signed_tree_head: &'static str,
    pub tree_root: &'static str,
    pub key_fingerprint: &'static str,
    pub downloads: &'static str,
    pub csv_for_excel: &'static str,
    pub charts: &'static str,
    pub overview_alt: &'static str,
    pub kpi_chart_alt: &'static str,
    pub findings: &'static str,
    pub no_findings: &'static str,
    pub finding_detail: &'static str,
    pub col_indicator: &'static str,
    pub col_target: &'static str,
    pub col_cumulative: &'static str,
    pub col_achievement: &'static str,
    pub contributing_events: &'static str,
    pub col_position: &'static str,
    pub col_recorded: &'static str,
    pub col_actor: &'static str,
    pub col_type: &'static str,
    pub col_provenance: &'static str,
    pub col_payload: &'static str,
    pub late: &'static str,
    pub late_title: &'static str,
    pub amended_by: &'static str,
    pub token_needed: &'static str,
}

impl Words {
    /// Which axes the figures are for: `現在までの全記録、2025-03-31までの活動`.
    pub fn axes(&self, axes: &Axes) -> String {
        match self.lang {
            Lang::Ja => axes.ja(),
            Lang::En => axes.en(),
        }
    }

    /// A fiscal year's column: `R6年度` / `R6 (FY2024)`.
    pub fn year(&self, year: FiscalYear) -> String {
        match self.lang {
            Lang::Ja => format!("{}年度", year.label()),
            Lang::En => format!("{} (FY{})", year.label(), year.start_year()),
        }
    }

    /// A link to the end of a fiscal year: `R6年度末 (2025-03-31)`.
    pub fn year_end(&self, year: FiscalYear) -> String {
        match self.lang {
            Lang::Ja => format!("{}年度末 ({})", year.label(), year.last_day()),
            Lang::En => format!("end of {} ({})", year.label(), year.last_day()),
        }
    }

    /// `この数値に寄与した記録: 3件` / `3 contributing events`.
    pub fn contributing(&self, count: usize) -> String {
        match self.lang {
            Lang::Ja => format!("{}: {count}件", self.contributing_events),
            Lang::En => format!("{count} {}", self.contributing_events),
        }
    }
}

static JA: Words = Words {
    lang: Lang::Ja,
    html_lang: "ja",
    other_language: "English",
    other: Lang::En,
    table_title: "KPI一覧",
    figures_for: "集計の基準",
    as_of_label: "記録時点（この時点までに記録された内容）",
    through_label: "活動日の期限（この日までに行われた活動）",
    show: "表示",
    axes_help: [
        "「記録時点」を指定すると、その時点までに台帳に記録されていた内容だけで表を作ります。\
         それより後に記録された活動や訂正・取消は含みません（例: 2025-05-31 は5月31日の会議資料を作った時点の表）。",
        "「活動日の期限」を指定すると、その日までに行われた活動だけを数えます。いつ記録したかは問いません\
         （例: 2025-03-31 は令和6年度末までの実績）。",
        "両方を指定すると「5月31日時点で分かっていた、令和6年度末までの実績」になります。\
         どちらも空欄なら、現在までのすべての記録とすべての活動です。",
    ],
    through_end_of: "年度末までの実績",
    all_activities: "全期間",
    ledger_head: "台帳の状態",
    position: "記録位置",
    digest: "ダイジェスト",
    print_hint: "印刷すると、この表が A4 横の配布資料になります。",
    signed_tree_head: "署名付きツリーヘッド: 件数",
    tree_root: "ルート",
    key_fingerprint: "鍵の指紋",
    downloads: "ダウンロード",
    csv_for_excel: "CSV（Excel用）",
    charts: "グラフ",
    overview_alt: "KPIごとの達成度（目標に対する%）のグラフ",
    kpi_chart_alt: "のグラフ",
    findings: "監査所見",
    no_findings: "所見はありません。",
    finding_detail: "詳細",
    col_indicator: "重要業績評価指標",
    col_target: "目標",
    col_cumulative: "累計",
    col_achievement: "達成度",
    contributing_events: "この数値に寄与した記録",
    col_position: "記録位置",
    col_recorded: "記録日時（日本時間）",
    col_actor: "記録者",
    col_type: "種類",
    col_provenance: "出典",
    col_payload: "内容",
    late: "移管後",
    late_title: "計画の移管後に記録されたもの",
    amended_by: "訂正・取消の記録",
    token_needed: "このページを見るには、ログインが必要です（閲覧用以上のトークン）。",
};

static EN: Words = Words {
    lang: Lang::En,
    html_lang: "en",
    other_language: "日本語",
    other: Lang::Ja,
    table_title: "KPI table",
    figures_for: "Figures",
    as_of_label: "As of (what had been recorded by then)",
    through_label: "Through (activities up to this date)",
    show: "Show",
    axes_help: [
        "As of: the table from what had been recorded in the ledger by that instant; \
         activities, corrections and retractions recorded later are left out \
         (2025-05-31: the table as it stood when the May 31 papers were made).",
        "Through: only the activities that happened by that date count, whenever they were \
         recorded (2025-03-31: the figures to the end of R6).",
        "Both together: R6 as it was known on May 31. Both empty: everything recorded, \
         every activity.",
    ],
    through_end_of: "Through the end of",
    all_activities: "all activities",
    ledger_head: "Ledger head",
    position: "position",
    digest: "digest",
    print_hint: "Printed, this table is an A4 landscape handout.",
    signed_tree_head: "Signed tree head: size",
    tree_root: "root",
    key_fingerprint: "key fingerprint",
    downloads: "Downloads",
    csv_for_excel: "CSV (Excel)",
    charts: "Charts",
    overview_alt: "Achievement of every KPI, as % of its target",
    kpi_chart_alt: "chart",
    findings: "Audit findings",
    no_findings: "None.",
    finding_detail: "Detail",
    col_indicator: "Indicator",
    col_target: "Target",
    col_cumulative: "Cumulative",
    col_achievement: "Achievement",
    contributing_events: "contributing events",
    col_position: "Position",
    col_recorded: "Recorded (JST)",
    col_actor: "Actor",
    col_type: "Type",
    col_provenance: "Provenance",
    col_payload: "Payload",
    late: "late",
    late_title: "recorded after the plan was transferred",
    amended_by: "Amended by",
    token_needed: "This page needs you to sign in (a reader token or higher).",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_unless_english_is_asked_for() {
        assert_eq!(Lang::parse(None), Ok(Lang::Ja));
        assert_eq!(Lang::parse(Some("")), Ok(Lang::Ja));
        assert_eq!(Lang::parse(Some("en")), Ok(Lang::En));
        assert_eq!(
            Lang::parse(Some("fr")),
            Err("`fr` is not a language of the dashboard; expected ja or en".to_owned())
        );
        assert_eq!(Lang::Ja.param(), None);
        assert_eq!(Lang::En.param(), Some("en"));
    }

    #[test]
    fn years_and_axes_in_each_language() {
        let r6 = FiscalYear::from_reiwa(6).unwrap();
        assert_eq!(Lang::Ja.words().year(r6), "R6年度");
        assert_eq!(Lang::En.words().year(r6), "R6 (FY2024)");
        assert_eq!(Lang::Ja.words().year_end(r6), "R6年度末 (2025-03-31)");
        assert_eq!(
            Lang::Ja.words().axes(&Axes::default()),
            "現在までの全記録、全期間の活動"
        );
        assert_eq!(
            Lang::Ja.words().contributing(3),
            "この数値に寄与した記録: 3件"
        );
        assert_eq!(Lang::En.words().contributing(0), "0 contributing events");
    }
}
