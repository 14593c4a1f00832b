//! Faults at the adapter boundary, on the embedded backend and (with `--features aws`) on
//! the AWS stand-ins: throttling and transaction conflicts, a redelivered message, storage
//! and mail outages, and a process dying between any two writes of booking, payment and
//! expiry. Each check fails without the handling it names.

use std::sync::{Arc, atomic::Ordering};

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use paspor_domain::{
    Error,
    accounts::{Accounts, AccountsConfig},
    applications::{Applications, Status},
    booking::{Booking, BookingConfig},
    jobs::{Job, Notice},
    payments::{Outcome, Payments},
    quota::Quota,
};
use paspor_http::{AppState, Settings};
use paspor_tests::{
    conformance::{
        draft_application, draft_application_for, makassar_slot, notification, submit_directly,
        submitted_application,
    },
    faults::{Faults, SECRET_DETAIL},
    fixture::{Fixture, test_secrets},
};
use paspor_worker::Worker;
use serde_json::json;
use tower::ServiceExt;

/// The same backend seen through fault-injecting ports.
fn faulty(f: &Fixture) -> (Fixture, Arc<Faults>) {
    let faults = Faults::new();
    let mut g = f.clone();
    g.ports = faults.wrap(&f.ports);
    (g, faults)
}

/// The places left on Makassar's slot, read by a fresh service (no cache).
async fn remaining(f: &Fixture, day: chrono::NaiveDate, time: &str) -> i64 {
    let quota = Quota::new(f.ports.clone(), BookingConfig::default());
    let a = serde_json::to_value(
        quota
            .availability("makassar", Some(day), Some(day))
            .await
            .expect("availability")
            .as_ref(),
    )
    .expect("json");
    a["days"][0]["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .find(|s| s["time"] == time)
        .and_then(|s| s["remaining"].as_i64())
        .expect("remaining")
}

fn router(ports: paspor_domain::Ports) -> axum::Router {
    let mut settings = Settings::default();
    settings.services.rate_limits.enabled = false;
    let state = AppState::new(ports, &test_secrets(), settings);
    paspor_http::app(
        paspor_http::Routes::new()
            .merge(paspor_booking::routes())
            .merge(paspor_payments::routes()),
        state,
    )
}

async fn call(app: &axum::Router, req: Request<Body>) -> (u16, Option<String>, String) {
    let resp = app.clone().oneshot(req).await.expect("router");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, retry, String::from_utf8_lossy(&bytes).into_owned())
}

fn webhook(n: &paspor_domain::payments::Notification, now: i64) -> Request<Body> {
    let body = serde_json::to_vec(n).expect("json");
    let sig = paspor_domain::payments::sign(b"whsec-test", now, &body);
    Request::post("/v1/payments/notifications")
        .header("content-type", "application/json")
        .header("x-paspor-timestamp", now.to_string())
        .header("x-paspor-signature", sig)
        .body(Body::from(body))
        .expect("request")
}

/// Throttling or a transaction conflict is retried a bounded number of times with jitter;
/// past that the caller gets `503` with `Retry-After`, never a hang or a 500.
async fn throttling_is_retried_then_answered_503(f: &Fixture) {
    let (g, faults) = faulty(f);
    let (applications, booking, day) = makassar_slot(&g, "11:00", 5).await;
    let (account, id) = submitted_application(&applications, 7, 6100).await;

    faults.busy_transactions.store(3, Ordering::SeqCst);
    let before = faults.transactions.load(Ordering::SeqCst);
    booking
        .book(&account, &id, "makassar", day, "11:00")
        .await
        .expect("booked after three conflicts");
    assert_eq!(faults.transactions.load(Ordering::SeqCst) - before, 4);

    // Persistently throttled: six tries, then Busy; the place is not taken.
    let (account2, id2) = submitted_application(&applications, 8, 6100).await;
    faults.busy_transactions.store(1000, Ordering::SeqCst);
    let before = faults.transactions.load(Ordering::SeqCst);
    let err = booking
        .book(&account2, &id2, "makassar", day, "11:00")
        .await
        .expect_err("throttled");
    assert!(matches!(err, Error::Busy { .. }), "{}: {err:?}", f.name);
    assert_eq!(faults.transactions.load(Ordering::SeqCst) - before, 6);
    assert_eq!(remaining(f, day, "11:00").await, 4);

    // Over HTTP: the payment webhook under persistent conflicts answers 503 + Retry-After;
    // the channel's redelivery after it lands.
    let app = router(g.ports.clone());
    let billing = applications
        .load(&id)
        .await
        .expect("load")
        .billing
        .expect("billing");
    let n = notification(
        &format!("txn-{}", ulid::Ulid::new()),
        &billing.billing_code,
        billing.amount_idr,
        f.ports.clock.now(),
    );
    let now = f.ports.clock.now().timestamp();
    let (status, retry, body) = call(&app, webhook(&n, now)).await;
    assert_eq!(status, 503, "{}: {body}", f.name);
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body.contains("service_busy"), "{body}");
    faults.busy_transactions.store(0, Ordering::SeqCst);
    let (status, _, body) = call(&app, webhook(&n, now)).await;
    assert_eq!(status, 200, "{}: {body}", f.name);
    assert!(body.contains("accepted"), "{body}");
}

/// Whatever the store says when it fails (an ARN, a statement) stays in the logs: the
/// client gets a plain problem.
async fn store_errors_never_reach_clients(f: &Fixture) {
    let (g, faults) = faulty(f);
    let app = router(g.ports.clone());
    faults.table_broken.store(true, Ordering::SeqCst);
    for path in ["/v1/offices", "/v1/offices/makassar/availability"] {
        let (status, _, body) = call(
            &app,
            Request::get(path).body(Body::empty()).expect("request"),
        )
        .await;
        assert_eq!(status, 500, "{}: {path}: {body}", f.name);
        assert!(body.contains("internal_error"), "{body}");
        for secret in [SECRET_DETAIL, "arn:aws", "SELECT", "dynamodb"] {
            assert!(!body.contains(secret), "{path} leaked {secret:?}: {body}");
        }
    }
    let n = notification("txn-broken", "123456789012345", 1, f.ports.clock.now());
    let (status, _, body) = call(&app, webhook(&n, f.ports.clock.now().timestamp())).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        !body.contains("arn:aws") && !body.contains("SELECT"),
        "{body}"
    );
    // Throttled reads are a 503 with Retry-After, not a 500.
    faults.table_broken.store(false, Ordering::SeqCst);
    faults.busy_reads.store(1, Ordering::SeqCst);
    let (status, retry, body) = call(
        &app,
        Request::get("/v1/offices")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")), "{body}");
}

/// A sign-up through `ports`, so its OTP email is queued: the queued jobs.
async fn sign_up(f: &Fixture, ports: &paspor_domain::Ports) -> Vec<Job> {
    use paspor_domain::accounts::{Accounts, AccountsConfig, SignUp};
    let accounts = Accounts::new(ports.clone(), &test_secrets(), AccountsConfig::default());
    accounts
        .sign_up(
            SignUp {
                email: format!("{}@example.com", ulid::Ulid::new()).to_lowercase(),
                password: "kata-sandi-panjang".into(),
                full_name: "Rina".into(),
                phone: "081234567890".into(),
            },
            paspor_domain::mail::Lang::Id,
        )
        .await
        .expect("sign up");
    let jobs = (f.drain_jobs)().await;
    assert!(
        jobs.iter().any(|j| matches!(j, Job::SendEmail { .. })),
        "{}: no email queued: {jobs:?}",
        f.name
    );
    jobs
}

/// Queues deliver at least once: the same message twice does its work once.
async fn redelivered_jobs_do_their_work_once(f: &Fixture) {
    let jobs = sign_up(f, &f.ports).await;
    let worker = Worker::new(f.ports.clone(), &test_secrets());
    let before = (f.sent_mail)().await.len();
    for job in &jobs {
        let body = serde_json::to_string(job).expect("json");
        worker.handle(&body).await.expect("first delivery");
        worker.handle(&body).await.expect("redelivery");
    }
    let sent = (f.sent_mail)().await.len() - before;
    assert_eq!(sent, 1, "{}: {jobs:?}", f.name);
}

/// The mail service down: the job fails (so the queue retries it, then dead-letters it)
/// and records nothing; once mail is back the same job sends exactly one email.
async fn mail_outage_fails_the_job_without_side_effects(f: &Fixture) {
    let (g, faults) = faulty(f);
    let jobs = sign_up(f, &g.ports).await;
    let body = serde_json::to_string(&jobs[0]).expect("json");
    let worker = Worker::new(g.ports.clone(), &test_secrets());
    let before = (f.sent_mail)().await.len();
    faults.mail_down.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert!(worker.handle(&body).await.is_err(), "{}", f.name);
    }
    assert_eq!((f.sent_mail)().await.len(), before);
    faults.mail_down.store(false, Ordering::SeqCst);
    worker.handle(&body).await.expect("mail is back");
    worker.handle(&body).await.expect("redelivered");
    assert_eq!((f.sent_mail)().await.len(), before + 1, "{}", f.name);
}

/// Storage down or slow: `upload-url` and `complete` answer `503` (slow: once the storage
/// timeout passes) and the application is exactly as it was (no pending upload recorded
/// for a form the client never got).
async fn storage_outage_is_clear_and_writes_nothing(f: &Fixture) {
    let (g, faults) = faulty(f);
    let applications = Applications::new(g.ports.clone(), &test_secrets())
        .with_storage_timeout(std::time::Duration::from_millis(300));
    let (account, app) = draft_application(&applications, 50, 6400).await;
    faults.storage_down.store(true, Ordering::SeqCst);
    let writes = faults.writes.load(Ordering::SeqCst);
    let err = applications
        .upload_url(&account, &app.application_id, "ktp", "image/jpeg", 1000)
        .await
        .expect_err("storage down");
    assert!(matches!(err, Error::Busy { .. }), "{}: {err:?}", f.name);
    assert_eq!(
        faults.writes.load(Ordering::SeqCst),
        writes,
        "nothing written"
    );
    let now = applications.load(&app.application_id).await.expect("load");
    assert_eq!(now.version, app.version, "{}", f.name);

    // A form issued while storage was up, checked while it is down: 503, still pending.
    faults.storage_down.store(false, Ordering::SeqCst);
    applications
        .upload_url(&account, &app.application_id, "ktp", "image/jpeg", 1000)
        .await
        .expect("form");
    faults.storage_down.store(true, Ordering::SeqCst);
    let err = applications
        .complete(&account, &app.application_id, "ktp")
        .await
        .expect_err("storage down");
    assert!(matches!(err, Error::Busy { .. }), "{}: {err:?}", f.name);
    let doc = applications
        .load(&app.application_id)
        .await
        .expect("load")
        .documents
        .into_values()
        .find(|d| d.pending.is_some());
    assert!(doc.is_some(), "{}: the pending upload was lost", f.name);

    // Slow storage: answered 503 within the timeout, not held until the gateway gives up.
    faults.storage_down.store(false, Ordering::SeqCst);
    faults.storage_delay_ms.store(5_000, Ordering::SeqCst);
    // (Without the timeout the call waits the 5 s out and succeeds.)
    let err = applications
        .complete(&account, &app.application_id, "ktp")
        .await
        .expect_err("storage slow");
    assert!(matches!(err, Error::Busy { .. }), "{}: {err:?}", f.name);
}

/// A process dying after any number of writes while booking, paying and expiring: after a
/// restart (fresh services on the same data) the state is consistent — the slot counts
/// each place once, and the interrupted step, retried, completes.
async fn a_crash_between_any_two_steps_leaves_consistent_state(f: &Fixture) {
    // Booking: one transaction, so a crash at any point leaves all or nothing.
    for k in 0..3 {
        let (g, faults) = faulty(f);
        let (applications, booking, day) = makassar_slot(&g, "13:00", 3).await;
        let (account, id) = submitted_application(&applications, 20 + k, 6200).await;
        let free = remaining(f, day, "13:00").await;
        faults.crash_after(k as i64);
        let first = booking.book(&account, &id, "makassar", day, "13:00").await;
        let (applications, booking, _) = restart(f).await;
        let app = applications.load(&id).await.expect("load");
        let taken = free - remaining(f, day, "13:00").await;
        match first {
            Ok(_) => assert_eq!((app.status, taken), (Status::AwaitingPayment, 1)),
            Err(_) => {
                assert_eq!(
                    (app.status, taken),
                    (Status::Submitted, 0),
                    "{}: k={k}",
                    f.name
                );
                booking
                    .book(&account, &id, "makassar", day, "13:00")
                    .await
                    .expect("retried after the restart");
                assert_eq!(remaining(f, day, "13:00").await, free - 1);
            }
        }
    }

    // Payment: recorded, then its email queued. Dying in between used to lose the email
    // for good (the redelivery was a "duplicate"); now the delivery fails and the
    // redelivery queues it again.
    for k in 0..3 {
        let (g, faults) = faulty(f);
        let (_, payments, id, code, amount, _) = booked_one(&g, 30 + k as usize).await;
        (f.drain_jobs)().await;
        let n = notification(
            &format!("txn-{}", ulid::Ulid::new()),
            &code,
            amount,
            f.ports.clock.now(),
        );
        faults.crash_after(k);
        let first = payments.notify(&n).await;
        let (applications, _, payments) = restart(f).await;
        // The channel redelivers only what was not acknowledged.
        if first.is_err() {
            let redelivered = payments.notify(&n).await.expect("redelivery");
            assert!(matches!(
                redelivered.0,
                Outcome::Accepted | Outcome::Duplicate
            ));
        }
        assert_eq!(
            applications.load(&id).await.expect("load").status,
            Status::Paid
        );
        let paid_emails = (f.drain_jobs)()
            .await
            .into_iter()
            .filter(|j| {
                matches!(j, Job::Notify { notice: Notice::PaymentReceived { .. }, id, .. }
                    if id == &format!("paid-{}", n.transaction_id))
            })
            .count();
        assert!(
            paid_emails >= 1,
            "{}: k={k}: the payment email was lost",
            f.name
        );
    }

    // Expiry: the sweeper dies after k writes; the next sweep finishes the job and the
    // place is released exactly once.
    for k in 0..4 {
        let (g, faults) = faulty(f);
        let (applications, payments, id, _, _, day) = booked_one(&g, 40 + k as usize).await;
        let before = remaining(f, day, "09:00").await;
        f.clock.advance(3 * 3600).expect("advance");
        faults.crash_after(k);
        let _ = payments.sweep().await;
        let (_, _, payments) = restart(f).await;
        payments.sweep().await.expect("sweep after restart");
        payments.sweep().await.expect("and again");
        assert_eq!(
            applications.load(&id).await.expect("load").status,
            Status::Expired,
            "{}: k={k}",
            f.name
        );
        assert_eq!(
            remaining(f, day, "09:00").await,
            before + 1,
            "{}: k={k}",
            f.name
        );
    }
}

/// A booking whose answer is lost — the process dies after any number of writes, before or
/// after the booking's transaction — is answered again, to the same `Idempotency-Key`, with
/// the booking that was made (201), never `invalid_state`; a place is taken exactly once.
/// A duplicate arriving while the first runs is told to come back.
async fn a_lost_answer_is_replayed_for_its_idempotency_key(f: &Fixture) {
    for k in 0..4 {
        let (g, faults) = faulty(f);
        let (applications, _, day) = makassar_slot(&g, "14:00", 10).await;
        let accounts = Accounts::new(g.ports.clone(), &test_secrets(), AccountsConfig::default());
        let hash = Accounts::hash("rahasia-idem").await.expect("hash");
        let email = format!("idem-{k}-{}@example.com", ulid::Ulid::new()).to_lowercase();
        let account = accounts
            .import_verified(&email, "Idem Potent", "081234567890", &hash)
            .await
            .expect("account");
        let token = accounts.session(&account).expect("session").access_token;
        let app = draft_application_for(&applications, &account, 50 + k as usize, 6400).await;
        let id = submit_directly(&applications, app).await;
        let free = remaining(f, day, "14:00").await;
        let key = format!("idem-{k}-{}", ulid::Ulid::new());
        let book = || {
            Request::post(format!("/v1/applications/{id}/booking"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .header("idempotency-key", &key)
                .body(Body::from(
                    json!({"office_id": "makassar", "date": day, "time": "14:00"}).to_string(),
                ))
                .expect("request")
        };
        faults.crash_after(k);
        let first = call(&router(g.ports.clone()), book()).await;
        // A new process on the same data; the client retries with the same key.
        let app = router(f.ports.clone());
        let mut retry = call(&app, book()).await;
        if retry.0 == 409 && retry.2.contains("idempotency_in_progress") {
            // The first died holding the key before its effect: its lease runs out.
            assert!(retry.1.is_some(), "Retry-After");
            f.clock.advance(31).expect("advance");
            retry = call(&app, book()).await;
        }
        assert_eq!(
            retry.0, 201,
            "{}: k={k}: first {first:?}, retry {retry:?}",
            f.name
        );
        let answer: serde_json::Value = serde_json::from_str(&retry.2).expect("json");
        let stored = applications.load(&id).await.expect("load");
        assert_eq!(stored.status, Status::AwaitingPayment, "{}: k={k}", f.name);
        assert_eq!(
            answer["billing"]["billing_code"],
            json!(stored.billing.as_ref().expect("billing").billing_code),
            "{}: k={k}",
            f.name
        );
        assert_eq!(
            remaining(f, day, "14:00").await,
            free - 1,
            "{}: k={k}",
            f.name
        );
        let again = call(&app, book()).await;
        assert_eq!((again.0, &again.2), (201, &retry.2), "{}: k={k}", f.name);
    }

    // Two requests with one key at once: one books, the other replays it or is told to
    // come back; never two bookings.
    let (applications, _, day) = makassar_slot(f, "15:00", 3).await;
    let accounts = Accounts::new(f.ports.clone(), &test_secrets(), AccountsConfig::default());
    let hash = Accounts::hash("rahasia-idem").await.expect("hash");
    let email = format!("idem-dup-{}@example.com", ulid::Ulid::new()).to_lowercase();
    let account = accounts
        .import_verified(&email, "Idem Dua", "081234567890", &hash)
        .await
        .expect("account");
    let token = accounts.session(&account).expect("session").access_token;
    let app = draft_application_for(&applications, &account, 60, 6400).await;
    let id = submit_directly(&applications, app).await;
    let free = remaining(f, day, "15:00").await;
    let app = router(f.ports.clone());
    let req = || {
        Request::post(format!("/v1/applications/{id}/booking"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", "same-key")
            .body(Body::from(
                json!({"office_id": "makassar", "date": day, "time": "15:00"}).to_string(),
            ))
            .expect("request")
    };
    let (a, b) = tokio::join!(call(&app, req()), call(&app, req()));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert!(
        statuses == [201, 201]
            || (statuses == [201, 409]
                && (a.2.contains("idempotency_in_progress")
                    || b.2.contains("idempotency_in_progress"))),
        "{}: {a:?} {b:?}",
        f.name
    );
    assert_eq!(remaining(f, day, "15:00").await, free - 1, "{}", f.name);
}

/// The `i`th submitted application of a batch, booked on Makassar's 09:00 slot:
/// (applications, payments, id, billing code, amount, day).
/// The draw dies after every possible number of writes (closing the window, applying the
/// outcomes, opening the slots, the emails): a restarted draw finishes with the outcomes
/// the seed gives, each winner booked once, and no lane over its capacity.
async fn a_draw_that_dies_anywhere_ends_the_same(f: &Fixture) {
    use paspor_domain::releases::Releases;
    use paspor_tests::conformance::{check_drawn, draw_to_end, release_with_entries};
    // How many writes a whole draw takes (the sweep's steps and the worker's batches), on
    // a draw that does not die.
    let (g, faults) = faulty(f);
    let (releases, id) = release_with_entries(&g, 6).await;
    let before = faults.writes.load(Ordering::SeqCst);
    draw_to_end(&g, &releases, &id, &mut Vec::new())
        .await
        .expect("a clean draw");
    let writes = faults.writes.load(Ordering::SeqCst) - before;
    check_drawn(f, &releases, &id).await;
    assert!(writes > 40, "{writes} writes");
    for k in 0..i64::from(writes) {
        let (g, faults) = faulty(f);
        let (releases, id) = release_with_entries(&g, 6).await;
        faults.crash_after(k);
        // The batches a dead worker held come back to the next one, as SQS's do.
        let mut owed = Vec::new();
        assert!(
            draw_to_end(&g, &releases, &id, &mut owed).await.is_err(),
            "{}: k={k}: died",
            f.name
        );
        let (applications, booking, _) = restart(f).await;
        let restarted = Releases::new(f.ports.clone(), applications, booking.quota().clone());
        draw_to_end(f, &restarted, &id, &mut owed)
            .await
            .expect("the draw after a restart");
        check_drawn(f, &restarted, &id).await;
    }
}

/// The draw's emails, lost to a queue that refused them after the outcomes were committed:
/// the batch fails, and when it comes back each outcome and billing is queued again, under
/// the same ids (the worker sends each once).
async fn a_draws_emails_lost_to_the_queue_are_queued_again(f: &Fixture) {
    use paspor_tests::conformance::{queued_batches, release_with_entries};
    let (g, faults) = faulty(f);
    let (releases, id) = release_with_entries(&g, 6).await;
    (f.drain_jobs)().await;
    assert_eq!(releases.run().await.expect("plan"), 2);
    let mut batches = queued_batches(f).await;
    batches.sort_by_key(|b| b.batch);
    let winners = &batches[0];
    faults.queue_down.store(true, Ordering::SeqCst);
    assert!(
        releases.apply_batch(winners).await.is_err(),
        "{}: the emails were not queued, so the batch comes back",
        f.name
    );
    faults.queue_down.store(false, Ordering::SeqCst);
    assert!((f.drain_jobs)().await.is_empty(), "{}", f.name);
    releases.apply_batch(winners).await.expect("again");
    let told: Vec<String> = (f.drain_jobs)()
        .await
        .into_iter()
        .filter_map(|j| match j {
            Job::Notify { id, from_draw, .. } if from_draw => Some(id),
            _ => None,
        })
        .collect();
    // Three winners: an outcome and a billing each.
    assert_eq!(told.len(), 6, "{}: {told:?}", f.name);
    let outcomes = told
        .iter()
        .filter(|t| t.starts_with(&format!("drawn-{id}-")))
        .count();
    let billings = told
        .iter()
        .filter(|t| t.starts_with(&format!("drawn-bill-{id}-")))
        .count();
    assert_eq!((outcomes, billings), (3, 3), "{}: {told:?}", f.name);
}

/// A change of a scheduled release dies after every possible number of writes (the
/// shards' flags, holding the new slots, storing it, giving back the slot it dropped);
/// after a restart, the sweeper's run and the operator's retry of a change that failed,
/// the release holds exactly the slots it names: none left held that no one can book.
async fn a_release_change_that_dies_anywhere_holds_only_what_it_names(f: &Fixture) {
    use paspor_domain::{
        releases::{ReleaseSpec, Releases},
        repo::{keys, places::Capacity},
    };
    let (applications, booking, _) = makassar_slot(f, "08:00", 1).await;
    let releases = |ports: paspor_domain::Ports| {
        Releases::new(ports, applications.clone(), booking.quota().clone())
    };
    let now = f.ports.clock.now();
    let today = booking
        .quota()
        .office("makassar")
        .await
        .expect("office")
        .timezone
        .today(now);
    let spec = |day: chrono::NaiveDate, hours: &[&str]| ReleaseSpec {
        office_ids: vec!["makassar".into()],
        from: day,
        to: day,
        slots: hours
            .iter()
            .map(|h| ((*h).to_owned(), Capacity::Pool(2)))
            .collect(),
        include_weekends: true,
        entry_opens_at: now + chrono::TimeDelta::hours(1),
        entry_closes_at: now + chrono::TimeDelta::hours(2),
        draw_at: now + chrono::TimeDelta::hours(3),
        payment_hours: None,
    };
    let (first, changed) = (["09:00", "10:00"], ["10:00", "11:00"]);
    // Which of the three hours are held for `id` on `day`, as the table has them.
    let held = |id: String, day: chrono::NaiveDate| async move {
        let mut out = Vec::new();
        for time in ["09:00", "10:00", "11:00"] {
            let item = f
                .ports
                .table
                .get(&keys::slot("makassar", day, time))
                .await
                .expect("get");
            if item.is_some_and(|i| i.attrs.get("release") == Some(&json!(id))) {
                out.push(time);
            }
        }
        out
    };
    // A release of its own holding `first` on `day`.
    let fresh = |day: chrono::NaiveDate| {
        let (releases, spec) = (&releases, &spec);
        async move {
            let id = format!("rilis-{}", ulid::Ulid::new());
            releases(f.ports.clone())
                .put(&id, spec(day, &first))
                .await
                .expect("created");
            id
        }
    };
    let mut day = today + chrono::TimeDelta::days(60);
    // The process dies after k writes: every later write fails.
    for k in 0.. {
        day += chrono::TimeDelta::days(1);
        let id = fresh(day).await;
        let (g, faults) = faulty(f);
        faults.crash_after(k);
        let died = releases(g.ports.clone())
            .put(&id, spec(day, &changed))
            .await
            .is_err();
        let restarted = releases(f.ports.clone());
        restarted.run().await.expect("the sweeper's run");
        if died {
            restarted
                .put(&id, spec(day, &changed))
                .await
                .expect("the operator's retry");
        }
        assert_eq!(held(id.clone(), day).await, changed, "{}: k={k}", f.name);
        let stored = restarted.get(&id).await.expect("release");
        assert!(stored.dropping.is_empty(), "{}: k={k}", f.name);
        if !died {
            assert!(
                k > 30,
                "{}: a change takes more than 30 writes ({k})",
                f.name
            );
            break;
        }
    }
    // One write fails (throttled, timed out), the rest go through, and nobody retries:
    // after the sweeper's run the release holds exactly what it names, changed or not.
    for k in 0.. {
        day += chrono::TimeDelta::days(1);
        let id = fresh(day).await;
        let (g, faults) = faulty(f);
        faults.fail_one_after(k);
        let changed_ok = releases(g.ports.clone())
            .put(&id, spec(day, &changed))
            .await
            .is_ok();
        let reached = faults.fail_one_after_writes.load(Ordering::SeqCst) < 0;
        let restarted = releases(f.ports.clone());
        restarted.run().await.expect("the sweeper's run");
        let stored = restarted.get(&id).await.expect("release");
        let names: Vec<String> = stored.held_slots().keys().map(|s| s.time.clone()).collect();
        let expect: &[&str] = if changed_ok { &changed } else { &first };
        assert_eq!(names, expect, "{}: k={k}", f.name);
        assert_eq!(held(id.clone(), day).await, expect, "{}: k={k}", f.name);
        assert!(stored.dropping.is_empty(), "{}: k={k}", f.name);
        if !reached {
            assert!(
                k > 30,
                "{}: a change takes more than 30 writes ({k})",
                f.name
            );
            break;
        }
    }
}

async fn booked_one(
    g: &Fixture,
    i: usize,
) -> (
    Arc<Applications>,
    Arc<Payments>,
    String,
    String,
    i64,
    chrono::NaiveDate,
) {
    let (applications, booking, day) = makassar_slot(g, "09:00", 20).await;
    let (account, id) = submitted_application(&applications, i, 6300).await;
    let booked = booking
        .book(&account, &id, "makassar", day, "09:00")
        .await
        .expect("book");
    let billing = booked.billing.expect("billing");
    let payments = Arc::new(Payments::new(g.ports.clone(), applications.clone()));
    (
        applications,
        payments,
        id,
        billing.billing_code,
        billing.amount_idr,
        day,
    )
}

/// Fresh services over the real ports, as a new process would build them.
async fn restart(f: &Fixture) -> (Arc<Applications>, Arc<Booking>, Arc<Payments>) {
    let applications = Arc::new(Applications::new(f.ports.clone(), &test_secrets()));
    let config = BookingConfig::default();
    let quota = Arc::new(Quota::new(f.ports.clone(), config.clone()));
    let booking = Arc::new(Booking::new(
        f.ports.clone(),
        applications.clone(),
        quota,
        config,
    ));
    let payments = Arc::new(Payments::new(f.ports.clone(), applications.clone()));
    (applications, booking, payments)
}

macro_rules! fault_suite {
    ($make:expr) => {
        fault_suite!(@tests $make;
            throttling_is_retried_then_answered_503,
            store_errors_never_reach_clients,
            redelivered_jobs_do_their_work_once,
            mail_outage_fails_the_job_without_side_effects,
            storage_outage_is_clear_and_writes_nothing,
            a_crash_between_any_two_steps_leaves_consistent_state,
            a_lost_answer_is_replayed_for_its_idempotency_key,
            a_draw_that_dies_anywhere_ends_the_same,
            a_release_change_that_dies_anywhere_holds_only_what_it_names,
            a_draws_emails_lost_to_the_queue_are_queued_again,
        );
    };
    (@tests $make:expr; $($name:ident,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (f, _guard) = $make;
            super::$name(&f).await;
        }
    )*};
}

mod embedded {
    fault_suite!(paspor_tests::fixture::embedded());
}

#[cfg(feature = "aws")]
mod aws {
    fault_suite!(paspor_tests::aws::fixture().await);
}
