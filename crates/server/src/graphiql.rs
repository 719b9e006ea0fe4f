//! GraphiQL at `/`, served whole by this binary: the page, and the browser builds of React,
//! ReactDOM and GraphiQL it loads, embedded at build time, so it works on a network with no
//! internet (a city's LGWAN terminals). No request leaves the server it came from.
//!
//! The builds are vendored from npm at the versions `assets/graphiql/package-lock.json` pins
//! (`assets/graphiql/vendor.mjs` re-fetches them and checks each tarball against the lock's
//! integrity hash); `dist/SHA256SUMS` lists what was copied, and a test holds the embedded
//! bytes to it. Each asset's URL carries a prefix of its SHA-256, so it can be cached for a
//! year and a new build's page never loads an old file. The page itself is always revalidated
//! and carries a Content-Security-Policy that allows only this origin (and the data: fonts
//! GraphiQL's stylesheet holds), with no inline script.

use std::sync::OnceLock;

use poem::http::{header, StatusCode};
use poem::web::Path;
use poem::{handler, Response};
use sha2::{Digest, Sha256};

/// A file the page loads.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! vendored {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../assets/graphiql/dist/", $name)),
        }
    };
}

/// In the order the page loads them (React before GraphiQL, which needs it, before init.js).
const ASSETS: [Asset; 7] = [
    vendored!("graphiql.min.css", CSS),
    Asset {
        name: "page.css",
        content_type: CSS,
        bytes: include_bytes!("../assets/graphiql/page.css"),
    },
    vendored!("react.production.min.js", JS),
    vendored!("react-dom.production.min.js", JS),
    vendored!("graphiql.min.js", JS),
    Asset {
        name: "init.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql/init.js"),
    },
    vendored!("LICENSES.txt", "text/plain; charset=utf-8"),
];

/// Where the assets are served: `/graphiql/{hash}/{name}`.
pub const ASSET_PREFIX: &str = "/graphiql/";

/// Assets never change under their URL (it carries their hash).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What the page may load: scripts and styles from this origin only, GraphiQL's fonts from
/// the data: URLs its stylesheet holds, requests (and websockets) to this origin only.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     font-src 'self' data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

struct Embedded {
    /// The URL hash of each asset, in `ASSETS` order.
    hashes: Vec<String>,
    page: String,
}

/// The first 16 hex digits of the SHA-256: enough to tell two builds of a file apart.
fn url_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

fn embedded() -> &'static Embedded {
    static EMBEDDED: OnceLock<Embedded> = OnceLock::new();
    EMBEDDED.get_or_init(|| {
        let hashes: Vec<String> = ASSETS.iter().map(|asset| url_hash(asset.bytes)).collect();
        let url = |name: &str| {
            let index = ASSETS
                .iter()
                .position(|asset| asset.name == name)
                .expect("the page names embedded assets");
            format!("{ASSET_PREFIX}{}/{name}", hashes[index])
        };
        let scripts: String = ASSETS
            .iter()
            .filter(|asset| asset.content_type == JS)
            .map(|asset| format!("  <script src=\"{}\"></script>\n", url(asset.name)))
            .collect();
        let styles: String = ASSETS
            .iter()
            .filter(|asset| asset.content_type == CSS)
            .map(|asset| format!("  <link rel=\"stylesheet\" href=\"{}\">\n", url(asset.name)))
            .collect();
        let page = format!(
            r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="robots" content="noindex">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>kpi-ledger GraphiQL</title>
  <link rel="icon" href="data:,">
{styles}</head>
<body>
  <div id="graphiql" data-endpoint="/graphql" data-subscription-endpoint="/graphql/ws">Loading GraphiQL…</div>
  <noscript>GraphiQL needs JavaScript. The GraphQL endpoint is /graphql.</noscript>
{scripts}  <!-- GraphiQL {version} and React: {licences} -->
</body>
</html>
"#,
            version = graphiql_version(),
            licences = url("LICENSES.txt"),
        );
        Embedded { hashes, page }
    })
}

/// The pinned GraphiQL version, from the licences file vendor.mjs writes (`graphiql@4.1.2`).
fn graphiql_version() -> &'static str {
    let licences = ASSETS
        .iter()
        .find(|asset| asset.name == "LICENSES.txt")
        .map_or(&b""[..], |asset| asset.bytes);
    std::str::from_utf8(licences)
        .ok()
        .and_then(|text| text.lines().find(|line| line.starts_with("graphiql@")))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or("graphiql")
}

/// The page at `/`: static, no data in it, always revalidated (its asset URLs change with a
/// new build).
#[handler]
pub fn serve_page() -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("content-security-policy", PAGE_CSP)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .body(embedded().page.clone())
}

/// `/graphiql/{hash}/{name}`: an embedded asset, cached for a year; 404 for any other name
/// or a hash of another build.
#[handler]
pub fn serve_asset(Path((hash, name)): Path<(String, String)>) -> Response {
    let embedded = embedded();
    let found = ASSETS
        .iter()
        .zip(&embedded.hashes)
        .find(|(asset, asset_hash)| asset.name == name && **asset_hash == hash);
    match found {
        Some((asset, _)) => Response::builder()
            .content_type(asset.content_type)
            .header(header::CACHE_CONTROL, IMMUTABLE)
            .header("x-content-type-options", "nosniff")
            .body(asset.bytes),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "no GraphiQL asset {ASSET_PREFIX}{hash}/{name} in this build: reload /\n"
            )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded files are the ones vendor.mjs copied from the checked npm tarballs, byte
    /// for byte (init.js and page.css are ours and not listed).
    #[test]
    fn embedded_assets_match_the_vendored_checksums() {
        let sums = include_str!("../assets/graphiql/dist/SHA256SUMS");
        let mut listed = 0;
        for line in sums.lines() {
            let (sum, name) = line.split_once("  ").expect("`<sha256>  <name>` lines");
            let asset = ASSETS
                .iter()
                .find(|asset| asset.name == name)
                .unwrap_or_else(|| panic!("{name} is vendored but not embedded"));
            assert_eq!(hex::encode(Sha256::digest(asset.bytes)), sum, "{name}");
            listed += 1;
        }
        assert_eq!(listed, ASSETS.len() - 2, "every vendored asset is listed");
    }

    #[test]
    fn the_page_loads_only_embedded_assets_from_this_origin() {
        let page = &embedded().page;
        assert!(
            !page.contains("//"),
            "no absolute or protocol-relative URL:\n{page}"
        );
        for (asset, hash) in ASSETS.iter().zip(&embedded().hashes) {
            assert!(
                page.contains(&format!("{ASSET_PREFIX}{hash}/{}", asset.name)),
                "{} is linked with its hash",
                asset.name
            );
        }
        let react = page.find("react.production").unwrap();
        let graphiql = page.find("graphiql.min.js").unwrap();
        let init = page.find("init.js").unwrap();
        assert!(react < graphiql && graphiql < init, "load order:\n{page}");
        assert!(
            !page.contains("<script>"),
            "no inline script (CSP script-src 'self')"
        );
        assert!(
            !page.contains("style="),
            "no inline style (CSP style-src 'self')"
        );
        assert!(page.contains("GraphiQL graphiql@4."), "{page}");
    }
}
