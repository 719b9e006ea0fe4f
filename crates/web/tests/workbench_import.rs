//! Bulk import while serving: an upload is checked as a background job whose page names every
//! bad row (line, field, reason) and writes nothing; a clean file is imported all at once, and
//! importing it again writes nothing twice.

mod workbench_support;

use poem::test::{TestForm, TestFormField};
use workbench_support::{bench, bench_with, get, input_value, sign_in, Client};

const HEADER: &str =
    "title,organiser,first_date,sessions,participants.unique,participants.attendances,status\n";

fn seminars(bad_line_unique: &str) -> String {
    format!(
        "{HEADER}\
         創業セミナー,産業支援課,2024/10/10,1,20,20,held\n\
         DXセミナー,産業支援課,令和6年11月1日,2,15,{bad_line_unique},held\n\
         テレワーク相談会,産業支援課,R6.12.5,1,8,8,held\n"
    )
}

/// Uploads `csv` as `name` with `mode` (`dry` or `commit`); status and `Location`.
async fn upload(
    client: &Client,
    cookie: &str,
    name: &str,
    csv: &str,
    mode: &str,
) -> (u16, Option<String>) {
    let (_, page) = get(client, cookie, "/workbench/import").await;
    let csrf = input_value(&page, "csrf").expect("the upload form's csrf");
    let form = TestForm::new()
        .text("csrf", csrf)
        .text("kind", "")
        .field(
            TestFormField::bytes(csv.as_bytes().to_vec())
                .name("file")
                .filename(name)
                .content_type("text/csv"),
        )
        .text("mode", mode);
    let response = client
        .post("/workbench/import")
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await;
    let status = response.0.status().as_u16();
    let location = response
        .0
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, location)
}

/// The job's page once it has finished (it asks to be refreshed until then).
async fn finished(client: &Client, cookie: &str, job: &str) -> String {
    for _ in 0..400 {
        let response = client.get(job).header("cookie", cookie).send().await;
        assert_eq!(response.0.status().as_u16(), 200);
        let refreshing = response.0.headers().contains_key("refresh");
        let page = response.0.into_body().into_string().await.unwrap();
        if !refreshing {
            return page;
        }
        assert!(
            page.contains("id=\"job-progress\""),
            "progress shown: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the job did not finish in 10 s");
}

fn text_of(page: &str, id: &str) -> String {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id}: {page}"));
    let rest = &page[at..];
    rest[rest.find('>').unwrap() + 1..]
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_dry_run_names_the_bad_row_then_the_fixed_file_is_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let bench = bench(dir.path(), true).await;
    let clerk = sign_in(&bench.client, &bench.recorder).await;
    let head = bench.ledger.head().position;

    // Line 3: 15 people cannot make 40 attendances in 2 sessions.
    let (status, job) = upload(&bench.client, &clerk, "seminar.csv", &seminars("40"), "dry").await;
    assert_eq!(status, 303);
    let page = finished(&bench.client, &clerk, &job.unwrap()).await;
    assert_eq!(text_of(&page, "valid"), "2");
    assert_eq!(text_of(&page, "bad"), "1");
    let bad = &page[page.find("id=\"bad-rows\"").unwrap()..];
    let row = &bad[bad.find("<tbody>").unwrap()..bad.find("</tbody>").unwrap()];
    assert!(row.contains(">3<"), "line 3: {row}");
    assert!(row.contains("participants.attendances"), "the field: {row}");
    assert!(
        row.contains("実参加者数×回数（30）を超えることはできません"),
        "the reason, in Japanese: {row}"
    );
    assert!(!page.contains("id=\"commit-now\""), "no import offered");
    assert_eq!(
        bench.ledger.head().position,
        head,
        "a dry run writes nothing"
    );

    // Committing the bad file writes nothing either: all or nothing.
    let (_, job) = upload(
        &bench.client,
        &clerk,
        "seminar.csv",
        &seminars("40"),
        "commit",
    )
    .await;
    let page = finished(&bench.client, &clerk, &job.unwrap()).await;
    assert!(page.contains("id=\"bad-rows\""), "{page}");
    assert_eq!(bench.ledger.head().position, head, "nothing written");

    // Fixed, checked, then imported from the checked upload.
    let fixed = seminars("30");
    let (_, job) = upload(&bench.client, &clerk, "seminar.csv", &fixed, "dry").await;
    let page = finished(&bench.client, &clerk, &job.clone().unwrap()).await;
    assert_eq!(text_of(&page, "bad"), "0");
    let csrf = input_value(&page, "csrf").unwrap();
    let commit = bench
        .client
        .post(format!("{}/commit", job.unwrap()))
        .header("cookie", &clerk)
        .content_type("application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await;
    commit.assert_status(poem::http::StatusCode::SEE_OTHER);
    let location = commit.0.headers()["location"].to_str().unwrap().to_owned();
    let page = finished(&bench.client, &clerk, &location).await;
    assert_eq!(text_of(&page, "appended-count"), "3", "{page}");
    assert_eq!(text_of(&page, "already"), "0");
    assert_eq!(bench.ledger.head().position, head + 3);

    // The same file imported again: recognised row by row, nothing written twice.
    let (_, job) = upload(&bench.client, &clerk, "seminar.csv", &fixed, "commit").await;
    let page = finished(&bench.client, &clerk, &job.unwrap()).await;
    assert_eq!(text_of(&page, "appended-count"), "0");
    assert_eq!(text_of(&page, "already"), "3");
    assert_eq!(bench.ledger.head().position, head + 3);

    // Another user cannot see the clerk's job.
    let admin = sign_in(&bench.client, &bench.admin).await;
    let (status, _) = get(&bench.client, &admin, &location).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn uploads_beyond_the_limit_without_a_kind_or_by_a_reader_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = kpi_web::WebConfig {
        max_upload_bytes: 1000,
        ..Default::default()
    };
    let bench = bench_with(dir.path(), true, config).await;
    let clerk = sign_in(&bench.client, &bench.recorder).await;
    let head = bench.ledger.head().position;
    let big = format!(
        "{HEADER}{}",
        "創業セミナー,産業支援課,2024/10/10,1,20,20,held\n".repeat(40)
    );
    let (status, _) = upload(&bench.client, &clerk, "seminar.csv", &big, "commit").await;
    assert_eq!(status, 413);
    let (status, _) = upload(
        &bench.client,
        &clerk,
        "events.csv",
        &seminars("30"),
        "commit",
    )
    .await;
    assert_eq!(status, 422, "no kind in the name and none chosen");
    assert_eq!(bench.ledger.head().position, head);

    let reader = sign_in(&bench.client, &bench.reader).await;
    let (_, page) = get(&bench.client, &reader, "/workbench/record").await;
    let csrf = input_value(&page, "csrf").unwrap();
    let form = TestForm::new().text("csrf", csrf).field(
        TestFormField::bytes(seminars("30").into_bytes())
            .name("file")
            .filename("seminar.csv"),
    );
    let refused = bench
        .client
        .post("/workbench/import")
        .header("cookie", &reader)
        .multipart(form)
        .send()
        .await;
    refused.assert_status(poem::http::StatusCode::FORBIDDEN);
    assert_eq!(bench.ledger.head().position, head);
}
