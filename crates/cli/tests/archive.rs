//! `kpi-ledger archive export` / `archive import` through the real binary: a round trip gives
//! the same digest and the same KPI table; a changed byte, swapped lines, a dropped line, a
//! missing trailer or one that does not match is refused with the line named, and nothing is
//! written.

mod support;

use std::path::Path;

use support::{kpi_ledger, text};

/// What a command that must succeed printed.
fn succeed(args: &[&str]) -> String {
    text(&support::succeed(args).stdout)
}

/// `position N hash H` as `verify` prints it after `ok: `.
fn digest(data: &str) -> String {
    let out = succeed(&["verify", "--data", data]);
    out.trim()
        .strip_prefix("ok: ")
        .unwrap_or_else(|| panic!("verify printed {out}"))
        .to_owned()
}

/// A ledger holding the Fuji seed, and its archive.
struct Exported {
    dir: tempfile::TempDir,
    digest: String,
    lines: Vec<String>,
}

impl Exported {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("original");
        let data = data.to_str().unwrap();
        succeed(&[
            "import",
            "config/seed/fuji-telework-r6.toml",
            "--data",
            data,
        ]);
        let archive = dir.path().join("ledger.jsonl");
        let archive = archive.to_str().unwrap();
        let out = succeed(&["archive", "export", "--data", data, archive]);
        let digest = digest(data);
        assert!(out.contains(&digest), "{out}");
        let lines: Vec<String> = std::fs::read_to_string(archive)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(lines.len() > 10, "the seed gives a real log");
        Exported { dir, digest, lines }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// Imports `lines` as an archive; expects a refusal naming `line` and no store written.
    fn refused(&self, lines: &[String], line: usize, why: &str) {
        self.refused_at(lines, &format!("tampered.jsonl: line {line}: "), why);
    }

    /// Imports `lines` as an archive; expects a refusal saying `at` and `why`, and no store
    /// written.
    fn refused_at(&self, lines: &[String], at: &str, why: &str) {
        let file = self.path("tampered.jsonl");
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let target = self.path("tampered-store");
        let output = kpi_ledger(&["archive", "import", &file, "--data", &target]);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(at), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(stderr.contains("nothing written"), "{stderr}");
        assert!(
            !Path::new(&target).exists(),
            "a refused archive writes nothing"
        );
    }
}

#[test]
fn export_import_and_verify_round_trip_to_the_original_digest_and_table() {
    let exported = Exported::new();
    let archive = exported.path("ledger.jsonl");
    let restored = exported.path("restored");
    let out = succeed(&["archive", "import", &archive, "--data", &restored]);
    assert!(out.contains(&format!("ok: {}", exported.digest)), "{out}");
    assert_eq!(digest(&restored), exported.digest);

    // The archive is what `log` prints, line for line, then the trailer.
    let logged = succeed(&["log", "--data", &restored]);
    let (trailer, events) = exported.lines.split_last().unwrap();
    assert_eq!(logged.lines().collect::<Vec<_>>(), events);
    let trailer: serde_json::Value = serde_json::from_str(trailer).unwrap();
    assert_eq!(
        format!(
            "position {} hash {}",
            trailer["trailer"]["head"]["position"],
            trailer["trailer"]["head"]["hash"].as_str().unwrap()
        ),
        exported.digest
    );
    assert_eq!(trailer["trailer"]["events"], events.len());

    let original = exported.path("original");
    assert_eq!(
        succeed(&["table", "--data", &original, "--format", "json"]),
        succeed(&["table", "--data", &restored, "--format", "json"])
    );

    // Never over an existing store, and never over an existing archive.
    let again = kpi_ledger(&["archive", "import", &archive, "--data", &restored]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("not empty"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(digest(&restored), exported.digest);
    let overwrite = kpi_ledger(&["archive", "export", "--data", &original, &archive]);
    assert!(!overwrite.status.success());
    assert!(
        text(&overwrite.stderr).contains("already exists"),
        "{}",
        text(&overwrite.stderr)
    );
}

#[test]
fn a_changed_byte_in_a_payload_is_refused() {
    let exported = Exported::new();
    let mut lines = exported.lines.clone();
    let line = &mut lines[4];
    let payload = line
        .find("\"payload\":")
        .expect("an envelope has a payload");
    let digit = payload
        + line[payload..]
            .find(|c: char| c.is_ascii_digit())
            .expect("the seed's payloads hold numbers");
    let changed = if &line[digit..=digit] == "9" {
        "8"
    } else {
        "9"
    };
    line.replace_range(digit..=digit, changed);
    exported.refused(&lines, 5, "does not match the recomputed hash");
}

#[test]
fn swapped_lines_are_refused() {
    let exported = Exported::new();
    let mut lines = exported.lines.clone();
    lines.swap(2, 3);
    exported.refused(&lines, 3, "expected position 3");
}

#[test]
fn a_dropped_line_is_refused() {
    let exported = Exported::new();
    let mut lines = exported.lines.clone();
    lines.remove(6);
    exported.refused(&lines, 7, "expected position 7");
}

#[test]
fn a_line_that_is_not_an_event_is_refused() {
    let exported = Exported::new();
    let mut lines = exported.lines.clone();
    let half = lines[1].len() / 2;
    lines[1].truncate(half);
    exported.refused(&lines, 2, "not an archived event");
}

/// The trailer line of an archive as JSON, changed by `change`.
fn with_trailer(lines: &[String], change: impl Fn(&mut serde_json::Value)) -> Vec<String> {
    let mut lines = lines.to_vec();
    let last = lines.len() - 1;
    let mut trailer: serde_json::Value = serde_json::from_str(&lines[last]).unwrap();
    change(&mut trailer["trailer"]);
    lines[last] = trailer.to_string();
    lines
}

#[test]
fn an_archive_cut_by_its_last_line_is_refused_and_taken_only_with_no_trailer() {
    let exported = Exported::new();
    let events = exported.lines.len() - 1;
    // The last line (the trailer) dropped: every event that is left still chains.
    let cut = &exported.lines[..events];
    exported.refused_at(
        cut,
        "tampered.jsonl: the archive ends early: no trailer after",
        "--no-trailer",
    );

    // An archive written before trailers existed is taken when the caller says so, and
    // restores to the same digest.
    let file = exported.path("old-format.jsonl");
    std::fs::write(&file, cut.join("\n") + "\n").unwrap();
    let restored = exported.path("from-old-format");
    let out = succeed(&[
        "archive",
        "import",
        &file,
        "--data",
        &restored,
        "--no-trailer",
    ]);
    assert!(out.contains(&format!("ok: {}", exported.digest)), "{out}");
    // A trailer that is there is checked even then.
    let short = [&exported.lines[..events - 1], &exported.lines[events..]].concat();
    let file = exported.path("short.jsonl");
    std::fs::write(&file, short.join("\n") + "\n").unwrap();
    let target = exported.path("from-short");
    let output = kpi_ledger(&[
        "archive",
        "import",
        &file,
        "--data",
        &target,
        "--no-trailer",
    ]);
    assert!(!output.status.success());
    assert!(!Path::new(&target).exists());
}

#[test]
fn an_archive_missing_its_last_event_is_refused_by_its_trailer() {
    let exported = Exported::new();
    let events = exported.lines.len() - 1;
    let mut lines = exported.lines.clone();
    lines.remove(events - 1);
    // 335 events in the seed: "334 of 335", as the "3,334 of 3,335".
    exported.refused(
        &lines,
        events,
        &format!(
            "the archive ends early: {} of {} events",
            events - 1,
            events
        ),
    );
}

#[test]
fn a_trailer_that_does_not_match_the_events_is_refused() {
    let exported = Exported::new();
    let events = exported.lines.len() - 1;
    let line = events + 1;
    let more = with_trailer(&exported.lines, |t| t["events"] = (events + 1).into());
    exported.refused(
        &more,
        line,
        &format!("the archive ends early: {events} of {} events", events + 1),
    );
    let fewer = with_trailer(&exported.lines, |t| t["events"] = (events - 1).into());
    exported.refused(
        &fewer,
        line,
        &format!(
            "the archive holds {events} events but its trailer says {}",
            events - 1
        ),
    );
    let other = "0".repeat(64);
    let hash = with_trailer(&exported.lines, |t| {
        t["head"]["hash"] = other.clone().into()
    });
    exported.refused(
        &hash,
        line,
        &format!("but the trailer says position {events} hash {other}"),
    );
    let sha = with_trailer(&exported.lines, |t| t["sha256"] = other.clone().into());
    exported.refused(&sha, line, "the file was changed after it was exported");
    let mut after = exported.lines.clone();
    after.push(exported.lines[0].clone());
    exported.refused(&after, line + 1, "a line after the trailer");
}
