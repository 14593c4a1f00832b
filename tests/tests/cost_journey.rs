//! What one application's whole journey asks of AWS, counted on the stand-ins (DynamoDB
//! Local, SeaweedFS, moto): every HTTP request goes through the deployed routers in
//! process, every queued job through the worker, and the counting ports tally each
//! DynamoDB, SQS, SES and S3 request with DynamoDB's billed units. The counts are asserted
//! exactly: they are the budget docs/capacity.md prices, so a change that adds requests
//! fails here and has to update both. Built only with `--features aws`.
#![cfg(feature = "aws")]

use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request};
use http_body_util::BodyExt;
use paspor_domain::{
    booking::BookingConfig,
    documents::UploadForm,
    jobs::{Job, Message},
    offices::demo_offices,
    quota::Quota,
};
use paspor_http::{AppState, Settings};
use paspor_tests::{
    counting::{Ledger, Tally, counted},
    fixture::test_secrets,
};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Journey {
    app: axum::Router,
    ledger: Arc<Ledger>,
    /// Per route: (DynamoDB requests, read units, write units) its requests caused.
    per_route: std::collections::BTreeMap<String, (u64, u64, u64)>,
    /// Requests through API Gateway to a Lambda function, per route.
    api: std::collections::BTreeMap<String, u64>,
    /// Messages the worker Lambda handled (one invocation each; SQS may batch them).
    worker_runs: u64,
    /// Files the phone posted straight to S3.
    uploads: u64,
    upload_bytes: u64,
}

impl Journey {
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        route: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, String)],
    ) -> (u16, Value, Vec<u8>) {
        let name = format!("{method} {route}");
        *self.api.entry(name.clone()).or_default() += 1;
        let before = self.ledger.snapshot();
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Body::from(body.unwrap_or_default()))
            .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("router");
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let after = self.ledger.snapshot();
        let dynamo = |t: &Tally| {
            t.requests
                .iter()
                .filter(|(k, _)| k.starts_with("DynamoDB") && !k.ends_with("(items)"))
                .map(|(_, v)| v)
                .sum::<u64>()
        };
        let e = self.per_route.entry(name).or_default();
        e.0 += dynamo(&after) - dynamo(&before);
        e.1 += after.read_units - before.read_units;
        e.2 += after.write_units - before.write_units;
        (status, value, bytes)
    }

    async fn json(
        &mut self,
        method: Method,
        path: &str,
        route: &str,
        body: Value,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut headers = vec![];
        if let Some(t) = token {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        if method == Method::POST && (route.ends_with("/booking") || route == "/v1/applications") {
            // What the app sends with every create, so replays cost what they cost.
            headers.push(("idempotency-key", ulid::Ulid::new().to_string()));
        }
        let body = (method != Method::GET).then(|| serde_json::to_vec(&body).expect("json"));
        let (status, value, _) = self.call(method, path, route, body, &headers).await;
        (status, value)
    }
}

fn tally_lines(t: &Tally) -> String {
    let mut s = String::new();
    for (k, v) in &t.requests {
        s.push_str(&format!("  {k}: {v}\n"));
    }
    s.push_str(&format!(
        "  DynamoDB read units: {}\n  DynamoDB write units: {}\n  SQS 64 KB chunks: {}\n  SES emails: {}\n  S3 bytes put by the server: {}\n",
        t.read_units, t.write_units, t.sqs_chunks, t.emails, t.s3_bytes_put
    ));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_application_costs_what_capacity_md_prices() {
    let (f, _guard) = paspor_tests::aws::fixture().await;
    let ledger = Arc::new(Ledger::default());
    let ports = counted(f.ports.clone(), ledger.clone());
    let secrets = test_secrets();
    // No per-instance caches: every request counts as a fresh Lambda instance would see it.
    let mut settings = Settings::default();
    settings.services.booking = BookingConfig {
        availability_ttl: std::time::Duration::ZERO,
        known_full_ttl: std::time::Duration::ZERO,
        ..BookingConfig::default()
    };
    let state = AppState::new(ports.clone(), &secrets, settings);
    let worker = paspor_worker::Worker::new(ports.clone(), &secrets);

    // The operator's office and quota: set up once per office, not per application.
    let quota = Quota::new(ports.clone(), BookingConfig::default());
    let office = demo_offices()
        .into_iter()
        .find(|o| o.office_id == "makassar")
        .expect("office");
    quota.put_office(&office).await.expect("office");
    let day = office.timezone.today(ports.clock.now()) + chrono::TimeDelta::days(3);
    let slots = [("10:00".to_owned(), 20)].into_iter().collect();
    quota
        .open_quota("makassar", day, day, &slots, true, false)
        .await
        .expect("quota");
    (f.drain_jobs)().await;
    ledger.reset();

    let mut j = Journey {
        app: paspor_http::app(paspor_local::api_routes(), state),
        ledger: ledger.clone(),
        per_route: Default::default(),
        api: Default::default(),
        worker_runs: 0,
        uploads: 0,
        upload_bytes: 0,
    };
    // The worker Lambda: every queued job, as SQS would deliver it.
    async fn run_jobs(
        j: &mut Journey,
        f: &paspor_tests::fixture::Fixture,
        worker: &paspor_worker::Worker,
    ) -> Vec<Job> {
        let jobs = (f.drain_jobs)().await;
        for job in &jobs {
            j.worker_runs += 1;
            let body = serde_json::to_string(job).expect("job json");
            worker.handle(&body).await.expect("job");
        }
        jobs
    }

    let email = format!("dewi.{}@example.com", ulid::Ulid::new()).to_lowercase();
    let password = "rahasia-dewi-1";
    let (s, b) = j
        .json(Method::POST, "/v1/accounts", "/v1/accounts", json!({"email": email, "password": password, "full_name": "Dewi Lestari", "phone": "081298765432"}), None)
        .await;
    assert_eq!(s, 201, "{b}");
    let code = run_jobs(&mut j, &f, &worker)
        .await
        .iter()
        .find_map(|job| match job {
            Job::SendEmail {
                message: Message::Otp { code, .. },
                ..
            } => Some(code.clone()),
            _ => None,
        })
        .expect("an OTP email");
    let (s, b) = j
        .json(
            Method::POST,
            "/v1/accounts/verify",
            "/v1/accounts/verify",
            json!({"email": email, "code": code}),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = j
        .json(
            Method::POST,
            "/v1/sessions",
            "/v1/sessions",
            json!({"email": email, "password": password}),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let token = b["access_token"].as_str().expect("token").to_owned();
    let t = Some(token.as_str());

    let (s, b) = j
        .json(Method::POST, "/v1/applicants", "/v1/applicants", json!({"nik": "3174054707770001", "full_name": "Dewi Lestari", "birth_date": "1977-07-07", "birth_place": "Bandung", "sex": "F", "relationship": "self"}), t)
        .await;
    assert_eq!(s, 201, "{b}");
    let applicant = b["applicant_id"].as_str().expect("applicant").to_owned();
    let (s, b) = j
        .json(Method::POST, "/v1/applications", "/v1/applications", json!({"applicant_id": applicant, "passport_type": "regular", "application_type": "new", "purpose": "tourism", "express": false, "destination_country": "MY"}), t)
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["application_id"].as_str().expect("id").to_owned();
    let kinds: Vec<String> = b["required_documents"]
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| d["kind"].as_str().expect("kind").to_owned())
        .collect();

    // Each document: a form, the file straight to S3 (2 MiB, a phone's scan), S3's
    // object-created event to the worker, and the app's "done".
    let scan_len = 2 * 1024 * 1024;
    for kind in &kinds {
        let (s, form) = j
            .json(
                Method::POST,
                &format!("/v1/applications/{id}/documents/{kind}/upload-url"),
                "/v1/applications/{id}/documents/{kind}/upload-url",
                json!({"content_type": "application/pdf", "content_length": scan_len}),
                t,
            )
            .await;
        assert_eq!(s, 201, "{form}");
        let form: UploadForm = UploadForm {
            method: "POST",
            url: form["url"].as_str().expect("url").to_owned(),
            fields: serde_json::from_value(form["fields"].clone()).expect("fields"),
            expires_at: ports.clock.now(),
        };
        let key = form.fields.get("key").cloned().expect("key");
        let mut scan = b"%PDF-1.7\n".to_vec();
        scan.resize(scan_len, b' ');
        j.uploads += 1;
        j.upload_bytes += scan_len as u64;
        let status = (f.submit_form)(form, scan).await;
        assert!((200..300).contains(&status), "upload answered {status}");
        j.worker_runs += 1;
        let event = json!({"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": key}}}]});
        worker
            .handle(&event.to_string())
            .await
            .expect("object stored");
        let (s, b) = j
            .json(
                Method::POST,
                &format!("/v1/applications/{id}/documents/{kind}/complete"),
                "/v1/applications/{id}/documents/{kind}/complete",
                json!({}),
                t,
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = j
        .json(
            Method::POST,
            &format!("/v1/applications/{id}/submit"),
            "/v1/applications/{id}/submit",
            json!({}),
            t,
        )
        .await;
    assert_eq!(s, 200, "{b}");

    let (s, b) = j
        .json(Method::GET, "/v1/offices", "/v1/offices", Value::Null, None)
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = j
        .json(
            Method::GET,
            "/v1/offices/makassar/availability",
            "/v1/offices/{office_id}/availability",
            Value::Null,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = j
        .json(
            Method::POST,
            &format!("/v1/applications/{id}/booking"),
            "/v1/applications/{id}/booking",
            json!({"office_id": "makassar", "date": day, "time": "10:00"}),
            t,
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let billing_code = b["billing"]["billing_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let amount = b["billing"]["amount_idr"].as_i64().expect("amount");

    let (s, b) = j
        .json(
            Method::GET,
            &format!("/v1/applications/{id}/billing"),
            "/v1/applications/{id}/billing",
            Value::Null,
            t,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _, pdf) = j
        .call(
            Method::GET,
            &format!("/v1/applications/{id}/billing/invoice.pdf"),
            "/v1/applications/{id}/billing/invoice.pdf",
            None,
            &[("authorization", format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(s, 200);
    assert!(pdf.starts_with(b"%PDF-"));

    let now = ports.clock.now();
    let raw = serde_json::to_vec(&json!({"transaction_id": format!("txn-{}", ulid::Ulid::new()), "billing_code": billing_code, "amount_idr": amount, "paid_at": now, "channel": "indomaret"})).expect("json");
    let signature = paspor_domain::payments::sign(b"whsec-test", now.timestamp(), &raw);
    let (s, b, _) = j
        .call(
            Method::POST,
            "/v1/payments/notifications",
            "/v1/payments/notifications",
            Some(raw),
            &[
                ("x-paspor-timestamp", now.timestamp().to_string()),
                ("x-paspor-signature", signature),
            ],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    run_jobs(&mut j, &f, &worker).await;
    let (s, b) = j
        .json(
            Method::GET,
            &format!("/v1/applications/{id}"),
            "/v1/applications/{id}",
            Value::Null,
            t,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "paid", "{b}");

    let tally = ledger.snapshot();
    let api_total: u64 = j.api.values().sum();
    let mut report = String::from(
        "one application's journey on the AWS stand-ins\nAPI Gateway requests = Lambda invocations (HTTP):\n",
    );
    for (route, n) in &j.api {
        let (q, r, w) = j.per_route.get(route).copied().unwrap_or_default();
        report.push_str(&format!(
            "  {route}: {n} (DynamoDB requests {q}, read units {r}, write units {w})\n"
        ));
    }
    report.push_str(&format!(
        "  total: {api_total}\nworker invocations (one per message): {}\nS3 POST uploads by the phone: {} ({} bytes)\nrequests from the functions:\n{}",
        j.worker_runs,
        j.uploads,
        j.upload_bytes,
        tally_lines(&tally)
    ));
    println!("{report}");

    // The measured budget (2026-11-26). A change that adds a request fails here: update
    // docs/capacity.md's cost table with the new count.
    let budget: Vec<(&str, u64)> = vec![
        ("DynamoDB DeleteItem", 1),
        ("DynamoDB GetItem", 55),
        ("DynamoDB PutItem", 14),
        ("DynamoDB Query", 32),
        ("DynamoDB TransactWriteItems", 5),
        ("DynamoDB TransactWriteItems (items)", 19),
        ("DynamoDB UpdateItem", 7),
        ("S3 GetObject", 4),
        ("S3 HeadObject", 3),
        ("S3 PutObject", 1),
        ("S3 presign (local, free)", 3),
        ("SES SendEmail", 3),
        ("SQS SendMessage", 3),
    ];
    let got: Vec<(String, u64)> = tally.requests.clone().into_iter().collect();
    assert_eq!(
        got,
        budget
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<Vec<_>>(),
        "{report}"
    );
    assert_eq!(
        (api_total, j.worker_runs, j.uploads),
        (19, 6, 3),
        "{report}"
    );
    assert_eq!((tally.sqs_chunks, tally.emails), (3, 3), "{report}");
    // Units depend on item sizes, which vary by a few bytes (timestamps' fractions), so
    // they may fall by a unit at a 1 KB boundary but must not grow.
    for (what, got, budget) in [
        ("read units", tally.read_units, 87),
        ("write units", tally.write_units, 69),
    ] {
        assert!(
            (budget - 2..=budget).contains(&got),
            "DynamoDB {what}: {got}, budget {budget}\n{report}"
        );
    }
}
