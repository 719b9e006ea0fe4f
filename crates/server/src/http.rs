//! GraphQL over HTTP (the GraphQL-over-HTTP draft): content negotiation, request parsing with
//! exact status codes, the GET-is-read-only rule, body size and time limits, auth.
//!
//! async-graphql-poem's stock endpoint answers 200 to everything and runs mutations over GET,
//! so this handler owns the HTTP side and hands async-graphql only a well-formed request.

use std::future::Future;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use async_graphql::{Executor, Variables};
use bytes::Bytes;
use metrics::counter;
use poem::http::header::{self, HeaderValue};
use poem::http::{Method, StatusCode};
use poem::web::Accept;
use poem::{Endpoint, FromRequest, Request, Response};
use serde_json::{json, Map, Value};

use crate::auth::AuthFailure;
use crate::cache::{DocumentCache, ResponseCache, ResponseKey};
use crate::config::{Introspection, Limits};
use crate::metrics::names;
use crate::reload::AuthHandle;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// The media type a response is written in; it decides how request errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    /// Request errors answer 4xx with no `data` entry.
    GraphqlResponseJson,
    /// Legacy clients: every well-formed request answers 200.
    Json,
}

impl MediaType {
    fn content_type(self) -> &'static str {
        match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }

    /// Status for a GraphQL request error (parse, validation, variable coercion).
    fn request_error_status(self) -> StatusCode {
        match self {
            MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
            MediaType::Json => StatusCode::OK,
        }
    }
}

/// Picks the response media type from `Accept` (already sorted by q), or `None` when the
/// client accepts neither JSON type.
fn negotiate(accept: &Accept, header_present: bool) -> Option<MediaType> {
    if !header_present || accept.0.is_empty() {
        return Some(MediaType::Json);
    }
    accept
        .0
        .iter()
        .filter(|mime| {
            mime.get_param("q")
                .is_none_or(|q| q.as_str().parse::<f32>().is_ok_and(|q| q > 0.0))
        })
        .find_map(|mime| match mime.essence_str() {
            GRAPHQL_RESPONSE_JSON => Some(MediaType::GraphqlResponseJson),
            APPLICATION_JSON | "application/*" | "*/*" => Some(MediaType::Json),
            _ => None,
        })
}

/// A refusal before any GraphQL runs, answered with a GraphQL-shaped error body.
struct Refusal {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
    metric_kind: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
            metric_kind: "request",
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn code(mut self, code: &'static str, metric_kind: &'static str) -> Self {
        self.code = Some(code);
        self.metric_kind = metric_kind;
        self
    }

    fn into_response(self, media: MediaType) -> Response {
        counter!(names::GRAPHQL_ERRORS, "kind" => self.metric_kind).increment(1);
        let mut error = json!({ "message": self.message });
        if let Some(code) = self.code {
            error["extensions"] = json!({ "code": code });
        }
        let mut response = json_response(self.status, media, &json!({ "errors": [error] }));
        match self.status {
            StatusCode::METHOD_NOT_ALLOWED => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            StatusCode::UNAUTHORIZED => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"kpi-ledger\""),
                );
            }
            _ => {}
        }
        response
    }
}

fn json_response(status: StatusCode, media: MediaType, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type(media.content_type())
        .body(body.to_string())
}

/// The parameters of one GraphQL-over-HTTP request, type-checked.
struct Params {
    query: String,
    operation_name: Option<String>,
    variables: Option<Variables>,
    extensions: Option<Map<String, Value>>,
}

impl Params {
    fn from_json_body(body: &[u8]) -> Result<Self, Refusal> {
        // The common, well-formed body straight into its types: no `serde_json::Value` in
        // between. Anything it does not accept goes the long way, which says what is wrong.
        #[derive(serde::Deserialize)]
        struct WellFormed {
            query: String,
            #[serde(rename = "operationName", default)]
            operation_name: Option<String>,
            #[serde(default)]
            variables: Option<Variables>,
            #[serde(default)]
            extensions: Option<Map<String, Value>>,
        }
        // serde would also read a struct from a JSON array; only objects take the short path.
        let is_object = body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'{');
        if let Some(body) = is_object
            .then(|| serde_json::from_slice::<WellFormed>(body).ok())
            .flatten()
        {
            return Ok(Self {
                query: body.query,
                operation_name: body.operation_name,
                variables: body.variables,
                extensions: body.extensions,
            });
        }
        let value: Value = serde_json::from_slice(body).map_err(|err| {
            if body.is_empty() {
                Refusal::bad_request("the request body is empty: send a JSON object with a `query`")
            } else {
                Refusal::bad_request(format!("the request body is not valid JSON: {err}"))
            }
        })?;
        let Value::Object(mut fields) = value else {
            return Err(Refusal::bad_request(
                "the request body must be a JSON object with a `query`",
            ));
        };
        let query = match fields.remove("query") {
            Some(Value::String(query)) => query,
            None | Some(Value::Null) => return Err(missing_query()),
            Some(other) => {
                return Err(Refusal::bad_request(format!(
                    "`query` must be a string, got {}",
                    json_kind(&other)
                )))
            }
        };
        let operation_name = match fields.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name),
            Some(other) => {
                return Err(Refusal::bad_request(format!(
                    "`operationName` must be a string or null, got {}",
                    json_kind(&other)
                )))
            }
        };
        Ok(Self {
            query,
            operation_name,
            variables: map_param("variables", fields.remove("variables"))?
                .map(|variables| Variables::from_json(Value::Object(variables))),
            extensions: map_param("extensions", fields.remove("extensions"))?,
        })
    }

    fn from_query_string(query_string: &str) -> Result<Self, Refusal> {
        let mut query = None;
        let mut operation_name = None;
        let mut variables = None;
        let mut extensions = None;
        for (key, value) in form_urlencoded_pairs(query_string) {
            match key.as_str() {
                "query" => query = Some(value),
                "operationName" => operation_name = Some(value),
                "variables" => variables = Some(value),
                "extensions" => extensions = Some(value),
                _ => {}
            }
        }
        let json_param = |name: &str, text: Option<String>| match text {
            None => Ok(None),
            Some(text) => {
                let value = serde_json::from_str(&text).map_err(|err| {
                    Refusal::bad_request(format!("`{name}` must be URL-encoded JSON: {err}"))
                })?;
                map_param(name, Some(value))
            }
        };
        Ok(Self {
            query: query.ok_or_else(missing_query)?,
            operation_name: operation_name.filter(|name| !name.is_empty()),
            variables: json_param("variables", variables)?
                .map(|variables| Variables::from_json(Value::Object(variables))),
            extensions: json_param("extensions", extensions)?,
        })
    }

    fn into_graphql_request(self, document: ExecutableDocument) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.query);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables {
            request = request.variables(variables);
        }
        if let Some(extensions) = self.extensions {
            for (key, value) in extensions {
                // Any JSON value converts to a GraphQL constant value; only non-finite numbers
                // could fail, and JSON cannot express those.
                if let Ok(value) = async_graphql::Value::from_json(value) {
                    request.extensions.0.insert(key, value);
                }
            }
        }
        request.set_parsed_query(document);
        request
    }
}

fn missing_query() -> Refusal {
    Refusal::bad_request("the request has no `query` parameter")
}

fn map_param(name: &str, value: Option<Value>) -> Result<Option<Map<String, Value>>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(Refusal::bad_request(format!(
            "`{name}` must be a JSON object or null, got {}",
            json_kind(&other)
        ))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn form_urlencoded_pairs(query_string: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query_string).unwrap_or_default()
}

/// The type of the operation that would run, if the document says unambiguously.
fn operation_type(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| operation.node.ty)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .values()
            .next()
            .map(|operation| operation.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The operation's name for the request span; an anonymous operation is labelled by its
/// type and root fields (`mutation recordSeminar`), so its log lines still say what ran.
fn operation_label(document: &ExecutableDocument, name: Option<&str>) -> String {
    match (&document.operations, name) {
        (_, Some(name)) => name.to_owned(),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .keys()
            .next()
            .map(|name| name.to_string())
            .unwrap_or_default(),
        (DocumentOperations::Single(operation), None) => {
            let operation = &operation.node;
            let fields: Vec<&str> = operation
                .selection_set
                .node
                .items
                .iter()
                .filter_map(|selection| match &selection.node {
                    Selection::Field(field) => Some(field.node.name.node.as_str()),
                    _ => None,
                })
                .collect();
            format!("{} {}", operation.ty, fields.join(","))
                .trim_end()
                .to_owned()
        }
        _ => String::new(),
    }
}

/// POST and GET `/graphql`.
pub(crate) struct GraphqlHttp<E> {
    pub executor: E,
    /// Read once per request: a reload takes effect on the next request.
    pub auth: AuthHandle,
    pub limits: Limits,
    pub introspection: Introspection,
    pub documents: DocumentCache,
    /// `None` unless the application said how to tell that its data changed.
    pub answers: Option<ResponseCache>,
}

impl<E: Executor> Endpoint for GraphqlHttp<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let (req, mut body) = req.split();
        let accept = Accept::from_request(&req, &mut body).await?;
        let Some(media) = negotiate(&accept, req.headers().contains_key(header::ACCEPT)) else {
            return Ok(Refusal::new(
                StatusCode::NOT_ACCEPTABLE,
                "this endpoint answers application/graphql-response+json or application/json",
            )
            .into_response(MediaType::Json));
        };
        Ok(self
            .handle(&req, body, media)
            .await
            .unwrap_or_else(|refusal| refusal.into_response(media)))
    }
}

impl<E: Executor> GraphqlHttp<E> {
    async fn handle(
        &self,
        req: &Request,
        mut body: poem::RequestBody,
        media: MediaType,
    ) -> Result<Response, Refusal> {
        let is_get = req.method() == Method::GET;
        let params = if is_get {
            Params::from_query_string(req.uri().query().unwrap_or_default())?
        } else {
            check_content_type(req)?;
            let bytes = self.read_body(req, body.take().ok()).await?;
            Params::from_json_body(&bytes)?
        };

        let caller = self
            .auth
            .current()
            .from_header(
                req.headers()
                    .get(header::AUTHORIZATION)
                    .map(|value| value.to_str().unwrap_or_default()),
            )
            .map_err(|failure| {
                let message = match failure {
                    AuthFailure::MalformedHeader => failure.to_string(),
                    AuthFailure::UnknownToken => format!("{failure}: nothing was executed"),
                };
                Refusal::new(StatusCode::UNAUTHORIZED, message)
                    .code("UNAUTHENTICATED", "unauthenticated")
            })?;

        let document = match self.documents.parse(&params.query) {
            Ok(document) => document,
            Err(err) => {
                counter!(names::GRAPHQL_ERRORS, "kind" => "request").increment(1);
                let error = async_graphql::ServerError::from(err);
                return Ok(json_response(
                    media.request_error_status(),
                    media,
                    &json!({ "errors": [error] }),
                ));
            }
        };
        if let Err(refused) = self.introspection.check(&caller, &document) {
            let (status, kind) = match refused {
                crate::introspection::Refused::Unauthenticated => {
                    (StatusCode::UNAUTHORIZED, "unauthenticated")
                }
                crate::introspection::Refused::Off => (StatusCode::FORBIDDEN, "forbidden"),
            };
            return Err(Refusal::new(status, refused.message()).code(refused.code(), kind));
        }
        let operation = operation_label(&document, params.operation_name.as_deref());
        tracing::Span::current().record("operation", operation.as_str());
        let operation_type = operation_type(&document, params.operation_name.as_deref());
        match operation_type {
            Some(OperationType::Mutation) if is_get => {
                return Err(Refusal::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "mutations are only accepted over POST",
                ))
            }
            Some(OperationType::Subscription) => {
                counter!(names::GRAPHQL_ERRORS, "kind" => "request").increment(1);
                return Ok(json_response(
                    media.request_error_status(),
                    media,
                    &json!({ "errors": [{
                        "message": "subscriptions are served over websocket at /graphql/ws (graphql-transport-ws)"
                    }] }),
                ));
            }
            _ => {}
        }

        // Only query operations are looked up or stored. Extensions may change how a request
        // runs; such requests are not cached.
        let cacheable = match &self.answers {
            Some(answers)
                if operation_type == Some(OperationType::Query) && params.extensions.is_none() =>
            {
                Some((
                    answers,
                    answers.version(),
                    ResponseKey {
                        query: params.query.clone(),
                        operation_name: params.operation_name.clone(),
                        variables: params
                            .variables
                            .as_ref()
                            .map_or_else(String::new, |variables| {
                                serde_json::to_string(variables).unwrap_or_default()
                            }),
                        role: caller.role(),
                    },
                ))
            }
            _ => None,
        };
        if let Some((answers, version, key)) = &cacheable {
            if let Some(body) = answers.get(key, *version) {
                counter!(names::GRAPHQL_CACHE, "outcome" => "hit").increment(1);
                return Ok(body_response(StatusCode::OK, media, body));
            }
            counter!(names::GRAPHQL_CACHE, "outcome" => "miss").increment(1);
        }

        let request = params
            .into_graphql_request(ExecutableDocument::clone(&document))
            .data(caller);
        let execution = self.executor.execute(request);
        let response = if operation_type == Some(OperationType::Mutation) {
            // A mutation is never cut off: its append may already be with the store, where
            // dropping the request does not take it back, and answering "cancelled" for an
            // event that was recorded invites a duplicate on retry. Appends end on their own
            // (a flush); the limit guards against long queries.
            execution.await
        } else {
            self.limited(execution).await?
        };
        let answer = graphql_response(response, media);
        if let (Some((answers, version, key)), Some(body)) = (cacheable, answer.cacheable_body) {
            answers.insert(key, version, body);
        }
        Ok(answer.response)
    }

    /// Runs a query under the per-request time limit; past it the query is dropped, which
    /// is safe because a query writes nothing.
    async fn limited(
        &self,
        execution: impl Future<Output = async_graphql::Response>,
    ) -> Result<async_graphql::Response, Refusal> {
        let timeout = self.limits.request_timeout();
        tokio::time::timeout(timeout, execution).await.map_err(|_| {
            tracing::warn!(?timeout, "request exceeded its time limit");
            Refusal::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the request took longer than the {} ms limit and was cancelled",
                    timeout.as_millis()
                ),
            )
            .code("TIMEOUT", "timeout")
        })
    }

    async fn read_body(&self, req: &Request, body: Option<poem::Body>) -> Result<Vec<u8>, Refusal> {
        let limit = self.limits.max_body_bytes.get();
        let too_large = || {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than the {limit}-byte limit"),
            )
            .code("PAYLOAD_TOO_LARGE", "too_large")
        };
        // A declared length over the limit is refused before reading a byte of it.
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        let Some(body) = body else {
            return Ok(Vec::new());
        };
        let bytes = body
            .into_bytes_limit(limit)
            .await
            .map_err(|err| match err {
                poem::error::ReadBodyError::PayloadTooLarge => too_large(),
                // The connection loop bounds how long a body may take to arrive.
                poem::error::ReadBodyError::Io(err)
                    if err.kind() == std::io::ErrorKind::TimedOut =>
                {
                    Refusal::new(StatusCode::REQUEST_TIMEOUT, err.to_string())
                        .code("TIMEOUT", "timeout")
                }
                other => Refusal::bad_request(format!("cannot read the request body: {other}")),
            })?;
        Ok(Vec::from(bytes))
    }
}

fn check_content_type(req: &Request) -> Result<(), Refusal> {
    let unsupported = |detail: &str| {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("POST bodies must be `Content-Type: application/json`; {detail}"),
        )
    };
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Err(unsupported("the request has no Content-Type"));
    };
    let text = value
        .to_str()
        .map_err(|_| unsupported("the Content-Type is not readable text"))?;
    let mime: mime::Mime = text
        .parse()
        .map_err(|_| unsupported(&format!("`{text}` is not a media type")))?;
    if mime.essence_str() != APPLICATION_JSON {
        return Err(unsupported(&format!("got `{text}`")));
    }
    match mime.get_param("charset") {
        Some(charset) if !charset.as_str().eq_ignore_ascii_case("utf-8") => Err(unsupported(
            &format!("only charset=utf-8 is read, got `{text}`"),
        )),
        _ => Ok(()),
    }
}

/// An executed request's HTTP response, and its body again if the answer may be cached.
struct Answer {
    response: Response,
    cacheable_body: Option<Bytes>,
}

/// Writes an executed request's response. A response with no data and only path-less errors
/// never reached execution (validation or variable coercion failed): that is a request error,
/// answered without a `data` entry. Field errors carry a path and keep `data`, even if null.
///
/// Only a complete answer without errors, extra headers or a schema's `no_cache`/`private`
/// marking may be cached: an error can depend on more than the request (a timeout, a failing
/// disk), and is not worth keeping.
fn graphql_response(response: async_graphql::Response, media: MediaType) -> Answer {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty());
    if request_error {
        counter!(names::GRAPHQL_ERRORS, "kind" => "request").increment(1);
        return Answer {
            response: json_response(
                media.request_error_status(),
                media,
                &json!({ "errors": response.errors }),
            ),
            cacheable_body: None,
        };
    }
    if !response.errors.is_empty() {
        counter!(names::GRAPHQL_ERRORS, "kind" => "field").increment(1);
    }
    let cacheable = response.errors.is_empty()
        && response.http_headers.is_empty()
        && response.cache_control.public
        && response.cache_control.max_age >= 0;
    // Straight to bytes: going through a `serde_json::Value` first doubled the cost.
    let body = Bytes::from(serde_json::to_vec(&response).unwrap_or_else(|err| {
        json!({ "errors": [{ "message": format!("cannot serialise the response: {err}") }] })
            .to_string()
            .into_bytes()
    }));
    let mut http = body_response(StatusCode::OK, media, body.clone());
    for (name, value) in &response.http_headers {
        http.headers_mut().append(name.clone(), value.clone());
    }
    Answer {
        response: http,
        cacheable_body: cacheable.then_some(body),
    }
}

fn body_response(status: StatusCode, media: MediaType, body: Bytes) -> Response {
    Response::builder()
        .status(status)
        .content_type(media.content_type())
        .body(poem::Body::from_bytes(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Accept {
        let req = Request::builder().header(header::ACCEPT, value).finish();
        futures::executor::block_on(Accept::from_request_without_body(&req)).unwrap()
    }

    #[test]
    fn negotiation_prefers_the_clients_order_and_q() {
        assert_eq!(
            negotiate(&accept("application/graphql-response+json"), true),
            Some(MediaType::GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(
                &accept("application/json;q=0.9, application/graphql-response+json"),
                true
            ),
            Some(MediaType::GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(
                &accept("application/json, application/graphql-response+json"),
                true
            ),
            Some(MediaType::Json)
        );
        assert_eq!(negotiate(&accept("*/*"), true), Some(MediaType::Json));
        assert_eq!(negotiate(&accept("text/html"), true), None);
        assert_eq!(
            negotiate(&accept("application/json;q=0, text/html"), true),
            None
        );
        assert_eq!(negotiate(&Accept(vec![]), false), Some(MediaType::Json));
    }

    #[test]
    fn body_parameters_are_type_checked() {
        let ok = Params::from_json_body(
            br#"{"query":"{a}","operationName":null,"variables":{"x":1},"extensions":null}"#,
        )
        .ok()
        .unwrap();
        assert_eq!(ok.query, "{a}");
        assert!(ok.operation_name.is_none());
        assert_eq!(ok.variables.unwrap()["x"], async_graphql::Value::from(1));

        // The direct path and the long way (a duplicate key makes the direct one refuse) read
        // the same variables.
        let direct = Params::from_json_body(br#"{"query":"{a}","variables":{"i":{"b":[1,"x"]}}}"#)
            .ok()
            .unwrap();
        let long_way = Params::from_json_body(
            br#"{"query":"{b}","query":"{a}","variables":{"i":{"b":[1,"x"]}}}"#,
        )
        .ok()
        .unwrap();
        assert_eq!(long_way.query, "{a}");
        assert_eq!(direct.variables, long_way.variables);
        assert!(direct.variables.unwrap().contains_key("i"));

        for (body, needle) in [
            (
                &br#"{"query":1}"#[..],
                "`query` must be a string, got a number",
            ),
            (br#"{"qeury":"{a}"}"#, "no `query`"),
            (
                br#"{"query":"{a}","variables":"x"}"#,
                "`variables` must be a JSON object",
            ),
            (
                br#"{"query":"{a}","operationName":[]}"#,
                "`operationName` must be a string",
            ),
            (
                br#"{"query":"{a}","extensions":false}"#,
                "`extensions` must be a JSON object",
            ),
            (br#"["query"]"#, "must be a JSON object"),
            (br#"{"not json"#, "not valid JSON"),
            (b"", "empty"),
        ] {
            let refusal = Params::from_json_body(body).err().unwrap();
            assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
            assert!(refusal.message.contains(needle), "{}", refusal.message);
        }
    }

    #[test]
    fn query_string_parameters_decode_json() {
        let params = Params::from_query_string(
            "query=query+Q(%24n%3AString!)%7Bx%7D&variables=%7B%22n%22%3A%22a%22%7D&operationName=Q",
        )
        .ok()
        .unwrap();
        assert_eq!(params.query, "query Q($n:String!){x}");
        assert_eq!(params.operation_name.as_deref(), Some("Q"));
        assert_eq!(
            params.variables.unwrap()["n"],
            async_graphql::Value::from("a")
        );
        let bad = Params::from_query_string("query=%7Bx%7D&variables=nope")
            .err()
            .unwrap();
        assert!(bad.message.contains("`variables` must be URL-encoded JSON"));
    }

    #[test]
    fn only_complete_public_answers_are_cacheable() {
        let ok = || async_graphql::Response::new(async_graphql::Value::from(1));
        let answer = graphql_response(ok(), MediaType::Json);
        assert_eq!(answer.cacheable_body.as_deref(), Some(&b"{\"data\":1}"[..]));

        let mut no_cache = ok();
        no_cache.cache_control.max_age = -1;
        let mut private = ok();
        private.cache_control.public = false;
        let mut with_header = ok();
        with_header
            .http_headers
            .insert(header::SET_COOKIE, HeaderValue::from_static("session=1"));
        let mut field_error = ok();
        let mut error = async_graphql::ServerError::new("resolver failed", None);
        error.path = vec![async_graphql::PathSegment::Field("a".into())];
        field_error.errors.push(error);
        let request_error =
            async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
                "no such field",
                None,
            )]);
        for response in [no_cache, private, with_header, field_error, request_error] {
            assert!(graphql_response(response, MediaType::Json)
                .cacheable_body
                .is_none());
        }
    }

    #[test]
    fn anonymous_operations_are_labelled_by_type_and_root_fields() {
        let label = |query: &str, name: Option<&str>| {
            operation_label(&async_graphql::parser::parse_query(query).unwrap(), name)
        };
        assert_eq!(label("{ head plans { id } }", None), "query head,plans");
        assert_eq!(
            label(
                "mutation($i: SeminarInput!) { recordSeminar(input: $i) { id } }",
                None
            ),
            "mutation recordSeminar"
        );
        assert_eq!(label("query Named { head }", None), "Named");
        assert_eq!(label("query A { a } query B { b }", Some("B")), "B");
        assert_eq!(label("query A { a } query B { b }", None), "");
    }

    #[test]
    fn operation_type_follows_the_operation_name() {
        let doc = async_graphql::parser::parse_query("query A { a } mutation B { b }").unwrap();
        assert_eq!(
            operation_type(&doc, Some("B")),
            Some(OperationType::Mutation)
        );
        assert_eq!(operation_type(&doc, Some("A")), Some(OperationType::Query));
        assert_eq!(operation_type(&doc, None), None);
        let single = async_graphql::parser::parse_query("mutation { b }").unwrap();
        assert_eq!(operation_type(&single, None), Some(OperationType::Mutation));
    }
}
