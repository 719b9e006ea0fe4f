//! One valid and one invalid input per typed mutation, with the payload the ledger must store
//! and the KPI cell the event must appear in. Written out by hand, from the domain's event
//! catalogue and the roadmap plan, so the tests do not share the schema's translation code.

use serde_json::{json, Value};

pub struct Kind {
    pub mutation: &'static str,
    pub input_type: &'static str,
    /// The `type` the stored event answers with.
    pub event_type: &'static str,
    /// A valid input; `n` makes identifiers unique, so several callers can each record one
    /// (survey waves, responses and opening figures may be recorded only once).
    pub input: fn(u32) -> Value,
    /// The payload the ledger stores for `input(n)`: snake_case, normalised by the domain.
    pub payload: fn(u32) -> Value,
    /// The KPI row (kpi, series) and year label whose cell the event feeds, if any.
    pub feeds: Option<(&'static str, &'static str, &'static str)>,
    /// An invalid input and the argument path its error must name.
    pub bad: fn(u32) -> (Value, &'static str),
}

fn with(mut value: Value, path: &[&str], replacement: Value) -> Value {
    let (last, parents) = path.split_last().unwrap();
    let mut target = &mut value;
    for key in parents {
        target = &mut target[*key];
    }
    target[*last] = replacement;
    value
}

fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

pub const ALL: &[Kind] = &[
    Kind {
        mutation: "recordSeminar",
        input_type: "SeminarInput",
        event_type: "SEMINAR",
        input: |n| {
            json!({
                "title": format!("テレワーク導入セミナー {n}"),
                "organiser": "DX・テレワーク推進センター",
                "firstDate": "2024-04-30",
                "sessions": 2,
                "participants": { "unique": 30, "attendances": 55 },
                "capacity": 40,
                "status": "HELD",
                "note": "recorded over GraphQL"
            })
        },
        payload: |n| {
            json!({
                "title": format!("テレワーク導入セミナー {n}"),
                "organiser": "DX・テレワーク推進センター",
                "first_date": "2024-04-30",
                "sessions": 2,
                "participants": { "unique": 30, "attendances": 55 },
                "capacity": 40,
                "status": "held",
                "note": "recorded over GraphQL"
            })
        },
        feeds: Some(("2", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[0].input)(n);
            (
                with(input, &["participants", "unique"], json!(56)),
                "input.participants.unique",
            )
        },
    },
    Kind {
        mutation: "recordConsultation",
        input_type: "ConsultationInput",
        event_type: "CONSULTATION",
        input: |n| {
            json!({
                "provider": format!("富士市産業支援センター {n}"),
                "persons": 12,
                "period": { "from": "2024-04-01", "to": "2024-09-30" }
            })
        },
        payload: |n| {
            json!({
                "provider": format!("富士市産業支援センター {n}"),
                "persons": 12,
                "period": { "from": "2024-04-01", "to": "2024-09-30" }
            })
        },
        feeds: Some(("2", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[1].input)(n);
            (
                with(input, &["period", "to"], json!("2025-04-01")),
                "input.period.to",
            )
        },
    },
    Kind {
        mutation: "recordSkillTraining",
        input_type: "SkillTrainingInput",
        event_type: "SKILL_TRAINING",
        input: |n| {
            json!({
                "department": "商工振興課",
                "title": format!("Webデザイン講座 {n}"),
                "fiscalYear": "R6",
                "firstDate": "2024-06-01",
                "sessions": 5,
                "participants": 18,
                "status": "HELD"
            })
        },
        payload: |n| {
            json!({
                "department": "商工振興課",
                "title": format!("Webデザイン講座 {n}"),
                "fiscal_year": 2024,
                "first_date": "2024-06-01",
                "sessions": 5,
                "participants": 18,
                "status": "held"
            })
        },
        feeds: Some(("4", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[2].input)(n);
            (
                with(input, &["firstDate"], json!("2025-04-01")),
                "input.firstDate",
            )
        },
    },
    Kind {
        mutation: "recordSurveyWave",
        input_type: "SurveyWaveInput",
        event_type: "SURVEY_WAVE",
        input: |n| {
            json!({
                "waveId": format!("gql-wave-{n}"),
                "title": "テレワーク実態調査",
                "fiscalYear": 2024,
                "date": "2024-12-01",
                "firmsAsked": 500
            })
        },
        payload: |n| {
            json!({
                "wave_id": format!("gql-wave-{n}"),
                "title": "テレワーク実態調査",
                "fiscal_year": 2024,
                "date": "2024-12-01",
                "firms_asked": 500
            })
        },
        feeds: None,
        bad: |n| {
            let input = (ALL[3].input)(n);
            (with(input, &["firmsAsked"], json!(0)), "input.firmsAsked")
        },
    },
    Kind {
        mutation: "recordSurveyResponse",
        input_type: "SurveyResponseInput",
        event_type: "SURVEY_RESPONSE",
        input: |n| {
            json!({
                "waveId": format!("gql-wave-{n}"),
                "firmId": format!("firm-{n}"),
                "fiscalYear": 2024,
                "practisesTelework": true,
                "jobOpenings": 3
            })
        },
        payload: |n| {
            json!({
                "wave_id": format!("gql-wave-{n}"),
                "firm_id": format!("firm-{n}"),
                "fiscal_year": 2024,
                "practises_telework": true,
                "job_openings": 3
            })
        },
        feeds: Some(("3", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[4].input)(n);
            (
                with(input, &["firmId"], json!(format!("firm/{n}"))),
                "input.firmId",
            )
        },
    },
    Kind {
        mutation: "recordSubsidyGrant",
        input_type: "SubsidyGrantInput",
        event_type: "SUBSIDY_GRANT",
        input: |_| {
            json!({
                "programme": "移住就業支援補助金（テレワーク要件）",
                "beneficiary": "HOUSEHOLD",
                "persons": 3,
                "amountYen": 1000000,
                "fiscalYear": 2024,
                "date": "2024-08-01"
            })
        },
        payload: |_| {
            json!({
                "programme": "移住就業支援補助金（テレワーク要件）",
                "beneficiary": "household",
                "persons": 3,
                "amount_yen": 1000000,
                "fiscal_year": 2024,
                "date": "2024-08-01"
            })
        },
        feeds: Some(("9", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[5].input)(n);
            (with(input, &["persons"], json!(0)), "input.persons")
        },
    },
    Kind {
        mutation: "recordCoworkingTally",
        input_type: "CoworkingTallyInput",
        event_type: "COWORKING_TALLY",
        input: |n| {
            json!({
                "space": format!("コワーキングスペース {n}"),
                "period": { "from": "2024-04-01", "to": "2024-04-30" },
                "users": 120,
                "workUse": 80
            })
        },
        payload: |n| {
            json!({
                "space": format!("コワーキングスペース {n}"),
                "period": { "from": "2024-04-01", "to": "2024-04-30" },
                "users": 120,
                "work_use": 80
            })
        },
        feeds: Some(("5", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[6].input)(n);
            (with(input, &["workUse"], json!(121)), "input.workUse")
        },
    },
    Kind {
        mutation: "recordExchangeMeeting",
        input_type: "ExchangeMeetingInput",
        event_type: "EXCHANGE_MEETING",
        input: |n| {
            json!({
                "kind": "business_exchange",
                "title": format!("ビジネス交流会 {n}"),
                "fiscalYear": 2024,
                "participants": 25,
                "fromOutsideCity": 5
            })
        },
        payload: |n| {
            json!({
                "kind": "business_exchange",
                "title": format!("ビジネス交流会 {n}"),
                "fiscal_year": 2024,
                "participants": 25,
                "from_outside_city": 5
            })
        },
        feeds: Some(("6", "MAIN", "R6")),
        bad: |n| {
            let input = without(
                without((ALL[7].input)(n), "participants"),
                "fromOutsideCity",
            );
            (input, "input.participants")
        },
    },
    Kind {
        mutation: "recordWorkationParticipation",
        input_type: "WorkationParticipationInput",
        event_type: "WORKATION_PARTICIPATION",
        input: |n| {
            json!({
                "programme": format!("ワーケーション体験 {n}"),
                "fiscalYear": 2024,
                "participants": 9
            })
        },
        payload: |n| {
            json!({
                "programme": format!("ワーケーション体験 {n}"),
                "fiscal_year": 2024,
                "participants": 9
            })
        },
        feeds: Some(("7", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[8].input)(n);
            (
                with(input, &["participants"], json!(-1)),
                "input.participants",
            )
        },
    },
    Kind {
        mutation: "recordInflowingFirm",
        input_type: "InflowingFirmInput",
        event_type: "INFLOWING_FIRM",
        input: |n| {
            json!({
                "firm": format!("株式会社テスト{n}"),
                "site": "富士駅北口",
                "fiscalYear": 2024,
                "date": "2024-10-01"
            })
        },
        payload: |n| {
            json!({
                "firm": format!("株式会社テスト{n}"),
                "site": "富士駅北口",
                "fiscal_year": 2024,
                "date": "2024-10-01"
            })
        },
        feeds: Some(("8", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[9].input)(n);
            (with(input, &["firm"], json!("   ")), "input.firm")
        },
    },
    Kind {
        mutation: "recordPartnership",
        input_type: "PartnershipInput",
        event_type: "PARTNERSHIP",
        input: |n| {
            json!({
                "organisation": format!("富士商工会議所 {n}"),
                "fiscalYear": "FY2024",
                "description": "テレワーク推進協定"
            })
        },
        payload: |n| {
            json!({
                "organisation": format!("富士商工会議所 {n}"),
                "fiscal_year": 2024,
                "description": "テレワーク推進協定"
            })
        },
        feeds: Some(("11", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[10].input)(n);
            (
                with(input, &["fiscalYear"], json!("R-6")),
                "input.fiscalYear",
            )
        },
    },
    Kind {
        mutation: "recordPublication",
        input_type: "PublicationInput",
        event_type: "PUBLICATION",
        input: |n| {
            json!({
                "channel": "website",
                "title": format!("テレワーク特集 {n}"),
                "fiscalYear": 2024,
                "date": "2024-05-01",
                "count": 1
            })
        },
        payload: |n| {
            json!({
                "channel": "website",
                "title": format!("テレワーク特集 {n}"),
                "fiscal_year": 2024,
                "date": "2024-05-01",
                "count": 1
            })
        },
        feeds: Some(("12", "MAIN", "R6")),
        bad: |n| {
            let input = (ALL[11].input)(n);
            (with(input, &["count"], json!(0)), "input.count")
        },
    },
    Kind {
        mutation: "recordCommitteeMeeting",
        input_type: "CommitteeMeetingInput",
        event_type: "COMMITTEE_MEETING",
        input: |n| {
            json!({
                "committee": "テレワーク推進協議会",
                "title": format!("第{n}回"),
                "fiscalYear": 2024,
                "date": "2024-07-01"
            })
        },
        payload: |n| {
            json!({
                "committee": "テレワーク推進協議会",
                "title": format!("第{n}回"),
                "fiscal_year": 2024,
                "date": "2024-07-01"
            })
        },
        feeds: None,
        bad: |n| {
            let input = (ALL[12].input)(n);
            (with(input, &["date"], json!("2024-13-01")), "input.date")
        },
    },
    Kind {
        mutation: "recordExhibition",
        input_type: "ExhibitionInput",
        event_type: "EXHIBITION",
        input: |n| {
            json!({
                "title": format!("テレワーク展示会 {n}"),
                "venue": "東京ビッグサイト",
                "fiscalYear": 2024
            })
        },
        payload: |n| {
            json!({
                "title": format!("テレワーク展示会 {n}"),
                "venue": "東京ビッグサイト",
                "fiscal_year": 2024
            })
        },
        feeds: None,
        bad: |n| {
            let input = (ALL[13].input)(n);
            (with(input, &["title"], json!("")), "input.title")
        },
    },
    Kind {
        mutation: "recordMonitorTour",
        input_type: "MonitorTourInput",
        event_type: "MONITOR_TOUR",
        input: |n| {
            json!({
                "title": format!("首都圏企業モニターツアー {n}"),
                "fiscalYear": 2024,
                "firms": 6
            })
        },
        payload: |n| {
            json!({
                "title": format!("首都圏企業モニターツアー {n}"),
                "fiscal_year": 2024,
                "firms": 6
            })
        },
        feeds: None,
        bad: |n| {
            let input = (ALL[14].input)(n);
            (with(input, &["firms"], json!(-3)), "input.firms")
        },
    },
    Kind {
        mutation: "recordOpeningFigure",
        input_type: "OpeningFigureInput",
        event_type: "OPENING_FIGURE",
        // R3 for n = 0: the roadmap's first year, which the report gives as a total only.
        input: |n| {
            json!({
                "measure": "seminar_consultation_participants",
                "fiscalYear": 2021 + n,
                "value": "260",
                "unit": "PERSONS",
                "source": "令和6年度報告書 KPI一覧 No.2"
            })
        },
        payload: |n| {
            json!({
                "measure": "seminar_consultation_participants",
                "fiscal_year": 2021 + n,
                "value": "260",
                "unit": "persons",
                "source": "令和6年度報告書 KPI一覧 No.2"
            })
        },
        feeds: Some(("2", "MAIN", "R3")),
        bad: |n| {
            let input = (ALL[15].input)(n);
            (with(input, &["value"], json!("26.5")), "input.value")
        },
    },
    Kind {
        mutation: "recordDeclaredTotal",
        input_type: "DeclaredTotalInput",
        event_type: "DECLARED_TOTAL",
        input: |n| {
            json!({
                "of": "SEMINAR",
                "organiser": "DX・テレワーク推進センター",
                "fiscalYear": 2024,
                "count": 7,
                "source": format!("令和6年度報告書 p.{n}")
            })
        },
        payload: |n| {
            json!({
                "of": "seminar",
                "organiser": "DX・テレワーク推進センター",
                "fiscal_year": 2024,
                "count": 7,
                "source": format!("令和6年度報告書 p.{n}")
            })
        },
        feeds: None,
        bad: |n| {
            let input = (ALL[16].input)(n);
            (with(input, &["of"], json!("CONSULTATION")), "input.of")
        },
    },
];
