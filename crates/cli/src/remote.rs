//! Driving a running server (`--server URL`), whose store the commands cannot open while it
//! serves: `archive export` streams its `/admin/archive`, `verify` asks its `verification`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

/// `--server` and `--token`, for the commands that can ask a running server.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Ask the server running at this address (e.g. http://127.0.0.1:8080) instead of opening
    /// a store directory, which the server holds while it runs.
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    pub server: Option<String>,
    /// Bearer token for --server (`archive export` needs an admin token; `verify` a reader
    /// token unless the server allows anonymous read).
    #[arg(long, env = "KPI_LEDGER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// How long to wait for a connection, and for each piece of an answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server.
pub struct Server {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Server {
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<Server> {
        let base = url.trim().trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base.starts_with("http://"),
            "--server {url}: expected http://HOST:PORT (the server speaks plain HTTP; reach it \
             on its own address, e.g. through an SSH tunnel, not through a TLS proxy)"
        );
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()?;
        Ok(Server {
            base,
            token: token.filter(|token| !token.trim().is_empty()),
            http,
        })
    }

    /// The server's address as given, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.authorised(self.http.get(format!("{}{path}", self.base)))
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token.trim()),
            None => request,
        }
    }

    /// A response that is not a success, as an error carrying the server's reason.
    async fn refused(&self, path: &str, response: reqwest::Response) -> anyhow::Error {
        let status = response.status();
        let reason = response.text().await.unwrap_or_default();
        let hint = match (status.as_u16(), &self.token) {
            (401, None) => " (give --token or set KPI_LEDGER_TOKEN)",
            _ => "",
        };
        anyhow::anyhow!("{}{path}: {status}: {}{hint}", self.base, reason.trim())
    }

    /// The body of `GET path` as text, or the server's refusal as an error.
    pub async fn fetch_text(&self, path: &str) -> anyhow::Result<String> {
        let response = self
            .get(path)
            .send()
            .await
            .with_context(|| format!("cannot reach {}{path}", self.base))?;
        if !response.status().is_success() {
            return Err(self.refused(path, response).await);
        }
        Ok(response.text().await?)
    }

    /// Streams the server's archive into `out`; returns the bytes written. Whether the
    /// archive is whole is for the caller to check: a cut connection ends the body early.
    pub async fn download_archive(&self, out: &mut impl Write) -> anyhow::Result<u64> {
        const PATH: &str = "/admin/archive";
        let mut response = self
            .get(PATH)
            .send()
            .await
            .with_context(|| format!("cannot reach {}{PATH}", self.base))?;
        if !response.status().is_success() {
            return Err(self.refused(PATH, response).await);
        }
        let mut written = 0;
        while let Some(piece) = response
            .chunk()
            .await
            .with_context(|| format!("{}{PATH}: the archive was cut off", self.base))?
        {
            out.write_all(&piece)?;
            written += piece.len() as u64;
        }
        Ok(written)
    }

    /// The server's own walk of its hash chain (the GraphQL `verification`).
    pub async fn verification(&self) -> anyhow::Result<Verification> {
        const PATH: &str = "/graphql";
        let query = "{ verification { ok digest { position hash } failure { position reason } } }";
        let response = self
            .authorised(self.http.post(format!("{}{PATH}", self.base)))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .await
            .with_context(|| format!("cannot reach {}{PATH}", self.base))?;
        if !response.status().is_success() {
            return Err(self.refused(PATH, response).await);
        }
        let answer: serde_json::Value = response
            .json()
            .await
            .with_context(|| format!("{}{PATH}: not a GraphQL answer", self.base))?;
        if let Some(errors) = answer["errors"].as_array().filter(|e| !e.is_empty()) {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|error| error["message"].as_str())
                .collect();
            anyhow::bail!("{}{PATH}: {}", self.base, messages.join("; "));
        }
        let verification = &answer["data"]["verification"];
        let failure = &verification["failure"];
        let digest = &verification["digest"];
        match verification["ok"].as_bool() {
            Some(true) => Ok(Verification::Ok(format!(
                "position {} hash {}",
                digest["position"],
                digest["hash"].as_str().unwrap_or_default()
            ))),
            Some(false) => Ok(Verification::Failed(format!(
                "verification failed at position {}: {}",
                failure["position"],
                failure["reason"].as_str().unwrap_or_default()
            ))),
            None => anyhow::bail!("{}{PATH}: unexpected answer {answer}", self.base),
        }
    }
}

/// What the server's walk of its chain found, as `verify` prints it.
pub enum Verification {
    /// The digest: `position N hash H`.
    Ok(String),
    /// The first bad position and why.
    Failed(String),
}
