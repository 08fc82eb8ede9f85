//! The API description, generated from the handlers' annotations: served as OpenAPI 3.1 at
//! `/api/openapi.json` and rendered at `/api/docs` (Swagger UI, bundled into the binary: no
//! CDN, works offline).
//!
//! What every `/api/v1` operation shares is added here once rather than on each handler: the
//! two kinds of bearer token, the error answers (`{"error", "code"}`) and the
//! `Idempotency-Key` header of the mutating methods.

use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        HttpMethod, OpenApi as Document, RefOr, Required,
        header::HeaderBuilder,
        path::{Operation, ParameterBuilder, ParameterIn},
        response::{Response, ResponseBuilder},
        schema::{ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

/// Where the description and its rendering are served.
pub const JSON_PATH: &str = "/api/openapi.json";
pub const DOCS_PATH: &str = "/api/docs";

/// Every error answer: a human message and a machine code (docs/api.md, "Errors").
#[derive(ToSchema)]
#[allow(dead_code)] // only its schema is used; errors are rendered by `ApiError`
pub struct ErrorBody {
    /// What went wrong, for people.
    error: String,
    /// What went wrong, for programs.
    #[schema(example = "not_member")]
    code: ErrorCode,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ErrorCode {
    InvalidJson,
    InvalidBody,
    InvalidId,
    InvalidField,
    ContentTooLong,
    ActingUserRequired,
    Unauthorized,
    NotMember,
    Banned,
    Forbidden,
    NotParticipant,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    IdempotencyInProgress,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    RateLimited,
    Unavailable,
    NoGateway,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chat-gateway dispatcher",
        description = "The HTTP API that checks access rules, keeps access-control state and \
            publishes chat events. A 2xx means the event is in Redis. See docs/api.md."
    ),
    components(schemas(ErrorBody, ErrorCode)),
    tags(
        (name = "channels", description = "Channels and their lifecycle"),
        (name = "members", description = "Membership and roles"),
        (name = "messages", description = "Messages and recent history"),
        (name = "moderation", description = "Bans and kicks"),
        (name = "direct messages", description = "DM threads"),
        (name = "users", description = "Display names"),
        (name = "gateway", description = "Which gateway node to connect to"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// Adds what all `/api/v1` operations share (see the module docs), once the routes are in.
pub struct Shared;

const USER_SCHEME: &str = "user_jwt";
const SERVICE_SCHEME: &str = "service_token";

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            USER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A user's JWT: the request acts as its `sub`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SERVICE_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A service token (DISPATCHER_SERVICE_TOKENS): a trusted backend that \
                         names the acting user in the body.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let api = path.starts_with("/api/v1/");
            for (method, operation) in [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Delete, &mut item.delete),
            ] {
                let Some(operation) = operation else { continue };
                if api {
                    shared_by_api(operation, method);
                } else if path == "/api/gateway" {
                    gateway_errors(operation);
                }
            }
        }
    }
}

fn shared_by_api(operation: &mut Operation, method: HttpMethod) {
    operation.security = Some(vec![
        SecurityRequirement::new(USER_SCHEME, Vec::<String>::new()),
        SecurityRequirement::new(SERVICE_SCHEME, Vec::<String>::new()),
    ]);
    let mutating = method != HttpMethod::Get;
    if mutating {
        let key = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "1-255 visible ASCII characters: a retry with the same key gets the first answer",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[\\x21-\\x7E]+$")),
            ))
            .build();
        operation.parameters.get_or_insert_with(Vec::new).push(key);
    }
    let has_body = operation.request_body.is_some();
    let mut errors = vec![
        ("400", "a bad id, field, query or body"),
        ("401", "no, bad or expired token"),
        (
            "403",
            "not a member, banned, role too low, or not a participant",
        ),
        ("404", "unknown channel, message, member, ban or DM"),
        ("429", "the token is over its request rate"),
        ("503", "Redis failed or timed out: nothing happened, retry"),
    ];
    if mutating {
        errors.push((
            "409",
            "the id is taken, or the Idempotency-Key is in progress",
        ));
        errors.push(("422", "the Idempotency-Key was used with another body"));
    }
    if has_body {
        errors.push(("408", "the body did not arrive in time"));
        errors.push(("413", "the body is over 64 KiB"));
        errors.push(("415", "the body is not JSON"));
    }
    for (status, description) in errors {
        add_error(operation, status, description);
    }
}

fn gateway_errors(operation: &mut Operation) {
    operation.security = Some(vec![SecurityRequirement::new(
        USER_SCHEME,
        Vec::<String>::new(),
    )]);
    for (status, description) in [
        ("401", "no, bad or expired token"),
        ("429", "the token is over its request rate"),
        ("503", "no live gateway node, or Redis failed"),
    ] {
        add_error(operation, status, description);
    }
}

fn add_error(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(error_response(status, description)));
}

fn error_response(status: &str, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        utoipa::openapi::content::ContentBuilder::new()
            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    let header = match status {
        "401" => Some(("WWW-Authenticate", "`Bearer`")),
        "429" => Some(("Retry-After", "seconds to wait before retrying")),
        _ => None,
    };
    if let Some((name, description)) = header {
        response = response.header(
            name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(description))
                .build(),
        );
    }
    response.build()
}
