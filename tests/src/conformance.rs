//! The conformance suite: the same checks run against every backend, so the embedded one
//! behaves like DynamoDB/SQS/SES, conditional failures and races included.
//!
//! Each check is a plain async function over a [`Fixture`]; `tests/conformance_*.rs` run
//! them on one backend each.

use std::sync::Arc;

use paspor_domain::{
    Error,
    accounts::{Accounts, AccountsConfig, SignUp},
    jobs::{Job, Message},
    mail::{self, Lang},
    otp::Purpose,
    store::{Cond, Item, Key, StoreError, Table, Update, Write},
};
use serde_json::{Value, json};

use crate::fixture::{Fixture, test_secrets};

fn unique(prefix: &str) -> String {
    format!("{prefix}#{}", ulid::Ulid::new())
}

fn item(pk: &str, sk: &str, attrs: Value) -> Item {
    Item {
        key: Key::new(pk, sk),
        attrs: attrs.as_object().cloned().expect("object"),
    }
}

/// Values of every JSON kind come back as they went in.
pub async fn table_round_trip(f: &Fixture) {
    let t = &f.ports.table;
    let pk = unique("RT");
    let attrs = json!({
        "s": "Jl. Warung Buncit Raya No. 207 — Jakarta Selatan",
        "n": 42, "neg": -7, "big": 1_764_000_000_000i64, "f": 1.5,
        "yes": true, "no": false, "nothing": null,
        "list": [1, "two", {"three": 3}], "map": {"a": {"b": [true]}},
        "empty": ""
    });
    t.put(item(&pk, "A", attrs.clone()), None)
        .await
        .expect("put");
    let got = t
        .get(&Key::new(&pk, "A"))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(Value::Object(got.attrs), attrs, "{}", f.name);
    assert_eq!(got.key, Key::new(&pk, "A"));
    assert!(t.get(&Key::new(&pk, "B")).await.expect("get").is_none());
}

/// Conditions hold or fail exactly as DynamoDB's, and a failed write writes nothing.
pub async fn table_conditions(f: &Fixture) {
    let t = &f.ports.table;
    let pk = unique("COND");
    let k = Key::new(&pk, "X");
    t.put(
        item(&pk, "X", json!({"v": 1, "status": "draft"})),
        Some(Cond::NotExists),
    )
    .await
    .expect("first put");
    assert_eq!(
        t.put(item(&pk, "X", json!({"v": 2})), Some(Cond::NotExists))
            .await,
        Err(StoreError::ConditionFailed { index: None })
    );
    assert_eq!(
        t.put(item(&pk, "Y", json!({"v": 2})), Some(Cond::Exists))
            .await,
        Err(StoreError::ConditionFailed { index: None })
    );
    assert!(t.get(&Key::new(&pk, "Y")).await.expect("get").is_none());
    assert_eq!(
        t.update(
            &k,
            Update::new().set("status", "paid"),
            Some(Cond::eq("status", "submitted"))
        )
        .await,
        Err(StoreError::ConditionFailed { index: None })
    );
    let after = t
        .update(
            &k,
            Update::new()
                .set("status", "submitted")
                .add("v", 2)
                .add("fresh", 5),
            Some(Cond::eq("status", "draft")),
        )
        .await
        .expect("update");
    assert_eq!(
        Value::Object(after),
        json!({"v": 3, "status": "submitted", "fresh": 5}),
        "{}",
        f.name
    );
    let after = t
        .update(&k, Update::new().remove("fresh"), Some(Cond::Exists))
        .await
        .expect("remove");
    assert_eq!(Value::Object(after), json!({"v": 3, "status": "submitted"}));
    assert_eq!(
        t.update(
            &k,
            Update::new().add("v", 1),
            Some(Cond::LessThanValue("v".into(), 3))
        )
        .await,
        Err(StoreError::ConditionFailed { index: None })
    );
    // "At least": what a lane's room is checked against (no arithmetic in a condition).
    assert_eq!(
        t.update(
            &k,
            Update::new().add("v", -1),
            Some(Cond::AtLeastValue("v".into(), 4))
        )
        .await,
        Err(StoreError::ConditionFailed { index: None }),
        "{}",
        f.name
    );
    assert_eq!(
        t.update(
            &k,
            Update::new().add("v", -3),
            Some(Cond::AtLeastValue("v".into(), 3))
        )
        .await
        .map(|a| a.get("v").cloned()),
        Ok(Some(json!(0))),
        "{}",
        f.name
    );
    assert_eq!(
        t.update(
            &k,
            Update::new().add("v", 3),
            Some(Cond::AtLeastValue("absent".into(), 0))
        )
        .await,
        Err(StoreError::ConditionFailed { index: None }),
        "{}: an absent attribute is no number",
        f.name
    );
    t.update(&k, Update::new().set("v", 3), None)
        .await
        .expect("v back to 3");
    // An update may create its item when no condition forbids it.
    let created = t
        .update(&Key::new(&pk, "NEW"), Update::new().add("n", 1), None)
        .await
        .expect("upsert");
    assert_eq!(Value::Object(created), json!({"n": 1}));
    assert_eq!(
        t.delete(&k, Some(Cond::eq("status", "draft"))).await,
        Err(StoreError::ConditionFailed { index: None })
    );
    t.delete(&k, Some(Cond::eq("status", "submitted")))
        .await
        .expect("delete");
    assert!(t.get(&k).await.expect("get").is_none());
    // Deleting what is not there is not an error without a condition.
    t.delete(&k, None).await.expect("delete absent");
}

/// A counter guarded by `count < capacity` stops exactly at capacity.
pub async fn table_counter_stops_at_capacity(f: &Fixture) {
    let t = &f.ports.table;
    let pk = unique("SLOT");
    let k = Key::new(&pk, "COUNT");
    t.put(item(&pk, "COUNT", json!({"count": 0, "capacity": 3})), None)
        .await
        .expect("put");
    let guard = || Some(Cond::LessThan("count".into(), "capacity".into()));
    for expected in 1..=3 {
        let a = t
            .update(&k, Update::new().add("count", 1), guard())
            .await
            .expect("take");
        assert_eq!(a.get("count"), Some(&json!(expected)));
    }
    assert_eq!(
        t.update(&k, Update::new().add("count", 1), guard()).await,
        Err(StoreError::ConditionFailed { index: None })
    );
}

/// All writes of a transaction or none; the failing write is named.
pub async fn table_transactions(f: &Fixture) {
    let t = &f.ports.table;
    let pk = unique("TX");
    t.put(item(&pk, "B", json!({"state": "taken"})), None)
        .await
        .expect("put");
    let failing = vec![
        Write::Put {
            item: item(&pk, "A", json!({"n": 1})),
            cond: Some(Cond::NotExists),
        },
        Write::Put {
            item: item(&pk, "B", json!({"state": "mine"})),
            cond: Some(Cond::NotExists),
        },
    ];
    assert_eq!(
        t.transact(failing).await,
        Err(StoreError::ConditionFailed { index: Some(1) }),
        "{}",
        f.name
    );
    assert!(
        t.get(&Key::new(&pk, "A")).await.expect("get").is_none(),
        "{}: first write leaked",
        f.name
    );
    let ok = vec![
        Write::Put {
            item: item(&pk, "A", json!({"n": 1})),
            cond: Some(Cond::NotExists),
        },
        Write::Update {
            key: Key::new(&pk, "B"),
            update: Update::new().set("state", "mine"),
            cond: Some(Cond::eq("state", "taken")),
        },
        Write::Check {
            key: Key::new(&pk, "A0"),
            cond: Cond::NotExists,
        },
        Write::Delete {
            key: Key::new(&pk, "C"),
            cond: None,
        },
    ];
    t.transact(ok).await.expect("transaction");
    let b = t.get(&Key::new(&pk, "B")).await.expect("get").expect("B");
    assert_eq!(b.attrs.get("state"), Some(&json!("mine")));
    let check_fails = vec![
        Write::Put {
            item: item(&pk, "D", json!({})),
            cond: None,
        },
        Write::Check {
            key: Key::new(&pk, "A"),
            cond: Cond::NotExists,
        },
    ];
    assert_eq!(
        t.transact(check_fails).await,
        Err(StoreError::ConditionFailed { index: Some(1) })
    );
    assert!(t.get(&Key::new(&pk, "D")).await.expect("get").is_none());
}

/// Query by partition and sort-key prefix, in order, bounded.
pub async fn table_query(f: &Fixture) {
    let t = &f.ports.table;
    let pk = unique("Q");
    for sk in [
        "DAY#2026-12-02#09",
        "DAY#2026-12-01#08",
        "DAY#2026-12-01#09",
        "OTHER#1",
        "DAY#2026-12-01#10",
    ] {
        t.put(item(&pk, sk, json!({"sk": sk})), None)
            .await
            .expect("put");
    }
    t.put(item(&unique("Q"), "DAY#2026-12-01#08", json!({})), None)
        .await
        .expect("other partition");
    let sks = |items: Vec<Item>| items.into_iter().map(|i| i.key.sk).collect::<Vec<_>>();
    assert_eq!(
        sks(t.query(&pk, "DAY#2026-12-01", 100).await.expect("query")),
        [
            "DAY#2026-12-01#08",
            "DAY#2026-12-01#09",
            "DAY#2026-12-01#10"
        ],
        "{}",
        f.name
    );
    assert_eq!(
        sks(t.query(&pk, "DAY#", 2).await.expect("query")),
        ["DAY#2026-12-01#08", "DAY#2026-12-01#09"]
    );
    assert_eq!(t.query(&pk, "", 100).await.expect("query").len(), 5);
    assert!(t.query(&pk, "NONE", 100).await.expect("query").is_empty());
}

/// Many parallel conditional transactions on one small counter: exactly `capacity` win.
pub async fn table_contention(f: &Fixture, attempts: usize, capacity: i64) {
    let t: Arc<dyn Table> = f.ports.table.clone();
    let pk = unique("HOT");
    t.put(
        item(&pk, "COUNT", json!({"count": 0, "capacity": capacity})),
        None,
    )
    .await
    .expect("put");
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let t = t.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let writes = vec![
                    Write::Update {
                        key: Key::new(&pk, "COUNT"),
                        update: Update::new().add("count", 1),
                        cond: Some(Cond::LessThan("count".into(), "capacity".into())),
                    },
                    Write::Put {
                        item: item(&pk, &format!("BOOKING#{i:04}"), json!({"i": i})),
                        cond: Some(Cond::NotExists),
                    },
                ];
                match t.transact(writes).await {
                    Ok(()) => return true,
                    Err(StoreError::ConditionFailed { .. }) => return false,
                    // DynamoDB answers a conflict between parallel transactions; retry it.
                    Err(StoreError::Busy(_)) => {
                        tokio::time::sleep(std::time::Duration::from_millis(5 + (i % 7) as u64))
                            .await
                    }
                    Err(e) => panic!("unexpected store error: {e}"),
                }
            }
            panic!("transaction still conflicting after 20 tries")
        }));
    }
    let mut won = 0;
    for task in tasks {
        if task.await.expect("task") {
            won += 1;
        }
    }
    assert_eq!(won, capacity, "{}: winners", f.name);
    let count = t
        .get(&Key::new(&pk, "COUNT"))
        .await
        .expect("get")
        .expect("count");
    assert_eq!(count.attrs.get("count"), Some(&json!(capacity)));
    let bookings = t.query(&pk, "BOOKING#", 10_000).await.expect("query");
    assert_eq!(
        bookings.len() as i64,
        capacity,
        "{}: booking records",
        f.name
    );
}

/// A queued job comes out of the queue as it went in.
pub async fn queue_round_trip(f: &Fixture) {
    (f.drain_jobs)().await;
    let job = Job::SendEmail {
        id: ulid::Ulid::new().to_string(),
        to: "antrian@example.com".into(),
        lang: Lang::En,
        message: Message::Otp {
            code: "654321".into(),
            purpose: Purpose::PasswordReset,
            full_name: "Tes".into(),
            valid_minutes: 10,
        },
    };
    f.ports.queue.enqueue(&job).await.expect("enqueue");
    assert_eq!((f.drain_jobs)().await, vec![job], "{}", f.name);
}

/// The mailer delivers subject and text intact (Indonesian characters included).
pub async fn mailer_delivers(f: &Fixture) {
    let to = format!(
        "{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let email = mail::Email {
        to: to.clone(),
        subject: "Kode 123456 — verifikasi".into(),
        text: "Halo Siti,\nkode Anda 123456.\n".into(),
    };
    f.ports.mailer.send(&email).await.expect("send");
    let sent = (f.sent_mail)().await;
    let found = sent.iter().find(|(t, _, _)| *t == to).unwrap_or_else(|| {
        panic!(
            "{}: mail to {to} not delivered; delivered: {sent:?}",
            f.name
        )
    });
    assert_eq!(found.1, email.subject);
    assert!(
        found.2.contains("kode Anda 123456"),
        "{}: {:?}",
        f.name,
        found.2
    );
}

fn accounts(f: &Fixture) -> Accounts {
    Accounts::new(f.ports.clone(), &test_secrets(), AccountsConfig::default())
}

/// The code of the newest OTP email queued for `email`.
async fn queued_code(f: &Fixture, email: &str) -> String {
    let jobs = (f.drain_jobs)().await;
    jobs.iter()
        .rev()
        .find_map(|j| match j {
            Job::SendEmail {
                to,
                message: Message::Otp { code, .. },
                ..
            } if to == email => Some(code.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{}: no OTP queued for {email}", f.name))
}

/// The account journey over the real ports: sign-up, a wrong code, the right code, sign-in,
/// password change voiding other sessions, a reset voiding all of them.
pub async fn accounts_journey(f: &Fixture) {
    let svc = accounts(f);
    (f.drain_jobs)().await;
    let email = format!("Siti.{}@Example.com", ulid::Ulid::new());
    let normal = email.to_lowercase();
    let signup = |password: &str| SignUp {
        email: email.clone(),
        password: password.into(),
        full_name: "Siti Aminah".into(),
        phone: "081234567890".into(),
    };
    let created = svc
        .sign_up(signup("rahasia-pertama"), Lang::Id)
        .await
        .expect("sign up");
    assert_eq!(created.email, normal);
    let code = queued_code(f, &normal).await;
    assert!(
        matches!(
            svc.sign_in(&email, "rahasia-pertama").await,
            Err(Error::AccountUnverified)
        ),
        "{}",
        f.name
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(
        matches!(
            svc.verify(&email, wrong).await,
            Err(Error::InvalidOtp { attempts_left: 4 })
        ),
        "{}",
        f.name
    );
    let session = svc.verify(&normal, &code).await.expect("verify");
    assert!(
        matches!(svc.verify(&normal, &code).await, Err(Error::OtpExpired)),
        "{}: code reused",
        f.name
    );
    let me = svc
        .authenticate(&session.access_token)
        .await
        .expect("token works");
    assert_eq!(
        svc.profile(&me).await.expect("profile").phone,
        "+6281234567890"
    );
    assert!(matches!(
        svc.sign_up(signup("rahasia-kedua"), Lang::Id).await,
        Err(Error::EmailTaken)
    ));

    let other = svc
        .sign_in(&email, "rahasia-pertama")
        .await
        .expect("second session");
    svc.change_password(&me, "rahasia-pertama", "rahasia-baru-1")
        .await
        .expect("change");
    assert!(
        svc.authenticate(&session.access_token).await.is_ok(),
        "{}: the changing session survives",
        f.name
    );
    assert!(
        matches!(
            svc.authenticate(&other.access_token).await,
            Err(Error::Unauthorized)
        ),
        "{}: other session void",
        f.name
    );
    assert!(matches!(
        svc.sign_in(&email, "rahasia-pertama").await,
        Err(Error::InvalidCredentials)
    ));
    let fresh = svc
        .sign_in(&email, "rahasia-baru-1")
        .await
        .expect("new password");

    // Reset, once the cooldown since the sign-up code has passed.
    assert!(matches!(
        svc.resend(&email, Purpose::PasswordReset, Lang::En).await,
        Err(Error::OtpCooldown { .. })
    ));
    f.clock.advance(61).expect("advance clock");
    svc.resend(&email, Purpose::PasswordReset, Lang::En)
        .await
        .expect("forgot");
    let code = queued_code(f, &normal).await;
    svc.reset_password(&email, &code, "rahasia-reset-2")
        .await
        .expect("reset");
    for token in [&session.access_token, &fresh.access_token] {
        assert!(
            matches!(svc.authenticate(token).await, Err(Error::Unauthorized)),
            "{}: token survived a reset",
            f.name
        );
    }
    svc.sign_in(&email, "rahasia-reset-2")
        .await
        .expect("sign in after reset");
}

/// OTP send limits and lockouts, which live in conditional records.
pub async fn accounts_limits(f: &Fixture) {
    let svc = accounts(f);
    let email = format!(
        "budi.{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let input = SignUp {
        email: email.clone(),
        password: "rahasia-budi".into(),
        full_name: "Budi".into(),
        phone: "+6281122334455".into(),
    };
    svc.sign_up(input.clone(), Lang::Id).await.expect("sign up");
    assert!(
        matches!(
            svc.sign_up(input, Lang::Id).await,
            Err(Error::OtpCooldown {
                retry_after_secs: 1..=60
            })
        ),
        "{}",
        f.name
    );
    assert!(matches!(
        svc.resend(&email, Purpose::Signup, Lang::Id).await,
        Err(Error::OtpCooldown { .. })
    ));
    // An unknown email is answered the same way, and spends the same allowance.
    let unknown = format!(
        "nobody.{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    svc.resend(&unknown, Purpose::PasswordReset, Lang::Id)
        .await
        .expect("unknown email is not an error");
    assert!(matches!(
        svc.resend(&unknown, Purpose::PasswordReset, Lang::Id).await,
        Err(Error::OtpCooldown { .. })
    ));

    // Five wrong codes void the code; the sixth answer is `otp_locked` even for the right one.
    let code = queued_code(f, &email).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        match svc.verify(&email, wrong).await {
            Err(Error::InvalidOtp { attempts_left }) => assert_eq!(attempts_left, left),
            other => panic!("{}: expected invalid_otp, got {other:?}", f.name),
        }
    }
    assert!(matches!(
        svc.verify(&email, wrong).await,
        Err(Error::OtpLocked)
    ));
    assert!(matches!(
        svc.verify(&email, &code).await,
        Err(Error::OtpLocked)
    ));

    // Ten failed sign-ins in a row lock the email, known or not.
    for _ in 0..10 {
        assert!(matches!(
            svc.sign_in(&unknown, "salah-salah").await,
            Err(Error::InvalidCredentials)
        ));
    }
    assert!(
        matches!(
            svc.sign_in(&unknown, "salah-salah").await,
            Err(Error::TooManyAttempts {
                retry_after_secs: 890..=900
            })
        ),
        "{}",
        f.name
    );
    assert!(matches!(
        svc.authenticate("forged.token.value").await,
        Err(Error::Unauthorized)
    ));
    // The lock lifts after 15 minutes on the one clock.
    f.clock.advance(15 * 60).expect("advance clock");
    assert!(
        matches!(
            svc.sign_in(&unknown, "salah-salah").await,
            Err(Error::InvalidCredentials)
        ),
        "{}",
        f.name
    );
}

/// Objects are listed and deleted by prefix: only those under the prefix, however deep,
/// and a second deletion finds nothing.
pub async fn documents_by_prefix(f: &Fixture) {
    use paspor_domain::documents::{application_prefixes, upload_prefix};
    let store = f.ports.documents.clone();
    let (gone, kept) = (ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string());
    let mut keys = Vec::new();
    for id in [&gone, &kept] {
        for (i, prefix) in application_prefixes(id).iter().enumerate() {
            for name in ["ktp/a", "ktp/b", "kk/c"] {
                let key = format!("{prefix}{name}-{i}");
                store
                    .put(&key, b"%PDF-1.7\n".to_vec(), "application/pdf")
                    .await
                    .expect("put");
                keys.push(key);
            }
        }
    }
    let mut expected: Vec<String> = keys
        .iter()
        .filter(|k| k.starts_with(&upload_prefix(&gone)))
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(
        store.list(&upload_prefix(&gone)).await.expect("list"),
        expected,
        "{}",
        f.name
    );
    assert_eq!(
        store
            .list(&format!("{}ktp/", upload_prefix(&gone)))
            .await
            .expect("list")
            .len(),
        2,
        "{}",
        f.name
    );
    for prefix in application_prefixes(&gone) {
        assert_eq!(
            store.delete_prefix(&prefix).await.expect("delete"),
            3,
            "{}",
            f.name
        );
        assert_eq!(store.delete_prefix(&prefix).await.expect("again"), 0);
        assert!(store.list(&prefix).await.expect("list").is_empty());
    }
    for key in &keys {
        let present = store.get(key).await.expect("get").is_some();
        assert_eq!(present, key.contains(&kept), "{}: {key}", f.name);
    }
    let mut left = Vec::new();
    for prefix in application_prefixes(&kept) {
        left.extend(store.list(&prefix).await.expect("list"));
    }
    assert_eq!(left.len(), 6, "{}", f.name);
    assert!(
        store
            .list(&upload_prefix("nobody"))
            .await
            .expect("list")
            .is_empty()
    );
}

/// Storage itself enforces the upload form: key, type, size and signature; the server's
/// check then reads what was stored.
pub async fn documents_enforce_the_form(f: &Fixture) {
    use paspor_domain::documents::{self, ContentType, Inspection, UploadPolicy};
    let store = f.ports.documents.clone();
    let now = f.ports.clock.now();
    let policy = |key: &str, max: u64| UploadPolicy {
        key: key.to_owned(),
        content_type: ContentType::Jpeg,
        max_bytes: max,
        now,
        expires_at: now + chrono::TimeDelta::minutes(15),
    };
    let key = format!("documents/{}/ktp/{}", ulid::Ulid::new(), ulid::Ulid::new());
    let form = store
        .presign_upload(&policy(&key, 100))
        .await
        .expect("presign");
    assert_eq!(form.method, "POST");
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.resize(100, 7);

    let mut larger = jpeg.clone();
    larger.push(0);
    let status = (f.submit_form)(form.clone(), larger).await;
    assert!(
        (400..500).contains(&status),
        "{}: a larger file was answered {status}",
        f.name
    );
    assert_eq!(
        store.size(&key).await.expect("size"),
        None,
        "{}: the larger file was kept",
        f.name
    );

    let mut forged = form.clone();
    let sig = forged
        .fields
        .keys()
        .find(|k| k.contains("signature"))
        .cloned()
        .expect("signature field");
    forged.fields.insert(sig, "0".repeat(64));
    let status = (f.submit_form)(forged, jpeg.clone()).await;
    assert!(
        (400..500).contains(&status),
        "{}: a forged signature was answered {status}",
        f.name
    );

    let mut elsewhere = form.clone();
    elsewhere
        .fields
        .insert("key".into(), format!("{key}-other"));
    let status = (f.submit_form)(elsewhere, jpeg.clone()).await;
    assert!(
        (400..500).contains(&status),
        "{}: another key was answered {status}",
        f.name
    );

    let status = (f.submit_form)(form.clone(), jpeg.clone()).await;
    assert!(
        (200..300).contains(&status),
        "{}: the upload was answered {status}",
        f.name
    );
    assert_eq!(store.size(&key).await.expect("size"), Some(100));
    assert_eq!(
        store.read_head(&key, 8).await.expect("head"),
        jpeg[..8].to_vec()
    );
    assert_eq!(
        documents::inspect(store.as_ref(), &key, ContentType::Jpeg)
            .await
            .expect("inspect"),
        Inspection::Accepted { size: 100 }
    );
    assert_eq!(
        documents::inspect(store.as_ref(), &key, ContentType::Pdf)
            .await
            .expect("inspect"),
        Inspection::Rejected {
            reason: "content_mismatch"
        }
    );
    store.delete(&key).await.expect("delete");
    assert_eq!(store.size(&key).await.expect("size"), None);
    assert_eq!(
        documents::inspect(store.as_ref(), &key, ContentType::Jpeg)
            .await
            .expect("inspect"),
        Inspection::Missing
    );
}

/// Services over the fixture's ports, with the Makassar office and one slot of `capacity`
/// at `time`, three days ahead: (applications, booking, day).
pub async fn makassar_slot(
    f: &Fixture,
    time: &str,
    capacity: impl Into<paspor_domain::repo::places::Capacity>,
) -> (
    Arc<paspor_domain::applications::Applications>,
    Arc<paspor_domain::booking::Booking>,
    chrono::NaiveDate,
) {
    use paspor_domain::{
        applications::Applications,
        booking::{Booking, BookingConfig},
        offices::demo_offices,
        quota::Quota,
    };
    let applications = Arc::new(Applications::new(f.ports.clone(), &test_secrets()));
    let config = BookingConfig::default();
    let quota = Arc::new(Quota::new(f.ports.clone(), config.clone()));
    let booking = Arc::new(Booking::new(
        f.ports.clone(),
        applications.clone(),
        quota.clone(),
        config,
    ));
    let office = demo_offices()
        .into_iter()
        .find(|o| o.office_id == "makassar")
        .expect("office");
    quota.put_office(&office).await.expect("office");
    let day = office.timezone.today(f.ports.clock.now()) + chrono::TimeDelta::days(3);
    let slots: std::collections::BTreeMap<String, paspor_domain::repo::places::Capacity> =
        [(time.to_owned(), capacity.into())].into_iter().collect();
    quota
        .open_quota("makassar", day, day, &slots, true, false)
        .await
        .expect("quota");
    (applications, booking, day)
}

/// Makassar's availability on `day`, as the API answers it.
async fn makassar_day(
    booking: &paspor_domain::booking::Booking,
    day: chrono::NaiveDate,
) -> serde_json::Value {
    let a = booking
        .quota()
        .availability("makassar", Some(day), Some(day))
        .await
        .expect("availability");
    serde_json::to_value(a.as_ref()).expect("json")
}

/// The booking rush on the real ports: `attempts` submitted applications book one slot of
/// `capacity` places at once. Exactly `capacity` win, every other one is told `slot_full`,
/// none fails otherwise, and the slot's count ends at its capacity.
pub async fn booking_rush(f: &Fixture, attempts: usize, capacity: i64) {
    let (applications, booking, day) = makassar_slot(f, "10:00", capacity).await;

    let mut ready = Vec::new();
    for i in 0..attempts {
        ready.push(submitted_application(&applications, i, 1).await);
    }
    let mut tasks = Vec::new();
    for (account, id) in ready {
        let booking = booking.clone();
        tasks.push(tokio::spawn(async move {
            booking.book(&account, &id, "makassar", day, "10:00").await
        }));
    }
    let (mut won, mut full, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => won += 1,
            Err(Error::SlotFull) => full += 1,
            Err(e) => other.push(e.to_string()),
        }
    }
    assert!(other.is_empty(), "{}: unexpected answers {other:?}", f.name);
    assert_eq!(
        (won, full),
        (capacity, attempts as i64 - capacity),
        "{}",
        f.name
    );
    let availability = makassar_day(&booking, day).await;
    assert_eq!(
        availability["days"][0]["slots"][0]["remaining"], 0,
        "{}",
        f.name
    );
}

/// Services over the fixture's ports, and `n` booked applications on one Makassar slot
/// (capacity 20): (services, [(account, application id, billing code, amount)], day).
pub async fn booked_applications(
    f: &Fixture,
    n: usize,
) -> (
    Arc<paspor_domain::applications::Applications>,
    Arc<paspor_domain::booking::Booking>,
    Arc<paspor_domain::payments::Payments>,
    Vec<(String, String, String, i64)>,
    chrono::NaiveDate,
) {
    let (applications, booking, day) = makassar_slot(f, "09:00", 20).await;
    let payments = Arc::new(paspor_domain::payments::Payments::new(
        f.ports.clone(),
        applications.clone(),
    ));
    let mut out = Vec::new();
    for i in 0..n {
        let (account, id) = submitted_application(&applications, i, 4000).await;
        let booked = booking
            .book(&account, &id, "makassar", day, "09:00")
            .await
            .expect("book");
        let billing = booked.billing.expect("billing");
        out.push((account, id, billing.billing_code, billing.amount_idr));
    }
    (applications, booking, payments, out, day)
}

/// A draft application of a fresh account, the `i`th of a batch (each gets its own birth
/// date, so its own NIK): (account, application).
pub async fn draft_application(
    applications: &paspor_domain::applications::Applications,
    i: usize,
    serial: usize,
) -> (String, paspor_domain::applications::Application) {
    let account = format!("acct-{i}-{}", ulid::Ulid::new());
    let app = draft_application_for(applications, &account, i, serial).await;
    (account, app)
}

/// [`draft_application`] of a given account.
pub async fn draft_application_for(
    applications: &paspor_domain::applications::Applications,
    account: &str,
    i: usize,
    serial: usize,
) -> paspor_domain::applications::Application {
    use paspor_domain::{
        applications::{NewApplicant, NewApplication, Relationship},
        nik::Sex,
        passport::{ApplicationType, PassportType, Purpose as TravelPurpose},
    };
    let birth = chrono::NaiveDate::from_ymd_opt(1960, 1, 1).expect("date")
        + chrono::TimeDelta::days(i as i64 * 37);
    let nik = format!("737101{}{:04}", birth.format("%d%m%y"), serial + i);
    let applicant = applications
        .add_applicant(
            account,
            NewApplicant {
                nik,
                full_name: "Rush".into(),
                birth_date: birth,
                birth_place: "Makassar".into(),
                sex: Sex::Male,
                relationship: Relationship::Holder,
            },
        )
        .await
        .expect("applicant");
    applications
        .create(
            account,
            &applicant.applicant_id,
            "SA",
            NewApplication {
                passport_type: PassportType::Regular,
                application_type: ApplicationType::New,
                purpose: TravelPurpose::Tourism,
                express: false,
                priority_reason: None,
            },
        )
        .await
        .expect("application")
}

/// A submitted application of a fresh account, the `i`th of a batch (see
/// [`draft_application`]): (account, application id). Documents are not this suite's
/// subject, so the draft is marked submitted directly.
pub async fn submitted_application(
    applications: &paspor_domain::applications::Applications,
    i: usize,
    serial: usize,
) -> (String, String) {
    let (account, app) = draft_application(applications, i, serial).await;
    let id = submit_directly(applications, app).await;
    (account, id)
}

/// The kinds of application a laned slot tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Electronic,
    Express,
    /// Declares a reason (36 years old: not by age).
    Priority,
}

/// A submitted application of `kind` for applicant `i` of `account` (36 on the day).
pub async fn submitted_of_kind(
    applications: &paspor_domain::applications::Applications,
    account: &str,
    i: usize,
    kind: Kind,
) -> String {
    use paspor_domain::{
        applications::{NewApplicant, NewApplication, Relationship},
        model::lane::PriorityReason,
        nik::Sex,
        passport::{ApplicationType, PassportType, Purpose as TravelPurpose},
    };
    let birth = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).expect("date")
        + chrono::TimeDelta::days((i % 300) as i64);
    let nik = format!("737101{}{:04}", birth.format("%d%m%y"), 1 + i / 300);
    let applicant = applications
        .add_applicant(
            account,
            NewApplicant {
                nik,
                full_name: "Lane".into(),
                birth_date: birth,
                birth_place: "Makassar".into(),
                sex: Sex::Male,
                relationship: Relationship::Holder,
            },
        )
        .await
        .expect("applicant");
    let app = applications
        .create(
            account,
            &applicant.applicant_id,
            "SA",
            NewApplication {
                passport_type: if kind == Kind::Electronic {
                    PassportType::Electronic
                } else {
                    PassportType::Regular
                },
                application_type: ApplicationType::New,
                purpose: TravelPurpose::Tourism,
                express: kind == Kind::Express,
                priority_reason: (kind == Kind::Priority).then_some(PriorityReason::Disability),
            },
        )
        .await
        .expect("application");
    submit_directly(applications, app).await
}

/// The rush on a laned slot (`regular 10, electronic 6, express 2, priority 4`):
/// `requests` at once, singles of each lane and families of 2–5. Every lane's count equals
/// the places answered 201 in it and ends at its capacity, every family is wholly in or
/// wholly out, and nothing fails otherwise.
pub async fn laned_rush(f: &Fixture, requests: usize) {
    use std::collections::BTreeMap;

    use paspor_domain::{model::lane::Lane, repo::places::Capacity};
    let caps = BTreeMap::from([
        (Lane::Regular, 10),
        (Lane::Electronic, 6),
        (Lane::Express, 2),
        (Lane::Priority, 4),
    ]);
    let (applications, booking, day) =
        makassar_slot(f, "13:00", Capacity::Lanes(caps.clone())).await;
    let kinds = [
        Kind::Regular,
        Kind::Electronic,
        Kind::Express,
        Kind::Priority,
    ];
    // Every third request is a family of 2 to 5, of mixed kinds.
    let mut asks: Vec<(String, Vec<String>)> = Vec::new();
    let mut n = 0;
    for r in 0..requests {
        let account = format!("lanes-{r}-{}", ulid::Ulid::new());
        let size = if r % 3 == 0 { 2 + (r / 3) % 4 } else { 1 };
        let mut ids = Vec::new();
        for m in 0..size {
            // Families: parents, grandparents and children; same-day service is for singles.
            let kind = if size == 1 {
                kinds[r % 4]
            } else {
                [Kind::Regular, Kind::Electronic, Kind::Priority][(r + m) % 3]
            };
            ids.push(submitted_of_kind(&applications, &account, n, kind).await);
            n += 1;
        }
        asks.push((account, ids));
    }
    // Families set off first: they read more before they write, and should meet the
    // singles in the slot, not after it filled.
    asks.sort_by_key(|(_, ids)| std::cmp::Reverse(ids.len()));
    let mut tasks = Vec::new();
    for (account, ids) in asks.clone() {
        let booking = booking.clone();
        tasks.push(tokio::spawn(async move {
            if let [id] = ids.as_slice() {
                booking
                    .book(&account, id, "makassar", day, "13:00")
                    .await
                    .map(|a| vec![a])
            } else {
                booking
                    .book_group_with(
                        &account,
                        &ids,
                        "makassar",
                        day,
                        "13:00",
                        &paspor_domain::store::no_receipt,
                    )
                    .await
                    .map(|g| g.items)
            }
        }));
    }
    let mut placed: BTreeMap<Lane, i64> = BTreeMap::new();
    let (mut families_in, mut other) = (0, Vec::new());
    for (t, (_, ids)) in tasks.into_iter().zip(&asks) {
        match t.await.expect("task") {
            Ok(apps) => {
                assert_eq!(apps.len(), ids.len(), "{}", f.name);
                if ids.len() > 1 {
                    families_in += 1;
                }
                for a in apps {
                    let lane = a.booking.and_then(|b| b.lane).expect("a lane");
                    *placed.entry(lane).or_insert(0) += 1;
                }
            }
            Err(Error::SlotFull | Error::PlacesShort { .. }) => {}
            Err(e) => other.push(e.to_string()),
        }
    }
    assert!(other.is_empty(), "{}: unexpected answers {other:?}", f.name);
    // What the table holds agrees with what was answered, lane by lane, and each lane is
    // full: the demand of every lane exceeded its places.
    let fresh = paspor_domain::quota::Quota::new(
        f.ports.clone(),
        paspor_domain::booking::BookingConfig::default(),
    );
    let a = fresh
        .availability("makassar", Some(day), Some(day))
        .await
        .expect("availability");
    let lanes = a.days[0].slots[0].lanes.clone().expect("lanes");
    for (lane, cap) in &caps {
        let held = lanes[lane].capacity - lanes[lane].remaining;
        assert_eq!(
            held,
            placed.get(lane).copied().unwrap_or(0),
            "{}: {lane:?}",
            f.name
        );
        assert_eq!(
            (held, lanes[lane].remaining),
            (*cap, 0),
            "{}: {lane:?}",
            f.name
        );
    }
    // A family is booked whole or not at all, and together.
    for (_, ids) in asks.iter().filter(|(_, ids)| ids.len() > 1) {
        let mut groups = std::collections::BTreeSet::new();
        let mut booked = 0;
        for id in ids {
            let app = applications.load(id).await.expect("app");
            if let Some(b) = app.booking {
                booked += 1;
                groups.insert(b.group_id);
            }
        }
        assert!(
            booked == 0 || booked == ids.len(),
            "{}: split family",
            f.name
        );
        assert!(groups.len() <= 1, "{}: one group", f.name);
    }
    println!("{}: {families_in} families got in", f.name);
}

/// Marks a draft submitted (documents are not this suite's subject): its id.
pub async fn submit_directly(
    applications: &paspor_domain::applications::Applications,
    app: paspor_domain::applications::Application,
) -> String {
    applications
        .change(None, &app.application_id, |a, now| {
            a.set_status(paspor_domain::applications::Status::Submitted, now);
            Ok(())
        })
        .await
        .expect("submit");
    app.application_id
}

pub fn notification(
    txn: &str,
    code: &str,
    amount: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> paspor_domain::payments::Notification {
    paspor_domain::payments::Notification {
        transaction_id: txn.to_owned(),
        billing_code: code.to_owned(),
        amount_idr: amount,
        paid_at: at,
        channel: paspor_domain::payments::Channel::MobileBanking,
    }
}

/// 50 parallel deliveries of one notification: one accepted, 49 duplicates.
pub async fn payments_duplicate_deliveries(f: &Fixture) {
    use paspor_domain::payments::Outcome;
    let (applications, _, payments, booked, _) = booked_applications(f, 1).await;
    let (_, id, code, amount) = booked[0].clone();
    let n = notification(
        &format!("txn-{}", ulid::Ulid::new()),
        &code,
        amount,
        f.ports.clock.now(),
    );
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (payments, n) = (payments.clone(), n.clone());
        tasks.push(tokio::spawn(async move { payments.notify(&n).await }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("task").expect("notify").0);
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Accepted).count(),
        1,
        "{}: {outcomes:?}",
        f.name
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Duplicate)
            .count(),
        49,
        "{}",
        f.name
    );
    let app = applications.load(&id).await.expect("app");
    assert_eq!(app.status, paspor_domain::applications::Status::Paid);
}

/// Expiry and payment racing on ten applications: every payment is kept, every
/// application ends paid, and the slot counts each place exactly once.
pub async fn payment_races_expiry(f: &Fixture) {
    use paspor_domain::{applications::Status, payments::Outcome};
    let (applications, booking, payments, booked, day) = booked_applications(f, 10).await;
    f.clock.advance(2 * 3600 + 5).expect("advance");
    let now = f.ports.clock.now();
    let sweeper = {
        let payments = payments.clone();
        tokio::spawn(async move { payments.sweep().await })
    };
    let mut tasks = Vec::new();
    for (i, (_, _, code, amount)) in booked.iter().enumerate() {
        let (payments, n) = (
            payments.clone(),
            notification(
                &format!("race-{i}-{}", ulid::Ulid::new()),
                code,
                *amount,
                now,
            ),
        );
        tasks.push(tokio::spawn(async move { payments.notify(&n).await }));
    }
    for t in tasks {
        assert_eq!(
            t.await.expect("task").expect("notify").0,
            Outcome::Accepted,
            "{}",
            f.name
        );
    }
    sweeper.await.expect("sweeper").expect("sweep");
    payments.sweep().await.expect("sweep again");
    let mut placed = 0;
    for (_, id, _, _) in &booked {
        let app = applications.load(id).await.expect("app");
        assert_eq!(app.status, Status::Paid, "{}: {id}", f.name);
        if app.booking.is_some() {
            placed += 1;
        }
    }
    // Every paid application took its place back (the slot has room for all ten).
    assert_eq!(placed, 10, "{}", f.name);
    let a = makassar_day(&booking, day).await;
    assert_eq!(
        a["days"][0]["slots"][0]["remaining"], 10,
        "{}: the slot counts each place once",
        f.name
    );
}

/// Paging: `query_from` reads the items after a sort key, so a partition of any size is
/// read whole, page by page, in order.
pub async fn table_pages(f: &Fixture) {
    let t = &f.ports.table;
    let pk = unique("PAGE");
    for i in 0..7 {
        t.put(item(&pk, &format!("e#{i:02}"), json!({"i": i})), None)
            .await
            .expect("put");
    }
    t.put(item(&pk, "z", json!({})), None).await.expect("put");
    let first = t.query_from(&pk, "e#", None, 3).await.expect("page 1");
    let sks = |items: &[Item]| items.iter().map(|i| i.key.sk.clone()).collect::<Vec<_>>();
    assert_eq!(sks(&first), ["e#00", "e#01", "e#02"], "{}", f.name);
    let second = t
        .query_from(&pk, "e#", Some("e#02"), 3)
        .await
        .expect("page 2");
    assert_eq!(sks(&second), ["e#03", "e#04", "e#05"], "{}", f.name);
    let last = t
        .query_from(&pk, "e#", Some("e#05"), 3)
        .await
        .expect("page 3");
    assert_eq!(sks(&last), ["e#06"], "{}", f.name);
    let all = paspor_domain::store::query_all(t.as_ref(), &pk, "", 2)
        .await
        .expect("all");
    assert_eq!(all.len(), 8, "{}", f.name);
}

/// An item past its `ttl` is absent to every operation, whether or not the store has
/// deleted it yet (DynamoDB does so days late, the embedded table never): see `store`.
pub async fn table_ttl(f: &Fixture) {
    use paspor_domain::clock::Clock;
    let t = &f.ports.table;
    let pk = unique("TTL");
    let now = f.clock.now().timestamp();
    let k = |sk: &str| Key::new(&pk, sk);
    let gone = |sk: &str| item(&pk, sk, json!({"ttl": now - 1, "v": 1, "n": 41}));
    for sk in ["A", "C", "E", "G", "I", "K"] {
        t.put(gone(sk), None).await.expect("put expired");
    }
    t.put(item(&pk, "B", json!({"ttl": now + 3600, "v": 1})), None)
        .await
        .expect("put live");
    t.put(item(&pk, "D", json!({"ttl": "soon"})), None)
        .await
        .expect("put a ttl that is not a number");
    t.put(item(&pk, "F", json!({"v": 1})), None)
        .await
        .expect("put without ttl");

    assert!(t.get(&k("A")).await.expect("get").is_none(), "{}", f.name);
    assert!(t.get(&k("B")).await.expect("get").is_some(), "{}", f.name);
    assert!(t.get(&k("D")).await.expect("get").is_some(), "{}", f.name);
    let sks = |items: Vec<Item>| items.into_iter().map(|i| i.key.sk).collect::<Vec<_>>();
    assert_eq!(
        sks(t.query(&pk, "", 100).await.expect("query")),
        ["B", "D", "F"],
        "{}",
        f.name
    );
    // A page's limit counts the live items only.
    assert_eq!(
        sks(t.query(&pk, "", 2).await.expect("query")),
        ["B", "D"],
        "{}",
        f.name
    );
    assert_eq!(
        sks(t.query_from(&pk, "", Some("B"), 1).await.expect("query")),
        ["D"],
        "{}",
        f.name
    );

    // Conditions see no item.
    let failed = Err(StoreError::ConditionFailed { index: None });
    assert_eq!(
        t.update(&k("A"), Update::new().set("v", 2), Some(Cond::Exists))
            .await,
        failed,
        "{}",
        f.name
    );
    assert_eq!(
        t.update(&k("A"), Update::new().set("v", 2), Some(Cond::eq("v", 1)))
            .await,
        failed,
        "{}",
        f.name
    );
    assert_eq!(
        t.delete(&k("A"), Some(Cond::Exists)).await,
        Err(StoreError::ConditionFailed { index: None })
    );
    assert!(t.get(&k("A")).await.expect("get").is_none(), "{}", f.name);
    t.put(item(&pk, "C", json!({"v": 2})), Some(Cond::NotExists))
        .await
        .expect("put over an expired item");
    assert_eq!(
        t.get(&k("C"))
            .await
            .expect("get")
            .map(|i| Value::Object(i.attrs)),
        Some(json!({"v": 2})),
        "{}",
        f.name
    );
    // An update starts from no item: nothing stale survives, an `add` counts from 0.
    let fresh = t
        .update(&k("E"), Update::new().add("n", 1), None)
        .await
        .expect("update an expired item");
    assert_eq!(Value::Object(fresh), json!({"n": 1}), "{}", f.name);
    let room = Cond::Any(vec![Cond::NotExists, Cond::LessThanValue("n".into(), 5)]);
    let fresh = t
        .update(&k("G"), Update::new().add("n", 1), Some(room.clone()))
        .await
        .expect("a counter past its window starts over");
    assert_eq!(Value::Object(fresh), json!({"n": 1}), "{}", f.name);
    assert_eq!(
        t.get(&k("G"))
            .await
            .expect("get")
            .map(|i| Value::Object(i.attrs)),
        Some(json!({"n": 1})),
        "{}",
        f.name
    );

    // The same inside a transaction, which names the write that failed.
    assert_eq!(
        t.transact(vec![
            Write::Put {
                item: item(&pk, "H", json!({})),
                cond: Some(Cond::NotExists),
            },
            Write::Update {
                key: k("I"),
                update: Update::new().add("n", 1),
                cond: Some(Cond::Exists),
            },
        ])
        .await,
        Err(StoreError::ConditionFailed { index: Some(1) }),
        "{}",
        f.name
    );
    assert!(t.get(&k("H")).await.expect("get").is_none(), "{}", f.name);
    t.transact(vec![
        Write::Put {
            item: item(&pk, "A", json!({"v": 3})),
            cond: Some(Cond::NotExists),
        },
        Write::Update {
            key: k("I"),
            update: Update::new().add("n", 1),
            cond: Some(room),
        },
        Write::Check {
            key: k("K"),
            cond: Cond::NotExists,
        },
        Write::Update {
            key: k("B"),
            update: Update::new().add("v", 1),
            cond: Some(Cond::Exists),
        },
    ])
    .await
    .expect("transaction over expired items");
    let attrs = |sk: &'static str| async move {
        t.get(&k(sk))
            .await
            .expect("get")
            .map(|i| Value::Object(i.attrs))
    };
    assert_eq!(attrs("A").await, Some(json!({"v": 3})), "{}", f.name);
    assert_eq!(attrs("I").await, Some(json!({"n": 1})), "{}", f.name);
    assert_eq!(
        attrs("B").await,
        Some(json!({"ttl": now + 3600, "v": 2})),
        "{}",
        f.name
    );
    assert!(attrs("K").await.is_none(), "{}", f.name);

    // A live item expires when the clock the services read reaches its `ttl`.
    f.clock.advance(3600).expect("advance clock");
    assert!(attrs("B").await.is_none(), "{}: past its ttl", f.name);
    assert_eq!(
        sks(t.query(&pk, "", 100).await.expect("query")),
        ["A", "C", "D", "E", "F", "G", "I"],
        "{}",
        f.name
    );
}

/// Failed sign-ins are counted for a day (the record's `ttl`): after it, counting starts
/// again from one instead of adding to the stale count.
pub async fn login_failures_start_over_once_expired(f: &Fixture) {
    let svc = accounts(f);
    let email = format!(
        "lupa.{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let max = paspor_domain::accounts::LOGIN_MAX_FAILURES;
    let fail = || async {
        matches!(
            svc.sign_in(&email, "salah-salah").await,
            Err(Error::InvalidCredentials)
        )
    };
    for _ in 1..max {
        assert!(fail().await, "{}", f.name);
    }
    f.clock.advance(24 * 3600 + 1).expect("advance clock");
    for n in 1..max {
        assert!(fail().await, "{}: failure {n} after the day", f.name);
    }
    // The count reached the limit again: locked.
    assert!(fail().await, "{}", f.name);
    assert!(
        matches!(
            svc.sign_in(&email, "salah-salah").await,
            Err(Error::TooManyAttempts { .. })
        ),
        "{}",
        f.name
    );
}

/// Keys over DynamoDB's limits (2,048 bytes partition, 1,024 sort) are refused alike by
/// both backends, before any I/O; the services bound their input so none reaches them.
pub async fn oversized_keys_are_refused_alike(f: &Fixture) {
    let t = &f.ports.table;
    let long_pk = format!("OFFICES#{}", "x".repeat(2100));
    let long_sk = "y".repeat(1100);
    let refused = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Invalid(_)));
    assert!(
        refused(t.put(item(&long_pk, "s", json!({})), None).await),
        "{}",
        f.name
    );
    assert!(
        refused(t.put(item("P", &long_sk, json!({})), None).await),
        "{}",
        f.name
    );
    assert!(
        matches!(
            t.get(&Key::new("P", long_sk.clone())).await,
            Err(StoreError::Invalid(_))
        ),
        "{}",
        f.name
    );
    assert!(
        matches!(t.query(&long_pk, "", 10).await, Err(StoreError::Invalid(_))),
        "{}",
        f.name
    );
    let writes = vec![Write::Put {
        item: item(&long_pk, "s", json!({})),
        cond: None,
    }];
    assert!(refused(t.transact(writes).await), "{}", f.name);
    // Through the services: an office id of 1,100 characters is not found, and a 2,100-byte
    // email signing in is a field error, on both backends.
    let (applications, booking, _) = makassar_slot(f, "08:00", 1).await;
    let office = "o".repeat(1100);
    assert!(
        matches!(booking.quota().office(&office).await, Err(Error::NotFound)),
        "{}",
        f.name
    );
    assert!(
        matches!(
            booking.quota().availability(&office, None, None).await,
            Err(Error::NotFound)
        ),
        "{}",
        f.name
    );
    assert!(
        matches!(
            applications.load(&"a".repeat(1100)).await,
            Err(Error::NotFound)
        ),
        "{}",
        f.name
    );
    let email = format!("{}@example.com", "a".repeat(2100));
    assert!(
        matches!(
            accounts(f).sign_in(&email, "whatever-1").await,
            Err(Error::Invalid(_))
        ),
        "{}",
        f.name
    );
}

/// A second sign-up of an email still unverified (anyone can send one) never takes the
/// account over: after the owner verifies with the newest code, the other person's
/// password does not work; the owner sets theirs with a reset, and only theirs works.
pub async fn a_second_sign_up_cannot_take_over_an_email(f: &Fixture) {
    let svc = accounts(f);
    (f.drain_jobs)().await;
    let email = format!("pemilik.{}@example.com", ulid::Ulid::new()).to_lowercase();
    let signup = |password: &str, name: &str| SignUp {
        email: email.clone(),
        password: password.into(),
        full_name: name.into(),
        phone: "081234567890".into(),
    };
    svc.sign_up(signup("rahasia-pemilik", "Pemilik Asli"), Lang::Id)
        .await
        .expect("owner signs up");
    f.clock.advance(61).expect("advance clock");
    svc.sign_up(signup("rahasia-penyerang", "Penyerang"), Lang::Id)
        .await
        .expect("someone else signs up the same email");
    // The owner's first code is void; they use the newest email.
    let code = queued_code(f, &email).await;
    let session = svc.verify(&email, &code).await.expect("owner verifies");
    let me = svc
        .authenticate(&session.access_token)
        .await
        .expect("signed in");
    assert_eq!(
        svc.profile(&me).await.expect("profile").full_name,
        "Pemilik Asli",
        "{}",
        f.name
    );
    assert!(
        matches!(
            svc.sign_in(&email, "rahasia-penyerang").await,
            Err(Error::InvalidCredentials)
        ),
        "{}: the other person's password works",
        f.name
    );
    f.clock.advance(61).expect("advance clock");
    svc.resend(&email, Purpose::PasswordReset, Lang::Id)
        .await
        .expect("forgot");
    let reset = queued_code(f, &email).await;
    svc.reset_password(&email, &reset, "rahasia-baru-pemilik")
        .await
        .expect("reset");
    svc.sign_in(&email, "rahasia-baru-pemilik")
        .await
        .expect("the owner's password works");
    assert!(
        matches!(
            svc.sign_in(&email, "rahasia-penyerang").await,
            Err(Error::InvalidCredentials)
        ),
        "{}",
        f.name
    );

    // The same person signing up twice with one password keeps it, and their newest name.
    let again = format!("ulang.{}@example.com", ulid::Ulid::new()).to_lowercase();
    let twice = |name: &str| SignUp {
        email: again.clone(),
        password: "rahasia-sama".into(),
        full_name: name.into(),
        phone: "081234567890".into(),
    };
    svc.sign_up(twice("Nama Lama"), Lang::Id)
        .await
        .expect("first");
    f.clock.advance(61).expect("advance clock");
    svc.sign_up(twice("Nama Baru"), Lang::Id)
        .await
        .expect("again");
    let code = queued_code(f, &again).await;
    svc.verify(&again, &code).await.expect("verify");
    let session = svc
        .sign_in(&again, "rahasia-sama")
        .await
        .expect("same password");
    let me = svc.authenticate(&session.access_token).await.expect("auth");
    assert_eq!(
        svc.profile(&me).await.expect("profile").full_name,
        "Nama Baru"
    );
}

/// The sweeper pages through an hour's expiries: with pages of 2, seven unpaid billings
/// due in one hour all expire, and every place returns.
pub async fn sweep_pages_through_an_hour(f: &Fixture) {
    use paspor_domain::applications::Status;
    let (applications, booking, _, booked, day) = booked_applications(f, 7).await;
    let payments = paspor_domain::payments::Payments::new(f.ports.clone(), applications.clone())
        .with_page_size(2);
    f.clock.advance(2 * 3600 + 5).expect("advance");
    let expired = payments.sweep().await.expect("sweep");
    assert_eq!(expired, 7, "{}", f.name);
    for (_, id, _, _) in &booked {
        let app = applications.load(id).await.expect("app");
        assert_eq!(app.status, Status::Expired, "{}", f.name);
    }
    let a = makassar_day(&booking, day).await;
    assert_eq!(a["days"][0]["slots"][0]["remaining"], 20, "{}", f.name);
}

/// A NIK-key rotation: items sealed under the old key (and one written before sealing
/// existed) are re-sealed page by page under the new one; afterwards the new key alone
/// opens every item, and a second pass has nothing left to do.
pub async fn a_nik_key_rotation_reseals_every_item(f: &Fixture) {
    use paspor_domain::sealed::SealedTable;
    let with = |keys: &[&[u8]]| paspor_domain::Secrets {
        nik_keys: keys.iter().map(|k| k.to_vec()).collect(),
        ..test_secrets()
    };
    let (k1, k2): (&[u8], &[u8]) = (
        b"old-nik-key-0123456789abcdefghij",
        b"new-nik-key-0123456789abcdefghij",
    );
    let old = SealedTable::new(f.ports.table.clone(), &with(&[k1]));
    let pk = unique("RESEAL");
    let clear = |i: i64| json!({"nik": format!("31710101019000{i:02}"), "applicant": {"nik": "3171010101900099", "full_name": "Sari"}, "version": i, "note": null});
    for i in 0..5 {
        old.put(item(&pk, &format!("{i}"), clear(i)), None)
            .await
            .expect("put");
    }
    // Written before sealing existed: clear in the table.
    f.ports
        .table
        .put(
            item(&pk, "legacy", json!({"nik": "3171010101900100"})),
            None,
        )
        .await
        .expect("put");
    let rotating = SealedTable::new(f.ports.table.clone(), &with(&[k2, k1]));
    let (mut after, mut resealed, mut pages) = (None, 0, 0);
    loop {
        let page = rotating.reseal_page(after.as_ref(), 2).await.expect("page");
        resealed += page.resealed;
        pages += 1;
        match page.next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    assert_eq!(resealed, 6, "{}", f.name);
    assert!(pages >= 3, "{}: {pages} pages", f.name);
    let rotated = SealedTable::new(f.ports.table.clone(), &with(&[k2]));
    for i in 0..5 {
        let got = rotated
            .get(&Key::new(pk.clone(), format!("{i}")))
            .await
            .expect("opens with the new key alone")
            .expect("item");
        assert_eq!(Value::Object(got.attrs), clear(i), "{}", f.name);
    }
    let legacy = rotated
        .get(&Key::new(pk.clone(), "legacy"))
        .await
        .expect("get")
        .expect("item");
    assert_eq!(legacy.attrs["nik"], "3171010101900100");
    let raw = f
        .ports
        .table
        .get(&Key::new(pk.clone(), "legacy"))
        .await
        .expect("get")
        .expect("item");
    assert!(
        !raw.attrs["nik"]
            .as_str()
            .unwrap_or_default()
            .contains("3171010101900100"),
        "{}",
        f.name
    );
    let again = rotated.reseal_page(None, 1000).await.expect("again");
    assert_eq!(again.resealed, 0, "{}", f.name);
}

/// A release of two Makassar hours (09:00: two places of any kind; 10:00: one regular,
/// one priority) with `n` entries of one adult each, all choosing both hours; the clock
/// left past its draw time, nothing drawn yet. Answers the service and the release id.
pub async fn release_with_entries(
    f: &Fixture,
    n: usize,
) -> (paspor_domain::releases::Releases, String) {
    use paspor_domain::{
        draw::SlotRef,
        releases::{ReleaseSpec, Releases},
        repo::places::Capacity,
    };
    let (applications, booking, _) = makassar_slot(f, "08:00", 1).await;
    let releases = Releases::new(
        f.ports.clone(),
        applications.clone(),
        booking.quota().clone(),
    );
    let now = f.ports.clock.now();
    let office = booking.quota().office("makassar").await.expect("office");
    // A day and people of its own per release: releases of one backend never share a
    // slot, nor their applicants a NIK.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let offset = 20 + call as i64;
    let day = office.timezone.today(now) + chrono::TimeDelta::days(offset);
    let id = format!("rilis-{}", ulid::Ulid::new());
    let spec = ReleaseSpec {
        office_ids: vec!["makassar".into()],
        from: day,
        to: day,
        slots: std::collections::BTreeMap::from([
            ("09:00".to_owned(), Capacity::Pool(2)),
            (
                "10:00".to_owned(),
                Capacity::Lanes(std::collections::BTreeMap::from([
                    (paspor_domain::model::lane::Lane::Regular, 1),
                    (paspor_domain::model::lane::Lane::Priority, 1),
                ])),
            ),
        ]),
        include_weekends: true,
        entry_opens_at: now + chrono::TimeDelta::minutes(1),
        entry_closes_at: now + chrono::TimeDelta::minutes(2),
        draw_at: now + chrono::TimeDelta::minutes(3),
        payment_hours: None,
    };
    let (_, created) = releases.put(&id, spec).await.expect("release");
    assert!(created);
    f.clock.advance(61).expect("advance");
    let choice = |time: &str| SlotRef {
        office_id: "makassar".into(),
        date: day,
        time: time.into(),
    };
    let serial = 5000 + 8 * call;
    for i in 0..n {
        // Born around 2000: adults, no priority.
        let (account, app) = submitted_application(&applications, 400 + i, serial - 400).await;
        let choices = if i % 2 == 0 {
            vec![choice("09:00"), choice("10:00")]
        } else {
            vec![choice("10:00"), choice("09:00")]
        };
        releases
            .enter(&account, &id, &[app], &choices)
            .await
            .expect("entered");
    }
    f.clock.advance(120).expect("advance");
    (releases, id)
}

/// The published result as stored (gzip JSON), and the link `result` answers for it: on
/// S3, followed, it is the same document.
pub async fn published(
    f: &Fixture,
    releases: &paspor_domain::releases::Releases,
    id: &str,
) -> serde_json::Value {
    use std::io::Read;
    let release = releases.get(id).await.expect("release");
    let key = paspor_domain::documents::result_key(id, &release.seed_sha256);
    let stored = f
        .ports
        .documents
        .get(&key)
        .await
        .expect("read")
        .expect("the result is stored once drawn");
    let mut json = String::new();
    flate2::read::GzDecoder::new(&stored[..])
        .read_to_string(&mut json)
        .expect("gzip");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    let link = releases.result(id).await.expect("drawn");
    assert!(link.contains(&key), "{}: {link}", f.name);
    if f.name == "aws" {
        // Only the stand-ins serve a link here (the embedded one is the local server's).
        let fetched = reqwest::get(&link).await.expect("follow");
        assert_eq!(fetched.status(), 200, "{link}");
        let body: serde_json::Value = fetched.json().await.expect("json");
        assert_eq!(body, doc, "{}", f.name);
    }
    doc
}

/// What a finished draw must show on any backend: the published outcomes are the draw
/// recomputed, every winner holds one billed place, and no slot (nor lane) holds more
/// than its capacity: 09:00 and 10:00's regular lane full, its priority lane untouched
/// (the entrants are adults).
pub async fn check_drawn(f: &Fixture, releases: &paspor_domain::releases::Releases, id: &str) {
    use paspor_domain::{
        applications::Applications,
        draw::{self, DrawEntry, SlotRef},
        repo::{keys, places::Slot},
    };
    let doc = published(f, releases, id).await;
    let seed: draw::Seed = hex::decode(doc["seed"].as_str().expect("seed"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    assert_eq!(draw::seed_sha256(&seed), doc["seed_sha256"]);
    let entries = doc["entries"].as_array().expect("entries");
    let wanted: Vec<DrawEntry> = entries
        .iter()
        .map(|e| DrawEntry {
            entry_id: e["entry_id"].as_str().expect("id").to_owned(),
            needs: serde_json::from_value(e["needs"].clone()).expect("needs"),
            choices: serde_json::from_value(e["choices"].clone()).expect("choices"),
        })
        .collect();
    let slots: std::collections::BTreeMap<SlotRef, paspor_domain::repo::places::Capacity> =
        doc["slots"]
            .as_array()
            .expect("slots")
            .iter()
            .map(|s| {
                (
                    serde_json::from_value(s.clone()).expect("slot"),
                    serde_json::from_value(s["capacity"].clone()).expect("capacity"),
                )
            })
            .collect();
    let digest = doc["entries_digest"].as_str().expect("digest");
    let again = draw::draw(&seed, digest, &slots, &wanted);
    let mut won = 0;
    for (d, e) in again.iter().zip(entries) {
        assert_eq!(e["entry_id"], d.entry_id.as_str(), "{}", f.name);
        assert_eq!(e["position"], d.position, "{}", f.name);
        let expected = if d.won.is_some() { "won" } else { "waitlisted" };
        assert_eq!(e["outcome"], expected, "{}: {e}", f.name);
        won += usize::from(d.won.is_some());
    }
    assert_eq!(won, 3, "{}: two at 09:00, one regular at 10:00", f.name);
    // And it is what was applied: each stored entry's position, outcome and place.
    let stored = releases.entries(id).await.expect("entries");
    assert_eq!(stored.len(), entries.len(), "{}", f.name);
    for e in entries {
        let s = stored
            .iter()
            .find(|s| e["entry_id"] == s.entry_id.as_str())
            .expect("stored");
        assert_eq!(
            (
                serde_json::json!(s.position),
                serde_json::json!(s.outcome),
                serde_json::json!(s.slot)
            ),
            (
                e["position"].clone(),
                e["outcome"].clone(),
                e["slot"].clone()
            ),
            "{}: {e}",
            f.name
        );
    }
    let mut held = 0;
    for slot in slots.keys() {
        let item = f
            .ports
            .table
            .get(&keys::slot(&slot.office_id, slot.date, &slot.time))
            .await
            .expect("get")
            .expect("slot");
        let s = Slot::of(&item).expect("slot");
        assert!(s.release.is_none(), "{}: first-come after the draw", f.name);
        held += s.taken;
        assert_eq!(s.remaining(), i64::from(slot.time == "10:00"), "{}", f.name);
        for lane in s.lanes.values() {
            assert!(
                lane.remaining >= 0 && lane.remaining <= lane.capacity,
                "{}",
                f.name
            );
        }
    }
    assert_eq!(held, 3, "{}: one place per winner", f.name);
    // Each winner's application is booked once, billed, and no longer waits for a draw.
    let applications = Applications::new(f.ports.clone(), &test_secrets());
    let mut booked = 0;
    for e in entries.iter().filter(|e| e["outcome"] == "won") {
        let stored = f
            .ports
            .table
            .get(&keys::entry(id, e["entry_id"].as_str().expect("id")))
            .await
            .expect("get")
            .expect("entry");
        let entry: paspor_domain::releases::Entry = stored.record().expect("entry");
        for app_id in &entry.application_ids {
            let app = applications.load(app_id).await.expect("app");
            assert_eq!(
                app.status,
                paspor_domain::applications::Status::AwaitingPayment,
                "{}",
                f.name
            );
            assert!(app.entered_release.is_none());
            booked += 1;
        }
    }
    assert_eq!(booked, 3, "{}", f.name);
}

/// Runs a release's draw as the deployed system does, until it is drawn: the sweep's
/// step, then the worker on each batch it queued (read off the fixture's queues). A batch
/// whose run fails stays in `owed`, as SQS would deliver it again. Answers the first
/// failure, or the sweep's steps.
pub async fn draw_to_end(
    f: &Fixture,
    releases: &paspor_domain::releases::Releases,
    id: &str,
    owed: &mut Vec<paspor_domain::releases::DrawBatch>,
) -> Result<u32, paspor_domain::Error> {
    let mut steps = 0;
    for _ in 0..5 {
        steps += releases.run().await?;
        owed.extend(queued_batches(f).await);
        while let Some(batch) = owed.first() {
            releases.apply_batch(batch).await?;
            owed.remove(0);
        }
        if releases.get(id).await?.phase == paspor_domain::releases::Phase::Drawn {
            return Ok(steps);
        }
    }
    panic!("{}: the draw of {id} did not end", f.name)
}

/// The draw's batches queued since the last look (the other jobs are dropped).
pub async fn queued_batches(f: &Fixture) -> Vec<paspor_domain::releases::DrawBatch> {
    (f.drain_jobs)()
        .await
        .into_iter()
        .filter_map(|j| match j {
            Job::ApplyDraw(batch) => Some(batch),
            _ => None,
        })
        .collect()
}

/// The draw's storage path: the window shut on every shard, the digest, the outcomes
/// fanned out in batches on the draw's queue, each applied under its entries' versions
/// (twice changes nothing), then the slots opened first-come; a second run does nothing.
pub async fn release_draw(f: &Fixture) {
    use paspor_domain::releases::Phase;
    let (releases, id) = release_with_entries(f, 6).await;
    assert_eq!(
        releases.run().await.expect("run"),
        2,
        "closed, then the batches queued"
    );
    let mut batches = queued_batches(f).await;
    batches.sort_by_key(|b| b.batch);
    // Three winners, then three waitlisted: two batches.
    assert_eq!(
        batches.iter().map(|b| b.outcomes.len()).collect::<Vec<_>>(),
        [3, 3],
        "{}",
        f.name
    );
    assert_eq!(
        releases.get(&id).await.expect("release").phase,
        Phase::Drawing
    );
    // Its entrants stay held while the batches run (minutes at scale): none books
    // first-come or enters another draw before its own outcome is applied.
    let undrawn = || paspor_domain::releases::undrawn(f.ports.table.as_ref(), &id);
    assert!(undrawn().await.expect("undrawn"), "{}", f.name);
    assert!(matches!(
        releases.result(&id).await,
        Err(paspor_domain::Error::NotDrawn)
    ));
    assert_eq!(
        releases.run().await.expect("waiting"),
        0,
        "the batches are not applied yet"
    );
    assert!(queued_batches(f).await.is_empty(), "queued once");
    // One batch applied, the other lost: progress, so nothing is queued again; then 15
    // minutes without any, and the missing one alone is queued again.
    releases.apply_batch(&batches[0]).await.expect("apply");
    assert_eq!(releases.run().await.expect("progress"), 0);
    f.clock.advance(14 * 60).expect("advance");
    assert_eq!(releases.run().await.expect("still waiting"), 0);
    assert!(queued_batches(f).await.is_empty(), "{}", f.name);
    f.clock.advance(60).expect("advance");
    assert_eq!(releases.run().await.expect("again"), 1, "queued again");
    assert_eq!(queued_batches(f).await, [batches[1].clone()], "{}", f.name);
    // A forged batch (a waitlisted entry given a place it did not choose) is refused.
    let mut forged = batches[1].clone();
    forged.batch = 99;
    forged.outcomes.truncate(1);
    let mut elsewhere = batches[0].outcomes[0].won.clone().expect("a win");
    elsewhere.0.date += chrono::TimeDelta::days(1);
    forged.outcomes[0].won = Some(elsewhere);
    assert!(releases.apply_batch(&forged).await.is_err(), "{}", f.name);
    for batch in batches.iter().chain(batches.iter()) {
        releases.apply_batch(batch).await.expect("apply");
    }
    // Drawn means published: a result written when the draw was planned, then lost, is
    // written again before the release is drawn.
    let release = releases.get(&id).await.expect("release");
    let key = paspor_domain::documents::result_key(&id, &release.seed_sha256);
    assert!(f.ports.documents.size(&key).await.expect("size").is_some());
    f.ports.documents.delete(&key).await.expect("delete");
    assert_eq!(releases.run().await.expect("run"), 1, "drawn");
    check_drawn(f, &releases, &id).await;
    assert!(!undrawn().await.expect("undrawn"), "{}", f.name);
    assert_eq!(
        releases.run().await.expect("again"),
        0,
        "nothing left to do"
    );
    // A batch delivered after the draw ended does nothing.
    releases.apply_batch(&batches[0]).await.expect("late");
    check_drawn(f, &releases, &id).await;
    let counts = releases
        .counts(&releases.get(&id).await.expect("release"))
        .await
        .expect("counts");
    assert_eq!(
        (
            counts.entries,
            counts.applications,
            counts.places,
            counts.won,
            counts.waitlisted
        ),
        (6, 6, 4, Some(3), Some(3))
    );
}

/// A waitlist pass ends on one slot (the slot first-come, its note gone) only if the note
/// is still the one it read: a place given back during the pass keeps the slot held for
/// the next pass, on either backend.
pub async fn a_waitlist_pass_ends_on_the_note_it_read(f: &Fixture) {
    use paspor_domain::model::application::{BookingInfo, FromRelease};
    use paspor_domain::repo::{keys, places};
    let t = &f.ports.table;
    let release = format!("rilis-{}", ulid::Ulid::new());
    let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 4).expect("day");
    let place = BookingInfo {
        office_id: "medan".into(),
        date: day,
        time: "09:00".into(),
        lane: None,
        group_id: None,
        release: Some(FromRelease {
            release_id: release.clone(),
            first_day: day,
        }),
    };
    // The note a return of the place writes (the same application, twice: it expired,
    // was paid late into the place again, then cancelled).
    let note = || {
        let mut slot = places::release_slot(&place);
        places::held_for_waitlist(&mut slot, &place, "a1", day.pred_opt().expect("day"))
            .expect("a note")
    };
    let slot = keys::slot("medan", day, "09:00");
    let held = item(&slot.pk, &slot.sk, json!({"release": release, "taken": 0}));
    t.put(held, None).await.expect("slot");
    t.transact(vec![note()]).await.expect("note");
    let marker = keys::returned(&release, "medan", day, "09:00");
    let read = t.get(&marker).await.expect("get").expect("note");
    let by = read.attrs.get(places::RETURNED_BY).cloned();
    // Meanwhile the place comes back again.
    t.transact(vec![note()]).await.expect("note again");
    let done =
        |by: Option<&Value>| places::waitlist_done(slot.clone(), marker.clone(), &release, by);
    assert_eq!(
        t.transact(done(by.as_ref())).await,
        Err(StoreError::ConditionFailed { index: Some(1) }),
        "{}",
        f.name
    );
    let still = t.get(&slot).await.expect("get").expect("slot");
    assert_eq!(
        still.attrs.get("release"),
        Some(&json!(release)),
        "{}",
        f.name
    );
    // The next pass reads the new note and ends.
    let again = t.get(&marker).await.expect("get").expect("note");
    t.transact(done(again.attrs.get(places::RETURNED_BY)))
        .await
        .expect("done");
    let open = t.get(&slot).await.expect("get").expect("slot");
    assert!(open.attrs.get("release").is_none(), "{}", f.name);
    assert!(t.get(&marker).await.expect("get").is_none(), "{}", f.name);
}

/// A change of a release that gives a slot back does not take it from a later change
/// that held it again meanwhile (each hold is stamped; the give-back asks for its own).
pub async fn a_slot_held_again_is_not_given_back_by_an_older_change(f: &Fixture) {
    use paspor_domain::repo::places::{self, Capacity};
    let t = &f.ports.table;
    let release = unique("r");
    let key = Key::new(unique("SLOT"), "09:00");
    let hold = |stamp| places::hold_slot(key.clone(), &Capacity::Pool(2), &release, stamp);
    t.transact(vec![hold(100).expect("hold")])
        .await
        .expect("held by the first change");
    // A later change names the slot again while the first gives it back.
    t.transact(vec![hold(300).expect("hold")])
        .await
        .expect("held again");
    assert_eq!(
        t.transact(vec![places::drop_held(key.clone(), &release, 200)])
            .await,
        Err(StoreError::ConditionFailed { index: Some(0) }),
        "{}",
        f.name
    );
    assert!(t.get(&key).await.expect("get").is_some(), "{}", f.name);
    t.transact(vec![places::drop_held(key.clone(), &release, 300)])
        .await
        .expect("given back by the change that held it");
    assert!(t.get(&key).await.expect("get").is_none(), "{}", f.name);
}

/// Declares the whole suite as tests on one backend: `$make` builds a `(Fixture, guard)`.
/// Both backends run exactly the same list.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@tests $make;
            table_round_trip => table_round_trip(&f);
            table_conditions => table_conditions(&f);
            table_counter_stops_at_capacity => table_counter_stops_at_capacity(&f);
            table_transactions => table_transactions(&f);
            table_query => table_query(&f);
            table_contention_120_on_20 => table_contention(&f, 120, 20);
            booking_rush_120_on_20 => booking_rush(&f, 120, 20);
            laned_rush_200 => laned_rush(&f, 200);
            payments_duplicate_deliveries => payments_duplicate_deliveries(&f);
            payment_races_expiry => payment_races_expiry(&f);
            queue_round_trip => queue_round_trip(&f);
            mailer_delivers => mailer_delivers(&f);
            documents_enforce_the_form => documents_enforce_the_form(&f);
            documents_by_prefix => documents_by_prefix(&f);
            accounts_journey => accounts_journey(&f);
            accounts_limits => accounts_limits(&f);
            table_pages => table_pages(&f);
            table_ttl => table_ttl(&f);
            login_failures_start_over_once_expired => login_failures_start_over_once_expired(&f);
            oversized_keys_are_refused_alike => oversized_keys_are_refused_alike(&f);
            a_second_sign_up_cannot_take_over_an_email => a_second_sign_up_cannot_take_over_an_email(&f);
            sweep_pages_through_an_hour => sweep_pages_through_an_hour(&f);
            a_nik_key_rotation_reseals_every_item => a_nik_key_rotation_reseals_every_item(&f);
            release_draw => release_draw(&f);
            a_waitlist_pass_ends_on_the_note_it_read => a_waitlist_pass_ends_on_the_note_it_read(&f);
            a_slot_held_again_is_not_given_back_by_an_older_change => a_slot_held_again_is_not_given_back_by_an_older_change(&f);
        );
    };
    (@tests $make:expr; $($name:ident => $check:ident(&f $(, $arg:expr)*);)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let (f, _guard) = $make;
            $crate::conformance::$check(&f $(, $arg)*).await;
        }
    )*};
}
