//! Inside the domain, imports run one way (ARCHITECTURE.md, "Plans name kinds, not events"):
//! `kind` imports nothing from the crate, and `plan` only `kind`, `calendar` and `values`, so
//! `event` -> `lifecycle` -> `plan` -> `kind` has no way back. Read from the source: a
//! `crate::...` path in code (comments aside) against that order fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The crate modules a file's code names through `crate::`, including inside `crate::{...}`.
fn crate_modules(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut modules = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let names = match after.strip_prefix('{') {
            // A group: the first segment of each item.
            Some(group) => group[..group.find('}').unwrap_or(group.len())]
                .split(',')
                .map(str::trim)
                .collect::<Vec<_>>(),
            None => vec![after],
        };
        for name in names {
            let module: String = name
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !module.is_empty() {
                modules.insert(module);
            }
        }
        rest = after;
    }
    modules
}

fn src(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(relative)
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
}

fn assert_imports_only(files: &[PathBuf], allowed: &[&str]) {
    assert!(!files.is_empty(), "no files to check");
    for file in files {
        let against: Vec<String> = crate_modules(file)
            .into_iter()
            .filter(|module| !allowed.contains(&module.as_str()))
            .collect();
        assert!(
            against.is_empty(),
            "{} uses crate::{{{}}}; it may use only {allowed:?}",
            file.display(),
            against.join(", ")
        );
    }
}

#[test]
fn kinds_import_nothing_from_the_crate() {
    assert_imports_only(&[src("kind.rs")], &[]);
}

#[test]
fn plans_import_only_kinds_calendar_and_values() {
    let files = rust_files(&src("plan"));
    assert!(
        files.iter().any(|file| file.ends_with("parse.rs")),
        "the plan reader is checked"
    );
    assert_imports_only(&files, &["plan", "kind", "calendar", "values"]);
}

#[test]
fn the_reader_of_imports_sees_paths_and_groups_but_not_comments() {
    let dir = std::env::temp_dir().join(format!("kpi-layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sample.rs");
    std::fs::write(
        &file,
        "//! [`crate::event`] in a doc comment\n\
         use crate::kind::EventKind;\n\
         use crate::{calendar::FiscalYear, values::Code};\n\
         fn f() { crate::event::sources::getter(); }\n",
    )
    .unwrap();
    let found = crate_modules(&file);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["calendar", "event", "kind", "values"]
    );
}
