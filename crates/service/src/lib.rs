//! The application service: validates commands with the domain, appends to the store and keeps
//! projections current. The outer crates (GraphQL, CLI) call only this.

pub mod auth;
