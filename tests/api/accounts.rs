//! Every row and failure of API.md's "Accounts and OTP" table.

use paspor_tests::local::email;
use serde_json::json;

use crate::server;

#[tokio::test]
async fn sign_up_verify_and_me() {
    let s = server();
    let mail = email("siti");
    let a = s
        .post("/v1/accounts", json!({"email": mail.to_uppercase(), "password": "rahasia-siti", "full_name": "Siti Aminah", "phone": "+62 812-3456-7890"}))
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.str("/email"), mail);
    assert_eq!(a.str("/status"), "unverified");
    let account_id = a.str("/account_id").to_owned();

    let code = s.otp(&mail, 1).await;
    let (subject, text) = &s.mail_to(&mail)[0];
    assert!(
        subject.contains(&code) && text.contains("Halo Siti Aminah") && text.contains("English:"),
        "{subject} {text}"
    );

    let v = s
        .post("/v1/accounts/verify", json!({"email": mail, "code": code}))
        .await;
    assert_eq!(v.status, 200, "{:?}", v.body);
    assert_eq!(v.str("/token_type"), "Bearer");
    assert_eq!(v.body["expires_in"], 3600);
    let token = v.str("/access_token");

    let me = s.get("/v1/me", Some(token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(
        me.body,
        json!({"account_id": account_id, "email": mail, "full_name": "Siti Aminah", "phone": "+6281234567890"})
    );
}

#[tokio::test]
async fn sign_up_refuses_bad_fields_in_both_languages() {
    let s = server();
    let bad =
        json!({"email": "not-an-email", "password": "short", "full_name": "", "phone": "021555"});
    let a = s.post("/v1/accounts", bad.clone()).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.code(), "invalid_request");
    assert_eq!(a.header("content-type"), Some("application/problem+json"));
    let mut fields: Vec<&str> = a.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    fields.sort();
    assert_eq!(fields, ["email", "full_name", "password", "phone"]);
    assert!(
        a.str("/detail").contains("tidak valid"),
        "Indonesian by default: {}",
        a.body
    );

    let en = s
        .send(
            reqwest::Method::POST,
            "/v1/accounts",
            Some(bad),
            None,
            &[("accept-language", "en-US,en;q=0.9")],
        )
        .await;
    assert!(en.str("/detail").contains("not valid"), "{}", en.body);
    assert_eq!(
        en.str("/errors/0/message"),
        "The email address is not valid."
    );
    assert_eq!(a.str("/errors/0/message"), "Alamat email tidak valid.");

    let long = "x".repeat(129);
    let a = s.post("/v1/accounts", json!({"email": email("p"), "password": long, "full_name": "A", "phone": "081234567890"})).await;
    assert_eq!((a.status, a.str("/errors/0/field")), (400, "password"));
}

#[tokio::test]
async fn repeated_sign_up_sends_a_fresh_code_and_voids_the_old() {
    paspor_tests::local_only!("the clock");
    let s = server();
    let mail = email("ulang");
    let body = json!({"email": mail, "password": "rahasia-satu", "full_name": "Ulang", "phone": "081234567890"});
    assert_eq!(s.post("/v1/accounts", body.clone()).await.status, 201);
    let first = s.otp(&mail, 1).await;
    let again = s.post("/v1/accounts", body.clone()).await;
    assert_eq!((again.status, again.code()), (429, "otp_cooldown"));
    let wait: u64 = again
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait));

    s.advance_clock(61).await;
    assert_eq!(s.post("/v1/accounts", body).await.status, 201);
    let second = s.otp(&mail, 2).await;
    if first != second {
        let old = s
            .post("/v1/accounts/verify", json!({"email": mail, "code": first}))
            .await;
        assert_eq!(
            (old.status, old.code()),
            (400, "invalid_otp"),
            "the old code is void"
        );
    }
    let v = s
        .post(
            "/v1/accounts/verify",
            json!({"email": mail, "code": second}),
        )
        .await;
    assert_eq!(v.status, 200, "{:?}", v.body);

    // Verified now: the email is taken.
    s.advance_clock(61).await;
    let taken = s.post("/v1/accounts", json!({"email": mail, "password": "rahasia-dua", "full_name": "X", "phone": "081234567890"})).await;
    assert_eq!((taken.status, taken.code()), (409, "email_taken"));
}

#[tokio::test]
async fn wrong_codes_lock_and_codes_expire() {
    paspor_tests::local_only!("the clock");
    let s = server();
    let mail = email("otp");
    let a = s.post("/v1/accounts", json!({"email": mail, "password": "rahasia-otp", "full_name": "Otp", "phone": "081234567890"})).await;
    assert_eq!(a.status, 201);
    let code = s.otp(&mail, 1).await;
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for left in (1..=4).rev() {
        let w = s
            .post("/v1/accounts/verify", json!({"email": mail, "code": wrong}))
            .await;
        assert_eq!((w.status, w.code()), (400, "invalid_otp"));
        assert_eq!(w.body["attempts_left"], left);
    }
    let locked = s
        .post("/v1/accounts/verify", json!({"email": mail, "code": wrong}))
        .await;
    assert_eq!((locked.status, locked.code()), (429, "otp_locked"));
    assert!(locked.header("retry-after").is_some());
    let still = s
        .post("/v1/accounts/verify", json!({"email": mail, "code": code}))
        .await;
    assert_eq!(
        (still.status, still.code()),
        (429, "otp_locked"),
        "a new code must be requested"
    );

    // A new code, left for more than 10 minutes, expires.
    s.advance_clock(61).await;
    assert_eq!(
        s.post(
            "/v1/otp/resend",
            json!({"email": mail, "purpose": "signup"})
        )
        .await
        .status,
        202
    );
    let fresh = s.otp(&mail, 2).await;
    s.advance_clock(601).await;
    let expired = s
        .post("/v1/accounts/verify", json!({"email": mail, "code": fresh}))
        .await;
    assert_eq!((expired.status, expired.code()), (400, "otp_expired"));
}

#[tokio::test]
async fn resend_answers_alike_for_unknown_emails_and_cools_down() {
    let s = server();
    let unknown = email("siapa");
    let a = s
        .post(
            "/v1/otp/resend",
            json!({"email": unknown, "purpose": "signup"}),
        )
        .await;
    assert_eq!(a.status, 202);
    let b = s
        .post(
            "/v1/otp/resend",
            json!({"email": unknown, "purpose": "password_reset"}),
        )
        .await;
    assert_eq!((b.status, b.code()), (429, "otp_cooldown"));
    assert!(b.header("retry-after").is_some());
    let bad = s
        .post(
            "/v1/otp/resend",
            json!({"email": unknown, "purpose": "login"}),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_request"));
    assert!(
        s.mail_to(&unknown).is_empty(),
        "no email to an unknown address"
    );
}

#[tokio::test]
async fn sign_in_failures_unverified_and_lockout() {
    paspor_tests::local_only!("the clock");
    let s = server();
    let mail = email("masuk");
    let unverified = s.post("/v1/accounts", json!({"email": mail, "password": "rahasia-masuk", "full_name": "Masuk", "phone": "081234567890"})).await;
    assert_eq!(unverified.status, 201);
    let u = s
        .post(
            "/v1/sessions",
            json!({"email": mail, "password": "rahasia-masuk"}),
        )
        .await;
    assert_eq!((u.status, u.code()), (403, "account_unverified"));

    let wrong = s
        .post(
            "/v1/sessions",
            json!({"email": mail, "password": "salah-sekali"}),
        )
        .await;
    let unknown = s
        .post(
            "/v1/sessions",
            json!({"email": email("tidakada"), "password": "salah-sekali"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    assert_eq!(
        wrong.body, unknown.body,
        "unknown email and wrong password answer the same"
    );

    let target = email("target");
    s.verified_account(&target, "rahasia-target").await;
    for _ in 0..10 {
        let f = s
            .post(
                "/v1/sessions",
                json!({"email": target, "password": "bukan-ini"}),
            )
            .await;
        assert_eq!(f.status, 401);
    }
    let locked = s
        .post(
            "/v1/sessions",
            json!({"email": target, "password": "rahasia-target"}),
        )
        .await;
    assert_eq!((locked.status, locked.code()), (429, "too_many_attempts"));
    let wait: u64 = locked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((890..=900).contains(&wait), "{wait}");
    s.advance_clock(15 * 60).await;
    let ok = s
        .post(
            "/v1/sessions",
            json!({"email": target, "password": "rahasia-target"}),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
}

#[tokio::test]
async fn forgot_and_reset_void_every_token() {
    paspor_tests::local_only!("the clock");
    let s = server();
    let mail = email("lupa");
    let old_token = s.verified_account(&mail, "rahasia-lama").await;
    s.advance_clock(61).await;
    assert_eq!(
        s.post("/v1/password/forgot", json!({"email": mail}))
            .await
            .status,
        202
    );
    let unknown = s
        .post("/v1/password/forgot", json!({"email": email("hantu")}))
        .await;
    assert_eq!(unknown.status, 202);
    let code = s.otp(&mail, 2).await;

    let short = s
        .post(
            "/v1/password/reset",
            json!({"email": mail, "code": code, "new_password": "pendek"}),
        )
        .await;
    assert_eq!((short.status, short.code()), (400, "invalid_request"));
    let wrong = s.post("/v1/password/reset", json!({"email": mail, "code": if code == "123123" { "321321" } else { "123123" }, "new_password": "rahasia-baru"})).await;
    assert_eq!((wrong.status, wrong.code()), (400, "invalid_otp"));
    let r = s
        .post(
            "/v1/password/reset",
            json!({"email": mail, "code": code, "new_password": "rahasia-baru"}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);

    assert_eq!(
        s.get("/v1/me", Some(&old_token)).await.status,
        401,
        "tokens before the reset are void"
    );
    let old = s
        .post(
            "/v1/sessions",
            json!({"email": mail, "password": "rahasia-lama"}),
        )
        .await;
    assert_eq!(old.status, 401);
    let new = s
        .post(
            "/v1/sessions",
            json!({"email": mail, "password": "rahasia-baru"}),
        )
        .await;
    assert_eq!(new.status, 200);
    assert_eq!(
        s.get("/v1/me", Some(new.str("/access_token"))).await.status,
        200
    );
}

#[tokio::test]
async fn password_change_keeps_only_the_changing_session() {
    let s = server();
    let mail = email("ganti");
    let mine = s.verified_account(&mail, "rahasia-ganti").await;
    let other = s
        .post(
            "/v1/sessions",
            json!({"email": mail, "password": "rahasia-ganti"}),
        )
        .await;
    let other = other.str("/access_token").to_owned();

    let put = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let unauth = s
        .send(
            reqwest::Method::PUT,
            "/v1/password",
            Some(put("rahasia-ganti", "rahasia-baru")),
            None,
            &[],
        )
        .await;
    assert_eq!((unauth.status, unauth.code()), (401, "unauthorized"));
    let wrong = s
        .put_auth("/v1/password", put("bukan-itu", "rahasia-baru"), &mine)
        .await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    let ok = s
        .put_auth("/v1/password", put("rahasia-ganti", "rahasia-baru"), &mine)
        .await;
    assert_eq!(ok.status, 204, "{:?}", ok.body);

    assert_eq!(
        s.get("/v1/me", Some(&mine)).await.status,
        200,
        "the changing session stays signed in"
    );
    assert_eq!(
        s.get("/v1/me", Some(&other)).await.status,
        401,
        "every other session is void"
    );
    assert_eq!(
        s.post(
            "/v1/sessions",
            json!({"email": mail, "password": "rahasia-baru"})
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn tokens_expire_on_the_one_clock() {
    paspor_tests::local_only!("the clock");
    let s = server();
    let token = s.verified_account(&email("waktu"), "rahasia-waktu").await;
    assert_eq!(s.get("/v1/me", Some(&token)).await.status, 200);
    s.advance_clock(3601).await;
    let late = s.get("/v1/me", Some(&token)).await;
    assert_eq!((late.status, late.code()), (401, "unauthorized"));
    assert_eq!(late.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        s.get("/v1/me", Some("eyJhbGciOiJIUzI1NiJ9.e30.forged"))
            .await
            .status,
        401
    );
    assert_eq!(s.get("/v1/me", None).await.status, 401);
}

#[tokio::test]
async fn data_and_tokens_survive_a_restart() {
    paspor_tests::local_only!("a restart");
    let s = server();
    let mail = email("tahan");
    let token = s.verified_account(&mail, "rahasia-tahan").await;
    s.advance_clock(3000).await;
    let s = s.restart();
    let me = s.get("/v1/me", Some(&token)).await;
    assert_eq!(me.status, 200, "token valid after restart: {:?}", me.body);
    assert_eq!(me.str("/email"), mail);
    // The clock's offset survived too: 3000 s + 601 s is past the token's hour.
    s.advance_clock(601).await;
    assert_eq!(s.get("/v1/me", Some(&token)).await.status, 401);
    assert_eq!(
        s.post(
            "/v1/sessions",
            json!({"email": mail, "password": "rahasia-tahan"})
        )
        .await
        .status,
        200
    );
}
