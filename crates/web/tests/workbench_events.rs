//! The workbench's event pages over HTTP: the event browser filters and pages; a reader sees
//! an event in plain words and no form; a correction or retraction is written once however
//! often it is sent; a refused one, a forged one or one from another site writes nothing.

mod common;

use common::{body, form, hidden, start};
use poem::http::StatusCode;

#[tokio::test]
async fn the_event_browser_filters_pages_and_names_a_bad_filter() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.reader.token).await;
    let root = bench.get("/workbench", &session).await;
    root.assert_status(StatusCode::SEE_OTHER);
    root.assert_header("location", "/workbench/events");
    let page = body(
        bench
            .get("/workbench/events?kind=seminar&year=R6", &session)
            .await,
    )
    .await;
    let rows = page
        .matches("<tr><td class=\"n\"><a href=\"/workbench/events/")
        .count();
    assert!(rows > 0, "{page}");
    assert_eq!(rows, page.matches("<td>セミナー</td>").count(), "{page}");
    assert!(page.contains("令和6年"), "activity dates in 和暦: {page}");

    // 187 survey responses, newest first: 50 to a page, then the next page before the last
    // position; every response once over the four pages, in descending log order.
    let mut link = "/workbench/events?kind=survey_response".to_owned();
    let mut newest_first = Vec::new();
    for page_number in 1..=4 {
        let page = body(bench.get(&link, &session).await).await;
        let positions = listed_positions(&page);
        assert_eq!(positions.len(), if page_number < 4 { 50 } else { 37 });
        assert_eq!(
            positions.len(),
            page.matches("<td>企業調査の回答</td>").count()
        );
        assert_eq!(page.contains("id=\"first-page\""), page_number > 1);
        newest_first.extend(positions);
        if page_number < 4 {
            link = hidden_href(&page, "next-page").replace("&amp;", "&");
            assert!(link.contains("before="), "{link}");
        } else {
            assert!(!page.contains("id=\"next-page\""), "the last page: {page}");
        }
    }
    assert!(newest_first.windows(2).all(|pair| pair[0] > pair[1]));
    assert!(newest_first[0] <= bench.ledger.head().position);

    // Oldest first: the same events in log order, the next page after the last position.
    let first = body(
        bench
            .get(
                "/workbench/events?kind=survey_response&order=oldest",
                &session,
            )
            .await,
    )
    .await;
    let next = hidden_href(&first, "next-page");
    assert!(
        next.contains("after=") && next.contains("order=oldest"),
        "{next}"
    );
    let second = body(bench.get(&next.replace("&amp;", "&"), &session).await).await;
    let mut oldest_first = listed_positions(&first);
    oldest_first.extend(listed_positions(&second));
    let mut expected = newest_first.clone();
    expected.reverse();
    assert_eq!(oldest_first, expected[..100]);

    let refused = bench
        .get("/workbench/events?year=R6x&from=2024-13-01", &session)
        .await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    let refused = body(refused).await;
    assert!(refused.contains("id=\"year-error\""), "{refused}");
    assert!(refused.contains("id=\"from-error\""), "{refused}");
    bench.ledger.close().await;
}

/// The log positions the event list of `page` shows, in its order.
fn listed_positions(page: &str) -> Vec<u64> {
    page.split("<tr><td class=\"n\"><a href=\"/workbench/events/")
        .skip(1)
        .map(|row| {
            let text = row.split('>').nth(1).unwrap();
            text.split('<').next().unwrap().parse().unwrap()
        })
        .collect()
}

/// The `href` of the element with id `id`.
fn hidden_href(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let tag_start = page[..at].rfind('<').unwrap();
    let tag = &page[tag_start..page[at..].find('>').unwrap() + at];
    tag.split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_reader_sees_the_event_in_plain_words_and_no_form() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.reader.token).await;
    let seminar = &bench.seminars()[0];
    let path = format!("/workbench/events/{}", seminar.id);
    let page = body(bench.get(&path, &session).await).await;
    assert!(page.contains("セミナー"), "{page}");
    assert!(page.contains("令和"), "{page}");
    assert!(
        page.contains(&format!("({})", seminar.event.occurred_on())),
        "{page}"
    );
    assert!(page.contains("<details id=\"raw\">"), "{page}");
    assert!(
        !page.contains("correct-form") && !page.contains("retract-form"),
        "{page}"
    );
    assert!(page.contains("id=\"reader-only\""), "{page}");
    // Forging the form does not help: the reader's session lacks the role.
    let csrf = hidden(&page, "csrf");
    let head = bench.ledger.head().position;
    bench
        .post(
            &format!("{path}/retract"),
            &session,
            &[
                ("csrf", &csrf),
                ("idempotency_key", "web:x"),
                ("retract.reason", "r"),
                ("retract.decided_on", "2025-04-10"),
            ],
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(bench.ledger.head().position, head);
    bench.ledger.close().await;
}

/// The correct form of `page` as the browser would send it, with `changes` made.
fn correct_form(
    page: &str,
    seminar: &serde_json::Value,
    changes: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("csrf".to_owned(), hidden(page, "csrf")),
        (
            "idempotency_key".to_owned(),
            hidden(page, "idempotency_key"),
        ),
        ("correct.reason".to_owned(), "名簿の数え直し".to_owned()),
        ("correct.decided_on".to_owned(), "令和7年4月10日".to_owned()),
    ];
    for (name, value) in [
        ("title", seminar["title"].as_str().unwrap().to_owned()),
        (
            "organiser",
            seminar["organiser"].as_str().unwrap().to_owned(),
        ),
        (
            "first_date",
            seminar["first_date"].as_str().unwrap().to_owned(),
        ),
        ("sessions", seminar["sessions"].to_string()),
        (
            "participants.unique",
            seminar["participants"]["unique"].to_string(),
        ),
        (
            "participants.attendances",
            seminar["participants"]["attendances"].to_string(),
        ),
        ("status", seminar["status"].as_str().unwrap().to_owned()),
    ] {
        pairs.push((format!("f.{name}"), value));
    }
    for (name, value) in changes {
        match pairs.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = (*value).to_owned(),
            None => pairs.push(((*name).to_owned(), (*value).to_owned())),
        }
    }
    pairs
}

#[tokio::test]
async fn a_correction_and_a_retraction_are_written_once_however_often_sent() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.clerk.token).await;
    let seminars = bench.seminars();
    let (target, other) = (&seminars[0], &seminars[1]);
    let path = format!("/workbench/events/{}", target.id);
    let page = body(bench.get(&path, &session).await).await;
    assert!(page.contains("id=\"correct-form\"") && page.contains("id=\"retract-form\""));
    let payload = target.event.to_payload();
    let unique = payload["participants"]["unique"].as_u64().unwrap() + 1;
    let attendances = payload["participants"]["attendances"].as_u64().unwrap() + 1;
    let (unique, attendances) = (unique.to_string(), attendances.to_string());
    let pairs = correct_form(
        &page,
        &payload,
        &[
            ("f.participants.unique", &unique),
            ("f.participants.attendances", &attendances),
        ],
    );
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let head = bench.ledger.head().position;
    let first = bench
        .post(&format!("{path}/correct"), &session, &pairs)
        .await;
    first.assert_status(StatusCode::SEE_OTHER);
    let location = first.0.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{path}?saved=")),
        "{location}"
    );
    // The double click, the reload: the same key records nothing more.
    for _ in 0..2 {
        let again = bench
            .post(&format!("{path}/correct"), &session, &pairs)
            .await;
        again.assert_status(StatusCode::SEE_OTHER);
        again.assert_header("location", location.as_str());
    }
    assert_eq!(bench.ledger.head().position, head + 1);
    let amendments = bench.ledger.amendment_ids_of(target.id);
    assert_eq!(amendments.len(), 1);
    let (envelope, correction) = bench.ledger.event(amendments[0]).unwrap().unwrap();
    assert_eq!(
        envelope.actor, "clerk",
        "the session's token names the actor"
    );
    let kpi_domain::LedgerEvent::Correction(correction) = correction.event else {
        panic!("a correction")
    };
    assert_eq!(correction.decided_on.to_string(), "2025-04-10");
    assert_eq!(
        correction.replacement.to_payload()["participants"]["unique"].to_string(),
        unique
    );
    let shown = body(bench.get(&location, &session).await).await;
    assert!(
        shown.contains("id=\"saved\"") && shown.contains("id=\"corrected\""),
        "{shown}"
    );
    assert!(
        shown.contains("名簿の数え直し"),
        "the amendment is listed: {shown}"
    );

    let other_path = format!("/workbench/events/{}", other.id);
    let page = body(bench.get(&other_path, &session).await).await;
    let csrf = hidden(&page, "csrf");
    // The retract form's key is the second on the page (the correct form's comes first).
    let key_marker = "id=\"retract-form\"";
    let retract_key = hidden(&page[page.find(key_marker).unwrap()..], "idempotency_key");
    let retract = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", retract_key.as_str()),
        ("retract.reason", "二重に記録"),
        ("retract.decided_on", "2025-04-10"),
    ];
    for _ in 0..2 {
        bench
            .post(&format!("{other_path}/retract"), &session, &retract)
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }
    assert_eq!(bench.ledger.head().position, head + 2);
    let retracted = body(bench.get(&other_path, &session).await).await;
    assert!(retracted.contains("id=\"retracted\""), "{retracted}");
    assert!(
        !retracted.contains("retract-form"),
        "nothing more to amend: {retracted}"
    );
    bench.ledger.close().await;
}

#[tokio::test]
async fn a_refused_form_writes_nothing_and_says_why_beside_the_field() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.clerk.token).await;
    let target = &bench.seminars()[0];
    let path = format!("/workbench/events/{}", target.id);
    let page = body(bench.get(&path, &session).await).await;
    let head = bench.ledger.head().position;
    let payload = target.event.to_payload();
    let attendances = payload["participants"]["attendances"].as_u64().unwrap();
    let too_many = (attendances + 1).to_string();
    for (changes, error_id) in [
        (
            vec![("f.participants.unique", too_many.as_str())],
            "f-participants-unique-error",
        ),
        (vec![("f.sessions", "two")], "f-sessions-error"),
        (vec![("correct.reason", "")], "correct-reason-error"),
        (
            vec![("correct.decided_on", "いつか")],
            "correct-decided-on-error",
        ),
    ] {
        let pairs = correct_form(&page, &payload, &changes);
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let refused = bench
            .post(&format!("{path}/correct"), &session, &pairs)
            .await;
        refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        let shown = body(refused).await;
        assert!(
            shown.contains(&format!("id=\"{error_id}\"")),
            "{error_id}: {shown}"
        );
        // What was typed is kept, and so is the form's key (nothing was written with it).
        assert!(shown.contains(&hidden(&page, "idempotency_key")));
        assert_eq!(bench.ledger.head().position, head, "{error_id}");
    }
    // A form without the session's CSRF token, or from another site, is refused too.
    let mut forged = correct_form(&page, &payload, &[("csrf", "forged")]);
    let pairs: Vec<(&str, &str)> = forged
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    bench
        .post(&format!("{path}/correct"), &session, &pairs)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    forged.retain(|(name, _)| name != "csrf");
    forged.push(("csrf".into(), hidden(&page, "csrf")));
    let pairs: Vec<(&str, &str)> = forged
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    bench
        .client
        .post(format!("{path}/correct"))
        .header("cookie", &session)
        .header("sec-fetch-site", "cross-site")
        .content_type("application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(bench.ledger.head().position, head);
    bench.ledger.close().await;
}
