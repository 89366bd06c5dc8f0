//! The API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes
//! and the contract's types, served at `GET /v1/openapi.json` (no token needed: it holds no
//! secret) and checked into the repository as `host/api/openapi.json`. A test fails when the
//! two differ; `HOOKLINE_BLESS=1 cargo test -p hookline-api openapi` rewrites the file.
//!
//! Conventions every operation shares are added in one place ([`Conventions`]) from the
//! route table (`super::routes`), so no handler can forget them: the bearer security scheme
//! with the scope each route needs (OpenAPI 3.1 lets a requirement of any scheme name roles),
//! and the answers any route can give (`401` without a valid token, `403` with a token of
//! another scope, `500`, `503`).

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::auth::Access;
use super::{ErrorBody, routes};

/// Answers naming a resource that other operations take as `{id}`: (operation, status,
/// JSON pointer to the id in its body, the operations it feeds). They become OpenAPI links,
/// so a reader (and a stateful contract tester) can follow create → show → change.
const LINKS: [(&str, &str, &str, &[&str]); 2] = [
    (
        "createWebhook",
        "201",
        "/webhook/id",
        &[
            "getWebhook",
            "updateWebhook",
            "deleteWebhook",
            "pauseWebhook",
            "resumeWebhook",
            "rotateWebhookSecret",
        ],
    ),
    (
        "listDeliveries",
        "200",
        "/items/0/id",
        &["getDelivery", "retryDelivery", "replayDelivery"],
    ),
];

/// The document: every route, its parameters, bodies and answers.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Hookline",
        description = "The admin and ingest API of a Hookline daemon: publish events, manage \
                       webhooks, inspect and retry deliveries, follow the engine live.\n\n\
                       Every error answer is `{\"error\": {\"code\", \"message\", \"field\"?}}` \
                       (`ErrorBody`) with a stable `code`: `invalid_input`, `malformed_json`, \
                       `unsupported_media_type`, `payload_too_large`, `ssrf_blocked`, \
                       `unauthorized`, `insufficient_scope`, `not_found`, \
                       `method_not_allowed`, `conflict`, `overloaded`, `timeout`, \
                       `invalid_state`, `edit_conflict`, `precondition_failed`, \
                       `shutting_down`, `storage_full`, `store_error`, `secret_error`, \
                       `internal_error`.\n\n\
                       Webhook changes are compare-and-set: every answer carrying one webhook \
                       has `ETag: \"<version>\"`, and `If-Match` makes a change apply only to \
                       that version (else 412).",
    ),
    paths(
        super::tokens::list,
        super::tokens::create,
        super::tokens::revoke,
        super::tokens::whoami,
        super::events::ingest_one,
        super::events::ingest_batch,
        super::webhooks::list,
        super::webhooks::create,
        super::webhooks::show,
        super::webhooks::update,
        super::webhooks::delete,
        super::webhooks::rotate_secret,
        super::webhooks::pause,
        super::webhooks::resume,
        super::deliveries::list,
        super::deliveries::show,
        super::deliveries::retry,
        super::deliveries::replay,
        super::stats,
        super::stream::stream,
        super::metrics,
        super::healthz,
        super::readyz,
        serve,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Conventions),
    tags(
        (name = "events", description = "Publishing events: each is stored with one delivery per matching webhook before the answer."),
        (name = "webhooks", description = "Webhook subscriptions: patterns, URL, signing, plugin, limits; changes are compare-and-set."),
        (name = "deliveries", description = "Deliveries and their attempts: list, inspect, retry, replay."),
        (name = "observability", description = "Figures, the live stream and Prometheus metrics."),
        (name = "tokens", description = "API tokens and their scopes: `ingest` publishes events, `read` sees everything but the tokens, `admin` does everything."),
        (name = "health", description = "Probes for orchestrators."),
        (name = "meta", description = "This document."),
    ),
)]
pub struct ApiDoc;

/// What every operation shares.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "`Authorization: Bearer <token>`: an API token (`hl_<scope>_…`, \
                             see `/v1/tokens`), or the daemon's own admin token, printed and \
                             written to its data directory on first start (or `[server] \
                             token`). A requirement's roles name the scope a route needs: \
                             `ingest`, `read` or `admin` (which covers the other two).",
                        ))
                        .build(),
                ),
            );
        let table = routes();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (verb, op) in operations(item) {
                let access = table
                    .iter()
                    .find(|r| r.path == path && r.verb.openapi_name() == verb)
                    .map(|r| r.access);
                conventions(op, access);
                add_links(op);
            }
        }
    }
}

/// The security requirement and shared answers of an operation whose route needs `access`
/// (`None`: documented but not routed, which a test refuses).
fn conventions(op: &mut Operation, access: Option<Access>) {
    let requirement = match access {
        Some(Access::Public) | None => SecurityRequirement::default(),
        Some(Access::AnyToken) => SecurityRequirement::new("bearer", Vec::<String>::new()),
        Some(Access::Scope(scope)) => SecurityRequirement::new("bearer", [scope.as_str()]),
    };
    op.security = Some(vec![requirement]);
    if let Some(Access::AnyToken | Access::Scope(_)) = access {
        add_error(op, "401", "No token, or not a valid one (`unauthorized`).");
    }
    if let Some(Access::Scope(scope)) = access {
        let message = format!(
            "The token's scope does not cover this route, which needs `{}` \
             (`insufficient_scope`; the message names the scope needed and the scope held).",
            scope.as_str()
        );
        add_error(op, "403", &message);
    }
    add_error(
        op,
        "500",
        "The store or a secret failed (`store_error`, `secret_error`, `internal_error`); the \
         message says what.",
    );
    if !matches!(access, Some(Access::Public)) {
        add_error(
            op,
            "503",
            "The daemon is shutting down (`shutting_down`); it is serving its limit of \
             requests at once or its store writer is saturated (`overloaded`, with \
             `Retry-After`: nothing was done, send it again); or the request took longer \
             than the request timeout (`timeout`: a write may have taken effect, retry with \
             the same idempotency key).",
        );
    }
}

/// The [`LINKS`] from `op`'s answers.
fn add_links(op: &mut Operation) {
    for (from, status, pointer, targets) in LINKS {
        if op.operation_id.as_deref() != Some(from) {
            continue;
        }
        let Some(RefOr::T(answer)) = op.responses.responses.get_mut(status) else {
            continue;
        };
        for target in targets {
            answer.links.insert(
                (*target).to_owned(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id(*target)
                        .parameter("id", format!("$response.body#{pointer}"))
                        .build(),
                ),
            );
        }
    }
}

/// Every operation of a path, with its method's name.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
        ("head", &mut item.head),
        ("options", &mut item.options),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(verb, op)| op.as_mut().map(|op| (verb, op)))
}

/// Adds an [`ErrorBody`] answer for `status` unless the operation documents its own.
fn add_error(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        });
}

/// The document as pretty JSON, built once.
pub fn openapi_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        // Serialising a document of plain structs and maps cannot fail.
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        camel_case_links(&mut doc);
        let mut json = serde_json::to_string_pretty(&doc)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        json.push('\n');
        json
    })
}

/// utoipa 5.5 writes a link's fields in snake case (`operation_id`); OpenAPI spells them
/// `operationId`, `operationRef`, `requestBody`, and tools ignore the others.
fn camel_case_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let answers = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|responses| responses.values_mut());
    for answer in answers {
        let Some(links) = answer.get_mut("links").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
}

#[utoipa::path(
    get, operation_id = "getOpenApi", path = "/v1/openapi.json", tag = "meta",
    summary = "This API's OpenAPI 3.1 document",
    security(()),
    responses((status = 200, description = "The document.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn serve() -> Response {
    ([(CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

    #[test]
    fn the_checked_in_document_is_the_generated_one() {
        let generated = openapi_json();
        if std::env::var_os("HOOKLINE_BLESS").is_some() {
            std::fs::write(CHECKED_IN, generated).unwrap();
            return;
        }
        let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
        if let Some((i, (a, b))) = checked_in
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!(
                "host/api/openapi.json differs from the generated document at line {}:\n  \
                 checked in: {a}\n  generated:  {b}\n\
                 run `HOOKLINE_BLESS=1 cargo test -p hookline-api openapi` and commit the file",
                i + 1
            );
        }
        assert_eq!(
            checked_in.lines().count(),
            generated.lines().count(),
            "host/api/openapi.json is out of date: run `HOOKLINE_BLESS=1 cargo test -p \
             hookline-api openapi` and commit the file"
        );
    }

    #[test]
    fn every_route_is_documented_with_the_access_its_row_gives() {
        let doc: serde_json::Value = serde_json::from_str(openapi_json()).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let paths = doc["paths"].as_object().unwrap();
        let table = routes();
        // The table and the document list the same operations.
        let documented: std::collections::BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |verb| (path.clone(), verb.clone()))
            })
            .collect();
        let routed: std::collections::BTreeSet<(String, String)> = table
            .iter()
            .map(|r| (r.path.to_owned(), r.verb.openapi_name().to_owned()))
            .collect();
        assert_eq!(
            documented, routed,
            "the document and the route table differ"
        );
        for row in &table {
            let op = &paths[row.path][row.verb.openapi_name()];
            let responses = op["responses"].as_object().unwrap();
            let what = format!("{} {}", row.verb.openapi_name(), row.path);
            let (security, needs_token, scope) = match row.access {
                Access::Public => (serde_json::json!([{}]), false, None),
                Access::AnyToken => (serde_json::json!([{"bearer": []}]), true, None),
                Access::Scope(s) => (serde_json::json!([{"bearer": [s.as_str()]}]), true, Some(s)),
            };
            assert_eq!(op["security"], security, "{what}");
            assert_eq!(responses.contains_key("401"), needs_token, "{what}");
            assert_eq!(responses.contains_key("403"), scope.is_some(), "{what}");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what} has no success answer"
            );
            // Every error answer is an ErrorBody.
            for (status, answer) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                assert_eq!(
                    answer["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{what} {status}"
                );
            }
        }
        let ids: Vec<&str> = paths
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");
        // Every link names an operation of the document.
        for (_, _, _, targets) in LINKS {
            for target in targets.iter() {
                assert!(
                    unique.contains(target),
                    "link to unknown operation {target}"
                );
            }
        }
        assert_eq!(
            paths["/v1/webhooks"]["post"]["responses"]["201"]["links"]["getWebhook"],
            serde_json::json!({
                "operationId": "getWebhook",
                "parameters": {"id": "$response.body#/webhook/id"},
            })
        );
    }
}
