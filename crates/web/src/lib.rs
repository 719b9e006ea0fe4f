//! Report downloads, the dashboard, the clerk's workbench and the admin archive export, as
//! poem routes the binary mounts on the server (`kpi_server::App::with_routes`), configured
//! by the `[web]` settings ([`WebConfig`]):
//!
//! - `/reports/{plan}/kpi.csv` (Excel form, UTF-8 with BOM; `?form=machine` for the plain
//!   machine form), `kpi.xlsx`, `kpi.md`, `kpi.json`, `charts/overview.svg`,
//!   `charts/kpi-{no}.svg`;
//! - `/dashboard` (the first plan), `/dashboard/{plan}` (table, charts, audit findings, ledger
//!   digest) and `/dashboard/{plan}/cells/{kpi}/{series}/{year}` (the events behind a cell);
//! - `/proof/head`, `/proof/inclusion`, `/proof/consistency`, `/proof/cell` (signed heads,
//!   proofs and a cell's proof bundle, JSON) and `/.well-known/kpi-ledger/public-key`;
//! - `/admin/archive`: the whole log as an archive (`kpi-ledger archive export --server`),
//!   streamed, up to the head at the start of the request; an admin bearer token only.
//!
//! Every report and dashboard route takes `?asOf=` (transaction time: what had been recorded
//! by then; RFC 3339, or a date meaning the end of that day in Japan) and `?through=` (valid
//! time: the activities that happened on or before that date), alone or together; the
//! dashboard and the human forms of the downloads say which the figures are for. They need the
//! reader role: anonymous when anonymous read is on, otherwise a reader token as
//! `Authorization: Bearer ...` or, for a browser, the session of `/workbench/sign-in`
//! (`session`). Pages are rendered on the server (maud); there is no front-end build. The
//! dashboard and the workbench are in Japanese, or English with `?lang=en`.
//!
//! - `/workbench`: the clerk's workbench (`workbench`): sign-in and sign-out, the event
//!   browser (`/workbench/events`), each event's page with its correct and retract forms
//!   (`/workbench/events/{id}`); pages share one layout (`layout`), forms one guard
//!   (`session`: CSRF, origin, role) and their helpers (`forms`).

mod access;
mod archive;
mod dashboard;
mod findings;
pub mod forms;
pub mod layout;
mod proofs;
mod reports;
pub mod session;
mod words;
pub mod workbench;

use std::sync::Arc;

use kpi_server::AuthHandle;
use kpi_service::Ledger;
use poem::{Endpoint, EndpointExt, Response};

pub use session::{WebConfig, SESSION_COOKIE};

/// What the routes share.
pub struct Web {
    pub ledger: Ledger,
    /// The token settings in force, read per request (a reload takes effect on the next one).
    pub auth: AuthHandle,
    /// Signs tree heads (`[proof] key_file`); without it `/proof` answers 503 for signed heads.
    pub signer: Option<Arc<kpi_service::proofs::HeadSigner>>,
    /// The browser sessions (`session`).
    pub sessions: session::Sessions,
    /// The workbench's bulk imports, running and finished (`workbench::import`).
    pub imports: workbench::import::Imports,
}

impl Web {
    pub fn new(ledger: Ledger, auth: AuthHandle, config: WebConfig) -> Self {
        Web {
            ledger,
            auth,
            sessions: session::Sessions::new(config),
            imports: Default::default(),
            signer: None,
        }
    }

    /// Signs tree heads with this key (`[proof] key_file`); without one, `/proof` answers 503
    /// for signed heads.
    pub fn with_signer(mut self, signer: Option<Arc<kpi_service::proofs::HeadSigner>>) -> Self {
        self.signer = signer;
        self
    }
}

/// The `/reports` routes (mount at `/reports`).
pub fn reports(web: Arc<Web>) -> impl Endpoint<Output = Response> {
    reports::routes().data(web).map_to_response()
}

/// The `/admin` routes (mount at `/admin`): `GET /admin/archive`, the whole log as an
/// archive, streamed, for an admin token only.
pub fn admin(web: Arc<Web>) -> impl Endpoint<Output = Response> {
    archive::routes().data(web).map_to_response()
}

/// The `/proof` routes (mount at `/proof`): signed heads, inclusion and consistency
/// proofs, cell proof bundles.
pub fn proofs(web: Arc<Web>) -> impl Endpoint<Output = Response> {
    proofs::routes().data(web).map_to_response()
}

/// The `/.well-known/kpi-ledger` routes: `public-key`, the key heads are signed with.
pub fn well_known(web: Arc<Web>) -> impl Endpoint<Output = Response> {
    proofs::well_known().data(web).map_to_response()
}

/// The `/dashboard` routes (mount at `/dashboard`).
pub fn dashboard(web: Arc<Web>) -> impl Endpoint<Output = Response> {
    dashboard::routes().data(web).map_to_response()
}

/// The `/workbench` routes (mount at `/workbench`).
pub fn workbench(web: Arc<Web>) -> impl Endpoint<Output = Response> {
    workbench::routes().data(web).map_to_response()
}
