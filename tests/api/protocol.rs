//! The HTTP conventions: problem+json for every failure, never a 500 for a bad request.

use serde_json::json;

use crate::server;

#[tokio::test]
async fn malformed_wrong_type_oversized_unknown() {
    let s = server();
    let url = format!("{}/v1/accounts", s.base);
    let http = s.raw();

    let malformed = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), 400);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = malformed.json().await.expect("json");
    assert_eq!(body["code"], "invalid_request");
    assert_eq!(body["status"], 400);
    assert!(
        body["type"].as_str().is_some()
            && body["title"].as_str().is_some()
            && body["detail"].as_str().is_some()
    );

    let wrong_type = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_type.status(), 415);
    let body: serde_json::Value = wrong_type.json().await.expect("json");
    assert_eq!(body["code"], "unsupported_media_type");

    let big = format!("{{\"email\": \"{}\"}}", "a".repeat(80 * 1024));
    let oversized = http
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(oversized.status(), 413);
    let body: serde_json::Value = oversized.json().await.expect("json");
    assert_eq!(body["code"], "payload_too_large");

    let wrong_field_type = s
        .post(
            "/v1/accounts",
            json!({"email": 5, "password": "x", "full_name": "y", "phone": "z"}),
        )
        .await;
    assert_eq!(
        (wrong_field_type.status, wrong_field_type.code()),
        (400, "invalid_request")
    );
    assert_eq!(wrong_field_type.str("/errors/0/field"), "email");
    let missing = s.post("/v1/accounts", json!({"email": "a@b.co"})).await;
    assert_eq!((missing.status, missing.code()), (400, "invalid_request"));
    assert_eq!(missing.str("/errors/0/field"), "password");

    let unknown = s.get("/v1/nothing-here", None).await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let method = s.get("/v1/accounts", None).await;
    // On AWS, the `$default` route's function (accounts) serves POST /v1/accounts too.
    assert_eq!((method.status, method.code()), (405, "method_not_allowed"));
    assert_eq!(
        method.header("content-type"),
        Some("application/problem+json")
    );
    // A path another function serves: on AWS it reaches `$default` (accounts) all the same.
    for m in [reqwest::Method::DELETE, reqwest::Method::TRACE] {
        let other = s.send(m.clone(), "/v1/offices", None, None, &[]).await;
        assert_eq!(
            (other.status, other.code()),
            (405, "method_not_allowed"),
            "{m}"
        );
        let allow = other.header("allow").unwrap_or_default();
        assert!(
            allow.contains("GET") && !allow.contains("DELETE"),
            "{m}: {allow}"
        );
    }
    let param = s
        .send(
            reqwest::Method::PATCH,
            "/v1/applications/x/booking",
            None,
            None,
            &[],
        )
        .await;
    assert_eq!((param.status, param.code()), (405, "method_not_allowed"));
}

#[tokio::test]
async fn local_clock_moves_forward_only() {
    paspor_tests::local_only!("the clock");
    let s = server();
    let a = s.post("/_local/clock", json!({"advance_secs": 7200})).await;
    assert_eq!(a.status, 200);
    let now = chrono_like_year(a.str("/now"));
    assert!(now >= 2026, "{}", a.body);
    let back = s.post("/_local/clock", json!({"advance_secs": -5})).await;
    assert_eq!((back.status, back.code()), (400, "invalid_request"));
    assert_eq!(back.str("/errors/0/field"), "advance_secs");
}

#[tokio::test]
async fn local_clock_refuses_a_move_past_a_century_and_keeps_the_folder_usable() {
    paspor_tests::local_only!("the clock");
    let s = server();
    for secs in [9_000_000_000_000_i64, i64::MAX, 101 * 366 * 86_400] {
        let a = s.post("/_local/clock", json!({"advance_secs": secs})).await;
        assert_eq!(
            (a.status, a.code()),
            (400, "invalid_request"),
            "{secs}: {:?}",
            a.body
        );
        assert_eq!(a.header("content-type"), Some("application/problem+json"));
        assert_eq!(a.str("/errors/0/field"), "advance_secs");
    }
    // Nothing was kept: the clock and the data folder still work, after a restart too.
    assert_eq!(s.get("/v1/offices", None).await.status, 200);
    let s = s.restart();
    let a = s.post("/_local/clock", json!({"advance_secs": 60})).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(s.get("/v1/offices", None).await.status, 200);
}

fn chrono_like_year(rfc3339: &str) -> i32 {
    rfc3339[..4].parse().expect("year")
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let s = server();
    let ok = s.get("/v1/offices", None).await;
    let problem = s.get("/v1/me", None).await;
    let missing = s.get("/v1/nothing", None).await;
    for a in [&ok, &problem, &missing] {
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(a.header("x-frame-options"), Some("DENY"));
        assert_eq!(a.header("referrer-policy"), Some("no-referrer"));
        assert!(
            a.header("strict-transport-security")
                .is_some_and(|v| v.contains("max-age"))
        );
        assert!(
            a.header("content-security-policy")
                .is_some_and(|v| v.contains("default-src 'none'"))
        );
    }
    assert_eq!(
        problem.header("cache-control"),
        Some("no-store"),
        "personal answers are never cached"
    );
}
