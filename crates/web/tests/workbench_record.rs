//! The record forms of the workbench: one for every kind of the domain's list, each field
//! labelled from the catalogue; a form sent records the event once however often it is
//! sent; a refusal names the field beside it and writes nothing; a reader gets no form.

mod workbench_support;

use kpi_domain::event::{EventKind, FieldType, LedgerEvent};
use serde_json::Value;
use workbench_support::{bench, get, input_value, post_form, sign_in};

/// The text a clerk would type for `field` of a stored payload.
fn typed(payload: &Value, field: &str) -> String {
    let value = field
        .split('.')
        .try_fold(payload, |value, key| value.get(key));
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Bool(flag)) => flag.to_string(),
        Some(Value::Number(number)) => number.to_string(),
        Some(other) => other.to_string(),
    }
}

/// Text as the page holds it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The form's hidden fields (CSRF, idempotency key) and `f.<field>` for each given text.
fn form_of(html: &str, fields: &[(&str, String)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        (
            "csrf".to_owned(),
            input_value(html, "csrf").expect("a csrf field"),
        ),
        (
            "idempotency_key".to_owned(),
            input_value(html, "idempotency_key").expect("an idempotency key"),
        ),
    ];
    if let Some(lang) = input_value(html, "lang") {
        pairs.push(("lang".to_owned(), lang));
    }
    for (name, text) in fields {
        pairs.push((format!("f.{name}"), text.clone()));
    }
    pairs
}

#[tokio::test]
async fn every_kind_has_a_labelled_form_and_every_seeded_kind_records_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let bench = bench(dir.path(), false).await;
    let admin = sign_in(&bench.client, &bench.admin).await;

    let (status, list) = get(&bench.client, &admin, "/workbench/record").await;
    assert_eq!(status, 200);
    for kind in EventKind::ALL {
        let info = LedgerEvent::kind_info(kind);
        assert!(
            list.contains(&format!("href=\"/workbench/record/{}\"", kind.name())),
            "{kind} listed"
        );
        assert!(list.contains(info.label.ja), "{} named in Japanese", kind);
        let (status, form) = get(&bench.client, &admin, &format!("/workbench/record/{kind}")).await;
        assert_eq!(status, 200, "{kind}: {form}");
        assert!(form.contains(info.label.ja));
        for field in info.fields {
            let id = format!("f-{}", field.name.replace(['.', '_'], "-"));
            assert!(
                form.contains(&format!("<label for=\"{id}\">{}", field.label.ja)),
                "{kind}.{} has its Japanese label: {form}",
                field.name
            );
            assert!(
                form.contains(&format!("id=\"{id}\"")),
                "{kind}.{}",
                field.name
            );
            assert!(
                form.contains(&escaped(field.help_ja)),
                "{kind}.{} help",
                field.name
            );
            if field.ty == FieldType::Date {
                assert!(
                    form.contains(&format!("name=\"p.{}\"", field.name)),
                    "a date picker"
                );
            }
        }
        let (_, english) = get(
            &bench.client,
            &admin,
            &format!("/workbench/record/{kind}?lang=en"),
        )
        .await;
        assert!(english.contains(info.label.en), "{kind} in English");
        for field in info.fields {
            assert!(
                english.contains(&escaped(field.label.en)),
                "{kind}.{} in English",
                field.name
            );
        }
    }

    // The seed holds an example of most activity kinds: each typed into its form as a clerk
    // would (its payload's text) and recorded, giving back the same payload.
    let examples = kpi_domain::seed::parse(workbench_support::SEED).unwrap();
    let mut recorded = std::collections::BTreeSet::new();
    for example in examples {
        let kind = example.event.kind();
        if !recorded.insert(kind) {
            continue;
        }
        let payload = example.event.to_payload();
        let info = LedgerEvent::kind_info(kind);
        let (_, form) = get(&bench.client, &admin, &format!("/workbench/record/{kind}")).await;
        let fields: Vec<(&str, String)> = info
            .fields
            .iter()
            .map(|field| (field.name, typed(&payload, field.name)))
            .collect();
        let head = bench.ledger.head().position;
        let (status, location, body) = post_form(
            &bench.client,
            &admin,
            &format!("/workbench/record/{kind}"),
            &form_of(&form, &fields),
        )
        .await;
        assert_eq!(status, 303, "{kind}: {body}");
        let location = location.unwrap();
        assert!(
            location.starts_with("/workbench/record/saved/"),
            "{location}"
        );
        assert_eq!(bench.ledger.head().position, head + 1);
        let id: uuid::Uuid = location.rsplit('/').next().unwrap().parse().unwrap();
        let (envelope, stored) = bench.ledger.event(id).unwrap().unwrap();
        assert_eq!(stored.event.to_payload(), payload, "{kind}");
        assert_eq!(envelope.actor, "chief");
        let (status, saved) = get(&bench.client, &admin, &location).await;
        assert_eq!(status, 200);
        assert!(
            saved.contains(&format!("href=\"/workbench/events/{id}\"")),
            "{saved}"
        );
    }
    assert!(
        recorded.len() >= 15,
        "the seed covers most kinds: {recorded:?}"
    );
}

/// A seminar typed with a 和暦 date: recorded once, whatever the clerk does with the form
/// (send it twice, at once, or again after the back button), and KPI 2 moved by it.
#[tokio::test]
async fn a_seminar_in_wareki_is_recorded_once_and_moves_kpi_2() {
    let dir = tempfile::tempdir().unwrap();
    let bench = bench(dir.path(), true).await;
    let clerk = sign_in(&bench.client, &bench.recorder).await;
    let (status, form) = get(&bench.client, &clerk, "/workbench/record/seminar").await;
    assert_eq!(status, 200);
    let pairs = form_of(
        &form,
        &[
            ("title", "創業セミナー".to_owned()),
            ("organiser", "産業支援課".to_owned()),
            ("first_date", "令和6年10月10日".to_owned()),
            ("sessions", "1".to_owned()),
            ("participants.unique", "２０".to_owned()),
            ("participants.attendances", "20".to_owned()),
            ("status", "held".to_owned()),
        ],
    );
    let head = bench.ledger.head().position;
    let first = post_form(&bench.client, &clerk, "/workbench/record/seminar", &pairs);
    let double = post_form(&bench.client, &clerk, "/workbench/record/seminar", &pairs);
    let ((s1, l1, b1), (s2, l2, b2)) = tokio::join!(first, double);
    assert_eq!((s1, s2), (303, 303), "{b1}\n{b2}");
    assert_eq!(l1, l2, "a double click answers with the one event");
    let (s3, l3, _) = post_form(&bench.client, &clerk, "/workbench/record/seminar", &pairs).await;
    assert_eq!((s3, &l3), (303, &l1), "a resend after the back button");
    assert_eq!(bench.ledger.head().position, head + 1, "recorded once");

    let location = l1.unwrap();
    let id: uuid::Uuid = location.rsplit('/').next().unwrap().parse().unwrap();
    let (envelope, stored) = bench.ledger.event(id).unwrap().unwrap();
    assert_eq!(envelope.actor, "clerk");
    let LedgerEvent::Seminar(seminar) = stored.event else {
        panic!("a seminar");
    };
    assert_eq!(seminar.first_date.to_string(), "2024-10-10");
    assert_eq!(seminar.participants.unique.get(), 20);

    // KPI 2 (seminar and consultation participants) moved by 20 in R6, as the projection
    // says: 1,565 before, 1,585 after.
    let (status, saved) = get(&bench.client, &clerk, &location).await;
    assert_eq!(status, 200);
    let moved = &saved[saved.find("id=\"moved\"").expect("the moved cells")..];
    let row = &moved[moved.find("セミナー・相談会参加者").expect("KPI 2")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("R6年度"), "{row}");
    let before = row.find("class=\"n before\"").unwrap();
    let after = row.find("class=\"n after\"").unwrap();
    let figures = |from: usize| {
        let text = &row[from..];
        text[text.find('>').unwrap() + 1..]
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    let (before, after) = (
        figures(before),
        figures(after + row[after..].find("<a").unwrap()),
    );
    let number = |text: &str| text.replace([',', '人'], "").parse::<i64>().unwrap();
    assert_eq!(number(&after) - number(&before), 20, "{before} -> {after}");
    assert!(
        row.contains("href=\"/dashboard/telework-roadmap/cells/2/main/R6\""),
        "{row}"
    );
}

#[tokio::test]
async fn a_refusal_is_shown_beside_its_field_the_input_kept_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let bench = bench(dir.path(), true).await;
    let clerk = sign_in(&bench.client, &bench.recorder).await;
    let (_, form) = get(&bench.client, &clerk, "/workbench/record/seminar").await;
    let (_, form_en) = get(&bench.client, &clerk, "/workbench/record/seminar?lang=en").await;
    let head = bench.ledger.head().position;
    let cases: [(&str, &str, &str, &str, &str); 4] = [
        // form, field at fault, its text, the other date, what the message says
        (
            &form,
            "participants.unique",
            "30",
            "2024-10-10",
            "延べ参加者数（20）を超えることはできません",
        ),
        (
            &form,
            "first_date",
            "20",
            "平成31年5月1日",
            "「平成31年5月1日」は平成が終わった後の日です",
        ),
        (
            &form_en,
            "first_date",
            "20",
            "令和1年4月30日",
            "令和 starts on 2019-05-01",
        ),
        (
            &form_en,
            "participants.unique",
            "30",
            "2024-10-10",
            "must not exceed participants.attendances",
        ),
    ];
    for (form, field, unique, date, says) in cases {
        let key = input_value(form, "idempotency_key").unwrap();
        let pairs = form_of(
            form,
            &[
                ("title", "創業セミナー".to_owned()),
                ("organiser", "産業支援課".to_owned()),
                ("first_date", date.to_owned()),
                ("sessions", "1".to_owned()),
                ("participants.unique", unique.to_owned()),
                ("participants.attendances", "20".to_owned()),
                ("status", "held".to_owned()),
            ],
        );
        let (status, location, page) =
            post_form(&bench.client, &clerk, "/workbench/record/seminar", &pairs).await;
        assert_eq!((status, location), (422, None), "{page}");
        let id = format!("f-{}", field.replace(['.', '_'], "-"));
        let error = &page[page
            .find(&format!("id=\"{id}-error\""))
            .unwrap_or_else(|| panic!("a message beside {field}: {page}"))..];
        let error = &error[..error.find("</span>").unwrap()];
        assert!(error.contains(says), "{field}: {error}");
        assert!(page.contains("value=\"創業セミナー\""), "the input kept");
        assert!(
            page.contains(&format!("value=\"{date}\"")),
            "the date as typed"
        );
        assert_eq!(
            input_value(&page, "idempotency_key").unwrap(),
            key,
            "the same key"
        );
        assert_eq!(bench.ledger.head().position, head, "nothing written");
    }
}

#[tokio::test]
async fn a_reader_sees_no_form_and_cannot_post_one() {
    let dir = tempfile::tempdir().unwrap();
    let bench = bench(dir.path(), true).await;
    let reader = sign_in(&bench.client, &bench.reader).await;
    let clerk = sign_in(&bench.client, &bench.recorder).await;
    for path in ["/workbench/record/seminar", "/workbench/import"] {
        let (status, page) = get(&bench.client, &reader, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(
            !page.contains("<form class=\"stacked\""),
            "{path}: no form: {page}"
        );
        assert!(page.contains("id=\"no-form\""), "{path}");
    }
    let (_, list) = get(&bench.client, &reader, "/workbench/record").await;
    assert!(list.contains("id=\"no-form\""));
    // A clerk records, an admin changes plans: a clerk gets no plan form.
    let (status, _) = get(&bench.client, &clerk, "/workbench/record/plan_extended").await;
    assert_eq!(status, 403);

    // The reader's own session token in a forged form: refused, nothing written.
    let (_, dashboard) = get(&bench.client, &reader, "/workbench/record").await;
    let csrf = input_value(&dashboard, "csrf").unwrap();
    let head = bench.ledger.head().position;
    let (status, _, _) = post_form(
        &bench.client,
        &reader,
        "/workbench/record/seminar",
        &[
            ("csrf".to_owned(), csrf),
            ("idempotency_key".to_owned(), "web:forged".to_owned()),
            ("f.title".to_owned(), "x".to_owned()),
        ],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(bench.ledger.head().position, head);

    // Without a session: the sign-in page.
    let anonymous = bench.client.get("/workbench/record/seminar").send().await;
    anonymous.assert_status(poem::http::StatusCode::UNAUTHORIZED);
    let page = anonymous.0.into_body().into_string().await.unwrap();
    assert!(page.contains("action=\"/workbench/sign-in\""), "{page}");
}
