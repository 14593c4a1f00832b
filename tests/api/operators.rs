//! API.md's "Operators" table: offices, quota, the day's schedule, check-in, decision,
//! payment exceptions, and the audit trail; refused without the ops credentials.

use paspor_tests::local::{LocalServer, OPS_TOKEN, email};
use serde_json::json;

fn seeded() -> LocalServer {
    LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"))
}

async fn ops(
    s: &LocalServer,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> paspor_tests::local::Answer {
    s.send(method, path, body, Some(OPS_TOKEN), &[]).await
}

#[tokio::test]
async fn ops_routes_need_the_ops_credentials() {
    let s = seeded();
    let user = s
        .verified_account(&email("bukanpetugas"), "rahasia-warga")
        .await;
    for (method, path) in [
        (reqwest::Method::GET, "/v1/ops/payments/exceptions"),
        (
            reqwest::Method::GET,
            "/v1/ops/offices/bandung/schedule?date=2027-01-04",
        ),
        (reqwest::Method::POST, "/v1/ops/applications/x/check-in"),
    ] {
        let none = s.send(method.clone(), path, None, None, &[]).await;
        if s.is_stack() {
            // On AWS the IAM authorizer refuses before any function runs, with its own body.
            assert_eq!(none.status, 403, "{path}");
            assert_eq!(none.body, json!({"message": "Forbidden"}), "{path}");
            let wrong = s
                .send(method, path, None, Some("not-the-ops-token"), &[])
                .await;
            assert_eq!(wrong.status, 403, "{path}");
            continue;
        }
        assert_eq!((none.status, none.code()), (401, "unauthorized"), "{path}");
        let forbidden = s.send(method.clone(), path, None, Some(&user), &[]).await;
        assert_eq!(
            (forbidden.status, forbidden.code()),
            (403, "forbidden"),
            "{path}"
        );
        let wrong = s
            .send(method, path, None, Some("not-the-ops-token"), &[])
            .await;
        assert_eq!(wrong.status, 401, "{path}");
    }
    assert_eq!(
        ops(
            &s,
            reqwest::Method::GET,
            "/v1/ops/payments/exceptions",
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn offices_and_quota_are_managed_in_bulk() {
    let s = seeded();
    let office = json!({"name": "Kantor Imigrasi Kelas I TPI Pontianak", "address": "Jl. Letjend Sutoyo", "city": "Pontianak", "lat": -0.0386, "lon": 109.3290, "timezone": "Asia/Jakarta", "passport_types": ["regular", "electronic"]});
    let put = ops(
        &s,
        reqwest::Method::PUT,
        "/v1/ops/offices/pontianak",
        Some(office),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    let near = s
        .get("/v1/offices?lat=-0.03&lon=109.33&limit=1", None)
        .await;
    assert_eq!(near.body["items"][0]["office_id"], "pontianak");
    let bad = ops(&s, reqwest::Method::PUT, "/v1/ops/offices/Bad%20Id", Some(json!({"name": "x", "address": "", "city": "", "lat": 0, "lon": 0, "timezone": "Asia/Jakarta", "passport_types": ["regular"]}))).await;
    assert_eq!(bad.status, 400);

    // 2027-01-04 is a Monday; the 9th and 10th are a weekend.
    let quota =
        json!({"from": "2027-01-04", "to": "2027-01-10", "slots": {"08:00": 2, "09:00": 3}});
    let q = ops(
        &s,
        reqwest::Method::PUT,
        "/v1/ops/offices/pontianak/quota",
        Some(quota),
    )
    .await;
    assert_eq!(
        (q.status, q.body["slots_written"].clone()),
        (200, json!(10)),
        "{:?}",
        q.body
    );
    let a = s
        .get(
            "/v1/offices/pontianak/availability?from=2027-01-04&to=2027-01-10",
            None,
        )
        .await;
    let days: Vec<&str> = a.body["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| d["date"].as_str().expect("date"))
        .collect();
    assert_eq!(
        days,
        [
            "2027-01-04",
            "2027-01-05",
            "2027-01-06",
            "2027-01-07",
            "2027-01-08"
        ],
        "weekends stay closed"
    );
    let weekend = ops(&s, reqwest::Method::PUT, "/v1/ops/offices/pontianak/quota", Some(json!({"from": "2027-01-09", "to": "2027-01-09", "slots": {"08:00": 1}, "include_weekends": true}))).await;
    assert_eq!(weekend.body["slots_written"], 1);
    let bad_slot = ops(
        &s,
        reqwest::Method::PUT,
        "/v1/ops/offices/pontianak/quota",
        Some(json!({"from": "2027-01-04", "to": "2027-01-04", "slots": {"08:30": 1}})),
    )
    .await;
    assert_eq!((bad_slot.status, bad_slot.code()), (400, "invalid_request"));
    let nowhere = ops(
        &s,
        reqwest::Method::PUT,
        "/v1/ops/offices/atlantis/quota",
        Some(json!({"from": "2027-01-04", "to": "2027-01-04", "slots": {"08:00": 1}})),
    )
    .await;
    assert_eq!(nowhere.status, 404);

    // Lowering a capacity below what is booked is refused.
    let token = s.verified_account(&email("kuota"), "rahasia-kuota").await;
    let (date, _) = s.first_open_day("bandung").await;
    for i in 0..2u32 {
        let id = s
            .submitted_application(&token, &format!("198{i}-02-02"), 50 + i, "regular")
            .await;
        let b = s
            .post_auth(
                &format!("/v1/applications/{id}/booking"),
                json!({"office_id": "bandung", "date": date, "time": "08:00"}),
                &token,
            )
            .await;
        assert_eq!(b.status, 201);
    }
    let lower = ops(
        &s,
        reqwest::Method::PUT,
        "/v1/ops/offices/bandung/quota",
        Some(json!({"from": date, "to": date, "slots": {"08:00": 1}})),
    )
    .await;
    assert_eq!((lower.status, lower.code()), (409, "capacity_below_booked"));
    let ok = ops(
        &s,
        reqwest::Method::PUT,
        "/v1/ops/offices/bandung/quota",
        Some(json!({"from": date, "to": date, "slots": {"08:00": 2}})),
    )
    .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn check_in_on_the_booked_day_then_decide() {
    paspor_tests::local_only!("the clock");
    let s = seeded();
    let mail = email("datang");
    let token = s.verified_account(&mail, "rahasia-datang").await;
    let id = s
        .submitted_application(&token, "1975-10-10", 61, "electronic")
        .await;
    let office = "denpasar";
    let (date, _) = s.first_open_day(office).await;
    let b = s
        .post_auth(
            &format!("/v1/applications/{id}/booking"),
            json!({"office_id": office, "date": date, "time": "08:00"}),
            &token,
        )
        .await;
    assert_eq!(b.status, 201, "{:?}", b.body);
    let (code, amount) = (
        b.str("/billing/billing_code").to_owned(),
        b.body["billing"]["amount_idr"].as_i64().expect("amount"),
    );

    let unpaid = ops(
        &s,
        reqwest::Method::POST,
        &format!("/v1/ops/applications/{id}/check-in"),
        None,
    )
    .await;
    assert_eq!((unpaid.status, unpaid.code()), (409, "invalid_state"));
    assert_eq!(
        s.pay(&code, amount, "datang-1").await.body,
        json!({"result": "accepted"})
    );
    let early = ops(
        &s,
        reqwest::Method::POST,
        &format!("/v1/ops/applications/{id}/check-in"),
        None,
    )
    .await;
    assert_eq!((early.status, early.code()), (409, "not_booked_today"));

    let sched = ops(
        &s,
        reqwest::Method::GET,
        &format!("/v1/ops/offices/{office}/schedule?date={date}"),
        None,
    )
    .await;
    assert_eq!(sched.status, 200);
    assert_eq!(sched.body["items"][0]["application_id"], json!(id));
    assert_eq!(sched.body["items"][0]["time"], "08:00");
    assert_eq!(sched.body["items"][0]["status"], "paid");
    assert!(
        sched.body["items"][0]["applicant"]["nik"]
            .as_str()
            .expect("nik")
            .contains('*'),
        "the NIK is masked"
    );

    // Move the one clock to 09:00 on the booked day in Denpasar (UTC+8).
    let target = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .expect("date")
        .and_hms_opt(9, 0, 0)
        .expect("time")
        .and_utc()
        - chrono::TimeDelta::hours(8);
    s.advance_clock((target - s.now().await).num_seconds())
        .await;
    let checked = ops(
        &s,
        reqwest::Method::POST,
        &format!("/v1/ops/applications/{id}/check-in"),
        None,
    )
    .await;
    assert_eq!(checked.status, 200, "{:?}", checked.body);
    assert_eq!(checked.str("/status"), "checked_in");
    let again = ops(
        &s,
        reqwest::Method::POST,
        &format!("/v1/ops/applications/{id}/check-in"),
        None,
    )
    .await;
    assert_eq!((again.status, again.code()), (409, "invalid_state"));

    let no_address = ops(
        &s,
        reqwest::Method::POST,
        &format!("/v1/ops/applications/{id}/decision"),
        Some(json!({"outcome": "approved", "reason": "Lengkap", "delivery": "post"})),
    )
    .await;
    assert_eq!(
        (no_address.status, no_address.code()),
        (400, "invalid_request")
    );
    let decided = ops(
        &s,
        reqwest::Method::POST,
        &format!("/v1/ops/applications/{id}/decision"),
        Some(json!({"outcome": "approved", "reason": "Dokumen asli lengkap", "delivery": "post", "address": "Jl. Teuku Umar No. 1, Denpasar"})),
    )
    .await;
    assert_eq!(decided.status, 200, "{:?}", decided.body);
    assert_eq!(decided.str("/status"), "approved");

    // The audit trail, and the application's own timeline.
    let audit = ops(
        &s,
        reqwest::Method::GET,
        &format!("/v1/ops/applications/{id}/audit"),
        None,
    )
    .await;
    let entries = audit.body["items"].as_array().expect("items");
    let actions: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("a"),
                e["before"].as_str().expect("b"),
                e["after"].as_str().expect("c"),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("check_in", "paid", "checked_in"),
            ("decision", "checked_in", "approved")
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e["operator"] == "ops-token" && e["at"].is_string())
    );
    let token = s
        .post(
            "/v1/sessions",
            json!({"email": mail, "password": "rahasia-datang"}),
        )
        .await
        .str("/access_token")
        .to_owned();
    let app = s.get(&format!("/v1/applications/{id}"), Some(&token)).await;
    let timeline: Vec<&str> = app.body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|t| t["status"].as_str().expect("s"))
        .collect();
    assert_eq!(
        timeline,
        [
            "draft",
            "submitted",
            "awaiting_payment",
            "paid",
            "checked_in",
            "approved"
        ]
    );

    // A decided application frees its NIK.
    let applicant = app.body["applicant"]["applicant_id"]
        .as_str()
        .expect("applicant");
    let fresh = s
        .post_auth("/v1/applications", json!({"applicant_id": applicant, "passport_type": "regular", "application_type": "renewal", "purpose": "tourism", "express": false, "destination_country": "AU"}), &token)
        .await;
    assert_eq!(fresh.status, 201, "{:?}", fresh.body);

    // The documents stay for the retention after the decision (30 days by default), then
    // the sweeper deletes them; the audit trail stays.
    let files = |id: &str| documents_of(&s.data_dir, id);
    assert!(!files(&id).is_empty(), "no stored documents for {id}");
    s.advance_clock(29 * 86_400).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(
        !files(&id).is_empty(),
        "documents deleted before their retention"
    );
    s.advance_clock(2 * 86_400).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !files(&id).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "documents still stored after the retention: {:?}",
            files(&id)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let audit = ops(
        &s,
        reqwest::Method::GET,
        &format!("/v1/ops/applications/{id}/audit"),
        None,
    )
    .await;
    assert_eq!(audit.body["items"].as_array().map(Vec::len), Some(2));
}

/// The stored files of one application, anywhere under the data directory.
fn documents_of(dir: &std::path::Path, id: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.components().any(|c| c.as_os_str() == id) {
                found.push(path);
            }
        }
    }
    found
}

/// Books an application at an office's first open day and fetches its invoice (so an
/// invoice is stored too); answers (billing code, amount, date).
async fn book_with_invoice(
    s: &LocalServer,
    token: &str,
    id: &str,
    office: &str,
    time: &str,
) -> (String, i64, String) {
    let (date, _) = s.first_open_day(office).await;
    let b = s
        .post_auth(
            &format!("/v1/applications/{id}/booking"),
            json!({"office_id": office, "date": date, "time": time}),
            token,
        )
        .await;
    assert_eq!(b.status, 201, "{:?}", b.body);
    let pdf = s
        .raw()
        .get(format!(
            "{}/v1/applications/{id}/billing/invoice.pdf",
            s.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("invoice");
    assert_eq!(pdf.status(), 200);
    (
        b.str("/billing/billing_code").to_owned(),
        b.body["billing"]["amount_idr"].as_i64().expect("amount"),
        date,
    )
}

/// Uploads one document of a draft and completes it.
async fn upload(s: &LocalServer, token: &str, id: &str, kind: &str) {
    let form = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/{kind}/upload-url"),
            json!({"content_type": "application/pdf", "content_length": 300}),
            token,
        )
        .await;
    assert_eq!(form.status, 201, "{:?}", form.body);
    let sent = s
        .send_form(
            &form.body,
            paspor_tests::local::fake_file("pdf", 300),
            "application/pdf",
        )
        .await;
    assert_eq!(sent.0, 204);
    let done = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/{kind}/complete"),
            json!({}),
            token,
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
}

#[tokio::test]
async fn every_ended_application_loses_its_files_after_the_retention() {
    paspor_tests::local_only!("the clock");
    let s = seeded();
    let (mail, password) = (email("simpan"), "rahasia-simpan");
    let token = s.verified_account(&mail, password).await;
    let sign_in = || async {
        s.post("/v1/sessions", json!({"email": mail, "password": password}))
            .await
            .str("/access_token")
            .to_owned()
    };
    let active = s
        .submitted_application(&token, "1981-01-01", 71, "regular")
        .await;

    let cancelled = s
        .submitted_application(&token, "1982-02-02", 72, "regular")
        .await;
    book_with_invoice(&s, &token, &cancelled, "jakarta-selatan", "10:00").await;
    let c = s
        .delete_auth(&format!("/v1/applications/{cancelled}/booking"), &token)
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);

    let expired = s
        .submitted_application(&token, "1983-03-03", 73, "regular")
        .await;
    book_with_invoice(&s, &token, &expired, "jakarta-selatan", "11:00").await;

    let decided = s
        .submitted_application(&token, "1984-04-04", 74, "regular")
        .await;
    let (code, amount, date) = book_with_invoice(&s, &token, &decided, "denpasar", "08:00").await;
    assert_eq!(
        s.pay(&code, amount, "simpan-1").await.body,
        json!({"result": "accepted"})
    );

    // A draft whose one document was uploaded twice, then left alone.
    let applicant = s
        .applicant(
            &token,
            &paspor_tests::local::nik("1985-05-05", false, 75),
            "1985-05-05",
            "M",
            "self",
        )
        .await;
    let a = s
        .post_auth("/v1/applications", json!({"applicant_id": applicant, "passport_type": "regular", "application_type": "new", "purpose": "tourism", "express": false, "destination_country": "MY"}), &token)
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let draft = a.str("/application_id").to_owned();
    let kind = a.body["required_documents"][0]["kind"]
        .as_str()
        .expect("kind")
        .to_owned();
    upload(&s, &token, &draft, &kind).await;
    upload(&s, &token, &draft, &kind).await;

    // The unpaid billing expires; on the booked day the paid one is checked in and decided.
    s.advance_clock(2 * 3600 + 1).await;
    let target = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .expect("date")
        .and_hms_opt(9, 0, 0)
        .expect("time")
        .and_utc()
        - chrono::TimeDelta::hours(8);
    s.advance_clock((target - s.now().await).num_seconds().max(0))
        .await;
    let token = sign_in().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while s
        .get(&format!("/v1/applications/{expired}"), Some(&token))
        .await
        .body["status"]
        != "expired"
    {
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let checked = ops(
        &s,
        reqwest::Method::POST,
        &format!("/v1/ops/applications/{decided}/check-in"),
        None,
    )
    .await;
    assert_eq!(checked.status, 200, "{:?}", checked.body);
    let d = ops(
        &s,
        reqwest::Method::POST,
        &format!("/v1/ops/applications/{decided}/decision"),
        Some(json!({"outcome": "rejected", "reason": "Foto tidak sesuai", "delivery": "pickup"})),
    )
    .await;
    assert_eq!(d.status, 200, "{:?}", d.body);

    let ended = [&cancelled, &expired, &decided, &draft];
    for id in ended.iter().copied().chain([&active]) {
        assert!(
            !documents_of(&s.data_dir, id).is_empty(),
            "nothing stored for {id}"
        );
    }
    // Past the retention (30 days by default) of the last of them to end.
    s.advance_clock(31 * 86_400).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left: Vec<_> = ended
            .iter()
            .flat_map(|id| documents_of(&s.data_dir, id))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still stored after the retention: {left:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        !documents_of(&s.data_dir, &active).is_empty(),
        "an active application's documents were deleted"
    );
}
