//! Audit findings as the dashboard's readers read them: what each kind means and what to do,
//! in a sentence of their language, with the code (as GraphQL spells it) kept as a small
//! label and the domain's own detail line beneath.

use kpi_domain::{AuditFinding, FindingKind, Series};

use crate::words::Lang;

/// The kind as GraphQL and the logs name it: `SCHEDULED_COUNTED_AS_HELD`.
pub fn code(kind: FindingKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_uppercase))
        .unwrap_or_else(|| format!("{kind:?}"))
}

/// A short title and a sentence saying what the finding means and what to do about it.
pub fn explain(kind: FindingKind, lang: Lang) -> (&'static str, &'static str) {
    match lang {
        Lang::Ja => japanese(kind),
        Lang::En => english(kind),
    }
}

fn japanese(kind: FindingKind) -> (&'static str, &'static str) {
    match kind {
        FindingKind::ScheduledCountedAsHeld => (
            "予定のまま実績に計上",
            "「予定」と記録された活動が、実施済みとして KPI に数えられています。実施されたなら訂正で状態を「実施」に、行われなかったなら取消を記録してください。",
        ),
        FindingKind::WrongUnit => (
            "単位の異なる数値",
            "KPI とは別の単位で記録された数値があります。表には単位付きで表示し、累計には含めていません。",
        ),
        FindingKind::DeclaredTotalMismatch => (
            "資料の件数と記録の不一致",
            "資料に書かれた件数と、台帳に記録された活動の数が合っていません。記録漏れか、資料の誤りかを確かめてください。",
        ),
        FindingKind::IgnoredAmendment => (
            "適用できない訂正・取消",
            "対象の記録に適用できなかった訂正または取消があります（対象が見つからない、既に取り消されているなど）。数値には反映していません。",
        ),
        FindingKind::SurveyWaveMissing => (
            "調査回の記録がない回答",
            "記録されていない調査回への回答があります。調査回（調査した企業数など）を記録してください。",
        ),
        FindingKind::SurveyResponsesExceedFirmsAsked => (
            "回答数が調査企業数を超過",
            "調査の回答数が、調査した企業の数を超えています。調査企業数か、回答の重複を確かめてください。",
        ),
        FindingKind::SurveyResponseYearMismatch => (
            "調査回と年度の異なる回答",
            "調査回とは別の年度に数えられている回答があります。回答の年度を確かめてください。",
        ),
        FindingKind::OutsideEveryPlan => (
            "計画期間外の活動",
            "どの計画の期間にも入らない年度の活動です。どの KPI にも数えられていません。",
        ),
        FindingKind::ArithmeticOverflow => (
            "桁あふれ",
            "合計が正確に計算できる範囲を超えたため、そのセルには数値を表示していません。記録された数値を確かめてください。",
        ),
    }
}

fn english(kind: FindingKind) -> (&'static str, &'static str) {
    match kind {
        FindingKind::ScheduledCountedAsHeld => (
            "Scheduled, counted as held",
            "An activity still marked scheduled is counted in a KPI as if it had been held: correct its status to held, or retract it if it did not take place.",
        ),
        FindingKind::WrongUnit => (
            "Figure in another unit",
            "A figure measured in another unit than its KPI's: shown with its unit, left out of the cumulative.",
        ),
        FindingKind::DeclaredTotalMismatch => (
            "Declared total differs",
            "A document's claimed count disagrees with the activities recorded: check for a missing record or an error in the document.",
        ),
        FindingKind::IgnoredAmendment => (
            "Amendment not applied",
            "A correction or retraction could not be applied (its target is unknown or already retracted); no figure reflects it.",
        ),
        FindingKind::SurveyWaveMissing => (
            "Survey wave not recorded",
            "Responses to a survey wave that was never recorded: record the wave (the firms asked).",
        ),
        FindingKind::SurveyResponsesExceedFirmsAsked => (
            "More responses than firms asked",
            "A survey has more responses than firms asked: check the wave's count or duplicate responses.",
        ),
        FindingKind::SurveyResponseYearMismatch => (
            "Response in another year",
            "A survey response is counted in another fiscal year than its wave's: check its year.",
        ),
        FindingKind::OutsideEveryPlan => (
            "Outside every plan",
            "An activity whose fiscal year no plan in force covers: it counts in no KPI.",
        ),
        FindingKind::ArithmeticOverflow => (
            "Arithmetic overflow",
            "A sum left the range of exact arithmetic; the cell shows no figure. Check the recorded figures.",
        ),
    }
}

/// Where the finding points, from its fields: `R6年度・KPI 4b` / `R6, KPI 4b`.
pub fn place(finding: &AuditFinding, lang: Lang) -> Option<String> {
    let kpi = finding.kpi.as_ref().map(|kpi| match finding.series {
        Some(Series::B) => format!("KPI {kpi}b"),
        _ => format!("KPI {kpi}"),
    });
    let year = finding.fiscal_year.map(|year| match lang {
        Lang::Ja => format!("{}年度", year.label()),
        Lang::En => year.label(),
    });
    let parts: Vec<String> = [year, kpi].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| {
        parts.join(match lang {
            Lang::Ja => "・",
            Lang::En => ", ",
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_spelt_as_graphql_spells_them() {
        assert_eq!(
            code(FindingKind::ScheduledCountedAsHeld),
            "SCHEDULED_COUNTED_AS_HELD"
        );
        assert_eq!(code(FindingKind::WrongUnit), "WRONG_UNIT");
    }

    #[test]
    fn every_kind_reads_as_a_sentence_in_both_languages() {
        for kind in [
            FindingKind::ScheduledCountedAsHeld,
            FindingKind::WrongUnit,
            FindingKind::DeclaredTotalMismatch,
            FindingKind::IgnoredAmendment,
            FindingKind::SurveyWaveMissing,
            FindingKind::SurveyResponsesExceedFirmsAsked,
            FindingKind::SurveyResponseYearMismatch,
            FindingKind::OutsideEveryPlan,
            FindingKind::ArithmeticOverflow,
        ] {
            let (title, sentence) = explain(kind, Lang::Ja);
            assert!(!title.is_empty() && sentence.ends_with('。'), "{kind:?}");
            assert!(!sentence.is_ascii(), "{kind:?} is Japanese");
            let (title, sentence) = explain(kind, Lang::En);
            assert!(!title.is_empty() && sentence.ends_with('.'), "{kind:?}");
        }
    }
}
