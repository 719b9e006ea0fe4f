//! The service's tests on both backends: the store tests' `on_both_backends!` and
//! `TestLog` (a temporary directory, and for PostgreSQL a fresh database in the process's
//! test cluster, skipped without PostgreSQL 15 unless `KPI_POSTGRES_REQUIRED=1`).
#![allow(dead_code)]

#[path = "../../../store/tests/common/backends.rs"]
pub mod backends;
#[path = "../../../store/tests/common/cluster.rs"]
pub mod cluster;

#[allow(unused_imports)] // not every test names it
pub use backends::TestLog;
