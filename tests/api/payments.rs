//! API.md's "Payment channels (webhook)", expiry, late payments, the invoice and receipt.

use std::time::Duration;

use paspor_tests::local::{LocalServer, OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, email};
use serde_json::{Value, json};

fn seeded() -> LocalServer {
    LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"))
}

const PASSWORD: &str = "rahasia-bayar";

/// A booked application: (email, token, id, billing code, amount, date).
async fn booked(
    s: &LocalServer,
    tag: &str,
    office: &str,
    time: &str,
    serial: u32,
) -> (String, String, String, String, i64, String) {
    let mail = email(tag);
    let token = s.verified_account(&mail, PASSWORD).await;
    let id = s
        .submitted_application(&token, "1977-07-07", serial, "regular")
        .await;
    // The second open day: the tests move the clock two hours on, and the first may be
    // tomorrow, which is today by then when they run late in the office's evening (one
    // failed at 00:00 WIB that way: `date_not_bookable` on booking again).
    let (date, _) = s.open_day(office, 1).await;
    let b = s
        .post_auth(
            &format!("/v1/applications/{id}/booking"),
            json!({"office_id": office, "date": date, "time": time}),
            &token,
        )
        .await;
    assert_eq!(b.status, 201, "{:?}", b.body);
    let code = b.str("/billing/billing_code").to_owned();
    let amount = b.body["billing"]["amount_idr"].as_i64().expect("amount");
    (mail, token, id, code, amount, date)
}

/// Signs in again (after the clock moved past a token's hour).
async fn sign_in(s: &LocalServer, mail: &str) -> String {
    let r = s
        .post("/v1/sessions", json!({"email": mail, "password": PASSWORD}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.str("/access_token").to_owned()
}

async fn remaining(s: &LocalServer, date: &str) -> i64 {
    s.remaining("denpasar", date, "13:00").await
}

async fn status_of(s: &LocalServer, token: &str, id: &str) -> Value {
    s.get(&format!("/v1/applications/{id}"), Some(token))
        .await
        .body
}

async fn wait_for_status(s: &LocalServer, token: &str, id: &str, want: &str) -> Value {
    for _ in 0..100 {
        let app = status_of(s, token, id).await;
        if app["status"] == want {
            return app;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "application {id} never became {want}: {}",
        status_of(s, token, id).await
    );
}

fn pdf_text(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("pdftotext")
        .args(["-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) is installed by scripts/test");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("pdftotext");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn every_webhook_outcome() {
    let s = seeded();
    let (_, token, id, code, amount, _) = booked(&s, "bayar", "bandung", "09:00", 1).await;
    let now = s.now().await;
    let body = |txn: &str, code: &str, amount: i64| json!({"transaction_id": txn, "billing_code": code, "amount_idr": amount, "paid_at": now, "channel": "atm"});

    let forged = s
        .notify_payment(
            "not-the-secret",
            &body("t-1", &code, amount),
            now.timestamp(),
        )
        .await;
    assert_eq!((forged.status, forged.code()), (401, "invalid_signature"));
    let stale = s
        .notify_payment(
            WEBHOOK_SECRET,
            &body("t-1", &code, amount),
            now.timestamp() - 301,
        )
        .await;
    assert_eq!(
        (stale.status, stale.code()),
        (401, "invalid_signature"),
        "more than 300 s away"
    );
    let unknown = s
        .notify_payment(
            WEBHOOK_SECRET,
            &body("t-1", "123456789012345", amount),
            now.timestamp(),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "unknown_billing_code")
    );
    // A well-formed code (its check digit right) that was never issued: looked up, absent.
    let never_issued = s
        .notify_payment(
            WEBHOOK_SECRET,
            &body("t-1b", "123456789012347", amount),
            now.timestamp(),
        )
        .await;
    assert_eq!(
        (never_issued.status, never_issued.code()),
        (404, "unknown_billing_code")
    );
    let short = s
        .notify_payment(
            WEBHOOK_SECRET,
            &body("t-1", &code, amount - 1),
            now.timestamp(),
        )
        .await;
    assert_eq!((short.status, short.code()), (422, "amount_mismatch"));
    assert_eq!(
        status_of(&s, &token, &id).await["status"],
        "awaiting_payment",
        "refusals change nothing"
    );

    // The old secret still works during a rotation.
    let ok = s
        .notify_payment(
            OLD_WEBHOOK_SECRET,
            &body("t-1", &code, amount),
            now.timestamp(),
        )
        .await;
    assert_eq!(
        (ok.status, ok.body.clone()),
        (200, json!({"result": "accepted"}))
    );
    let app = status_of(&s, &token, &id).await;
    assert_eq!(app["status"], "paid");
    let billing = s
        .get(&format!("/v1/applications/{id}/billing"), Some(&token))
        .await;
    assert_eq!(billing.str("/status"), "paid");
    assert!(billing.body["paid_at"].is_string());

    let again = s
        .notify_payment(WEBHOOK_SECRET, &body("t-1", &code, amount), now.timestamp())
        .await;
    assert_eq!(again.body, json!({"result": "duplicate"}));
    let second = s
        .notify_payment(WEBHOOK_SECRET, &body("t-2", &code, amount), now.timestamp())
        .await;
    assert_eq!(
        second.body,
        json!({"result": "recorded_for_refund"}),
        "a second transaction for a paid billing"
    );

    // A payment for a cancelled application is kept for refund too.
    let (_, token2, id2, code2, amount2, _) = booked(&s, "batal", "bandung", "10:00", 2).await;
    let c = s
        .delete_auth(&format!("/v1/applications/{id2}/booking"), &token2)
        .await;
    assert_eq!(c.status, 200);
    let refund = s.pay(&code2, amount2, "t-3").await;
    assert_eq!(refund.body, json!({"result": "recorded_for_refund"}));
    assert_eq!(status_of(&s, &token2, &id2).await["status"], "cancelled");

    let exceptions = s
        .send(
            reqwest::Method::GET,
            "/v1/ops/payments/exceptions",
            None,
            Some(paspor_tests::local::OPS_TOKEN),
            &[],
        )
        .await;
    if exceptions.status == 200 {
        let txns: Vec<&str> = exceptions.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["transaction_id"].as_str().expect("txn"))
            .collect();
        assert_eq!(txns, ["t-2", "t-3"]);
    }

    // The mails: the booking with its billing code, then the payment.
    let mut subjects = Vec::new();
    for _ in 0..50 {
        subjects = s
            .all_mail()
            .into_iter()
            .map(|(_, subject, _)| subject)
            .collect::<Vec<_>>();
        let all = subjects
            .iter()
            .any(|m| m.starts_with("Pembayaran diterima") && m.contains(&code))
            && subjects
                .iter()
                .any(|m| m.starts_with("Permohonan dibatalkan"));
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        subjects
            .iter()
            .any(|m| m.starts_with("Kode billing") && m.contains(&code)),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|m| m.starts_with("Pembayaran diterima") && m.contains(&code)),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|m| m.starts_with("Permohonan dibatalkan")),
        "{subjects:?}"
    );
}

#[tokio::test]
async fn fifty_parallel_deliveries_record_one_payment() {
    let s = seeded();
    let (_, token, id, code, amount, _) = booked(&s, "paralel", "surabaya", "11:00", 3).await;
    let now = s.now().await;
    let body = json!({"transaction_id": "same-txn", "billing_code": code, "amount_idr": amount, "paid_at": now, "channel": "tokopedia"});
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let http = s.raw().clone();
        let url = format!("{}/v1/payments/notifications", s.base);
        let raw = serde_json::to_vec(&body).expect("json");
        let sig = paspor_domain::payments::sign(WEBHOOK_SECRET.as_bytes(), now.timestamp(), &raw);
        let ts = now.timestamp().to_string();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .header("x-paspor-timestamp", ts)
                .header("x-paspor-signature", sig)
                .body(raw)
                .send()
                .await
                .expect("send");
            let v: Value = r.json().await.expect("json");
            v["result"].as_str().unwrap_or("error").to_owned()
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    assert_eq!(
        results.iter().filter(|r| *r == "accepted").count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|r| *r == "duplicate").count(),
        49,
        "{results:?}"
    );
    assert_eq!(status_of(&s, &token, &id).await["status"], "paid");
}

#[tokio::test]
async fn unpaid_billings_expire_and_late_payments_are_honoured() {
    paspor_tests::local_only!("the clock");
    let s = seeded();
    let (mail, _, id, code, amount, date) = booked(&s, "telat", "denpasar", "13:00", 4).await;
    assert_eq!(remaining(&s, &date).await, 19);
    s.advance_clock(2 * 3600 + 1).await;
    let token = sign_in(&s, &mail).await;
    let app = wait_for_status(&s, &token, &id, "expired").await;
    assert!(app["booking"].is_null());
    assert_eq!(
        s.get(&format!("/v1/applications/{id}/billing"), Some(&token))
            .await
            .str("/status"),
        "expired"
    );
    // The place went back to the quota within the sweep.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(remaining(&s, &date).await, 20);

    // A bank that lagged: the payment is honoured and the place taken again.
    let late = s.pay(&code, amount, "late-1").await;
    assert_eq!(late.body, json!({"result": "accepted"}), "{:?}", late.body);
    let app = status_of(&s, &token, &id).await;
    assert_eq!(app["status"], "paid");
    assert_eq!(app["booking"]["time"], "13:00");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(remaining(&s, &date).await, 19);
}

#[tokio::test]
async fn a_late_payment_whose_place_is_gone_books_again_for_free() {
    paspor_tests::local_only!("the clock");
    let s = seeded();
    let (mail, _, id, code, amount, date) = booked(&s, "penuh", "batam", "08:00", 5).await;
    s.advance_clock(2 * 3600 + 1).await;
    let token = sign_in(&s, &mail).await;
    wait_for_status(&s, &token, &id, "expired").await;
    // Meanwhile twenty others fill the slot.
    for i in 0..4u32 {
        let t = s
            .verified_account(&email(&format!("isi{i}")), "rahasia-isi")
            .await;
        for m in 0..5u32 {
            let other = s
                .submitted_application(
                    &t,
                    &format!("196{i}-0{}-0{}", m + 1, m + 1),
                    100 + i * 10 + m,
                    "regular",
                )
                .await;
            let b = s
                .post_auth(
                    &format!("/v1/applications/{other}/booking"),
                    json!({"office_id": "batam", "date": date, "time": "08:00"}),
                    &t,
                )
                .await;
            assert_eq!(b.status, 201, "{:?}", b.body);
        }
    }
    let late = s.pay(&code, amount, "late-2").await;
    assert_eq!(late.body, json!({"result": "accepted"}));
    let app = status_of(&s, &token, &id).await;
    assert_eq!(app["status"], "paid");
    assert!(app["booking"].is_null(), "no room: the booking is empty");
    let b = s
        .post_auth(
            &format!("/v1/applications/{id}/booking"),
            json!({"office_id": "batam", "date": date, "time": "09:00"}),
            &token,
        )
        .await;
    assert_eq!(b.status, 201, "{:?}", b.body);
    assert_eq!(b.str("/status"), "paid");
    assert_eq!(b.str("/billing/billing_code"), code, "no new billing");
}

#[tokio::test]
async fn invoice_then_receipt_as_real_pdfs() {
    let s = seeded();
    let (_, token, id, code, amount, _) = booked(&s, "pdf", "jakarta-selatan", "10:00", 6).await;
    let url = format!("{}/v1/applications/{id}/billing/invoice.pdf", s.base);
    let get = |url: String, token: String| {
        let http = s.raw().clone();
        async move { http.get(url).bearer_auth(token).send().await.expect("send") }
    };
    let r = get(url.clone(), token.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let text = pdf_text(&r.bytes().await.expect("bytes"));
    for needle in [
        code.as_str(),
        "Rp650.000",
        "Jakarta Selatan",
        "10:00",
        "Indomaret",
        "Pay before",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from the invoice:\n{text}"
        );
    }
    assert_eq!(
        s.pay(&code, amount, "pdf-1").await.body,
        json!({"result": "accepted"})
    );
    let receipt = pdf_text(
        &get(url.clone(), token.clone())
            .await
            .bytes()
            .await
            .expect("bytes"),
    );
    assert!(
        receipt.contains("RECEIPT") && receipt.contains(&code) && receipt.contains("Paid"),
        "{receipt}"
    );
    let stranger = s.verified_account(&email("asing"), "rahasia-asing").await;
    assert_eq!(get(url, stranger).await.status(), 404);
}

#[tokio::test]
async fn an_acknowledged_payment_survives_sigkill() {
    paspor_tests::local_only!("a crash of the server");
    let s = seeded();
    let (_, token, id, code, amount, _) = booked(&s, "kill", "tangerang", "14:00", 7).await;
    assert_eq!(
        s.pay(&code, amount, "kill-1").await.body,
        json!({"result": "accepted"})
    );
    let s = s.crash_and_restart();
    let app = status_of(&s, &token, &id).await;
    assert_eq!(app["status"], "paid", "{app}");
    assert_eq!(
        s.pay(&code, amount, "kill-1").await.body,
        json!({"result": "duplicate"})
    );
}

#[tokio::test]
async fn reschedule_once_paid_until_the_day_before() {
    paspor_tests::local_only!("the clock");
    let s = seeded();
    let (_, token, id, code, amount, date) = booked(&s, "pindah", "makassar", "08:00", 8).await;
    let url = format!("/v1/applications/{id}/booking");
    let put = |date: &str, time: &str| json!({"date": date, "time": time});
    let unpaid = s.put_auth(&url, put(&date, "09:00"), &token).await;
    assert_eq!((unpaid.status, unpaid.code()), (409, "invalid_state"));
    assert_eq!(
        s.pay(&code, amount, "pindah-1").await.body,
        json!({"result": "accepted"})
    );
    let moved = s.put_auth(&url, put(&date, "09:00"), &token).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["booking"]["time"], "09:00");
    let twice = s.put_auth(&url, put(&date, "10:00"), &token).await;
    assert_eq!((twice.status, twice.code()), (409, "reschedule_limit"));
    let a = s
        .get(
            &format!("/v1/offices/makassar/availability?from={date}&to={date}"),
            None,
        )
        .await;
    assert_eq!(
        a.body["days"][0]["slots"][0]["remaining"], 20,
        "the old place came back"
    );
    assert_eq!(a.body["days"][0]["slots"][1]["remaining"], 19);

    // Another paid booking, on the booked day itself: too late to move.
    let (mail2, _, id2, code2, amount2, date2) =
        booked(&s, "telat-pindah", "makassar", "11:00", 9).await;
    assert_eq!(
        s.pay(&code2, amount2, "pindah-2").await.body,
        json!({"result": "accepted"})
    );
    let now = s.now().await;
    let target = chrono::NaiveDate::parse_from_str(&date2, "%Y-%m-%d")
        .expect("date")
        .and_hms_opt(0, 30, 0)
        .expect("time")
        - chrono::TimeDelta::hours(8);
    let secs = (target.and_utc() - now).num_seconds();
    s.advance_clock(secs.max(0)).await;
    let token2 = sign_in(&s, &mail2).await;
    let late = s
        .put_auth(
            &format!("/v1/applications/{id2}/booking"),
            put(&date2, "12:00"),
            &token2,
        )
        .await;
    assert_eq!(
        (late.status, late.code()),
        (409, "invalid_state"),
        "{:?}",
        late.body
    );
}

#[tokio::test]
async fn the_receipt_shows_the_booking_as_it_is_now() {
    let s = seeded();
    let (_, token, id, code, amount, date) = booked(&s, "kuitansi", "makassar", "08:00", 10).await;
    let url = format!("{}/v1/applications/{id}/billing/invoice.pdf", s.base);
    let receipt = || {
        let (http, url, token) = (s.raw().clone(), url.clone(), token.clone());
        async move {
            let r = http.get(url).bearer_auth(token).send().await.expect("send");
            assert_eq!(r.status(), 200);
            pdf_text(&r.bytes().await.expect("bytes"))
        }
    };
    assert_eq!(
        s.pay(&code, amount, "kuitansi-1").await.body,
        json!({"result": "accepted"})
    );
    let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .expect("date")
        .format("%d-%m-%Y")
        .to_string();
    let before = receipt().await;
    assert!(before.contains(&format!("{day} 08:00")), "{before}");
    // Same code, same paid state: only the booking changes.
    let moved = s
        .put_auth(
            &format!("/v1/applications/{id}/booking"),
            json!({"date": date, "time": "11:00"}),
            &token,
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    let after = receipt().await;
    assert!(
        after.contains(&format!("{day} 11:00")) && !after.contains(&format!("{day} 08:00")),
        "the receipt still shows the old booking:\n{after}"
    );
}

/// The stack runs on real time with a short payment deadline (`PASPOR_PAYMENT_TTL_SECS`
/// from the test command) and a fast schedule: the sweeper, invoked as EventBridge invokes
/// it, expires the billing and the place comes back; a lagging bank's payment is honoured.
#[tokio::test]
async fn unpaid_billings_expire_in_real_time_on_the_stack() {
    if !paspor_tests::local::on_stack() {
        eprintln!("stack only: paspor-local covers expiry with its clock");
        return;
    }
    let s = seeded();
    let (mail, _, id, code, amount, date) =
        booked(&s, "telat-nyata", "jayapura", "15:00", 11).await;
    assert_eq!(s.remaining("jayapura", &date, "15:00").await, 19);
    let token = sign_in(&s, &mail).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let app = loop {
        let app = status_of(&s, &token, &id).await;
        if app["status"] == "expired" {
            break app;
        }
        assert!(std::time::Instant::now() < deadline, "never expired: {app}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(app["booking"].is_null());
    let back = std::time::Instant::now() + Duration::from_secs(30);
    while s.remaining("jayapura", &date, "15:00").await != 20 {
        assert!(
            std::time::Instant::now() < back,
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let late = s.pay(&code, amount, "late-real-time").await;
    assert_eq!(late.body, json!({"result": "accepted"}), "{:?}", late.body);
    assert_eq!(status_of(&s, &token, &id).await["status"], "paid");
}
