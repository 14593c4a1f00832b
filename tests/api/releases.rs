//! API.md's "Fair release": a release held for its draw, entries while its window is open,
//! the window shut and its digest published, the draw on the scheduled side, the outcomes,
//! and a published result that `scripts/verify-draw` recomputes. The local clock walks the
//! release through its life.

use chrono::{DateTime, TimeDelta, Utc};
use paspor_tests::local::{LocalServer, OPS_TOKEN, email};
use paspor_tests::local_only;
use serde_json::{Value, json};

const PASSWORD: &str = "rahasia-undian";

async fn put_release(s: &LocalServer, id: &str, body: &Value) -> paspor_tests::local::Answer {
    s.send(
        reqwest::Method::PUT,
        &format!("/v1/ops/releases/{id}"),
        Some(body.clone()),
        Some(OPS_TOKEN),
        &[],
    )
    .await
}

fn release_body(now: DateTime<Utc>, office: &str, date: &str) -> Value {
    // Minutes apart: an access token lives an hour.
    let at = |n: i64| (now + TimeDelta::minutes(10 * n)).to_rfc3339();
    json!({
        "office_ids": [office],
        "from": date, "to": date,
        "slots": {"09:00": 1, "10:00": {"regular": 1, "priority": 1}},
        "include_weekends": true,
        "entry_opens_at": at(1), "entry_closes_at": at(2), "draw_at": at(3),
    })
}

/// Waits for the sweeper (every second in tests) to bring the release to `status`.
async fn until_status(s: &LocalServer, id: &str, status: &str) -> Value {
    for _ in 0..100 {
        let a = s.get(&format!("/v1/releases/{id}"), None).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        if a.body["status"] == status
            && (status != "closed" || a.body["entries_digest"].is_string())
        {
            return a.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("release {id} never reached {status}");
}

fn choice(office: &str, date: &str, time: &str) -> Value {
    json!({"office_id": office, "date": date, "time": time})
}

/// Runs `scripts/verify-draw` on a result document; answers its exit code.
fn verify(result: &Value) -> i32 {
    verify_draw("-", &serde_json::to_vec(result).expect("json"))
}

/// Runs `scripts/verify-draw ARG`, `stdin` on its standard input; answers its exit code.
fn verify_draw(arg: &str, stdin: &[u8]) -> i32 {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/verify-draw");
    let mut child = std::process::Command::new("python3")
        .args([script, arg])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write");
    let out = child.wait_with_output().expect("verify-draw");
    eprintln!(
        "verify-draw: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.code().unwrap_or(-1)
}

#[tokio::test]
async fn a_release_is_held_entered_drawn_and_checkable() {
    local_only!("walks the clock through the window and the draw");
    let s = LocalServer::start_seeded(env!("CARGO_BIN_EXE_paspor-local"));
    let office = "medan";
    let now = s.now().await;
    // Beyond the demo seed's 30 days, so no slot of it has quota yet.
    let date = (now + TimeDelta::days(45)).date_naive().to_string();
    let body = release_body(now, office, &date);

    // Operators: created, changed before it opens, refused when out of order or overlapping.
    let created = put_release(&s, "rilis-medan", &body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "scheduled");
    let committed = created.str("/seed_sha256").to_owned();
    assert_eq!(committed.len(), 64);
    assert!(created.body.get("seed").is_none(), "the seed stays secret");
    let changed = put_release(&s, "rilis-medan", &body).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(
        changed.body["seed_sha256"],
        committed.as_str(),
        "the commitment holds"
    );
    let mut backwards = body.clone();
    backwards["draw_at"] = body["entry_opens_at"].clone();
    let a = put_release(&s, "rilis-medan", &backwards).await;
    assert_eq!(
        (a.status, a.code()),
        (400, "invalid_request"),
        "{:?}",
        a.body
    );
    let a = put_release(&s, "rilis-lain", &body).await;
    assert_eq!((a.status, a.code()), (409, "quota_exists"), "{:?}", a.body);
    let quota = s
        .send(
            reqwest::Method::PUT,
            &format!("/v1/ops/offices/{office}/quota"),
            Some(
                json!({"from": date, "to": date, "slots": {"09:00": 5}, "include_weekends": true}),
            ),
            Some(OPS_TOKEN),
            &[],
        )
        .await;
    assert_eq!(
        (quota.status, quota.code()),
        (409, "held_for_release"),
        "{:?}",
        quota.body
    );

    // Held: shown with the release, not bookable first-come.
    let day = s
        .get(
            &format!("/v1/offices/{office}/availability?from={date}&to={date}"),
            None,
        )
        .await;
    assert_eq!(
        day.body["days"][0]["slots"][0]["release_id"], "rilis-medan",
        "{:?}",
        day.body
    );
    let racer = s.verified_account(&email("undian-racer"), PASSWORD).await;
    let hasty = s
        .submitted_application(&racer, "1991-01-01", 81, "regular")
        .await;
    let a = s
        .post_auth(
            &format!("/v1/applications/{hasty}/booking"),
            json!({"office_id": office, "date": date, "time": "09:00"}),
            &racer,
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (409, "held_for_release"),
        "{:?}",
        a.body
    );

    let list = s.get("/v1/releases", None).await;
    assert!(
        list.body["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|r| r["release_id"] == "rilis-medan")),
        "{:?}",
        list.body
    );

    // Four accounts: three singles and a family with a grandmother.
    let b_email = email("undian-b");
    let tokens = [
        s.verified_account(&email("undian-a"), PASSWORD).await,
        s.verified_account(&b_email, PASSWORD).await,
        s.verified_account(&email("undian-c"), PASSWORD).await,
        s.verified_account(&email("undian-d"), PASSWORD).await,
    ];
    let a1 = s
        .submitted_application(&tokens[0], "1990-02-02", 82, "regular")
        .await;
    let b1 = s
        .submitted_application(&tokens[1], "1989-03-03", 83, "regular")
        .await;
    let c1 = s
        .submitted_application(&tokens[2], "1950-04-04", 84, "regular")
        .await;
    let c2 = s
        .submitted_application(&tokens[2], "1985-05-05", 85, "regular")
        .await;
    let d1 = s
        .submitted_application(&tokens[3], "1988-06-06", 86, "regular")
        .await;
    let entry_path = "/v1/releases/rilis-medan/entry";
    let enter = |token: &str, apps: Vec<&str>, choices: Vec<Value>| {
        let token = token.to_owned();
        let body = json!({"application_ids": apps, "choices": choices});
        let s = &s;
        async move { s.put_auth(entry_path, body, &token).await }
    };
    let nine = choice(office, &date, "09:00");
    let ten = choice(office, &date, "10:00");

    let early = enter(&tokens[0], vec![&a1], vec![nine.clone()]).await;
    assert_eq!(
        (early.status, early.code()),
        (409, "entry_window_closed"),
        "{:?}",
        early.body
    );

    s.advance_clock(600 + 1).await;
    assert_eq!(
        s.get("/v1/releases/rilis-medan", None).await.body["status"],
        "open"
    );
    let a = put_release(&s, "rilis-medan", &body).await;
    assert_eq!(
        (a.status, a.code()),
        (409, "release_started"),
        "{:?}",
        a.body
    );

    let first = enter(&tokens[0], vec![&a1], vec![nine.clone()]).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let again = enter(&tokens[0], vec![&a1], vec![nine.clone(), ten.clone()]).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(
        again.body["entry_id"], first.body["entry_id"],
        "one entry per account"
    );
    assert_eq!(
        enter(&tokens[1], vec![&b1], vec![nine.clone(), ten.clone()])
            .await
            .status,
        201
    );
    assert_eq!(
        enter(&tokens[2], vec![&c1, &c2], vec![ten.clone(), nine.clone()])
            .await
            .status,
        201
    );
    assert_eq!(
        enter(&tokens[3], vec![&d1], vec![nine.clone()])
            .await
            .status,
        201
    );
    // Bad entries: a slot outside the release, another account's application.
    let outside = enter(&tokens[3], vec![&d1], vec![choice(office, &date, "11:00")]).await;
    assert_eq!(
        (outside.status, outside.code()),
        (400, "invalid_request"),
        "{:?}",
        outside.body
    );
    let foreign = enter(&tokens[3], vec![&a1], vec![nine.clone()]).await;
    assert_eq!(foreign.status, 404, "{:?}", foreign.body);
    // An entered application books nothing first-come while it waits for the draw.
    let (open_date, _) = s.first_open_day(office).await;
    let a = s
        .post_auth(
            &format!("/v1/applications/{a1}/booking"),
            json!({"office_id": office, "date": open_date, "time": "09:00"}),
            &tokens[0],
        )
        .await;
    assert_eq!((a.status, a.code()), (409, "invalid_state"), "{:?}", a.body);
    // Withdrawn while open.
    assert_eq!(s.delete_auth(entry_path, &tokens[3]).await.status, 204);
    assert_eq!(s.get(entry_path, Some(&tokens[3])).await.status, 404);

    let ops = s.get("/v1/ops/releases/rilis-medan", Some(OPS_TOKEN)).await;
    assert_eq!(ops.status, 200, "{:?}", ops.body);
    assert_eq!(
        ops.body["counts"],
        json!({"entries": 3, "applications": 4, "places": 3}),
        "{:?}",
        ops.body
    );
    let a = s.get("/v1/releases/rilis-medan/result", None).await;
    assert_eq!((a.status, a.code()), (409, "not_drawn"), "{:?}", a.body);

    // Closed: the digest is published, nothing changes any more.
    s.advance_clock(600).await;
    let closed = until_status(&s, "rilis-medan", "closed").await;
    assert_eq!(closed["entries_digest"].as_str().map(str::len), Some(64));
    let late = enter(&tokens[3], vec![&d1], vec![nine.clone()]).await;
    assert_eq!(
        (late.status, late.code()),
        (409, "entry_window_closed"),
        "{:?}",
        late.body
    );
    let a = s.delete_auth(entry_path, &tokens[0]).await;
    assert_eq!(
        (a.status, a.code()),
        (409, "entry_window_closed"),
        "{:?}",
        a.body
    );

    // Drawn.
    s.advance_clock(600).await;
    let drawn = until_status(&s, "rilis-medan", "drawn").await;
    assert_eq!(drawn["entries_digest"], closed["entries_digest"]);
    // The result is a link to the document written when the draw was computed: a
    // million entries' worth is more than a function may answer.
    // As the wire has it: no redirect followed, nothing decompressed.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .build()
        .expect("client");
    let answer = no_redirects
        .get(format!("{}/v1/releases/rilis-medan/result", s.base))
        .send()
        .await
        .expect("result");
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let link = answer.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let stored = no_redirects.get(&link).send().await.expect("document");
    assert_eq!(stored.status(), 200);
    assert_eq!(stored.headers()["content-type"], "application/json");
    assert_eq!(stored.headers()["content-encoding"], "gzip");
    let zipped = stored.headers().clone();
    let gzipped = stored.bytes().await.expect("bytes");
    assert!(gzipped.starts_with(&[0x1f, 0x8b]), "gzip bytes");
    // verify-draw takes it as saved (gzip), or from the result's own address.
    assert_eq!(verify_draw("-", &gzipped), 0);
    let address = format!("{}/v1/releases/rilis-medan/result", s.base);
    assert_eq!(verify_draw(&address, b""), 0);
    assert!(
        zipped["cache-control"]
            .to_str()
            .is_ok_and(|c| c.contains("immutable")),
        "{zipped:?}"
    );
    // The link signs its key: another key is refused.
    let mut forged_link = link.clone();
    let at = forged_link.find("results/").expect("key") + "results/".len();
    forged_link.insert(at, 'x');
    assert_eq!(
        no_redirects
            .get(&forged_link)
            .send()
            .await
            .expect("forged")
            .status(),
        403,
        "a link signs its key"
    );
    // Followed, as a browser or an app does, it is the document itself.
    let result = s.get("/v1/releases/rilis-medan/result", None).await;
    assert_eq!(result.status, 200, "{:?}", result.body);
    let doc = result.body.clone();
    assert_eq!(doc["seed_sha256"], committed.as_str());
    let entries = doc["entries"].as_array().cloned().expect("entries");
    assert_eq!(entries.len(), 3);
    let text = doc.to_string();
    assert!(
        !text.contains(&b_email) && !text.contains(&a1),
        "no people in the result"
    );
    assert_eq!(verify(&doc), 0, "the published result checks out");
    let mut forged = doc.clone();
    let flipped = if entries[0]["outcome"] == "won" {
        "waitlisted"
    } else {
        "won"
    };
    forged["entries"][0]["outcome"] = json!(flipped);
    assert_eq!(verify(&forged), 1, "a changed outcome is caught");

    // Each entry knows its outcome; winners hold places billed until drawn_at + 24 h.
    let drawn_at: DateTime<Utc> = doc["drawn_at"]
        .as_str()
        .expect("drawn_at")
        .parse()
        .expect("time");
    let mut won_places = 0;
    for token in &tokens[..3] {
        let e = s.get(entry_path, Some(token)).await;
        assert_eq!(e.status, 200, "{:?}", e.body);
        let position = e.body["position"].as_u64().expect("position");
        let published = entries
            .iter()
            .find(|x| x["entry_id"] == e.body["entry_id"])
            .expect("published");
        assert_eq!(published["position"], position);
        assert_eq!(published["outcome"], e.body["outcome"]);
        if e.body["outcome"] == "won" {
            for item in e.body["booking"]["items"].as_array().expect("items") {
                won_places += 1;
                assert_eq!(item["status"], "awaiting_payment", "{item}");
                let due: DateTime<Utc> = item["billing"]["expires_at"]
                    .as_str()
                    .expect("due")
                    .parse()
                    .expect("time");
                assert_eq!(due, drawn_at + TimeDelta::hours(24));
            }
        }
    }
    assert!(
        (1..=3).contains(&won_places),
        "{won_places} places won of 3"
    );
    let ops = s.get("/v1/ops/releases/rilis-medan", Some(OPS_TOKEN)).await;
    let counts = &ops.body["counts"];
    assert_eq!(
        counts["won"].as_u64().unwrap_or(0) + counts["waitlisted"].as_u64().unwrap_or(0),
        3,
        "{counts}"
    );
    assert_eq!(counts["paid"], 0);
    // What is left is first-come now.
    let day = s
        .get(
            &format!("/v1/offices/{office}/availability?from={date}&to={date}"),
            None,
        )
        .await;
    for slot in day.body["days"][0]["slots"].as_array().expect("slots") {
        assert!(slot.get("release_id").is_none(), "{slot}");
    }
    // The worker sends a moment later.
    let mut told = 0;
    for _ in 0..100 {
        told = s
            .mail_to(&b_email)
            .iter()
            .filter(|(subject, _)| subject.contains("undian"))
            .count();
        if told >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let subjects: Vec<String> = s.mail_to(&b_email).into_iter().map(|m| m.0).collect();
    assert_eq!(
        told, 2,
        "the entry confirmed, and the outcome: {subjects:?}"
    );

    // A winner's place that comes back before the first day goes to the waitlist first.
    let mut waitlisted = None;
    let mut winners = Vec::new();
    for token in &tokens[..3] {
        let e = s.get(entry_path, Some(token)).await.body;
        if e["outcome"] == "waitlisted" {
            waitlisted = Some((token.clone(), e));
        } else if e["application_ids"].as_array().map(Vec::len) == Some(1) {
            winners.push((token.clone(), e));
        }
    }
    let (waiting_token, waiting) = waitlisted.expect("four people, three places: one waits");
    // A single's place fits a waiting single anywhere, a waiting family only at 10:00.
    winners.sort_by_key(|(_, e)| e["booking"]["slot"]["time"] != "10:00");
    let (winner_token, winner) = winners.first().cloned().expect("a single won");
    let app = winner["application_ids"][0].as_str().expect("id");
    let gone = s
        .delete_auth(&format!("/v1/applications/{app}/booking"), &winner_token)
        .await;
    assert_eq!(gone.status, 200, "{:?}", gone.body);
    let mut promoted = Value::Null;
    for _ in 0..100 {
        promoted = s.get(entry_path, Some(&waiting_token)).await.body;
        if promoted["outcome"] == "won" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(promoted["outcome"], "won", "{promoted}");
    assert_eq!(promoted["from_waitlist"], true);
    assert_eq!(promoted["position"], waiting["position"]);
    for item in promoted["booking"]["items"].as_array().expect("items") {
        assert_eq!(item["status"], "awaiting_payment", "{item}");
    }
    // The published result is the draw, written once: the waitlist changes nothing in it.
    let after = s.get("/v1/releases/rilis-medan/result", None).await.body;
    assert_eq!(after, doc);
    // A link handed out before expires; a new request gets a new one.
    s.advance_clock(paspor_domain::documents::RESULT_URL_SECS + 1)
        .await;
    let expired = no_redirects.get(&link).send().await.expect("expired");
    assert_eq!(expired.status(), 403);
    assert_eq!(
        s.get("/v1/releases/rilis-medan/result", None).await.body,
        doc
    );

    // A place from the release, paid, is counted once however often the channel tells it.
    let billing = &promoted["booking"]["items"][0]["billing"];
    let code = billing["billing_code"].as_str().expect("code");
    let amount = billing["amount_idr"].as_i64().expect("amount");
    for _ in 0..2 {
        let paid = s.pay(code, amount, "tx-rilis-medan-1").await;
        assert_eq!(paid.status, 200, "{:?}", paid.body);
    }
    // A second payment of the same billing is kept for a refund, and counts nothing.
    let twice = s.pay(code, amount, "tx-rilis-medan-2").await;
    assert_eq!(
        twice.body["result"], "recorded_for_refund",
        "{:?}",
        twice.body
    );
    let ops = s.get("/v1/ops/releases/rilis-medan", Some(OPS_TOKEN)).await;
    assert_eq!(ops.body["counts"]["paid"], 1, "{:?}", ops.body);
}
