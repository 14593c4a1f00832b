//! API.md's "Lanes": a slot split into lanes, each booked apart; priority by age on the
//! appointment day; a person's own calendar; places given back to their lane.

use paspor_tests::local::{LocalServer, OPS_TOKEN, email};
use serde_json::{Value, json};

const PASSWORD: &str = "rahasia-jalur";

async fn put_quota(s: &LocalServer, office: &str, date: &str, slots: Value) -> (u16, String) {
    let a = s
        .send(
            reqwest::Method::PUT,
            &format!("/v1/ops/offices/{office}/quota"),
            Some(json!({"from": date, "to": date, "slots": slots, "include_weekends": true})),
            Some(OPS_TOKEN),
            &[],
        )
        .await;
    (a.status, a.code().to_owned())
}

async fn slot(
    s: &LocalServer,
    office: &str,
    date: &str,
    time: &str,
    token: Option<(&str, &str)>,
) -> Value {
    let path = match token {
        Some((_, id)) => {
            format!("/v1/offices/{office}/availability?from={date}&to={date}&application_id={id}")
        }
        None => format!("/v1/offices/{office}/availability?from={date}&to={date}"),
    };
    let a = s.get(&path, token.map(|(t, _)| t)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body["days"][0]["slots"]
        .as_array()
        .and_then(|slots| slots.iter().find(|x| x["time"] == time))
        .cloned()
        .expect("the slot")
}

async fn book(
    s: &LocalServer,
    token: &str,
    id: &str,
    office: &str,
    date: &str,
    time: &str,
) -> paspor_tests::local::Answer {
    s.post_auth(
        &format!("/v1/applications/{id}/booking"),
        json!({"office_id": office, "date": date, "time": time}),
        token,
    )
    .await
}

#[tokio::test]
async fn each_lane_is_booked_apart_and_priority_goes_first() {
    let s = LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"));
    let office = "medan";
    let (date, _) = s.open_day(office, 1).await;
    let lanes = json!({"regular": 1, "electronic": 0, "express": 0, "priority": 1});
    assert_eq!(
        put_quota(&s, office, &date, json!({"10:00": lanes}))
            .await
            .0,
        200
    );
    let before = slot(&s, office, &date, "10:00", None).await;
    assert_eq!(
        (before["capacity"].as_i64(), before["remaining"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        before["lanes"]["electronic"],
        json!({"capacity": 0, "remaining": 0})
    );
    assert_eq!(
        before["lanes"]["priority"],
        json!({"capacity": 1, "remaining": 1})
    );

    let token = s.verified_account(&email("jalur"), PASSWORD).await;
    let electronic = s
        .submitted_application(&token, "1990-03-03", 71, "electronic")
        .await;
    let adult = s
        .submitted_application(&token, "1988-04-04", 72, "regular")
        .await;
    let second = s
        .submitted_application(&token, "1987-05-05", 73, "regular")
        .await;
    let elder = s
        .submitted_application(&token, "1950-06-06", 74, "regular")
        .await;

    // The e-passport blanks ran out: that lane is full for that application alone, and its
    // own calendar says so while the slot still shows room.
    let mine = slot(&s, office, &date, "10:00", Some((&token, &electronic))).await;
    assert_eq!(mine["remaining"], 0, "{mine}");
    let e = book(&s, &token, &electronic, office, &date, "10:00").await;
    assert_eq!((e.status, e.code()), (409, "slot_full"), "{:?}", e.body);

    let a = book(&s, &token, &adult, office, &date, "10:00").await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.body["booking"]["lane"], "regular");
    // Regular is full now; the priority place is not for an adult of 38.
    let b = book(&s, &token, &second, office, &date, "10:00").await;
    assert_eq!((b.status, b.code()), (409, "slot_full"), "{:?}", b.body);
    // Seventy-six on the day: priority first.
    let detail = s
        .get(&format!("/v1/applications/{elder}"), Some(&token))
        .await;
    assert_eq!(detail.body["priority"], true, "{:?}", detail.body);
    let c = book(&s, &token, &elder, office, &date, "10:00").await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    assert_eq!(c.body["booking"]["lane"], "priority");
    let full = slot(&s, office, &date, "10:00", None).await;
    assert_eq!(full["remaining"], 0, "{full}");

    // A cancelled place goes back to its own lane.
    let gone = s
        .delete_auth(&format!("/v1/applications/{adult}/booking"), &token)
        .await;
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    let after = slot(&s, office, &date, "10:00", None).await;
    assert_eq!(after["lanes"]["regular"]["remaining"], 1, "{after}");
    assert_eq!(after["lanes"]["priority"]["remaining"], 0, "{after}");
    let d = book(&s, &token, &second, office, &date, "10:00").await;
    assert_eq!(d.status, 201, "{:?}", d.body);
    assert_eq!(d.body["booking"]["lane"], "regular");
}

#[tokio::test]
async fn a_lane_is_not_lowered_below_its_bookings_nor_reshaped_while_booked() {
    let s = LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"));
    let office = "batam";
    let (date, _) = s.open_day(office, 1).await;
    let lanes = json!({"regular": 2, "express": 1});
    assert_eq!(
        put_quota(&s, office, &date, json!({"11:00": lanes}))
            .await
            .0,
        200
    );
    let token = s.verified_account(&email("turun"), PASSWORD).await;
    let id = s
        .submitted_application(&token, "1985-07-07", 81, "regular")
        .await;
    let b = book(&s, &token, &id, office, &date, "11:00").await;
    assert_eq!(b.status, 201, "{:?}", b.body);

    let below = json!({"11:00": {"regular": 0, "express": 1}});
    assert_eq!(
        put_quota(&s, office, &date, below).await,
        (409, "capacity_below_booked".to_owned())
    );
    assert_eq!(
        put_quota(&s, office, &date, json!({"11:00": 5})).await,
        (409, "capacity_below_booked".to_owned()),
        "a booked place belongs to its lane"
    );
    // Raising one lane and lowering another to what it holds is fine.
    let fits = json!({"11:00": {"regular": 1, "express": 3}});
    assert_eq!(put_quota(&s, office, &date, fits).await.0, 200);
    let now = slot(&s, office, &date, "11:00", None).await;
    assert_eq!(
        now["lanes"]["regular"],
        json!({"capacity": 1, "remaining": 0}),
        "{now}"
    );
    assert_eq!(
        now["lanes"]["express"],
        json!({"capacity": 3, "remaining": 3}),
        "{now}"
    );
    assert_eq!(
        (now["capacity"].as_i64(), now["remaining"].as_i64()),
        (Some(4), Some(3))
    );
    // Someone else's application is not found; without a token, no personal calendar.
    let other = s.verified_account(&email("lain"), PASSWORD).await;
    let a = s
        .get(
            &format!("/v1/offices/{office}/availability?application_id={id}"),
            Some(&other),
        )
        .await;
    assert_eq!(a.status, 404, "{:?}", a.body);
    let a = s
        .get(
            &format!("/v1/offices/{office}/availability?application_id={id}"),
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (401, "unauthorized"));
}

#[tokio::test]
async fn a_family_books_one_slot_whole_or_not_at_all() {
    let s = LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"));
    let office = "surabaya";
    let (date, _) = s.open_day(office, 1).await;
    let lanes = json!({"regular": 2, "priority": 1});
    assert_eq!(
        put_quota(&s, office, &date, json!({"12:00": lanes}))
            .await
            .0,
        200
    );
    let token = s.verified_account(&email("keluarga"), PASSWORD).await;
    let grandma = s
        .submitted_application(&token, "1948-08-08", 91, "regular")
        .await;
    let father = s
        .submitted_application(&token, "1980-09-09", 92, "regular")
        .await;
    let mother = s
        .submitted_application(&token, "1982-10-10", 93, "regular")
        .await;
    let son = s
        .submitted_application(&token, "2000-11-11", 94, "regular")
        .await;
    let family = |ids: Vec<&String>| json!({"application_ids": ids, "office_id": office, "date": date, "time": "12:00"});

    for bad in [vec![&father], vec![&father, &father]] {
        let a = s.post_auth("/v1/bookings", family(bad), &token).await;
        assert_eq!(
            (a.status, a.code()),
            (400, "invalid_request"),
            "{:?}",
            a.body
        );
    }
    // Four people, three places: nobody is booked, and the answer says how many are short.
    let four = s
        .post_auth(
            "/v1/bookings",
            family(vec![&grandma, &father, &mother, &son]),
            &token,
        )
        .await;
    assert_eq!(
        (four.status, four.code()),
        (409, "slot_full"),
        "{:?}",
        four.body
    );
    assert_eq!(four.body["places_short"], 1, "{:?}", four.body);
    assert_eq!(slot(&s, office, &date, "12:00", None).await["remaining"], 3);

    // Someone else's application is not theirs to book (while the slot has room: a
    // sold-out slot answers `slot_full` before any application is read).
    let other = s.verified_account(&email("tetangga"), PASSWORD).await;
    let theirs = s
        .submitted_application(&other, "1979-12-12", 95, "regular")
        .await;
    let mixed = s
        .post_auth("/v1/bookings", family(vec![&son, &theirs]), &token)
        .await;
    assert_eq!(mixed.status, 404, "{:?}", mixed.body);

    // An application that is not ready is named, and nothing is taken.
    let child = s
        .applicant(
            &token,
            &paspor_tests::local::nik("2001-12-01", false, 99),
            "2001-12-01",
            "M",
            "child",
        )
        .await;
    let draft = s
        .post_auth(
            "/v1/applications",
            json!({"applicant_id": child, "passport_type": "regular", "application_type": "new", "purpose": "tourism", "express": false, "destination_country": "MY"}),
            &token,
        )
        .await;
    assert_eq!(draft.status, 201, "{:?}", draft.body);
    let draft = draft.str("/application_id").to_owned();
    let unready = s
        .post_auth("/v1/bookings", family(vec![&father, &draft]), &token)
        .await;
    assert_eq!(
        (unready.status, unready.code()),
        (409, "invalid_state"),
        "{:?}",
        unready.body
    );
    assert_eq!(unready.body["application_id"], draft.as_str());

    // Booked once, answered twice for the same Idempotency-Key (a lost answer, retried).
    let key = [("Idempotency-Key", "family-three-1")];
    let body = family(vec![&grandma, &father, &mother]);
    let three = s
        .send(
            reqwest::Method::POST,
            "/v1/bookings",
            Some(body.clone()),
            Some(&token),
            &key,
        )
        .await;
    assert_eq!(three.status, 201, "{:?}", three.body);
    let replay = s
        .send(
            reqwest::Method::POST,
            "/v1/bookings",
            Some(body),
            Some(&token),
            &key,
        )
        .await;
    assert_eq!(replay.status, 201, "{:?}", replay.body);
    assert_eq!(
        replay.body, three.body,
        "the same answer, nothing booked twice"
    );
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let group = three.str("/group_id").to_owned();
    let items = three.body["items"].as_array().expect("items");
    let lanes: Vec<&str> = items
        .iter()
        .map(|i| i["booking"]["lane"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(lanes, ["priority", "regular", "regular"]);
    let codes: std::collections::BTreeSet<&str> = items
        .iter()
        .map(|i| i["billing"]["billing_code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(codes.len(), 3, "a billing each");
    let deadlines: std::collections::BTreeSet<&str> = items
        .iter()
        .map(|i| i["billing"]["expires_at"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(deadlines.len(), 1, "the same deadline");
    let detail = s
        .get(&format!("/v1/applications/{father}"), Some(&token))
        .await;
    assert_eq!(detail.body["booking"]["group_id"], group.as_str());
    assert_eq!(slot(&s, office, &date, "12:00", None).await["remaining"], 0);

    // Afterwards each lives alone: one cancelled gives its own place back.
    let gone = s
        .delete_auth(&format!("/v1/applications/{mother}/booking"), &token)
        .await;
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    let after = slot(&s, office, &date, "12:00", None).await;
    assert_eq!(after["lanes"]["regular"]["remaining"], 1, "{after}");
}

#[tokio::test]
async fn a_paid_family_moves_together_or_not_at_all() {
    let s = LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"));
    let office = "semarang";
    let (date, _) = s.open_day(office, 1).await;
    let (later, _) = s.open_day(office, 2).await;
    assert_eq!(
        put_quota(&s, office, &later, json!({"14:00": 1})).await.0,
        200
    );
    let token = s.verified_account(&email("pindah"), PASSWORD).await;
    let a = s
        .submitted_application(&token, "1981-01-21", 96, "regular")
        .await;
    let b = s
        .submitted_application(&token, "1983-02-22", 97, "electronic")
        .await;
    let booked = s
        .post_auth(
            "/v1/bookings",
            json!({"application_ids": [&a, &b], "office_id": office, "date": date, "time": "09:00"}),
            &token,
        )
        .await;
    assert_eq!(booked.status, 201, "{:?}", booked.body);
    let group = booked.str("/group_id").to_owned();
    let before = slot(&s, office, &date, "09:00", None).await["remaining"]
        .as_i64()
        .expect("remaining");
    let path = format!("/v1/bookings/{group}");
    // Unpaid: a booking moves only once paid.
    let early = s
        .put_auth(&path, json!({"date": later, "time": "10:00"}), &token)
        .await;
    assert_eq!(
        (early.status, early.code()),
        (409, "invalid_state"),
        "{:?}",
        early.body
    );
    for (i, item) in booked.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .enumerate()
    {
        let code = item["billing"]["billing_code"].as_str().expect("code");
        let amount = item["billing"]["amount_idr"].as_i64().expect("amount");
        let paid = s.pay(code, amount, &format!("fam-{group}-{i}")).await;
        assert_eq!(paid.status, 200, "{:?}", paid.body);
    }
    // One place where two are needed: nobody moves.
    let short = s
        .put_auth(&path, json!({"date": later, "time": "14:00"}), &token)
        .await;
    assert_eq!(
        (short.status, short.code()),
        (409, "slot_full"),
        "{:?}",
        short.body
    );
    assert_eq!(short.body["places_short"], 1);
    let moved = s
        .put_auth(&path, json!({"date": later, "time": "10:00"}), &token)
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    for item in moved.body["items"].as_array().expect("items") {
        assert_eq!(item["booking"]["date"], later.as_str());
        assert_eq!(item["booking"]["time"], "10:00");
        assert_eq!(item["booking"]["group_id"], group.as_str());
    }
    let back = slot(&s, office, &date, "09:00", None).await["remaining"]
        .as_i64()
        .expect("remaining");
    assert_eq!(back, before + 2, "both places went back");
    // Once is the limit, for the group as for one.
    let again = s
        .put_auth(&path, json!({"date": date, "time": "11:00"}), &token)
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "reschedule_limit"),
        "{:?}",
        again.body
    );
    let unknown = s
        .put_auth(
            "/v1/bookings/01NOSUCHGROUP",
            json!({"date": later, "time": "10:00"}),
            &token,
        )
        .await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
}

#[tokio::test]
async fn a_priority_check_in_records_whether_the_reason_held() {
    paspor_tests::local_only!("the clock");
    let s = LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"));
    let office = "makassar";
    let (date, _) = s.open_day(office, 0).await;
    let token = s.verified_account(&email("prioritas"), PASSWORD).await;
    // Under five on the day: priority needs no declaration.
    let lanes = json!({"regular": 1, "priority": 1});
    assert_eq!(
        put_quota(&s, office, &date, json!({"15:00": lanes}))
            .await
            .0,
        200
    );
    let child = s
        .submitted_application(&token, "2024-03-03", 98, "regular")
        .await;
    let b = book(&s, &token, &child, office, &date, "15:00").await;
    assert_eq!(b.status, 201, "{:?}", b.body);
    assert_eq!(b.body["booking"]["lane"], "priority");
    let code = b.str("/billing/billing_code").to_owned();
    let amount = b.body["billing"]["amount_idr"].as_i64().expect("amount");
    assert_eq!(s.pay(&code, amount, "prioritas-1").await.status, 200);
    // 09:00 on the booked day in Makassar (UTC+8).
    let target = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
        .expect("date")
        .and_hms_opt(9, 0, 0)
        .expect("time")
        .and_utc()
        - chrono::TimeDelta::hours(8);
    s.advance_clock((target - s.now().await).num_seconds())
        .await;
    let path = format!("/v1/ops/applications/{child}/check-in");
    let bad = s
        .send(
            reqwest::Method::POST,
            &path,
            Some(json!({"priority_verified": "ya"})),
            Some(OPS_TOKEN),
            &[],
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (400, "invalid_request"),
        "{:?}",
        bad.body
    );
    let checked = s
        .send(
            reqwest::Method::POST,
            &path,
            Some(json!({"priority_verified": false})),
            Some(OPS_TOKEN),
            &[],
        )
        .await;
    assert_eq!(checked.status, 200, "{:?}", checked.body);
    assert_eq!(checked.str("/status"), "checked_in");
    let audit = s
        .send(
            reqwest::Method::GET,
            &format!("/v1/ops/applications/{child}/audit"),
            None,
            Some(OPS_TOKEN),
            &[],
        )
        .await;
    let entry = &audit.body["items"][0];
    assert_eq!(entry["action"], "check_in", "{:?}", audit.body);
    assert_eq!(entry["details"]["priority_verified"], false, "{entry}");
    assert_eq!(entry["details"]["lane"], "priority", "{entry}");
}
