//! The event boundary: every kind accepts a valid payload, round-trips, and refuses bad input
//! with an error that names the field.

use kpi_domain::event::EventKind;
use kpi_domain::{LedgerEvent, StreamRule, ValidationError};
use serde_json::{json, Value};

const MINIMAL_KPI: &str = r#"
id = "13"
pillar = "1"
name = { ja = "参加者", en = "Participants" }
unit = "persons"
aggregation = "sum"
sources = [{ event = "seminar", field = "participants.unique" }]
"#;

const MINIMAL_PLAN: &str = r#"
id = "p"
name = { ja = "計画", en = "Plan" }
period = { first = "R9", last = "R13" }
pillars = [{ id = "1", name = { ja = "柱", en = "Pillar" } }]
[[kpis]]
id = "1"
pillar = "1"
name = { ja = "参加者", en = "Participants" }
unit = "persons"
aggregation = "sum"
sources = [{ event = "seminar", field = "participants.unique" }]
"#;

fn valid_payload(kind: EventKind) -> Value {
    match kind {
        EventKind::Seminar => json!({
            "title": "Web活用・戦略実行スクール", "organiser": "DX・テレワーク推進センター",
            "first_date": "2024-11-29", "sessions": 5,
            "participants": {"unique": 6, "attendances": 30}, "capacity": 6, "status": "held"
        }),
        EventKind::Consultation => json!({
            "provider": "DX・テレワーク推進センター", "persons": 208,
            "period": {"from": "2024-04-01", "to": "2025-03-31"}
        }),
        EventKind::SkillTraining => json!({
            "department": "こども未来課", "title": "1から学ぶChatGPT", "fiscal_year": "R6",
            "first_date": "2025-02-27", "sessions": 1, "participants": 10, "status": "scheduled"
        }),
        EventKind::SurveyWave => json!({
            "wave_id": "fuji-2024-12", "title": "テレワーク実態調査", "fiscal_year": 2024,
            "firms_asked": 527
        }),
        EventKind::SurveyResponse => json!({
            "wave_id": "fuji-2024-12", "firm_id": "firm-001", "fiscal_year": 2024,
            "practises_telework": true, "job_openings": 2
        }),
        EventKind::SubsidyGrant => json!({
            "programme": "先導的テレワーク移住者支援補助金", "beneficiary": "household",
            "persons": 2, "fiscal_year": 2024
        }),
        EventKind::CoworkingTally => json!({
            "space": "WORX新富士", "period": {"from": "2024-04-01", "to": "2025-03-31"},
            "users": 3029, "work_use": 1500
        }),
        EventKind::ExchangeMeeting => json!({
            "kind": "tokyo_exchange", "title": "東京での交流会", "fiscal_year": 2024,
            "participants": 90, "from_outside_city": 90
        }),
        EventKind::WorkationParticipation => json!({
            "programme": "研修型ワーケーション", "fiscal_year": 2024, "participants": 54
        }),
        EventKind::InflowingFirm => json!({
            "firm": "A社", "site": "新富士駅シェアオフィス", "fiscal_year": 2024
        }),
        EventKind::Partnership => json!({
            "organisation": "静岡県立大学", "fiscal_year": 2024
        }),
        EventKind::Publication => json!({
            "channel": "website", "fiscal_year": 2024, "date": "2024-05-01", "count": 1
        }),
        EventKind::CommitteeMeeting => json!({
            "committee": "DX・テレワーク推進部会", "fiscal_year": 2024
        }),
        EventKind::Exhibition => json!({
            "title": "TECH BEAT Shizuoka 2024", "venue": "静岡市", "fiscal_year": 2024
        }),
        EventKind::MonitorTour => json!({
            "title": "首都圏企業向けモニターツアー", "fiscal_year": 2024, "firms": 12
        }),
        EventKind::OpeningFigure => json!({
            "measure": "telework_rate", "fiscal_year": "R3", "value": "29.0",
            "unit": "percent", "source": "FY2024 report, KPI table"
        }),
        EventKind::DeclaredTotal => json!({
            "of": "seminar", "organiser": "DX・テレワーク推進センター", "fiscal_year": 2024,
            "count": 7, "source": "FY2024 report, detail table: セミナー(計7回)"
        }),
        EventKind::Correction => json!({
            "target": "0190f5c4-0000-7000-8000-000000000001", "target_type": "partnership",
            "replacement": {"organisation": "静岡県立大学", "fiscal_year": 2024},
            "reason": "typo", "decided_on": "2025-04-10"
        }),
        EventKind::Retraction => json!({
            "target": "0190f5c4-0000-7000-8000-000000000001", "reason": "duplicate",
            "decided_on": "2025-04-10"
        }),
        EventKind::PlanAdopted => json!({
            "definition": MINIMAL_PLAN, "adopted_on": "2027-03-01"
        }),
        EventKind::PlanExtended => json!({
            "plan_id": "telework-roadmap", "last": "R8", "decided_on": "2025-06-01",
            "reason": "FY2024 report: extended by one year"
        }),
        EventKind::KpiTargetRevised => json!({
            "plan_id": "telework-roadmap", "kpi": "2", "target": {"value": "1500", "kind": "cumulative"},
            "decided_on": "2025-06-01", "reason": "extended period"
        }),
        EventKind::KpiAdded => json!({
            "plan_id": "telework-roadmap", "definition": MINIMAL_KPI, "decided_on": "2025-06-01"
        }),
        EventKind::KpiRetired => json!({
            "plan_id": "telework-roadmap", "kpi": "12", "last_year": "R7",
            "decided_on": "2025-06-01", "reason": "merged into the city's web strategy"
        }),
        EventKind::PlanTransferred => json!({
            "plan_id": "telework-roadmap", "successor": "fifth-information-plan",
            "effective_from": "R9", "decided_on": "2027-03-31",
            "mapping": [{"successor_kpi": "DX1", "from_kpis": [{"kpi": "2"}], "history": "counts"}]
        }),
    }
}

fn parse(kind: EventKind, payload: &Value) -> Result<LedgerEvent, ValidationError> {
    LedgerEvent::parse(kind.name(), payload)
}

fn with(kind: EventKind, path: &str, value: Value) -> Value {
    let mut payload = valid_payload(kind);
    let mut target = &mut payload;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        target = target.get_mut(*part).expect("path exists");
    }
    target[parts[parts.len() - 1]] = value;
    payload
}

fn without(kind: EventKind, path: &str) -> Value {
    let mut payload = valid_payload(kind);
    let mut target = &mut payload;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        target = target.get_mut(*part).expect("path exists");
    }
    target
        .as_object_mut()
        .unwrap()
        .remove(parts[parts.len() - 1])
        .expect("field was present");
    payload
}

fn error_of(kind: EventKind, payload: Value) -> ValidationError {
    match parse(kind, &payload) {
        Ok(event) => panic!("{kind} accepted bad payload {payload}: {event:?}"),
        Err(error) => error,
    }
}

#[test]
fn every_kind_accepts_its_valid_payload_and_round_trips() {
    for kind in EventKind::ALL {
        let event =
            parse(kind, &valid_payload(kind)).unwrap_or_else(|error| panic!("{kind}: {error}"));
        assert_eq!(event.kind(), kind);
        assert_eq!(event.event_type(), kind.name());
        assert_eq!(event.schema_version(), 1);
        let again = LedgerEvent::parse(event.event_type(), &event.to_payload()).unwrap();
        assert_eq!(again, event, "{kind} round trip");
        let bytes = serde_json::to_vec(&event.to_payload()).unwrap();
        assert_eq!(
            LedgerEvent::parse_slice(kind.name(), &bytes).unwrap(),
            event
        );
    }
}

#[test]
fn every_required_field_is_named_when_missing() {
    for info in LedgerEvent::catalogue() {
        let valid = valid_payload(info.kind);
        for field in info.fields.iter().filter(|field| field.required) {
            let top = field.name.split('.').next().unwrap();
            if valid.get(top).is_none() {
                panic!(
                    "sample payload of {} lacks required {}",
                    info.name, field.name
                );
            }
            let error = error_of(info.kind, without(info.kind, field.name));
            assert_eq!(error.field, field.name, "{}: {error}", info.name);
            assert_eq!(error.reason, "is required");
        }
    }
}

#[test]
fn wrong_types_name_the_field() {
    for info in LedgerEvent::catalogue() {
        for field in info.fields {
            let top = field.name.split('.').next().unwrap();
            if valid_payload(info.kind).get(top).is_none() {
                continue;
            }
            let wrong = match field.ty {
                kpi_domain::FieldType::Bool => json!("yes"),
                kpi_domain::FieldType::Payload => json!("not an object"),
                kpi_domain::FieldType::Count
                | kpi_domain::FieldType::PositiveCount
                | kpi_domain::FieldType::Integer => json!(-1),
                _ => json!([1, 2]),
            };
            let error = error_of(info.kind, with(info.kind, field.name, wrong));
            let expected = if info.kind == EventKind::Correction
                && field.ty == kpi_domain::FieldType::Payload
            {
                "replacement"
            } else {
                field.name
            };
            assert_eq!(
                error.field, expected,
                "{}.{}: {error}",
                info.name, field.name
            );
            assert!(!error.reason.is_empty());
        }
    }
}

#[test]
fn unknown_fields_and_event_types_are_refused() {
    for kind in EventKind::ALL {
        let error = error_of(kind, with(kind, "colour", json!("blue")));
        assert_eq!(error.field, "colour", "{kind}: {error}");
    }
    let error = LedgerEvent::parse("party", &json!({})).unwrap_err();
    assert_eq!(error.field, "event_type");
    let error = LedgerEvent::parse("seminar", &json!([1])).unwrap_err();
    assert_eq!(error.field, "payload");
}

#[test]
fn seminar_rules() {
    let kind = EventKind::Seminar;
    let error = error_of(kind, with(kind, "sessions", json!(0)));
    assert_eq!(error.to_string(), "field `sessions`: must be at least 1");
    let error = error_of(kind, with(kind, "participants.unique", json!(31)));
    assert_eq!(error.field, "participants.unique");
    let error = error_of(kind, with(kind, "participants.attendances", json!(31)));
    assert_eq!(
        error.field, "participants.attendances",
        "6 people x 5 sessions is at most 30"
    );
    let error = error_of(kind, with(kind, "participants.unique", json!(-2)));
    assert_eq!(
        error.to_string(),
        "field `participants.unique`: must not be negative"
    );
    let error = error_of(kind, with(kind, "first_date", json!("2019-03-31")));
    assert_eq!(error.field, "first_date");
    let error = error_of(kind, with(kind, "first_date", json!("11/29")));
    assert_eq!(error.field, "first_date");
    let error = error_of(kind, with(kind, "status", json!("cancelled")));
    assert_eq!(error.field, "status");
    let error = error_of(kind, with(kind, "title", json!("   ")));
    assert_eq!(error.to_string(), "field `title`: must not be empty");

    let over_capacity = json!({
        "title": "Web活用促進セミナー第1弾", "organiser": "DX・テレワーク推進センター",
        "first_date": "2024-04-30", "sessions": 1,
        "participants": {"unique": 41, "attendances": 41}, "capacity": 40, "status": "held"
    });
    assert!(
        parse(kind, &over_capacity).is_ok(),
        "attendance above capacity is valid"
    );
}

#[test]
fn tallies_stay_within_one_fiscal_year() {
    for kind in [EventKind::Consultation, EventKind::CoworkingTally] {
        let error = error_of(kind, with(kind, "period.to", json!("2025-04-01")));
        assert_eq!(error.field, "period.to", "{kind}");
        let error = error_of(kind, with(kind, "period.to", json!("2024-03-31")));
        assert_eq!(error.field, "period.to", "{kind}: before from");
    }
    let kind = EventKind::CoworkingTally;
    let error = error_of(kind, with(kind, "work_use", json!(3030)));
    assert_eq!(
        error.to_string(),
        "field `work_use`: must not exceed users (3029)"
    );
}

#[test]
fn dates_must_fall_in_the_stated_fiscal_year() {
    for info in LedgerEvent::catalogue() {
        let has_year = info.field("fiscal_year").is_some();
        let date_field = ["date", "first_date"]
            .into_iter()
            .find(|name| info.field(name).is_some_and(|f| !f.required));
        if let (true, Some(date_field)) = (has_year, date_field) {
            let error = error_of(info.kind, with(info.kind, date_field, json!("2025-04-01")));
            assert_eq!(error.field, date_field, "{}: {error}", info.name);
            let bad_year = error_of(info.kind, with(info.kind, "fiscal_year", json!("R0")));
            assert_eq!(bad_year.field, "fiscal_year", "{}", info.name);
        }
    }
}

#[test]
fn survey_grant_meeting_figure_and_amendment_rules() {
    let kind = EventKind::SurveyWave;
    assert_eq!(
        error_of(kind, with(kind, "firms_asked", json!(0))).field,
        "firms_asked"
    );
    let kind = EventKind::SurveyResponse;
    assert_eq!(
        error_of(kind, with(kind, "firm_id", json!("firm/1"))).field,
        "firm_id"
    );
    assert_eq!(
        error_of(kind, with(kind, "practises_telework", json!(1))).field,
        "practises_telework"
    );

    let kind = EventKind::SubsidyGrant;
    assert!(
        parse(kind, &without(kind, "persons")).is_ok(),
        "renovation grants have no persons"
    );
    assert_eq!(
        error_of(kind, with(kind, "persons", json!(0))).field,
        "persons"
    );
    let firm_grant = with(kind, "beneficiary", json!("firm"));
    let firm_grant = {
        let mut payload = firm_grant;
        payload.as_object_mut().unwrap().remove("persons");
        payload
    };
    assert!(parse(kind, &firm_grant).is_ok());
    assert_eq!(
        error_of(kind, with(kind, "beneficiary", json!("city"))).field,
        "beneficiary"
    );

    let kind = EventKind::ExchangeMeeting;
    assert_eq!(
        error_of(kind, with(kind, "from_outside_city", json!(91))).field,
        "from_outside_city"
    );
    let neither = {
        let mut payload = valid_payload(kind);
        let object = payload.as_object_mut().unwrap();
        object.remove("participants");
        object.remove("from_outside_city");
        payload
    };
    assert_eq!(error_of(kind, neither).field, "participants");
    let outside_only = without(kind, "participants");
    assert!(
        parse(kind, &outside_only).is_ok(),
        "the job fair only reports outsiders"
    );

    let kind = EventKind::Publication;
    assert_eq!(error_of(kind, with(kind, "count", json!(0))).field, "count");
    assert_eq!(
        error_of(kind, with(kind, "channel", json!("web site"))).field,
        "channel"
    );

    let kind = EventKind::OpeningFigure;
    assert_eq!(
        error_of(kind, with(kind, "value", json!("100.1"))).field,
        "value"
    );
    assert_eq!(
        error_of(kind, with(kind, "value", json!(29.5))).field,
        "value"
    );
    assert_eq!(
        error_of(kind, with(kind, "value", json!("-1"))).field,
        "value"
    );
    assert_eq!(
        error_of(kind, with(kind, "unit", json!("yen"))).field,
        "unit"
    );
    let fractional_persons = {
        let mut payload = with(kind, "unit", json!("persons"));
        payload["value"] = json!("2.5");
        payload
    };
    assert_eq!(error_of(kind, fractional_persons).field, "value");

    let kind = EventKind::DeclaredTotal;
    assert_eq!(
        error_of(kind, with(kind, "of", json!("publication"))).field,
        "of"
    );

    let kind = EventKind::Correction;
    assert_eq!(
        error_of(kind, with(kind, "target", json!("not-a-uuid"))).field,
        "target"
    );
    assert_eq!(
        error_of(kind, with(kind, "target_type", json!("retraction"))).field,
        "target_type"
    );
    assert_eq!(
        error_of(kind, with(kind, "replacement.organisation", json!(""))).to_string(),
        "field `replacement.organisation`: must not be empty"
    );
    let mismatched = error_of(kind, with(kind, "target_type", json!("seminar")));
    assert!(
        mismatched.field.starts_with("replacement."),
        "the replacement must be a payload of target_type: {mismatched}"
    );
    let kind = EventKind::Retraction;
    assert_eq!(
        error_of(kind, with(kind, "reason", json!(""))).field,
        "reason"
    );
}

#[test]
fn stream_ids_follow_the_store_rule_and_make_once_only_rules_atomic() {
    for kind in EventKind::ALL {
        let event = parse(kind, &valid_payload(kind)).unwrap();
        let stream = event.stream_id();
        assert!(!stream.is_empty() && stream.len() <= 200, "{stream}");
        assert!(
            stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c)),
            "{stream}"
        );
    }
    let response = parse(
        EventKind::SurveyResponse,
        &valid_payload(EventKind::SurveyResponse),
    )
    .unwrap();
    assert_eq!(
        response.stream_id(),
        "survey-response/fuji-2024-12/firm-001"
    );
    assert_eq!(response.stream_rule(), StreamRule::MustBeNew);
    let seminar = parse(EventKind::Seminar, &valid_payload(EventKind::Seminar)).unwrap();
    assert_eq!(seminar.stream_rule(), StreamRule::Any);
    assert_eq!(seminar.title(), Some("Web活用・戦略実行スクール"));
}

#[test]
fn undated_activities_happen_on_the_last_day_of_their_fiscal_year() {
    let grant = parse(
        EventKind::SubsidyGrant,
        &valid_payload(EventKind::SubsidyGrant),
    )
    .unwrap();
    assert_eq!(grant.occurred_on().to_string(), "2025-03-31");
    assert_eq!(grant.fiscal_year().label(), "R6");
    let training = parse(
        EventKind::SkillTraining,
        &valid_payload(EventKind::SkillTraining),
    )
    .unwrap();
    assert_eq!(training.occurred_on().to_string(), "2025-02-27");
}

#[test]
fn the_catalogue_lists_every_kind_once_in_kind_order() {
    let catalogue = LedgerEvent::catalogue();
    assert_eq!(catalogue.len(), EventKind::COUNT);
    for (index, info) in catalogue.iter().enumerate() {
        assert_eq!(info.kind.index(), index);
        assert_eq!(info.name, info.kind.name());
        let sample = parse(info.kind, &valid_payload(info.kind)).unwrap();
        for field in info.fields {
            if let Some(get) = field.get {
                let has_value = get(&sample).is_some();
                let present = field
                    .name
                    .split('.')
                    .try_fold(&valid_payload(info.kind), |value, part| value.get(part))
                    .is_some();
                assert_eq!(has_value, present, "{}.{}", info.name, field.name);
            }
        }
    }
    let json = serde_json::to_value(catalogue).unwrap();
    assert_eq!(json[0]["fields"][0]["name"], "title");
}
