//! API.md's "Applicants" and "Applications" tables, with uploads straight to storage.

use paspor_tests::local::{LocalServer, email, fake_file, nik};
use serde_json::{Value, json};

use crate::server;

async fn signed_in(s: &LocalServer, tag: &str) -> String {
    s.verified_account(&email(tag), "rahasia-pemohon").await
}

fn application(applicant_id: &str) -> Value {
    json!({"applicant_id": applicant_id, "passport_type": "regular", "application_type": "new", "purpose": "tourism", "express": false, "destination_country": "JP"})
}

#[tokio::test]
async fn applicants_are_validated_unique_and_at_most_five() {
    let s = server();
    let token = signed_in(&s, "keluarga").await;
    let add = |nik: String, birth: &'static str, sex: &'static str| json!({"nik": nik, "full_name": "Anggota Keluarga", "birth_date": birth, "birth_place": "Surabaya", "sex": sex, "relationship": "child"});
    let a = s
        .post_auth(
            "/v1/applicants",
            add(nik("1990-08-17", true, 1), "1990-08-17", "F"),
            &token,
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.str("/sex"), "F");
    assert_eq!(a.str("/birth_date"), "1990-08-17");

    for (bad, birth, sex, why) in [
        ("317405570890001".to_owned(), "1990-08-17", "F", "15 digits"),
        (
            nik("1990-08-17", false, 2),
            "1990-08-17",
            "F",
            "a woman's day is +40",
        ),
        (nik("1990-08-17", true, 3), "1990-08-18", "F", "another day"),
        (
            nik("1990-08-17", false, 0),
            "1990-08-17",
            "M",
            "serial 0000",
        ),
        (
            format!("09{}", &nik("1990-08-17", false, 4)[2..]),
            "1990-08-17",
            "M",
            "no such province",
        ),
    ] {
        let r = s
            .post_auth("/v1/applicants", add(bad, birth, sex), &token)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_nik"),
            "{why}: {:?}",
            r.body
        );
        assert_eq!(r.str("/errors/0/field"), "nik");
    }
    let future = s
        .post_auth(
            "/v1/applicants",
            add(nik("2099-01-01", false, 5), "2099-01-01", "M"),
            &token,
        )
        .await;
    assert_eq!((future.status, future.code()), (400, "invalid_request"));
    let bad_sex = s
        .post_auth(
            "/v1/applicants",
            add(nik("1990-08-17", false, 6), "1990-08-17", "X"),
            &token,
        )
        .await;
    assert_eq!((bad_sex.status, bad_sex.code()), (400, "invalid_request"));

    let again = s
        .post_auth(
            "/v1/applicants",
            add(nik("1990-08-17", true, 1), "1990-08-17", "F"),
            &token,
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "applicant_exists"));

    for serial in 10..14 {
        let r = s
            .post_auth(
                "/v1/applicants",
                add(nik("2015-03-09", false, serial), "2015-03-09", "M"),
                &token,
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let sixth = s
        .post_auth(
            "/v1/applicants",
            add(nik("2016-03-09", false, 20), "2016-03-09", "M"),
            &token,
        )
        .await;
    assert_eq!((sixth.status, sixth.code()), (409, "applicant_limit"));

    let list = s.get("/v1/applicants", Some(&token)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(5));

    // Another account sees none of them, and may add the same NIK to its own family.
    let other = signed_in(&s, "lain").await;
    assert_eq!(
        s.get("/v1/applicants", Some(&other)).await.body["items"],
        json!([])
    );
    let same = s
        .post_auth(
            "/v1/applicants",
            add(nik("1990-08-17", true, 1), "1990-08-17", "F"),
            &other,
        )
        .await;
    assert_eq!(same.status, 201);
    assert_eq!(s.get("/v1/applicants", None).await.status, 401);
}

#[tokio::test]
async fn applications_price_and_documents_follow_the_rules() {
    let s = server();
    let token = signed_in(&s, "harga").await;
    let adult = s
        .applicant(
            &token,
            &nik("1985-02-03", false, 1),
            "1985-02-03",
            "M",
            "self",
        )
        .await;
    let child = s
        .applicant(
            &token,
            &nik("2016-06-07", true, 2),
            "2016-06-07",
            "F",
            "child",
        )
        .await;

    let a = s
        .post_auth("/v1/applications", application(&adult), &token)
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    assert_eq!(a.str("/status"), "draft");
    assert_eq!(
        (a.body["validity_years"].clone(), a.body["fee_idr"].clone()),
        (json!(10), json!(650_000))
    );
    let kinds: Vec<&str> = a.body["required_documents"]
        .as_array()
        .expect("docs")
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["ktp", "kk", "civil_record"]);
    assert!(
        a.body["required_documents"]
            .as_array()
            .expect("docs")
            .iter()
            .all(|d| d["uploaded"] == false)
    );

    let c = s
        .post_auth(
            "/v1/applications",
            json!({"applicant_id": child, "passport_type": "electronic", "application_type": "replacement_lost", "purpose": "umrah_hajj", "express": true, "destination_country": "SA"}),
            &token,
        )
        .await;
    assert_eq!(c.status, 201, "{:?}", c.body);
    // Electronic child 650,000 + lost 1,000,000 + express 1,000,000.
    assert_eq!(
        (c.body["validity_years"].clone(), c.body["fee_idr"].clone()),
        (json!(5), json!(2_650_000))
    );
    let kinds: Vec<&str> = c.body["required_documents"]
        .as_array()
        .expect("docs")
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    for k in [
        "kk",
        "birth_certificate",
        "parent_ktp",
        "parents_marriage_certificate",
        "parents_statement",
        "police_report",
        "religious_affairs_recommendation",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }

    let again = s
        .post_auth("/v1/applications", application(&adult), &token)
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "active_application_exists")
    );
    let bad_country = s.post_auth("/v1/applications", json!({"applicant_id": adult, "passport_type": "regular", "application_type": "new", "purpose": "tourism", "express": false, "destination_country": "XX"}), &token).await;
    assert_eq!(
        (bad_country.status, bad_country.code()),
        (400, "invalid_request")
    );
    let bad_type = s.post_auth("/v1/applications", json!({"applicant_id": adult, "passport_type": "diplomatic", "application_type": "new", "purpose": "tourism", "express": false, "destination_country": "JP"}), &token).await;
    assert_eq!((bad_type.status, bad_type.code()), (400, "invalid_request"));

    let list = s.get("/v1/applications", Some(&token)).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(2));
    let id = a.str("/application_id");
    let detail = s.get(&format!("/v1/applications/{id}"), Some(&token)).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body["timeline"][0]["status"], "draft");
    assert_eq!(detail.body["applicant"]["applicant_id"], json!(adult));

    // Another account's application answers exactly as a missing one.
    let other = signed_in(&s, "asing").await;
    let foreign = s.get(&format!("/v1/applications/{id}"), Some(&other)).await;
    let missing = s
        .get("/v1/applications/01JNOSUCHAPPLICATION000000", Some(&other))
        .await;
    assert_eq!((foreign.status, foreign.code()), (404, "not_found"));
    assert_eq!(foreign.body, missing.body);
    let foreign_applicant = s
        .post_auth("/v1/applications", application(&adult), &other)
        .await;
    assert_eq!(
        foreign_applicant.status, 400,
        "another account's applicant is not yours to apply for"
    );
}

#[tokio::test]
async fn one_active_application_per_nik_even_in_parallel() {
    let s = server();
    let first = signed_in(&s, "calo1").await;
    let second = signed_in(&s, "calo2").await;
    // A tout adds the same person to two accounts and applies from both at once.
    let n = nik("1992-12-01", false, 77);
    let a1 = s.applicant(&first, &n, "1992-12-01", "M", "self").await;
    let a2 = s.applicant(&second, &n, "1992-12-01", "M", "other").await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (token, applicant) = if i % 2 == 0 {
            (first.clone(), a1.clone())
        } else {
            (second.clone(), a2.clone())
        };
        let url = format!("{}/v1/applications", s.base);
        let http = s.raw().clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&application(&applicant))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        9,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn idempotency_key_replays_or_refuses() {
    let s = server();
    let token = signed_in(&s, "ulangi").await;
    let adult = s
        .applicant(
            &token,
            &nik("1980-01-01", false, 1),
            "1980-01-01",
            "M",
            "self",
        )
        .await;
    let send = |body: Value, key: &'static str| {
        let token = token.clone();
        let s = &s;
        async move {
            s.send(
                reqwest::Method::POST,
                "/v1/applications",
                Some(body),
                Some(&token),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = send(application(&adult), "k-1").await;
    assert_eq!(first.status, 201);
    let replay = send(application(&adult), "k-1").await;
    assert_eq!(
        replay.status, 201,
        "the same key and body replay the first answer, not active_application_exists"
    );
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let mut other = application(&adult);
    other["destination_country"] = json!("SG");
    let reused = send(other, "k-1").await;
    assert_eq!(
        (reused.status, reused.code()),
        (422, "idempotency_key_reused")
    );
    let fresh_key = send(application(&adult), "k-2").await;
    assert_eq!(
        (fresh_key.status, fresh_key.code()),
        (409, "active_application_exists")
    );
}

async fn draft(s: &LocalServer, tag: &str) -> (String, String) {
    let token = signed_in(s, tag).await;
    let adult = s
        .applicant(
            &token,
            &nik("1988-04-05", true, 9),
            "1988-04-05",
            "F",
            "self",
        )
        .await;
    let a = s
        .post_auth("/v1/applications", application(&adult), &token)
        .await;
    assert_eq!(a.status, 201);
    (token, a.str("/application_id").to_owned())
}

async fn upload(
    s: &LocalServer,
    token: &str,
    id: &str,
    kind: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let form = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/{kind}/upload-url"),
            json!({"content_type": content_type, "content_length": bytes.len()}),
            token,
        )
        .await;
    assert_eq!(form.status, 201, "{:?}", form.body);
    let (status, text) = s.send_form(&form.body, bytes, content_type).await;
    assert_eq!(status, 204, "{text}");
    let done = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/{kind}/complete"),
            json!({}),
            token,
        )
        .await;
    (done.status, done.body)
}

#[tokio::test]
async fn uploads_go_straight_to_storage_and_are_checked() {
    let s = server();
    let (token, id) = draft(&s, "unggah").await;
    let url = |kind: &str| format!("/v1/applications/{id}/documents/{kind}/upload-url");

    let form = s
        .post_auth(
            &url("ktp"),
            json!({"content_type": "image/jpeg", "content_length": 4000}),
            &token,
        )
        .await;
    assert_eq!(form.status, 201, "{:?}", form.body);
    assert_eq!(form.str("/method"), "POST");
    if s.is_stack() {
        // Straight to the bucket (the S3 stand-in), not through the API.
        assert!(
            form.str("/url").contains("paspor-documents-"),
            "the bucket: {}",
            form.str("/url")
        );
    } else {
        assert!(
            form.str("/url").starts_with(&s.base),
            "the local upload target"
        );
    }
    let key = form.str("/fields/key");
    assert!(
        key.starts_with(&format!("documents/{id}/ktp/")) && key.len() > 60,
        "unguessable key: {key}"
    );
    assert!(form.body["expires_at"].is_string());

    // A file larger than declared is refused by the storage endpoint itself.
    let (status, text) = s
        .send_form(&form.body, fake_file("jpeg", 4001), "image/jpeg")
        .await;
    assert_eq!(status, 400, "{text}");
    // S3 says it in XML; paspor-local's stand-in in problem details.
    let code = if s.is_stack() {
        "<Code>EntityTooLarge</Code>"
    } else {
        "entity_too_large"
    };
    assert!(text.contains(code), "{text}");
    let missing = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/ktp/complete"),
            json!({}),
            &token,
        )
        .await;
    assert_eq!((missing.status, missing.code()), (409, "upload_missing"));

    // Tampering with the form is refused.
    let mut tampered = form.body.clone();
    tampered["fields"]["key"] = json!(format!("documents/{id}/ktp/mine"));
    let (status, text) = s
        .send_form(&tampered, fake_file("jpeg", 100), "image/jpeg")
        .await;
    assert_eq!(status, 403, "{text}");
    let mut retyped = form.body.clone();
    retyped["fields"]["Content-Type"] = json!("application/pdf");
    assert_eq!(
        s.send_form(&retyped, fake_file("pdf", 100), "application/pdf")
            .await
            .0,
        403
    );

    let (status, body) = upload(
        &s,
        &token,
        &id,
        "ktp",
        "image/jpeg",
        fake_file("jpeg", 3000),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "uploaded");
    assert_eq!(body["size"], 3000);
    // Completing twice is harmless.
    let twice = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/ktp/complete"),
            json!({}),
            &token,
        )
        .await;
    assert_eq!(twice.status, 200);

    // A ".jpg" whose bytes are not a JPEG.
    let (status, body) = upload(&s, &token, &id, "kk", "image/jpeg", fake_file("text", 500)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("upload_rejected")),
        "{body}"
    );
    assert_eq!(body["reason"], "content_mismatch");
    // Asked again (an answer lost on a phone, or the S3-notified check that decided and
    // deleted the file first, as on AWS): the same verdict, not "nothing was uploaded".
    let again = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/kk/complete"),
            json!({}),
            &token,
        )
        .await;
    assert_eq!(
        (again.status, again.code(), again.body["reason"].as_str()),
        (422, "upload_rejected", Some("content_mismatch")),
        "{:?}",
        again.body
    );
    let (status, body) = upload(&s, &token, &id, "kk", "image/png", fake_file("png", 500)).await;
    assert_eq!(status, 200, "{body}");

    for (kind, ct, len, code, want) in [
        (
            "police_report",
            "application/pdf",
            100,
            "document_not_required",
            400,
        ),
        (
            "passport_photo",
            "image/jpeg",
            100,
            "document_not_required",
            400,
        ),
        (
            "civil_record",
            "image/gif",
            100,
            "unsupported_content_type",
            400,
        ),
        (
            "civil_record",
            "application/pdf",
            2 * 1024 * 1024 + 1,
            "document_too_large",
            413,
        ),
    ] {
        let r = s
            .post_auth(
                &url(kind),
                json!({"content_type": ct, "content_length": len}),
                &token,
            )
            .await;
        assert_eq!((r.status, r.code()), (want, code), "{kind} {ct} {len}");
    }
    let zero = s
        .post_auth(
            &url("civil_record"),
            json!({"content_type": "application/pdf", "content_length": 0}),
            &token,
        )
        .await;
    assert_eq!((zero.status, zero.code()), (400, "invalid_request"));

    let early = s
        .post_auth(&format!("/v1/applications/{id}/submit"), json!({}), &token)
        .await;
    assert_eq!((early.status, early.code()), (409, "documents_missing"));
    assert_eq!(early.body["kinds"], json!(["civil_record"]));

    let (status, _) = upload(
        &s,
        &token,
        &id,
        "civil_record",
        "application/pdf",
        fake_file("pdf", 2 * 1024 * 1024),
    )
    .await;
    assert_eq!(status, 200, "exactly 2 MiB is allowed");
    let submitted = s
        .post_auth(&format!("/v1/applications/{id}/submit"), json!({}), &token)
        .await;
    assert_eq!(submitted.status, 200, "{:?}", submitted.body);
    assert_eq!(submitted.str("/status"), "submitted");
    let late = s
        .post_auth(
            &url("ktp"),
            json!({"content_type": "image/jpeg", "content_length": 100}),
            &token,
        )
        .await;
    assert_eq!((late.status, late.code()), (409, "invalid_state"));
    let resubmit = s
        .post_auth(&format!("/v1/applications/{id}/submit"), json!({}), &token)
        .await;
    assert_eq!((resubmit.status, resubmit.code()), (409, "invalid_state"));

    let detail = s.get(&format!("/v1/applications/{id}"), Some(&token)).await;
    let statuses: Vec<&str> = detail.body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|t| t["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["draft", "submitted"]);
    assert!(
        detail.body["documents"]
            .as_array()
            .expect("docs")
            .iter()
            .all(|d| d["uploaded"] == true && d.get("key").is_none())
    );

    let other = signed_in(&s, "intip").await;
    let foreign = s
        .post_auth(
            &url("ktp"),
            json!({"content_type": "image/jpeg", "content_length": 100}),
            &other,
        )
        .await;
    assert_eq!((foreign.status, foreign.code()), (404, "not_found"));
}

#[tokio::test]
async fn uploads_are_checked_without_complete_and_forms_expire() {
    paspor_tests::local_only!("the clock");
    let s = server();
    let (token, id) = draft(&s, "lupa").await;
    let form = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/ktp/upload-url"),
            json!({"content_type": "image/png", "content_length": 900}),
            &token,
        )
        .await;
    assert_eq!(
        s.send_form(&form.body, fake_file("png", 900), "image/png")
            .await
            .0,
        204
    );
    // No `complete`: the worker checks the stored object on its own.
    let mut uploaded = false;
    for _ in 0..100 {
        let detail = s.get(&format!("/v1/applications/{id}"), Some(&token)).await;
        let ktp = detail.body["documents"]
            .as_array()
            .expect("docs")
            .iter()
            .find(|d| d["kind"] == "ktp")
            .cloned()
            .expect("ktp");
        if ktp["uploaded"] == true {
            uploaded = true;
            assert_eq!(ktp["size"], 900);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(uploaded, "the worker never checked the upload");

    let form = s
        .post_auth(
            &format!("/v1/applications/{id}/documents/kk/upload-url"),
            json!({"content_type": "image/png", "content_length": 900}),
            &token,
        )
        .await;
    s.advance_clock(16 * 60).await;
    let (status, text) = s
        .send_form(&form.body, fake_file("png", 900), "image/png")
        .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("request_expired"), "{text}");
}
