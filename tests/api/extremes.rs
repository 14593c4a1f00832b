//! Extreme values at every parameter of every route of `openapi.yaml`: dates at chrono's
//! limits, numbers at and past i64's, ids and emails longer than any key may be. Whatever
//! the value, the answer is a clear 4xx (or a success): never a 5xx, never a dropped
//! connection (a panic), and the server keeps serving.

use paspor_tests::local::{LocalServer, OPS_TOKEN, email};
use serde_json::{Map, Value, json};

/// What a string parameter (path, query, header or string field) is set to.
fn extreme_strings() -> Vec<String> {
    vec![
        "+262142-12-31".into(),
        "-262143-01-01".into(),
        "262142-12-31".into(),
        "9999-12-31".into(),
        "0000-01-01".into(),
        "9223372036854775807".into(),
        "-9223372036854775808".into(),
        "99999999999999999999999".into(),
        "1e308".into(),
        "NaN".into(),
        "x".repeat(1100),
        format!("{}@example.com", "a".repeat(2100)),
        "ULIDUPPERCASE01HZY0000000".into(),
        "é\u{0}\u{202e}".into(),
        String::new(),
    ]
}

/// What a JSON field is set to, beyond the strings above.
fn extreme_values() -> Vec<Value> {
    let mut v: Vec<Value> = extreme_strings().into_iter().map(Value::from).collect();
    v.extend([
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e308),
        json!(-1e308),
        json!(0),
        json!(-1),
        json!(null),
        json!(true),
        json!([[[[["deep"]]]]]),
        json!({"09:00": i64::MAX, "10:00": i64::MIN}),
    ]);
    v
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.trim_start_matches('#');
            doc.pointer(pointer).unwrap_or(v)
        }
        None => v,
    }
}

/// A plausible value for a field, so that a request varying another field gets past it.
fn plausible(name: &str, schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (_, Some("date")) => json!("2031-03-03"),
        (_, Some("date-time")) => json!("2031-03-03T09:00:00+07:00"),
        (_, Some("email")) => json!(email(name)),
        (Some("integer"), _) => json!(1),
        (Some("number"), _) => json!(1.5),
        (Some("boolean"), _) => json!(false),
        (Some("object"), _) => json!({"09:00": 5}),
        (Some("array"), _) => json!(["regular"]),
        _ => match name {
            "time" => json!("09:00"),
            "nik" => json!("3171010101900001"),
            "phone" => json!("081234567890"),
            "office_id" => json!("jakarta-pusat"),
            "destination_country" => json!("JP"),
            "code" => json!("123456"),
            _ => json!("Kantor Imigrasi Contoh 1"),
        },
    }
}

struct Operation {
    method: String,
    path: String,
    path_params: Vec<String>,
    query_params: Vec<String>,
    header_params: Vec<String>,
    body: Option<Map<String, Value>>,
    ops: bool,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let (mut path_params, mut query_params, mut header_params) = (vec![], vec![], vec![]);
            for p in op["parameters"].as_array().into_iter().flatten() {
                let p = resolve(doc, p);
                let name = p["name"].as_str().unwrap_or_default().to_owned();
                match p["in"].as_str() {
                    Some("path") => path_params.push(name),
                    Some("query") => query_params.push(name),
                    Some("header") if name != "Accept-Language" => header_params.push(name),
                    _ => {}
                }
            }
            let schema = op
                .pointer("/requestBody/content/application~1json/schema")
                .map(|s| resolve(doc, s));
            let body = schema
                .and_then(|s| s["properties"].as_object())
                .map(|props| {
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), plausible(k, resolve(doc, v))))
                        .collect::<Map<String, Value>>()
                });
            let ops = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("ops").is_some()));
            out.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                path_params,
                query_params,
                header_params,
                body,
                ops,
            });
        }
    }
    out
}

/// One request; its status, or a panic naming the request if no answer came.
async fn send(
    s: &LocalServer,
    op: &Operation,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: Option<&Value>,
    token: &str,
) -> u16 {
    let method = reqwest::Method::from_bytes(op.method.as_bytes()).expect("method");
    let mut req = s
        .raw()
        .request(method, format!("{}{path}", s.base))
        .query(query)
        .bearer_auth(if op.ops { OPS_TOKEN } else { token });
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let what = format!("{} {path} {query:?} {headers:?} {body:?}", op.method);
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer (did it panic?) to {what}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert!(status < 500, "{status} to {what}: {text}");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_values_at_every_parameter_of_every_route_are_clear_4xx() {
    paspor_tests::local_only!("its own flags");
    let s = LocalServer::start_with(
        env!("CARGO_BIN_EXE_paspor-local"),
        &["--seed", "demo", "--rate-limits", "off"],
    );
    let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml"))
        .expect("read openapi.yaml");
    let doc: Value = serde_norway::from_str(&raw).expect("parse openapi.yaml");
    let token = s
        .verified_account(&email("extremes"), "rahasia-extremes")
        .await;
    let id = s
        .submitted_application(&token, "1990-01-01", 4242, "regular")
        .await;
    let real = |name: &str| -> String {
        match name {
            "id" => id.clone(),
            "office_id" => "jakarta-pusat".into(),
            "kind" => "ktp".into(),
            _ => "x".into(),
        }
    };
    let (mut sent, mut seen) = (0, std::collections::BTreeMap::<u16, u32>::new());
    for op in operations(&doc) {
        // Every parameter in turn takes every extreme value; the others stay plausible.
        let fill = |params: &[String], vary: Option<(&str, &str)>| -> Vec<(String, String)> {
            params
                .iter()
                .map(|p| match vary {
                    Some((name, v)) if name == p => (p.clone(), v.to_owned()),
                    _ => (p.clone(), real(p)),
                })
                .collect()
        };
        let path_of = |vary: Option<(&str, &str)>| {
            let mut path = op.path.clone();
            for (name, value) in fill(&op.path_params, vary) {
                let encoded: String = url_escape(&value);
                path = path.replace(&format!("{{{name}}}"), &encoded);
            }
            path
        };
        let body = op.body.clone().map(Value::Object);
        for v in extreme_strings() {
            for p in op
                .path_params
                .iter()
                .chain(&op.query_params)
                .chain(&op.header_params)
            {
                let vary = Some((p.as_str(), v.as_str()));
                let query = if op.query_params.contains(p) {
                    vec![(p.clone(), v.clone())]
                } else {
                    vec![]
                };
                // Every header the operation takes is sent (an `Idempotency-Key` with a long
                // path id, say); a header cannot hold NUL or a newline, so those are skipped.
                if op.header_params.contains(p) && v.chars().any(char::is_control) {
                    continue;
                }
                let headers = fill(&op.header_params, vary);
                let status = send(
                    &s,
                    &op,
                    &path_of(vary),
                    &query,
                    &headers,
                    body.as_ref(),
                    &token,
                )
                .await;
                sent += 1;
                *seen.entry(status).or_default() += 1;
            }
        }
        if let Some(Value::Object(fields)) = &body {
            for field in fields.keys() {
                for v in extreme_values() {
                    let mut b = fields.clone();
                    b.insert(field.clone(), v);
                    let status = send(
                        &s,
                        &op,
                        &path_of(None),
                        &[],
                        &[],
                        Some(&Value::Object(b)),
                        &token,
                    )
                    .await;
                    sent += 1;
                    *seen.entry(status).or_default() += 1;
                }
            }
        }
    }
    // Still serving, and still knows the application.
    let after = s.get(&format!("/v1/applications/{id}"), Some(&token)).await;
    assert_eq!(after.status, 200, "{:?}", after.body);
    assert!(sent > 1000, "only {sent} requests were sent");
    eprintln!("{sent} requests with extreme values; statuses {seen:?}");
}

/// Percent-encodes everything but unreserved characters, as a path segment needs.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
