//! Personal data (UU PDP 27/2022): a whole journey, logged at debug level, leaves no NIK,
//! password, OTP or document key in the logs, and no NIK in the database files.

use std::path::Path;

use serde_json::json;

use paspor_tests::local::{LocalServer, email, nik};

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// The random part of every stored document's key (the files the upload target wrote).
fn document_keys(dir: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    let mut stack = vec![dir.join("documents")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                keys.push(name.split('.').next().unwrap_or(name).to_owned());
            }
        }
    }
    keys
}

#[tokio::test]
async fn a_whole_journey_logs_no_personal_data_and_stores_no_clear_nik() {
    paspor_tests::local_only!("its logs and its SQLite file");
    let s = LocalServer::start_logged(env!("CARGO_BIN_EXE_paspor-local"), "debug");
    let who = email("pdp");
    let password = "kata-sandi-rahasia-sekali";
    let token = s.verified_account(&who, password).await;
    let signed_in = s
        .post("/v1/sessions", json!({"email": who, "password": password}))
        .await;
    assert_eq!(signed_in.status, 200);
    let otp = s.otp(&who, 1).await;

    let birth = "1991-03-14";
    let id = s
        .submitted_application(&token, birth, 4242, "electronic")
        .await;
    let nik = nik(birth, false, 4242);
    let (date, slots) = s.first_open_day("bandung").await;
    let time = slots[0]["time"].as_str().expect("time").to_owned();
    let booked = s
        .post_auth(
            &format!("/v1/applications/{id}/booking"),
            json!({"office_id": "bandung", "date": date, "time": time}),
            &token,
        )
        .await;
    assert_eq!(booked.status, 201, "{:?}", booked.body);
    let code = booked.str("/billing/billing_code").to_owned();
    let amount = booked.body["billing"]["amount_idr"]
        .as_i64()
        .expect("amount");
    assert_eq!(s.pay(&code, amount, "txn-pdp-1").await.status, 200);
    let app = s.get(&format!("/v1/applications/{id}"), Some(&token)).await;
    assert_eq!(app.str("/status"), "paid");
    // A failure path too: a wrong password is logged as a request, not with the password.
    let wrong = s
        .post(
            "/v1/sessions",
            json!({"email": who, "password": "salah-kata-sandi-123"}),
        )
        .await;
    assert_eq!(wrong.status, 401);

    let keys = document_keys(&s.data_dir);
    assert!(!keys.is_empty(), "no stored documents found");
    let logs = s.logs().join("\n");
    // The logs are real: one line per request at least.
    assert!(
        logs.matches("\"request\"").count() + logs.matches(" request ").count() >= 10,
        "too few request lines to judge:\n{logs}"
    );
    let mut secrets = vec![
        ("NIK", nik.clone()),
        ("password", password.to_owned()),
        ("wrong password", "salah-kata-sandi-123".to_owned()),
        ("OTP", otp),
        ("access token", token.clone()),
    ];
    secrets.extend(keys.into_iter().map(|k| ("document key", k)));
    for (what, secret) in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the logs contain a {what}: {secret}"
        );
    }

    // At rest: the database and its log hold the NIK sealed, never in the clear.
    let holding = files_containing(&s.data_dir, nik.as_bytes());
    assert!(
        holding.is_empty(),
        "the NIK is stored in the clear in {holding:?}"
    );
    // ...yet the service reads it back.
    let applicants = s.get("/v1/applicants", Some(&token)).await;
    assert_eq!(applicants.body["items"][0]["nik"], nik.as_str());
}

#[tokio::test]
async fn rate_limit_windows_store_no_client_address() {
    paspor_tests::local_only!("its SQLite file");
    let s = crate::server();
    let who = email("alamat");
    s.verified_account(&who, "kata-sandi-alamat").await;
    let a = s
        .post(
            "/v1/sessions",
            json!({"email": who, "password": "kata-sandi-alamat"}),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    // Every request came from 127.0.0.1 and was counted per address; none kept it.
    let holding = files_containing(&s.data_dir, b"127.0.0.1");
    assert!(holding.is_empty(), "the client address is in {holding:?}");
}
