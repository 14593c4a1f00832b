//! Abuse: rate limits per address and per account answer `429 rate_limited` with a
//! `Retry-After`, and let the caller in again once the window has passed. The per-address
//! ceiling is sized for a whole town behind one carrier-grade NAT, so the tests of its
//! mechanism start the server with a small one. Oversized headers are refused, and no
//! answer ever carries internals.

use serde_json::json;

use paspor_tests::local::{Answer, LocalServer, email};

use crate::{BIN, server};

/// A small per-address ceiling, a minute's worth, so a test can reach it.
const CEILING: &str = "30";

async fn small_ceiling() -> LocalServer {
    let s = LocalServer::start_with(
        BIN,
        &[
            "--address-limit-per-minute",
            CEILING,
            "--email-address-limit-per-minute",
            CEILING,
        ],
    );
    start_of_a_minute(&s).await;
    s
}

/// Moves the clock to the start of the next minute, so a test's requests share a window.
/// On the stack the clock is the real one: a test that needs a few seconds of one window
/// waits out the end of a minute instead.
async fn start_of_a_minute(s: &LocalServer) {
    let second = chrono::Timelike::second(&s.now().await);
    if !s.is_stack() {
        s.advance_clock(i64::from(60 - second)).await;
    } else if second >= 45 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
}

fn assert_limited(a: &Answer, window: u64) {
    assert_eq!((a.status, a.code()), (429, "rate_limited"), "{:?}", a.body);
    let wait: u64 = a
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=window).contains(&wait), "Retry-After {wait}");
}

#[tokio::test]
async fn otp_routes_are_limited_per_address_then_open_again() {
    paspor_tests::local_only!("the clock");
    let s = small_ceiling().await;
    // Unknown emails answer 202 (nobody learns who has an account), and still count.
    for i in 0..30 {
        let a = s
            .post(
                "/v1/password/forgot",
                json!({"email": format!("nobody{i}@example.com")}),
            )
            .await;
        assert_eq!(a.status, 202, "request {i}: {:?}", a.body);
    }
    let over = s
        .post(
            "/v1/otp/resend",
            json!({"email": "someone@example.com", "purpose": "signup"}),
        )
        .await;
    assert_limited(&over, 60);
    // Verify and reset share the budget: a script cannot move to another OTP route.
    let verify = s
        .post(
            "/v1/accounts/verify",
            json!({"email": "someone@example.com", "code": "123456"}),
        )
        .await;
    assert_limited(&verify, 60);

    s.advance_clock(60).await;
    let again = s
        .post("/v1/password/forgot", json!({"email": "x@example.com"}))
        .await;
    assert_eq!(again.status, 202, "{:?}", again.body);
}

#[tokio::test]
async fn sign_in_is_limited_per_login_even_when_the_password_is_right() {
    let s = server();
    let who = email("rajin");
    s.verified_account(&who, "kata-sandi-rajin").await;
    for i in 0..20 {
        let a = s
            .post(
                "/v1/sessions",
                json!({"email": who, "password": "kata-sandi-rajin"}),
            )
            .await;
        assert_eq!(a.status, 200, "sign-in {i}: {:?}", a.body);
    }
    // Another spelling of the same login is the same budget.
    let over = s
        .post(
            "/v1/sessions",
            json!({"email": who.to_uppercase(), "password": "kata-sandi-rajin"}),
        )
        .await;
    assert_limited(&over, 600);
    // Other people are not affected.
    let other = email("lain");
    s.verified_account(&other, "kata-sandi-lain").await;
    let fine = s
        .post(
            "/v1/sessions",
            json!({"email": other, "password": "kata-sandi-lain"}),
        )
        .await;
    assert_eq!(fine.status, 200, "{:?}", fine.body);
}

#[tokio::test]
async fn sign_up_is_limited_per_address() {
    paspor_tests::local_only!("a small ceiling (flags) and the clock");
    let s = small_ceiling().await;
    for i in 0..30 {
        let a = s
            .post(
                "/v1/accounts",
                json!({"email": email(&format!("massal{i}")), "password": "kata-sandi-massal",
                       "full_name": "Akun Massal", "phone": "081298765432"}),
            )
            .await;
        assert_eq!(a.status, 201, "sign-up {i}: {:?}", a.body);
    }
    let over = s
        .post(
            "/v1/accounts",
            json!({"email": email("satu-lagi"), "password": "kata-sandi-massal",
                   "full_name": "Akun Massal", "phone": "081298765432"}),
        )
        .await;
    assert_limited(&over, 60);
}

#[tokio::test]
async fn booking_is_limited_per_account() {
    let s = server();
    let token = s.verified_account(&email("calo"), "kata-sandi-calo").await;
    // The 31 attempts in one minute's window.
    start_of_a_minute(&s).await;
    let url = "/v1/applications/no-such-application/booking";
    let body = json!({"office_id": "bandung", "date": "2099-01-01", "time": "09:00"});
    for i in 0..30 {
        let a = s.post_auth(url, body.clone(), &token).await;
        assert_ne!(a.status, 429, "attempt {i} was limited: {:?}", a.body);
    }
    let over = s.post_auth(url, body.clone(), &token).await;
    assert_limited(&over, 60);
    let resched = s
        .put_auth(url, json!({"date": "2099-01-01", "time": "09:00"}), &token)
        .await;
    assert_limited(&resched, 60);
    // Someone else from the same address books on.
    let other = s
        .verified_account(&email("warga"), "kata-sandi-warga")
        .await;
    let fine = s.post_auth(url, body, &other).await;
    assert_ne!(fine.status, 429, "{:?}", fine.body);
}

#[tokio::test]
async fn five_hundred_people_behind_one_address_book_in_one_minute() {
    paspor_tests::local_only!("imported accounts and flags");
    // One carrier-grade NAT on a release morning: every request comes from 127.0.0.1.
    let (s, tokens) = LocalServer::start_with_accounts(BIN, 500, &[]).await;
    let url = "/v1/applications/no-such-application/booking";
    let body = json!({"office_id": "bandung", "date": "2099-01-01", "time": "09:00"});
    let start = std::time::Instant::now();
    for (i, token) in tokens.iter().enumerate() {
        let a = s.post_auth(url, body.clone(), token).await;
        // Refused for another reason (no such application) is fine; for the address is not.
        assert_ne!(
            (a.status, a.code()),
            (429, "rate_limited"),
            "person {i} of 500 refused for the address: {:?}",
            a.body
        );
    }
    assert!(start.elapsed().as_secs() < 60, "{:?}", start.elapsed());
}

#[tokio::test]
async fn a_script_with_many_accounts_meets_the_address_ceiling() {
    paspor_tests::local_only!("imported accounts and flags");
    let (s, tokens) =
        LocalServer::start_with_accounts(BIN, 31, &["--address-limit-per-minute", CEILING]).await;
    start_of_a_minute(&s).await;
    let url = "/v1/applications/no-such-application/booking";
    let body = json!({"office_id": "bandung", "date": "2099-01-01", "time": "09:00"});
    for (i, token) in tokens[..30].iter().enumerate() {
        let a = s.post_auth(url, body.clone(), token).await;
        assert_ne!(a.status, 429, "attempt {i} was limited: {:?}", a.body);
    }
    let over = s.post_auth(url, body, &tokens[30]).await;
    assert_limited(&over, 60);
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let s = server();
    let huge = "a".repeat(20 * 1024);
    let a = s
        .send(
            reqwest::Method::GET,
            "/v1/offices",
            None,
            None,
            &[("x-padding", huge.as_str())],
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (431, "headers_too_large"),
        "{:?}",
        a.body
    );
}
