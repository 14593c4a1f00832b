//! `openapi.yaml` and the routers agree: no undocumented route, no documented route missing.

use std::collections::BTreeSet;

#[test]
fn document_and_routers_agree() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let raw = std::fs::read_to_string(path).expect("read openapi.yaml");
    let doc: serde_json::Value = serde_norway::from_str(&raw).expect("parse openapi.yaml");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    // What the `$default` function reads from the document without a YAML parser.
    let read: BTreeSet<(String, String)> = paspor_http::contract()
        .into_iter()
        .flat_map(|(p, ms)| ms.into_iter().map(move |m| (m.to_string(), p.to_owned())))
        .collect();
    assert_eq!(
        read, documented,
        "paspor_http::contract() misreads openapi.yaml"
    );
    let served: BTreeSet<(String, String)> = paspor_local::api_routes()
        .list()
        .iter()
        .map(|(m, p)| (m.to_string(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in openapi.yaml: {undocumented:?}"
    );
    assert!(
        missing.is_empty(),
        "in openapi.yaml but not served: {missing:?}"
    );
}

/// On AWS the operators' routes take SigV4 (API Gateway's AWS_IAM authorizer); only
/// paspor-local takes the ops token. And the answers API Gateway gives itself, which are
/// not problem+json, are documented.
#[test]
fn ops_routes_document_sigv4_and_the_ops_token() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let raw = std::fs::read_to_string(path).expect("read openapi.yaml");
    let doc: serde_json::Value = serde_norway::from_str(&raw).expect("parse openapi.yaml");
    let schemes = &doc["components"]["securitySchemes"];
    let sigv4 = &schemes["sigv4"];
    assert_eq!(sigv4["type"], "apiKey", "{sigv4}");
    assert_eq!(sigv4["in"], "header");
    assert_eq!(sigv4["name"], "Authorization");
    assert_eq!(sigv4["x-amazon-apigateway-authtype"], "awsSigv4");
    assert!(
        sigv4["description"]
            .as_str()
            .is_some_and(|d| d.contains("execute-api"))
    );
    assert!(
        schemes["ops"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("paspor-local")),
        "the ops token is the local server's"
    );
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let names: Vec<&str> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_object())
                .flat_map(|r| r.keys().map(String::as_str))
                .collect();
            if path.starts_with("/v1/ops/") {
                assert!(
                    names.contains(&"sigv4") && names.contains(&"ops"),
                    "{method} {path}: {names:?}"
                );
                let mut forbidden = &op["responses"]["403"];
                if let Some(name) = forbidden["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/responses/"))
                {
                    forbidden = &doc["components"]["responses"][name];
                }
                assert_eq!(
                    forbidden["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ApiGatewayMessage",
                    "{method} {path}: API Gateway's 403"
                );
            } else {
                assert!(
                    !names.contains(&"sigv4"),
                    "{method} {path} is not IAM-authorised"
                );
            }
        }
    }
    let message = &doc["components"]["schemas"]["ApiGatewayMessage"];
    assert_eq!(message["required"], serde_json::json!(["message"]));
    let info = doc["info"]["description"]
        .as_str()
        .expect("info.description");
    for body in [
        r#"403 `{"message":"Forbidden"}`"#,
        r#"404 `{"message":"Not Found"}`"#,
        r#"413 `{"message":"Request Entity Too Large"}`"#,
        r#"429 `{"message":"Too Many Requests"}`"#,
        r#"500 `{"message":"Internal Server Error"}`"#,
        r#"503 `{"message":"Service Unavailable"}`"#,
    ] {
        assert!(
            info.contains(body),
            "info.description documents API Gateway's {body}"
        );
    }
}
