//! The OpenAPI 3.1 document of the API, built from the endpoint table and the wire types' JSON Schemas
//! (schemars writes JSON Schema 2020-12, the dialect OpenAPI 3.1 uses), served at `/api/v1/openapi.json`
//! with no asset from the internet.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::error::ErrorBody;
use super::{Access, Ok200, endpoints};

/// Statuses every authenticated endpoint may answer.
const COMMON: &[u16] = &[400, 401, 403, 500, 503];

fn describe(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No content",
        400 => "The request is malformed (bad_request, bad_query, idempotency_key_required…)",
        401 => "Not logged in, or the session or token is not valid",
        403 => "The role does not grant this, or the CSRF token is missing",
        404 => "Not found, or outside the operator's premises scope",
        409 => "The state does not allow it, or the Idempotency-Key was used for another request",
        413 => "The body is too large",
        415 => "The body is not application/json",
        422 => "A rule refused it (the code says which)",
        429 => "Too many attempts: wait Retry-After seconds",
        500 => "An internal error",
        503 => "Not available now (shutting down, no master key, no receipt font)",
        _ => "See docs/errors.md",
    }
}

fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_string(), value);
    }
}

/// Query parameters from a query type's schema: one parameter per property, never null.
fn parameters_of(schema: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let mut prop = prop.clone();
            if let Some(types) = prop.get_mut("type").and_then(Value::as_array_mut) {
                types.retain(|t| t != "null");
                if types.len() == 1
                    && let Some(only) = types.pop()
                {
                    set(&mut prop, "type", only);
                }
            }
            if name == "limit" {
                set(&mut prop, "minimum", json!(1));
                set(&mut prop, "maximum", json!(voltvend_store::ListQuery::LIMIT_MAX));
            }
            let description = prop.get("description").cloned().unwrap_or(Value::Null);
            let mut p = json!({ "name": name, "in": "query", "required": false, "schema": prop });
            if !description.is_null() {
                set(&mut p, "description", description);
            }
            out.push(p);
        }
    }
    out
}

/// The whole document.
pub fn build() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas/".into();
        s.meta_schema = None;
    });
    let mut generator = settings.into_generator();
    let mut inline = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let error_ref = generator.subschema_for::<ErrorBody>().to_value();
    let error_content = json!({ "application/json": { "schema": error_ref } });
    let mut paths: Map<String, Value> = Map::new();
    for e in endpoints() {
        let method = e.method.to_lowercase();
        let mut parameters: Vec<Value> = Vec::new();
        let mut rest = e.path;
        while let Some(start) = rest.find('{') {
            let Some(end) = rest[start..].find('}') else { break };
            let name = &rest[start + 1..start + end];
            let schema = if name == "code" {
                json!({ "type": "string", "minLength": 1, "maxLength": 64 })
            } else {
                json!({ "type": "string", "format": "uuid" })
            };
            parameters.push(json!({ "name": name, "in": "path", "required": true, "schema": schema }));
            rest = &rest[start + end + 1..];
        }
        if let Some(q) = e.query {
            parameters.extend(parameters_of(&q(&mut inline).to_value()));
        }
        if e.keyed {
            parameters.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": true,
                "description": "The client's id of this operation: a retry with the same key gets the first answer back (a UUIDv7 is best).",
                "schema": { "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$" }
            }));
        }
        let mut responses: Map<String, Value> = Map::new();
        let ok = match e.ok {
            Ok200::Json(schema) => {
                json!({ "description": describe(e.ok_status), "content": { "application/json": { "schema": schema(&mut generator).to_value() } } })
            }
            Ok200::Empty => json!({ "description": describe(e.ok_status) }),
            Ok200::Document => json!({
                "description": "The receipt: an HTML print view, ESC/POS printer bytes or a PDF",
                "content": {
                    "text/html; charset=utf-8": { "schema": { "type": "string" } },
                    "application/octet-stream": { "schema": {} },
                    "application/pdf": { "schema": {} }
                }
            }),
        };
        responses.insert(e.ok_status.to_string(), ok);
        let mut errors: Vec<u16> = e.errors.to_vec();
        if e.access != Access::Public {
            errors.extend_from_slice(COMMON);
        } else {
            errors.extend_from_slice(&[400, 401, 500, 503]);
        }
        if e.body.is_some() {
            errors.extend_from_slice(&[413, 415]);
        }
        if e.keyed {
            errors.push(409);
        }
        if e.path.contains('{') {
            errors.push(404);
        }
        errors.sort_unstable();
        errors.dedup();
        for status in errors {
            let mut r = json!({ "description": describe(status), "content": error_content.clone() });
            if status == 429 || status == 503 {
                set(&mut r, "headers", json!({ "Retry-After": { "schema": { "type": "integer" } } }));
            }
            responses.insert(status.to_string(), r);
        }
        let mut operation = json!({
            "operationId": format!("{}{}", method, e.path.replace(['/', '{', '}', '-'], "_")),
            "summary": e.summary,
            "parameters": parameters,
            "responses": responses,
        });
        match e.access {
            Access::Public => set(&mut operation, "security", json!([])),
            Access::LoggedIn => {}
            Access::Needs(p) => set(&mut operation, "x-permission", json!(p.as_str())),
        }
        if let Some(body) = e.body {
            set(
                &mut operation,
                "requestBody",
                json!({
                    "required": true,
                    "content": { "application/json": { "schema": body(&mut generator).to_value() } }
                }),
            );
        }
        if let Some(path) = paths.entry(e.path.to_string()).or_insert_with(|| json!({})).as_object_mut() {
            path.insert(method, operation);
        }
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Voltvend",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Prepaid electricity and water vending. Money is exact: strings of major or minor units, never floats. Errors are {code, message, details} with the stable codes of docs/errors.md. Every write needs an Idempotency-Key; writes with the session cookie also need X-CSRF-Token.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearerToken": [] }, { "sessionCookie": [] }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerToken": { "type": "http", "scheme": "bearer", "description": "An API token: vvt_…" },
                "sessionCookie": { "type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE }
            }
        }
    })
}

/// The document, built once.
pub fn json_bytes() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_vec_pretty(&build()).unwrap_or_default())
}

pub async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json_bytes()).into_response()
}
