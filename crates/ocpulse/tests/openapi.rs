//! The OpenAPI document at `/api/v1/openapi.json` describes the whole API: every route
//! registered in `api::router()` (the `api::ROUTES` list it is built from) and nothing
//! else, every error response with the one JSON error shape.

mod common;

use std::collections::BTreeSet;

use common::Server;
use serde_json::Value;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const ERROR_REF: &str = "#/components/schemas/ApiErrorBody";

async fn document(server: &Server) -> Value {
    let r = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .expect("GET openapi.json");
    assert_eq!(r.status().as_u16(), 200);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    r.json().await.expect("the document is JSON")
}

/// Every (method, path) operation of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut ops = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for (method, op) in item {
            if METHODS.contains(&method.as_str()) {
                ops.push((method.clone(), path.clone(), op));
            }
        }
    }
    ops
}

/// The `$ref` of a response's JSON body, if any.
fn json_body_ref(response: &Value) -> Option<&str> {
    response["content"]["application/json"]["schema"]["$ref"].as_str()
}

#[tokio::test]
async fn document_is_openapi_3_with_info_from_cargo_and_a_root_server() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "OpenAPI 3.x, got {version}");
    assert_eq!(doc["info"]["title"], "ocpulse");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], "/");
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let routed: BTreeSet<(String, String)> = ocpulse::api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        routed.len(),
        ocpulse::api::ROUTES.len(),
        "a route is listed twice"
    );
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes without an operation in the document (annotate the handler with #[utoipa::path] and add it to paths(...) in api/openapi.rs): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented operations that api::router() does not serve: {unrouted:?}"
    );
    // The routes are real: each answers something other than the unknown-path 404.
    for (method, path) in ocpulse::api::ROUTES {
        if *path == "/api/v1/events" {
            continue; // an endless stream
        }
        let url = server.url(&path.replace("{id}", "X"));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let r = reqwest::Client::new()
            .request(method.clone(), url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["error"], "not_found",
            "{method} {path} is not routed: {status} {body}"
        );
    }
}

#[tokio::test]
async fn every_operation_documents_its_errors_with_the_error_schema() {
    let server = Server::start().await;
    let doc = document(&server).await;
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no success response"
        );
        assert!(
            responses.keys().any(|s| s.starts_with('4')),
            "{method} {path}: no 4xx response"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    json_body_ref(response),
                    Some(ERROR_REF),
                    "{method} {path} {status}: an error response must be the ApiErrorBody JSON shape"
                );
            }
        }
        // Every {param} of the path is declared as a path parameter.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(
            declared, in_path,
            "{method} {path}: path parameters declared vs. in the path"
        );
    }
}

#[tokio::test]
async fn error_schema_is_error_and_message_strings_and_allows_more_fields() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let schema = &doc["components"]["schemas"]["ApiErrorBody"];
    assert_eq!(schema["type"], "object", "{schema}");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        required.contains(&"error") && required.contains(&"message"),
        "{schema}"
    );
    assert_eq!(schema["properties"]["error"]["type"], "string");
    assert_eq!(schema["properties"]["message"]["type"], "string");
    assert_ne!(
        schema["additionalProperties"],
        Value::Bool(false),
        "errors may carry context fields: {schema}"
    );
}

#[tokio::test]
async fn every_reference_resolves() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let server = Server::start().await;
    let doc = document(&server).await;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').expect("a local reference");
        assert!(
            doc.pointer(pointer).is_some(),
            "{r} does not resolve in the document"
        );
    }
}

/// The report/export parameters where an empty value counts as absent say so
/// (`allowEmptyValue`), so a fuzzer does not expect `evse=` or `format=` to be refused, and
/// the server does accept them empty.
#[tokio::test]
async fn empty_means_absent_parameters_allow_empty_values() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let op = &doc["paths"]["/api/v1/export/meter-values"]["get"];
    let params = op["parameters"].as_array().expect("parameters");
    for name in ["station", "evse", "measurand", "from", "to", "format"] {
        let p = params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("parameter {name}"));
        assert_eq!(p["allowEmptyValue"], Value::Bool(true), "{name}: {p}");
    }
    let r = reqwest::get(
        server.url("/api/v1/export/meter-values?station=&evse=&measurand=&from=&to=&format="),
    )
    .await
    .expect("export");
    assert_eq!(r.status().as_u16(), 200);
    // The acknowledge body may be left out.
    let ack = &doc["paths"]["/api/v1/alerts/{id}/acknowledge"]["post"]["requestBody"];
    assert_eq!(ack["required"], Value::Bool(false), "{ack}");
}

#[tokio::test]
async fn requested_message_is_the_enum_of_every_versions_names_and_both_bodies_use_it() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let documented: BTreeSet<&str> = doc["components"]["schemas"]["RequestedMessage"]["enum"]
        .as_array()
        .expect("RequestedMessage is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let accepted: BTreeSet<&str> = ocpp_rpc::ProtocolVersion::ALL
        .into_iter()
        .flat_map(ocpulse_core::trigger_plan::valid_messages)
        .collect();
    assert_eq!(documented, accepted);
    for body in ["TriggerBody", "JobTrigger"] {
        assert_eq!(
            doc["components"]["schemas"][body]["properties"]["requestedMessage"]["$ref"],
            "#/components/schemas/RequestedMessage",
            "{body}: {}",
            doc["components"]["schemas"][body]
        );
    }
}

#[tokio::test]
async fn every_list_answers_a_page_and_takes_limit_and_after() {
    let server = Server::start().await;
    let doc = document(&server).await;
    let mut pages = 0;
    for (method, path, op) in operations(&doc) {
        let body = &op["responses"]["200"]["content"]["application/json"]["schema"];
        assert_ne!(
            body["type"], "array",
            "{method} {path} answers a bare array, not a page"
        );
        let Some(name) = json_body_ref(&op["responses"]["200"]) else {
            continue;
        };
        let schema =
            &doc["components"]["schemas"][name.trim_start_matches("#/components/schemas/")];
        if schema["properties"].get("items").is_none() {
            continue;
        }
        pages += 1;
        let mut fields: Vec<&String> = schema["properties"]
            .as_object()
            .expect("props")
            .keys()
            .collect();
        fields.sort();
        assert_eq!(fields, ["items", "next"], "{method} {path}: {schema}");
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for wanted in ["limit", "after"] {
            assert!(
                params.contains(&wanted),
                "{method} {path} lacks {wanted}: {params:?}"
            );
        }
    }
    assert_eq!(pages, 20, "every list endpoint answers a page");
}
