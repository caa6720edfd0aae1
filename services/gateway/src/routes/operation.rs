//! One row of the route table ([`super::table`]): a method on a path, the handler that
//! serves it, and what it takes and answers. The router mounts the handler; the
//! document turns the rest into OpenAPI JSON, its types' schemas going into the shared
//! components.

use axum::handler::Handler;
use axum::routing::{on, MethodFilter, MethodRouter};
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use super::signature::{schema_of, Access, Described, SchemaOf, Signature, Success};
use crate::error::ErrorBody;
use crate::AppState;

/// A method the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// Its name as OpenAPI writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
            Self::Patch => MethodFilter::PATCH,
            Self::Delete => MethodFilter::DELETE,
        }
    }
}

/// An error answer routes share, described once in `components.responses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// 400.
    BadRequest,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 413.
    TooLarge,
    /// 415.
    NotJson,
    /// 429.
    RateLimited,
    /// 503 from the broker.
    Unavailable,
    /// 504.
    Timeout,
}

impl Problem {
    /// Every shared problem.
    pub const ALL: [Self; 9] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::TooLarge,
        Self::NotJson,
        Self::RateLimited,
        Self::Unavailable,
        Self::Timeout,
    ];

    fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::TooLarge => 413,
            Self::NotJson => 415,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Timeout => 504,
        }
    }

    /// Its name in `components.responses`.
    pub fn name(self) -> String {
        format!("{self:?}")
    }

    fn description(self) -> &'static str {
        match self {
            Self::BadRequest => {
                "invalid_body, malformed_json or invalid_query: details names each bad field"
            }
            Self::Unauthorized => {
                "unauthorized: no bearer token, or one that does not verify (WWW-Authenticate: Bearer)"
            }
            Self::Forbidden => "forbidden: signed in, but the role (or ownership) does not allow it",
            Self::NotFound => "not_found: unknown, or not yours",
            Self::TooLarge => "payload_too_large: the body is over 64 KiB",
            Self::NotJson => "unsupported_media_type: Content-Type is not application/json",
            Self::RateLimited => "rate_limited: too many attempts; try again after Retry-After",
            Self::Unavailable => {
                "broker_unavailable: the broker did not take the command within about 5 s; try again after Retry-After"
            }
            Self::Timeout => "timeout: the owning service did not answer in time",
        }
    }

    /// The shared response itself.
    pub fn response(self, generator: &mut SchemaGenerator) -> Value {
        let retry_after = matches!(self, Self::RateLimited | Self::Unavailable);
        error_response(generator, self.description(), retry_after)
    }
}

/// A response with the error body, and `Retry-After` when it says when to come back.
fn error_response(generator: &mut SchemaGenerator, description: &str, retry_after: bool) -> Value {
    let mut response = json!({
        "description": description,
        "content": { "application/json": { "schema": schema_of::<ErrorBody>(generator) } },
    });
    if retry_after {
        response["headers"] = json!({
            "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer" } }
        });
    }
    response
}

/// One answer of an operation.
enum Response {
    /// A JSON body of a type; with a `Location` header when it names one.
    Json {
        description: &'static str,
        schema: SchemaOf,
        location: Option<&'static str>,
    },
    /// No body worth describing.
    Plain { description: &'static str },
    /// Server-Sent Events.
    EventStream { description: &'static str },
    /// A shared problem.
    Shared(Problem),
    /// An error only this operation answers.
    Error {
        description: &'static str,
        retry_after: bool,
    },
}

impl Response {
    fn to_json(&self, generator: &mut SchemaGenerator) -> Value {
        match self {
            Self::Json {
                description,
                schema,
                location,
            } => {
                let mut response = json!({
                    "description": description,
                    "content": { "application/json": { "schema": schema(generator) } },
                });
                if let Some(location) = location {
                    response["headers"] = json!({
                        "Location": { "description": location, "schema": { "type": "string" } }
                    });
                }
                response
            }
            Self::Plain { description } => json!({ "description": description }),
            Self::EventStream { description } => json!({
                "description": description,
                "content": { "text/event-stream": { "schema": { "type": "string" } } },
            }),
            Self::Shared(problem) => {
                json!({ "$ref": format!("#/components/responses/{}", problem.name()) })
            }
            Self::Error {
                description,
                retry_after,
            } => error_response(generator, description, *retry_after),
        }
    }
}

/// An operation: a method on a path, what serves it, what it takes and what it answers.
pub struct Operation {
    /// The method it answers.
    pub method: Method,
    /// The route as the router has it, `{name}` for a path parameter.
    pub path: &'static str,
    /// The handler on its method; `None` for a route the shared runtime
    /// (`kafka_runtime::http`) serves rather than the gateway's router.
    pub handler: Option<MethodRouter<AppState>>,
    /// The tag it is grouped under.
    pub tag: &'static str,
    summary: &'static str,
    access: Access,
    parameters: Vec<Value>,
    body: Option<SchemaOf>,
    success: Option<Success>,
    responses: Vec<(u16, Response)>,
}

impl Operation {
    fn row(method: Method, path: &'static str, handler: Option<MethodRouter<AppState>>) -> Self {
        Self {
            method,
            path,
            handler,
            tag: "",
            summary: "",
            access: Access::Anyone,
            parameters: Vec::new(),
            body: None,
            success: None,
            responses: Vec::new(),
        }
    }

    /// `method path`, served by `handler`; [`Operation::about`] says what it is. The
    /// handler's signature says what it takes (a token, a body) and what type it
    /// answers on success.
    pub fn new<H, T>(method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState> + Described<T>,
        T: 'static,
    {
        let Signature {
            access,
            body,
            success,
        } = H::signature();
        let handler = on(method.filter(), handler);
        Self {
            access,
            body,
            success,
            ..Self::row(method, path, Some(handler))
        }
    }

    /// `GET path`, served by the shared runtime rather than the gateway's router:
    /// described here, mounted there.
    pub fn by_runtime(path: &'static str) -> Self {
        Self::row(Method::Get, path, None)
    }

    /// Its tag (one of `table::TAGS`) and a one-line summary.
    pub fn about(mut self, tag: &'static str, summary: &'static str) -> Self {
        self.tag = tag;
        self.summary = summary;
        self
    }

    /// A query parameter; `description` may be empty.
    pub fn query(self, name: &str, description: &str, schema: Value) -> Self {
        self.parameter("query", name, description, schema)
    }

    /// A request header.
    pub fn header(self, name: &str, description: &str, schema: Value) -> Self {
        self.parameter("header", name, description, schema)
    }

    fn parameter(mut self, place: &str, name: &str, description: &str, schema: Value) -> Self {
        let mut parameter = json!({ "name": name, "in": place, "schema": schema });
        if !description.is_empty() {
            parameter["description"] = description.into();
        }
        self.parameters.push(parameter);
        self
    }

    /// The handler's success: its status and type.
    pub fn ok(self, description: &'static str) -> Self {
        self.success(description, None)
    }

    /// 200 with nothing to describe.
    pub fn ok_plain(self, description: &'static str) -> Self {
        self.answer(200, Response::Plain { description })
    }

    /// 200 with Server-Sent Events.
    pub fn ok_stream(self, description: &'static str) -> Self {
        self.answer(200, Response::EventStream { description })
    }

    /// The handler's success (a 202) with a `Location` to follow.
    pub fn accepted(self, description: &'static str, location: &'static str) -> Self {
        self.success(description, Some(location))
    }

    fn success(self, description: &'static str, location: Option<&'static str>) -> Self {
        match self.success {
            Some(Success { status, schema }) => self.answer(
                status,
                Response::Json {
                    description,
                    schema,
                    location,
                },
            ),
            None => self.answer(200, Response::Plain { description }),
        }
    }

    /// Any other answer without a body worth describing.
    pub fn answers(self, status: u16, description: &'static str) -> Self {
        self.answer(status, Response::Plain { description })
    }

    /// The shared problems this operation may answer, besides those its token and body
    /// bring.
    pub fn fails(mut self, problems: &[Problem]) -> Self {
        for problem in problems {
            self = self.answer(problem.status(), Response::Shared(*problem));
        }
        self
    }

    /// An error only this operation answers, in place of a shared one with its status.
    pub fn fails_with(self, status: u16, description: &'static str, retry_after: bool) -> Self {
        self.answer(
            status,
            Response::Error {
                description,
                retry_after,
            },
        )
    }

    fn answer(mut self, status: u16, response: Response) -> Self {
        self.responses.retain(|(known, _)| *known != status);
        self.responses.push((status, response));
        self
    }

    /// The path parameters: every `{name}` of the path, a UUID (anything else names
    /// nothing: 404).
    fn path_parameters(&self) -> impl Iterator<Item = Value> + '_ {
        self.path.split('/').filter_map(|segment| {
            let name = segment.strip_prefix('{')?.strip_suffix('}')?;
            Some(json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": { "type": "string", "format": "uuid" },
            }))
        })
    }

    /// The operation object, its types' schemas put into `generator`.
    pub fn to_json(&self, generator: &mut SchemaGenerator) -> Value {
        let mut operation = json!({ "tags": [self.tag], "summary": self.summary });
        let parameters: Vec<Value> = self
            .path_parameters()
            .chain(self.parameters.iter().cloned())
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = parameters.into();
        }
        match self.access {
            Access::Anyone => {}
            Access::TokenOptional => operation["security"] = json!([{}, { "bearer": [] }]),
            Access::TokenRequired => operation["security"] = json!([{ "bearer": [] }]),
        }
        let mut implied = Vec::new();
        if self.access != Access::Anyone {
            implied.push(Problem::Unauthorized);
        }
        if let Some(body) = self.body {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": body(generator) } },
            });
            implied.extend([Problem::BadRequest, Problem::TooLarge, Problem::NotJson]);
        }
        let mut responses = Map::new();
        for problem in implied {
            let answer = Response::Shared(problem).to_json(generator);
            responses.insert(problem.status().to_string(), answer);
        }
        for (status, response) in &self.responses {
            responses.insert(status.to_string(), response.to_json(generator));
        }
        operation["responses"] = responses.into();
        operation
    }
}
