//! A backend under test: its ports plus the ways a test can look behind them (the jobs
//! that were queued, the emails that were sent).

use std::{future::Future, pin::Pin, sync::Arc};

use paspor_adapters::embedded::OffsetClock;
use paspor_domain::{Ports, Secrets, documents::UploadForm, jobs::Job};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Takes every job queued so far off the queue.
pub type DrainJobs = Arc<dyn Fn() -> BoxFuture<'static, Vec<Job>> + Send + Sync>;
/// Sends a file with an upload form, as a phone would; answers the storage's HTTP status.
pub type SubmitForm = Arc<dyn Fn(UploadForm, Vec<u8>) -> BoxFuture<'static, u16> + Send + Sync>;
/// Every email (recipient, subject, text) the mailer has delivered so far.
pub type SentMail =
    Arc<dyn Fn() -> BoxFuture<'static, Vec<(String, String, String)>> + Send + Sync>;

#[derive(Clone)]
pub struct Fixture {
    pub name: &'static str,
    pub ports: Ports,
    /// The clock in `ports`, which a test may move forward.
    pub clock: Arc<OffsetClock>,
    pub drain_jobs: DrainJobs,
    pub sent_mail: SentMail,
    pub submit_form: SubmitForm,
}

pub fn test_secrets() -> Secrets {
    Secrets {
        token_keys: vec![b"conformance-token-key-0123456789".to_vec()],
        otp_key: b"conformance-otp-key-0123456789ab".to_vec(),
        nik_keys: vec![b"conformance-nik-key-0123456789abc".to_vec()],
        nik_lock_key: b"conformance-nik-lock-key-0123456".to_vec(),
        webhook_secrets: vec![b"whsec-test".to_vec()],
    }
}

/// The embedded backend in a fresh temporary directory (kept alive by the returned guard).
pub fn embedded() -> (Fixture, tempfile::TempDir) {
    use paspor_adapters::embedded::Embedded;
    let dir = tempfile::tempdir().expect("tempdir");
    let backend =
        Embedded::open(dir.path(), vec![b"whsec-test".to_vec()]).expect("open embedded backend");
    let queue = backend.queue.clone();
    let outbox = backend.mailer.dir().to_path_buf();
    let (documents, clock) = (backend.documents.clone(), backend.clock.clone());
    let fixture = Fixture {
        name: "embedded",
        ports: backend.ports(),
        clock: backend.clock.clone(),
        drain_jobs: Arc::new(move || {
            let queue = queue.clone();
            Box::pin(async move {
                let mut jobs = Vec::new();
                while let Some(claimed) = queue.claim().await.expect("claim") {
                    jobs.push(serde_json::from_str(&claimed.body).expect("job json"));
                    queue.ack(claimed.id).await.expect("ack");
                }
                jobs
            })
        }),
        sent_mail: Arc::new(move || {
            let outbox = outbox.clone();
            Box::pin(async move { read_outbox(&outbox) })
        }),
        // What paspor-local's upload target does with a form, without the HTTP around it.
        submit_form: Arc::new(move |form: UploadForm, bytes: Vec<u8>| {
            let (documents, clock) = (documents.clone(), clock.clone());
            Box::pin(async move {
                use paspor_domain::clock::Clock;
                let field = |k: &str| form.fields.get(k).map(String::as_str).unwrap_or_default();
                let Ok(policy) = documents.verify(
                    field("policy"),
                    field("x-paspor-signature"),
                    field("key"),
                    field("Content-Type"),
                    clock.now(),
                ) else {
                    return 403;
                };
                if bytes.is_empty() || bytes.len() as u64 > policy.max_bytes {
                    return 400;
                }
                documents.store(&policy.key, &bytes).await.expect("store");
                204
            })
        }),
    };
    (fixture, dir)
}

/// Parses the `.eml` files of an outbox folder: (to, subject, decoded text).
/// Sends a form to a real storage endpoint over HTTP (S3 or its stand-in).
pub async fn post_form(form: UploadForm, bytes: Vec<u8>) -> u16 {
    let mut multipart = reqwest::multipart::Form::new();
    for (k, v) in &form.fields {
        multipart = multipart.text(k.clone(), v.clone());
    }
    let content_type = form.fields.get("Content-Type").cloned().unwrap_or_default();
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("scan")
        .mime_str(&content_type)
        .expect("mime");
    let resp = reqwest::Client::new()
        .post(&form.url)
        .multipart(multipart.part("file", part))
        .send()
        .await
        .expect("post form");
    resp.status().as_u16()
}

pub fn read_outbox(dir: &std::path::Path) -> Vec<(String, String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("outbox")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let raw = std::fs::read(p).expect("read eml");
            let msg = mail_parser::MessageParser::default()
                .parse(&raw)
                .expect("parse eml");
            let to = msg
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned();
            let subject = msg.subject().unwrap_or_default().to_owned();
            let text = msg.body_text(0).unwrap_or_default().into_owned();
            (to, subject, text)
        })
        .collect()
}
