//! `schema.graphql` at the repository root is the schema clients read; it must be exactly
//! what the code serves. After changing the schema, rewrite the file with
//!
//! ```sh
//! UPDATE_SCHEMA=1 cargo test -p kpi-graphql --test schema_file
//! ```
//!
//! and commit it with the change.

use std::path::PathBuf;

fn schema_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema.graphql")
}

#[test]
fn schema_graphql_matches_the_code() {
    let sdl = kpi_graphql::sdl();
    let path = schema_file();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
        eprintln!("rewrote {}", path.display());
        return;
    }
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    if on_disk != sdl {
        let first_difference = on_disk
            .lines()
            .zip(sdl.lines())
            .position(|(file, code)| file != code)
            .map_or_else(
                || "one is a prefix of the other".to_owned(),
                |index| format!("first difference at line {}", index + 1),
            );
        panic!(
            "schema.graphql differs from the schema the code serves ({first_difference}); \
             run `UPDATE_SCHEMA=1 cargo test -p kpi-graphql --test schema_file` and commit it"
        );
    }
}

#[test]
fn the_schema_names_every_operation_of_the_brief() {
    let sdl = kpi_graphql::sdl();
    for operation in [
        "plans:",
        "kpiTable(",
        "kpiHistory(",
        "events(",
        "event(id: ID!)",
        "verification:",
        "auditFindings:",
        "head:",
        "correctEvent(",
        "retractEvent(",
        "eventRecorded(",
        "kpiTableChanged(",
        "plan(id: ID!)",
        "transferReport(",
        "adoptPlan(",
        "extendPlan(",
        "reviseKpiTarget(",
        "addKpi(",
        "retireKpi(",
        "transferPlan(",
        "rebuildProjection:",
    ] {
        assert!(sdl.contains(operation), "the schema lacks `{operation}`");
    }
    // Amendments and plan lifecycle events have mutations of their own, named above.
    for kind in kpi_domain::EventKind::ALL
        .into_iter()
        .filter(|kind| !kind.is_amendment() && !kind.is_lifecycle())
    {
        let camel: String = kind
            .name()
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                    .unwrap_or_default()
            })
            .collect();
        let mutation = format!("record{camel}(");
        assert!(
            sdl.contains(&mutation),
            "no mutation `{mutation}` for `{kind}`"
        );
    }
}
