//! The Lambda edge on API Gateway's own events: payload format 2.0 JSON, turned into a
//! request by lambda_http's conversion, answered by the router `run_http` serves.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use common::*;
use paspor_domain::{
    Secrets,
    accounts::SignUp,
    jobs::{Job, Message},
    mail::Lang,
};
use paspor_http::{AppState, Settings};
use paspor_tests::fixture::{Fixture, embedded, test_secrets};

#[tokio::test]
async fn a_named_stage_reaches_the_route() {
    let (f, _dir) = embedded();
    let edge = settled(&f);
    let (status, body) = answer(&edge, &event("dev", "/v1/echo", "a=1&b=2", plain())).await;
    assert_eq!(status, 200, "{body}");
    // The path without the stage, the query kept, the address API Gateway saw.
    assert!(body.contains("/v1/echo?a=1&b=2 203.0.113.9"), "{body}");
    assert!(!body.contains("/dev/"), "{body}");
    // Unknown routes still answer the routers' own problem+json 404.
    let (status, body) = answer(&edge, &event("dev", "/v1/nothing", "", plain())).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"code\":\"not_found\""), "{body}");
}

#[tokio::test]
async fn the_default_stage_and_other_stage_names_reach_the_route() {
    let (f, _dir) = embedded();
    let edge = settled(&f);
    for stage in ["$default", "prod", "staging", "v2"] {
        let (status, body) = answer(&edge, &event(stage, "/v1/echo", "", plain())).await;
        assert_eq!(status, 200, "{stage}: {body}");
        assert!(body.starts_with("/v1/echo "), "{stage}: {body}");
    }
}

#[tokio::test]
async fn the_iam_caller_is_passed_on() {
    let (f, _dir) = embedded();
    let edge = settled(&f);
    let mut event: serde_json::Value =
        serde_json::from_str(&event("dev", "/v1/echo", "", plain())).expect("json");
    event["requestContext"]["authorizer"] = serde_json::json!({
        "iam": {
            "accessKey": "AKIAEXAMPLE",
            "accountId": "123456789012",
            "callerId": "AIDAEXAMPLE",
            "principalOrgId": null,
            "userArn": "arn:aws:iam::123456789012:user/operator",
            "userId": "AIDAEXAMPLE"
        }
    });
    let (status, body) = answer(&edge, &event.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.ends_with(" arn:aws:iam::123456789012:user/operator"),
        "{body}"
    );
}

/// Signs up and verifies an account through `state`, answering its access token.
async fn token_from(state: &AppState, f: &Fixture) -> String {
    let email = format!("rotasi.{}@example.com", ulid::Ulid::new()).to_lowercase();
    state
        .accounts
        .sign_up(
            SignUp {
                email: email.clone(),
                password: "rahasia-panjang-sekali".into(),
                full_name: "Siti Aminah".into(),
                phone: "081234567890".into(),
            },
            Lang::Id,
        )
        .await
        .expect("sign up");
    let code = (f.drain_jobs)()
        .await
        .into_iter()
        .find_map(|job| match job {
            Job::SendEmail {
                to,
                message: Message::Otp { code, .. },
                ..
            } if to == email => Some(code),
            _ => None,
        })
        .expect("an OTP email");
    state
        .accounts
        .verify(&email, &code)
        .await
        .expect("verify")
        .access_token
}

fn bearer(token: &str) -> serde_json::Value {
    serde_json::json!({
        "host": "abc123.execute-api.ap-southeast-3.amazonaws.com",
        "authorization": format!("Bearer {token}")
    })
}

fn rotated(old: &Secrets) -> Secrets {
    let mut new = old.clone();
    new.token_keys = vec![
        b"rotated-token-key-0123456789abcdef".to_vec(),
        old.token_keys[0].clone(),
    ];
    new
}

#[tokio::test]
async fn a_warm_instance_verifies_tokens_signed_with_a_rotated_key_after_a_refresh() {
    let (f, _dir) = embedded();
    let old = test_secrets();
    let ssm = Arc::new(Mutex::new(Ok(old.clone())));
    // Started before the rotation; checks the secrets at every request (a zero interval),
    // so the test need not wait five minutes.
    let warm = edge(&f, old.clone(), source(ssm.clone()), Duration::ZERO);
    // And one that never looks again: the behaviour before this change.
    let frozen = edge(
        &f,
        old.clone(),
        never(old.clone()),
        Duration::from_secs(3600),
    );

    // The rotation: a new key first, the old one second. A new instance signs with it.
    let new = rotated(&old);
    *ssm.lock().expect("lock") = Ok(new.clone());
    let fresh = AppState::new(f.ports.clone(), &new, Settings::default());
    let token = token_from(&fresh, &f).await;

    let (status, body) = answer(&frozen, &event("dev", "/v1/whoami", "", bearer(&token))).await;
    assert_eq!(status, 401, "the old keys cannot verify it: {body}");
    let (status, body) = answer(&warm, &event("dev", "/v1/whoami", "", bearer(&token))).await;
    assert_eq!(status, 200, "after the refresh: {body}");

    // SSM failing: the secrets in use are kept.
    *ssm.lock().expect("lock") = Err("GetParameters: throttled".into());
    let (status, body) = answer(&warm, &event("dev", "/v1/whoami", "", bearer(&token))).await;
    assert_eq!(status, 200, "a failed refresh keeps the new keys: {body}");
    // A token of the old key is still good while it is listed second.
    let before = AppState::new(f.ports.clone(), &old, Settings::default());
    let old_token = token_from(&before, &f).await;
    *ssm.lock().expect("lock") = Ok(new);
    let (status, body) = answer(&warm, &event("dev", "/v1/whoami", "", bearer(&old_token))).await;
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_refresh_interval_is_five_minutes() {
    assert_eq!(paspor_lambda::SECRETS_REFRESH, Duration::from_secs(300));
}
