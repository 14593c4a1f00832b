//! API.md's "Offices and quota" and "Booking and billing" tables, and the rush.

use paspor_tests::local::{LocalServer, email};
use serde_json::{Value, json};

fn seeded() -> LocalServer {
    LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"))
}

#[tokio::test]
async fn offices_nearest_first_or_by_name() {
    let s = seeded();
    // Monas, central Jakarta.
    let near = s
        .get("/v1/offices?lat=-6.1754&lon=106.8272&limit=3", None)
        .await;
    assert_eq!(near.status, 200, "{:?}", near.body);
    let items = near.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["office_id"], "jakarta-pusat");
    let d: Vec<f64> = items
        .iter()
        .map(|o| o["distance_km"].as_f64().expect("distance"))
        .collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]) && d[0] < 5.0, "{d:?}");
    for field in [
        "name",
        "address",
        "city",
        "lat",
        "lon",
        "timezone",
        "passport_types",
    ] {
        assert!(!items[0][field].is_null(), "{field}");
    }
    // Sentani, Papua: Jayapura, in WIT.
    let papua = s
        .get("/v1/offices?lat=-2.57&lon=140.51&limit=1", None)
        .await;
    assert_eq!(papua.body["items"][0]["timezone"], "Asia/Jayapura");

    let all = s.get("/v1/offices", None).await;
    let names: Vec<&str> = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert!(
        names.len() >= 10 && names.windows(2).all(|w| w[0] <= w[1]),
        "{names:?}"
    );
    let zones: std::collections::BTreeSet<&str> = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["timezone"].as_str().expect("tz"))
        .collect();
    assert_eq!(zones.len(), 3);

    for bad in [
        "?lat=91&lon=0",
        "?lat=abc&lon=0",
        "?lat=-6.1",
        "?lat=0&lon=181",
        "?limit=0",
        "?lat=NaN&lon=1",
    ] {
        let r = s.get(&format!("/v1/offices{bad}"), None).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{bad}");
    }
}

#[tokio::test]
async fn availability_is_cacheable_and_bounded() {
    let s = seeded();
    let a = s.get("/v1/offices/denpasar/availability", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["timezone"], "Asia/Makassar");
    assert!(
        a.header("cache-control")
            .is_some_and(|c| c.contains("max-age")),
        "{:?}",
        a.headers
    );
    let days = a.body["days"].as_array().expect("days");
    assert!(
        (18..=23).contains(&days.len()),
        "30 days of weekdays: {}",
        days.len()
    );
    let times: Vec<&str> = days[0]["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| s["time"].as_str().expect("time"))
        .collect();
    assert_eq!(
        times,
        [
            "08:00", "09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"
        ]
    );
    assert_eq!(days[0]["slots"][0]["capacity"], 20);
    assert_eq!(days[0]["slots"][0]["remaining"], 20);

    let from = days[0]["date"].as_str().expect("date");
    let one = s
        .get(
            &format!("/v1/offices/denpasar/availability?from={from}&to={from}"),
            None,
        )
        .await;
    assert_eq!(one.body["days"].as_array().map(Vec::len), Some(1));
    let too_long = s
        .get(
            "/v1/offices/denpasar/availability?from=2027-01-01&to=2027-02-01",
            None,
        )
        .await;
    assert_eq!((too_long.status, too_long.code()), (400, "invalid_request"));
    let backwards = s
        .get(
            "/v1/offices/denpasar/availability?from=2027-01-10&to=2027-01-01",
            None,
        )
        .await;
    assert_eq!(backwards.status, 400);
    let bad = s
        .get("/v1/offices/denpasar/availability?from=10-01-2027", None)
        .await;
    assert_eq!(bad.status, 400);
    let nowhere = s.get("/v1/offices/atlantis/availability", None).await;
    assert_eq!((nowhere.status, nowhere.code()), (404, "not_found"));
}

#[tokio::test]
async fn booking_issues_a_billing_and_every_failure_is_clear() {
    paspor_tests::local_only!("the clock");
    let s = seeded();
    let token = s.verified_account(&email("pesan"), "rahasia-pesan").await;
    let id = s
        .submitted_application(&token, "1980-05-06", 1, "regular")
        .await;
    let (date, _) = s.first_open_day("bandung").await;
    let book = |office: &str, date: &str, time: &str| json!({"office_id": office, "date": date, "time": time});
    let url = format!("/v1/applications/{id}/booking");

    let b = s
        .send(
            reqwest::Method::POST,
            &url,
            Some(book("bandung", &date, "09:00")),
            Some(&token),
            &[("idempotency-key", "pesan-1")],
        )
        .await;
    assert_eq!(b.status, 201, "{:?}", b.body);
    assert_eq!(b.str("/status"), "awaiting_payment");
    assert_eq!(
        b.body["booking"],
        json!({"office_id": "bandung", "date": date, "time": "09:00"})
    );
    let code = b.str("/billing/billing_code");
    assert!(
        code.len() == 15 && code.chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(b.body["billing"]["amount_idr"], 650_000);
    let replay = s
        .send(
            reqwest::Method::POST,
            &url,
            Some(book("bandung", &date, "09:00")),
            Some(&token),
            &[("idempotency-key", "pesan-1")],
        )
        .await;
    assert_eq!(
        (replay.status, &replay.body),
        (201, &b.body),
        "a retried booking books nothing twice"
    );

    let billing = s
        .get(&format!("/v1/applications/{id}/billing"), Some(&token))
        .await;
    assert_eq!(billing.status, 200);
    assert_eq!(billing.str("/billing_code"), code);
    assert_eq!(billing.str("/status"), "unpaid");
    assert!(billing.body["paid_at"].is_null());
    let expires = billing.str("/expires_at");
    let app = s.get(&format!("/v1/applications/{id}"), Some(&token)).await;
    assert_eq!(app.str("/status"), "awaiting_payment");
    assert_eq!(app.body["booking"]["time"], "09:00");
    let timeline: Vec<&str> = app.body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|t| t["status"].as_str().expect("status"))
        .collect();
    assert_eq!(timeline, ["draft", "submitted", "awaiting_payment"]);
    assert!(!expires.is_empty());

    let avail = s
        .get(
            &format!("/v1/offices/bandung/availability?from={date}&to={date}"),
            None,
        )
        .await;
    assert_eq!(avail.body["days"][0]["slots"][1]["remaining"], 19);

    let twice = s
        .post_auth(&url, book("bandung", &date, "10:00"), &token)
        .await;
    assert_eq!((twice.status, twice.code()), (409, "invalid_state"));

    // A second application of the same account, to try each refusal on.
    let other = s
        .submitted_application(&token, "1981-05-06", 2, "electronic")
        .await;
    let other_url = format!("/v1/applications/{other}/booking");
    let today = chrono_today(&s).await;
    for (body, status, code) in [
        (book("bandung", &today, "09:00"), 400, "date_not_bookable"),
        (
            book("bandung", "2020-01-01", "09:00"),
            400,
            "date_not_bookable",
        ),
        (
            book("bandung", "2099-01-01", "09:00"),
            400,
            "date_not_bookable",
        ),
        (book("bandung", &date, "07:00"), 400, "date_not_bookable"),
        (book("bandung", &date, "09:30"), 400, "invalid_request"),
        (
            book("jayapura", &date, "09:00"),
            409,
            "passport_type_not_offered",
        ),
        (book("atlantis", &date, "09:00"), 400, "invalid_request"),
    ] {
        let r = s.post_auth(&other_url, body.clone(), &token).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {:?}", r.body);
    }
    let stranger = s.verified_account(&email("orang"), "rahasia-orang").await;
    let foreign = s
        .post_auth(&other_url, book("bandung", &date, "09:00"), &stranger)
        .await;
    assert_eq!((foreign.status, foreign.code()), (404, "not_found"));
    let unpaid = s
        .put_auth(&url, json!({"date": date, "time": "10:00"}), &token)
        .await;
    assert_eq!(
        (unpaid.status, unpaid.code()),
        (409, "invalid_state"),
        "reschedule needs a paid booking"
    );
}

async fn chrono_today(s: &LocalServer) -> String {
    // The office's today: the day before the first bookable weekday, or earlier.
    let a = s.post("/_local/clock", json!({"advance_secs": 0})).await;
    let now = a.str("/now");
    // Bandung is UTC+7.
    let t = chrono::DateTime::parse_from_rfc3339(now).expect("now") + chrono::TimeDelta::hours(7);
    t.format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn cancel_returns_the_place_at_once() {
    let s = seeded();
    let token = s.verified_account(&email("batal"), "rahasia-batal").await;
    let id = s
        .submitted_application(&token, "1979-09-09", 3, "regular")
        .await;
    let (date, _) = s.first_open_day("medan").await;
    let b = s
        .post_auth(
            &format!("/v1/applications/{id}/booking"),
            json!({"office_id": "medan", "date": date, "time": "14:00"}),
            &token,
        )
        .await;
    assert_eq!(b.status, 201);
    assert_eq!(s.remaining("medan", &date, "14:00").await, 19);
    let c = s
        .delete_auth(&format!("/v1/applications/{id}/booking"), &token)
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    assert_eq!(c.str("/status"), "cancelled");
    assert_eq!(s.remaining("medan", &date, "14:00").await, 20);
    let again = s
        .delete_auth(&format!("/v1/applications/{id}/booking"), &token)
        .await;
    assert_eq!((again.status, again.code()), (409, "invalid_state"));
    // The NIK is free for a new application.
    let applicants = s.get("/v1/applicants", Some(&token)).await;
    let applicant = applicants.body["items"][0]["applicant_id"]
        .as_str()
        .expect("applicant")
        .to_owned();
    let fresh = s
        .post_auth("/v1/applications", json!({"applicant_id": applicant, "passport_type": "regular", "application_type": "new", "purpose": "work", "express": false, "destination_country": "KR"}), &token)
        .await;
    assert_eq!(fresh.status, 201, "{:?}", fresh.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rush_on_one_slot_never_oversells() {
    let s = seeded();
    let (date, _) = s.first_open_day("makassar").await;
    // 120 applicants from 24 families, all submitted, all pressing "book" at once.
    let mut ready = Vec::new();
    for family in 0..24u32 {
        let token = s
            .verified_account(&email(&format!("rush{family}")), "rahasia-rush")
            .await;
        for member in 0..5u32 {
            let serial = family * 10 + member + 1;
            let birth = format!("19{:02}-0{}-1{}", 60 + family, member + 1, member);
            let id = s
                .submitted_application(&token, &birth, serial, "regular")
                .await;
            ready.push((token.clone(), id));
        }
    }
    let mut tasks = Vec::new();
    for (token, id) in ready {
        let http = s.raw().clone();
        let url = format!("{}/v1/applications/{id}/booking", s.base);
        let body = json!({"office_id": "makassar", "date": date, "time": "10:00"});
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, body["code"].as_str().unwrap_or("").to_owned())
        }));
    }
    let mut created = 0;
    let mut full = 0;
    let mut other = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            (201, _) => created += 1,
            (409, code) if code == "slot_full" => full += 1,
            unexpected => other.push(unexpected),
        }
    }
    assert_eq!((created, full), (20, 100), "unexpected answers: {other:?}");
    assert!(other.is_empty(), "{other:?}");
    let a = s
        .get(
            &format!("/v1/offices/makassar/availability?from={date}&to={date}"),
            None,
        )
        .await;
    assert_eq!(a.body["days"][0]["slots"][2]["time"], "10:00");
    assert_eq!(a.body["days"][0]["slots"][2]["remaining"], 0);
}
