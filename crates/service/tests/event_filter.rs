//! The event list's filters (the workbench's event browser, GraphQL's `events`): by actor,
//! by the activity's date, by text anywhere a person would look; every filter given holds
//! for every event listed, and the events left out are the ones it rules out.

mod common;

use chrono::NaiveDate;
use kpi_domain::PlanDefinition;
use kpi_service::{EventFilter, Ledger, RecordOptions};
use serde_json::json;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

async fn record_seminar(ledger: &Ledger, actor: &str, title: &str, day: &str, provenance: &str) {
    let payload = json!({
        "title": title, "organiser": "DX・テレワーク推進センター",
        "first_date": day, "sessions": 1,
        "participants": { "unique": 10, "attendances": 10 }, "status": "held",
        "note": "会場: 富士市産業支援センター"
    });
    ledger
        .record_payload(
            actor,
            "seminar",
            &payload,
            RecordOptions {
                provenance: Some(provenance.to_owned()),
                ..RecordOptions::default()
            },
        )
        .await
        .unwrap();
}

fn titles(ledger: &Ledger, filter: &EventFilter) -> Vec<String> {
    ledger
        .events(filter, 0, 100)
        .unwrap()
        .events
        .iter()
        .map(|(_, recorded)| recorded.event.title().unwrap_or_default().to_owned())
        .collect()
}

on_both_backends! {
#[tokio::test]
async fn actor_activity_dates_and_text_narrow_the_list(log) {
    let dir = &log.dir;
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let ledger = Ledger::open(dir.path(), log.config(), vec![plan])
        .await
        .unwrap();
    record_seminar(
        &ledger,
        "clerk",
        "Web活用セミナー",
        "2024-04-30",
        "R6 報告書 p.3",
    )
    .await;
    record_seminar(&ledger, "clerk", "DX入門", "2024-10-10", "受付名簿").await;
    record_seminar(
        &ledger,
        "tanaka",
        "AI活用講座",
        "2025-02-01",
        "R6 報告書 p.4",
    )
    .await;

    let all = EventFilter::default();
    assert_eq!(titles(&ledger, &all).len(), 3);
    let by_actor = EventFilter {
        actor: Some("clerk".into()),
        ..all.clone()
    };
    assert_eq!(titles(&ledger, &by_actor), ["Web活用セミナー", "DX入門"]);
    let in_autumn = EventFilter {
        occurred_from: Some(date("2024-10-10")),
        occurred_to: Some(date("2025-01-31")),
        ..all.clone()
    };
    assert_eq!(
        titles(&ledger, &in_autumn),
        ["DX入門"],
        "both ends included"
    );
    // Text is looked for in the title, the actor, the provenance and the payload's text,
    // whatever the case, never in the payload's keys.
    for (needle, expected) in [
        ("web活用", vec!["Web活用セミナー"]),
        ("TANAKA", vec!["AI活用講座"]),
        ("報告書", vec!["Web活用セミナー", "AI活用講座"]),
        (
            "産業支援センター",
            vec!["Web活用セミナー", "DX入門", "AI活用講座"],
        ),
        ("organiser", vec![]),
    ] {
        let filter = EventFilter {
            text: Some(needle.into()),
            ..all.clone()
        };
        assert_eq!(titles(&ledger, &filter), expected, "{needle}");
    }
    let together = EventFilter {
        actor: Some("clerk".into()),
        text: Some("報告書".into()),
        ..all
    };
    assert_eq!(titles(&ledger, &together), ["Web活用セミナー"]);
    ledger.close().await;
}
}

on_both_backends! {
/// A reading budget bounds what one page reads: a filter matching only the last event finds
/// nothing within a budget of two, says more follows and where to go on, and the next page
/// finds it; pages resumed so miss nothing and repeat nothing.
#[tokio::test]
async fn a_reading_budget_bounds_a_page_and_says_where_to_go_on(log) {
    let dir = &log.dir;
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let ledger = Ledger::open(dir.path(), log.config(), vec![plan])
        .await
        .unwrap();
    for (actor, title, day) in [
        ("clerk", "A", "2024-05-01"),
        ("clerk", "B", "2024-06-01"),
        ("tanaka", "C", "2024-07-01"),
        ("clerk", "D", "2024-08-01"),
    ] {
        record_seminar(&ledger, actor, title, day, "p").await;
    }
    let tanaka = EventFilter {
        actor: Some("tanaka".into()),
        ..EventFilter::default()
    };
    let first = ledger.events_within(&tanaka, 0, 10, 2).unwrap();
    assert!(first.events.is_empty());
    assert!(first.has_next_page, "two of four read");
    assert_eq!(first.resume_at, 2);
    let second = ledger
        .events_within(&tanaka, first.resume_at, 10, 2)
        .unwrap();
    assert_eq!(second.events.len(), 1);
    assert_eq!(second.events[0].0.position, 3);
    assert_eq!(second.resume_at, 4, "D was read and does not match");
    assert!(!second.has_next_page, "the log ends at 4");

    // Every event once, one to a page, whatever the budget.
    let clerk = EventFilter {
        actor: Some("clerk".into()),
        ..EventFilter::default()
    };
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = ledger.events_within(&clerk, after, 1, 1).unwrap();
        seen.extend(page.events.iter().map(|(envelope, _)| envelope.position));
        after = page.resume_at;
        if !page.has_next_page {
            break;
        }
    }
    assert_eq!(seen, [1, 2, 4]);

    // Newest first: the same pages walked back from the head, under the same budget.
    let first = ledger.events_newest_first(&tanaka, None, 10, 1).unwrap();
    assert!(first.events.is_empty(), "D read, and it does not match");
    assert!(first.has_next_page);
    assert_eq!(first.resume_at, 4);
    let second = ledger
        .events_newest_first(&tanaka, Some(first.resume_at), 10, 1)
        .unwrap();
    assert_eq!(second.events[0].0.position, 3);
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = ledger.events_newest_first(&clerk, before, 1, 2).unwrap();
        seen.extend(page.events.iter().map(|(envelope, _)| envelope.position));
        before = Some(page.resume_at);
        if !page.has_next_page {
            break;
        }
    }
    assert_eq!(seen, [4, 2, 1]);
    let everything = ledger
        .events_newest_first(&EventFilter::default(), None, 10, usize::MAX)
        .unwrap();
    let positions: Vec<u64> = everything.events.iter().map(|(e, _)| e.position).collect();
    assert_eq!(positions, [4, 3, 2, 1]);
    assert!(!everything.has_next_page);
    ledger.close().await;
}
}
