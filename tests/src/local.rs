//! A `paspor-local` process for black-box tests: started on a free port over a data
//! directory, spoken to over HTTP, stopped with SIGTERM (or killed) and started again on
//! the same data to prove durability.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use paspor_adapters::embedded::Embedded;
use paspor_domain::accounts::{Accounts, AccountsConfig};
use serde_json::Value;

use crate::fixture::read_outbox;

pub const OPS_TOKEN: &str = "test-ops-token";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";
/// A second secret, valid at the same time, as during a rotation.
pub const OLD_WEBHOOK_SECRET: &str = "old-webhook-secret";

/// Set (to the stack's data directory) when the black-box suite runs against the
/// deployed shape (`scripts/stack`) instead of a `paspor-local` per test.
pub const STACK_VAR: &str = "PASPOR_TEST_STACK";

/// Whether the suite runs against the stack.
pub fn on_stack() -> bool {
    std::env::var_os(STACK_VAR).is_some()
}

/// Ends a test that needs what only `paspor-local` has (its clock, its flags, a restart
/// of the server, its ops token) when the suite runs against the stack.
#[macro_export]
macro_rules! local_only {
    ($why:expr) => {
        if $crate::local::on_stack() {
            eprintln!("local only ({}): not run against the stack", $why);
            return;
        }
    };
}

/// Each test's client on the stack speaks from its own loopback address (as people do from
/// their own phones), so the per-address ceilings of one test never meet another's.
fn rand_octet() -> u8 {
    (ulid::Ulid::new().random() % 254) as u8 + 1
}

/// The operators' credentials the stack hands out (`ops-credentials.json`).
#[derive(Debug, Clone)]
struct StackOps {
    access_key_id: String,
    secret_access_key: String,
    region: String,
}

pub struct LocalServer {
    /// `None` on the stack, which the test command starts once for the whole suite.
    child: Option<Child>,
    stack: Option<StackOps>,
    /// Everything the server printed (its logs), kept when started with `start_logged`.
    logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub base: String,
    pub data_dir: PathBuf,
    bin: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

/// An answer: status, headers and the body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn str(&self, pointer: &str) -> &str {
        self.body
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {pointer} in {}", self.body))
    }
}

impl LocalServer {
    /// Starts the server on a fresh data directory.
    pub fn start(bin: &str) -> Self {
        if on_stack() {
            return Self::stack();
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut server = Self::start_on(bin, tmp.path());
        server._tmp = Some(tmp);
        server
    }

    /// Starts the server on a fresh data directory with the demo seed (real offices and
    /// 30 days of quota, 20 places an hour).
    pub fn start_seeded(bin: &str) -> Self {
        if on_stack() {
            return Self::stack();
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut server = Self::spawn(bin, tmp.path(), &["--seed", "demo"]);
        server._tmp = Some(tmp);
        server
    }

    /// Starts the server on a fresh data directory with extra flags.
    pub fn start_with(bin: &str, flags: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut server = Self::spawn(bin, tmp.path(), flags);
        server._tmp = Some(tmp);
        server
    }

    /// Starts the server (with extra flags) on a fresh data directory holding `n` verified
    /// accounts, imported as a migration would (no sign-up, no email, one password hash),
    /// and answers it with their access tokens.
    pub async fn start_with_accounts(bin: &str, n: usize, flags: &[&str]) -> (Self, Vec<String>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let tokens = {
            let embedded = Embedded::open(tmp.path(), vec![]).expect("open the data directory");
            let accounts = Accounts::new(
                embedded.ports(),
                &embedded.secrets,
                AccountsConfig::default(),
            );
            let hash = Accounts::hash("kata-sandi-impor").await.expect("hash");
            let mut tokens = Vec::with_capacity(n);
            for i in 0..n {
                let id = accounts
                    .import_verified(
                        &email(&format!("impor{i}")),
                        "Warga Impor",
                        "081298765432",
                        &hash,
                    )
                    .await
                    .expect("import");
                tokens.push(accounts.session(&id).expect("session").access_token);
            }
            tokens
        };
        let mut server = Self::spawn(bin, tmp.path(), flags);
        server._tmp = Some(tmp);
        (server, tokens)
    }

    /// Starts the server on an existing data directory.
    pub fn start_on(bin: &str, data_dir: &Path) -> Self {
        Self::spawn(bin, data_dir, &[])
    }

    /// Starts the seeded server logging at `level` (a `RUST_LOG` filter), keeping every
    /// line it prints for [`Self::logs`].
    pub fn start_logged(bin: &str, level: &str) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut server = Self::spawn_with(bin, tmp.path(), &["--seed", "demo"], level, true);
        server._tmp = Some(tmp);
        server
    }

    /// Every line the server has printed so far (when started with `start_logged`).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    fn spawn(bin: &str, data_dir: &Path, extra: &[&str]) -> Self {
        Self::spawn_with(bin, data_dir, extra, "warn", false)
    }

    /// The stack the test command started (always seeded with the demo offices).
    fn stack() -> Self {
        let dir = PathBuf::from(std::env::var_os(STACK_VAR).expect("PASPOR_TEST_STACK"));
        let read = |name: &str| -> Value {
            let text = std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("{name} in the stack's data directory: {e}"));
            serde_json::from_str(&text).expect("json")
        };
        let record = read("stack.json");
        let ops = read("ops-credentials.json");
        let field = |v: &Value, k: &str| v[k].as_str().expect(k).to_owned();
        Self {
            child: None,
            stack: Some(StackOps {
                access_key_id: field(&ops, "access_key_id"),
                secret_access_key: field(&ops, "secret_access_key"),
                region: field(&ops, "region"),
            }),
            logs: Default::default(),
            base: field(&record, "url"),
            data_dir: dir,
            bin: PathBuf::new(),
            _tmp: None,
            http: reqwest::Client::builder()
                .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                    127,
                    rand_octet(),
                    rand_octet(),
                    rand_octet(),
                )))
                .build()
                .expect("client"),
        }
    }

    /// Whether this server is the stack (see [`on_stack`]).
    pub fn is_stack(&self) -> bool {
        self.stack.is_some()
    }

    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("only paspor-local is started per test; mark the test local_only!")
    }

    fn spawn_with(bin: &str, data_dir: &Path, extra: &[&str], level: &str, keep: bool) -> Self {
        assert!(
            !on_stack(),
            "this test starts paspor-local with its own flags or data; mark it local_only!"
        );
        let mut child = Command::new(bin)
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("PASPOR_OPS_TOKEN", OPS_TOKEN)
            .env(
                "PASPOR_WEBHOOK_SECRET",
                format!("{WEBHOOK_SECRET},{OLD_WEBHOOK_SECRET}"),
            )
            .env("PASPOR_SWEEP_SECS", "1")
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(if keep {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("start paspor-local");
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    logs.lock().expect("logs").push(line);
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("paspor-local exited before listening")
                .expect("read stdout");
            if let Some(url) = line.strip_prefix("paspor-local listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if keep {
                    kept.lock().expect("logs").push(line);
                }
            }
        });
        Self {
            child: Some(child),
            stack: None,
            logs,
            base,
            data_dir: data_dir.to_path_buf(),
            bin: PathBuf::from(bin),
            _tmp: None,
            http: reqwest::Client::new(),
        }
    }

    /// Kills the server outright (SIGKILL: no graceful anything) and starts it again on
    /// the same data directory.
    pub fn crash_and_restart(mut self) -> Self {
        self.child().kill().expect("SIGKILL");
        self.child().wait().expect("wait");
        let tmp = self._tmp.take();
        let mut next = Self::start_on(self.bin.to_str().expect("bin path"), &self.data_dir);
        next._tmp = tmp;
        next
    }

    /// Stops the server with SIGTERM and starts it again on the same data directory.
    pub fn restart(mut self) -> Self {
        self.terminate();
        let tmp = self._tmp.take();
        let mut next = Self::start_on(self.bin.to_str().expect("bin path"), &self.data_dir);
        next._tmp = tmp;
        next
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child().id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(exit) = self.child().try_wait().expect("wait") {
                assert!(exit.success(), "paspor-local exited with {exit} on SIGTERM");
                return;
            }
            assert!(Instant::now() < deadline, "paspor-local ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        let raw = body.map(|b| serde_json::to_vec(&b).expect("json"));
        if let Some(b) = &raw {
            req = req
                .header("content-type", "application/json")
                .body(b.clone());
        }
        match (&self.stack, token) {
            // On AWS the operators' routes take SigV4 (IAM), not the local ops token.
            (Some(ops), Some(OPS_TOKEN)) if path.starts_with("/v1/ops/") => {
                let signed = paspor_stack::seed::sign(
                    method.as_str(),
                    &url,
                    raw.as_deref().unwrap_or_default(),
                    &ops.access_key_id,
                    &ops.secret_access_key,
                    &ops.region,
                )
                .expect("sign");
                if raw.is_none() {
                    // The signature covers it, body or not.
                    req = req.header("content-type", "application/json");
                }
                for (k, v) in signed {
                    req = req.header(k, v);
                }
            }
            (_, Some(t)) => req = req.bearer_auth(t),
            (_, None) => {}
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body), None, &[])
            .await
    }

    pub async fn post_auth(&self, path: &str, body: Value, token: &str) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body), Some(token), &[])
            .await
    }

    pub async fn put_auth(&self, path: &str, body: Value, token: &str) -> Answer {
        self.send(reqwest::Method::PUT, path, Some(body), Some(token), &[])
            .await
    }

    pub async fn delete_auth(&self, path: &str, token: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, None, Some(token), &[])
            .await
    }

    /// Places left in one slot (`HH:00`) of an office's day, from the availability answer.
    pub async fn remaining(&self, office: &str, date: &str, time: &str) -> i64 {
        let a = self
            .get(
                &format!("/v1/offices/{office}/availability?from={date}&to={date}"),
                None,
            )
            .await;
        a.body["days"][0]["slots"]
            .as_array()
            .and_then(|slots| slots.iter().find(|slot| slot["time"] == time))
            .and_then(|slot| slot["remaining"].as_i64())
            .unwrap_or_else(|| panic!("no {time} slot on {date} at {office}: {}", a.body))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(reqwest::Method::GET, path, None, token, &[])
            .await
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }

    /// Moves the server's one clock forward.
    pub async fn advance_clock(&self, secs: i64) {
        assert!(
            !self.is_stack(),
            "the stack runs on real time; mark the test local_only!"
        );
        let a = self
            .post("/_local/clock", serde_json::json!({"advance_secs": secs}))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }

    /// Every email delivered so far: (to, subject, text).
    pub fn all_mail(&self) -> Vec<(String, String, String)> {
        read_outbox(&self.data_dir.join("outbox"))
    }

    /// Emails delivered so far to `to`, oldest first: (subject, text).
    pub fn mail_to(&self, to: &str) -> Vec<(String, String)> {
        read_outbox(&self.data_dir.join("outbox"))
            .into_iter()
            .filter(|(t, _, _)| t.eq_ignore_ascii_case(to))
            .map(|(_, s, t)| (s, t))
            .collect()
    }

    /// Waits (the worker sends asynchronously) for the `nth` email to `to` (1-based) and
    /// answers the OTP code it carries.
    pub async fn otp(&self, to: &str, nth: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mail = self.mail_to(to);
            if let Some((subject, _)) = mail.get(nth - 1) {
                return subject
                    .split_whitespace()
                    .find(|w| w.len() == 6 && w.chars().all(|c| c.is_ascii_digit()))
                    .unwrap_or_else(|| panic!("no code in {subject:?}"))
                    .to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "email #{nth} to {to} never arrived; got {mail:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs up, reads the code from the outbox and verifies: a ready account and token.
    pub async fn verified_account(&self, email: &str, password: &str) -> String {
        let a = self
            .post("/v1/accounts", serde_json::json!({"email": email, "password": password, "full_name": "Dewi Lestari", "phone": "081298765432"}))
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        let code = self.otp(email, 1).await;
        let v = self
            .post(
                "/v1/accounts/verify",
                serde_json::json!({"email": email, "code": code}),
            )
            .await;
        assert_eq!(v.status, 200, "{:?}", v.body);
        v.str("/access_token").to_owned()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A unique email for one test.
pub fn email(tag: &str) -> String {
    format!(
        "{tag}.{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

/// A NIK that agrees with the birth date (`YYYY-MM-DD`) and sex, from region 3174 05.
pub fn nik(birth_date: &str, female: bool, serial: u32) -> String {
    let (y, rest) = birth_date.split_at(4);
    let month = &rest[1..3];
    let day: u32 = rest[4..6].parse().expect("day");
    format!(
        "317405{:02}{month}{}{serial:04}",
        day + if female { 40 } else { 0 },
        &y[2..]
    )
}

impl LocalServer {
    /// Adds an applicant and answers its id.
    pub async fn applicant(
        &self,
        token: &str,
        nik: &str,
        birth_date: &str,
        sex: &str,
        relationship: &str,
    ) -> String {
        let a = self
            .post_auth(
                "/v1/applicants",
                serde_json::json!({"nik": nik, "full_name": "Rina Wulandari", "birth_date": birth_date, "birth_place": "Bandung", "sex": sex, "relationship": relationship}),
                token,
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        a.str("/applicant_id").to_owned()
    }

    /// Sends a file with an upload form as a browser or phone would: the form's fields,
    /// then the file. Answers the storage's status and body text.
    pub async fn send_form(&self, form: &Value, bytes: Vec<u8>, file_type: &str) -> (u16, String) {
        let mut multipart = reqwest::multipart::Form::new();
        for (k, v) in form["fields"].as_object().expect("fields") {
            multipart = multipart.text(k.clone(), v.as_str().expect("field").to_owned());
        }
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name("scan")
            .mime_str(file_type)
            .expect("mime");
        multipart = multipart.part("file", part);
        let resp = self
            .http
            .post(form["url"].as_str().expect("url"))
            .multipart(multipart)
            .send()
            .await
            .expect("upload");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }
}

/// The first bytes of real files of each type, padded to `len`.
pub fn fake_file(kind: &str, len: usize) -> Vec<u8> {
    let mut bytes = match kind {
        "jpeg" => vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F'],
        "png" => b"\x89PNG\r\n\x1a\n".to_vec(),
        "pdf" => b"%PDF-1.7\n".to_vec(),
        _ => b"this is not what it claims to be".to_vec(),
    };
    bytes.resize(len, 0x20);
    bytes
}

impl LocalServer {
    /// A submitted application (applicant added, every document uploaded, submitted) for
    /// an adult born on `birth_date`; answers its id.
    pub async fn submitted_application(
        &self,
        token: &str,
        birth_date: &str,
        serial: u32,
        passport_type: &str,
    ) -> String {
        let applicant = self
            .applicant(
                token,
                &nik(birth_date, false, serial),
                birth_date,
                "M",
                "self",
            )
            .await;
        let a = self
            .post_auth(
                "/v1/applications",
                serde_json::json!({"applicant_id": applicant, "passport_type": passport_type, "application_type": "new", "purpose": "tourism", "express": false, "destination_country": "MY"}),
                token,
            )
            .await;
        assert_eq!(a.status, 201, "{:?}", a.body);
        let id = a.str("/application_id").to_owned();
        for doc in a.body["required_documents"].as_array().expect("documents") {
            let kind = doc["kind"].as_str().expect("kind");
            let form = self
                .post_auth(
                    &format!("/v1/applications/{id}/documents/{kind}/upload-url"),
                    serde_json::json!({"content_type": "application/pdf", "content_length": 400}),
                    token,
                )
                .await;
            assert_eq!(form.status, 201, "{:?}", form.body);
            assert_eq!(
                self.send_form(&form.body, fake_file("pdf", 400), "application/pdf")
                    .await
                    .0,
                204
            );
            let done = self
                .post_auth(
                    &format!("/v1/applications/{id}/documents/{kind}/complete"),
                    serde_json::json!({}),
                    token,
                )
                .await;
            assert_eq!(done.status, 200, "{:?}", done.body);
        }
        let s = self
            .post_auth(
                &format!("/v1/applications/{id}/submit"),
                serde_json::json!({}),
                token,
            )
            .await;
        assert_eq!(s.status, 200, "{:?}", s.body);
        id
    }

    /// The first day with open quota at an office, and that day's slots.
    pub async fn first_open_day(&self, office_id: &str) -> (String, Vec<Value>) {
        self.open_day(office_id, 0).await
    }

    /// The `n`-th day with open quota (0: the first).
    pub async fn open_day(&self, office_id: &str, n: usize) -> (String, Vec<Value>) {
        let a = self
            .get(&format!("/v1/offices/{office_id}/availability"), None)
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        let day = a.body["days"]
            .as_array()
            .and_then(|d| d.get(n))
            .cloned()
            .expect("an open day");
        (
            day["date"].as_str().expect("date").to_owned(),
            day["slots"].as_array().cloned().expect("slots"),
        )
    }
}

impl LocalServer {
    /// The server's clock, now.
    pub async fn now(&self) -> chrono::DateTime<chrono::Utc> {
        if self.is_stack() {
            return chrono::Utc::now();
        }
        let a = self
            .post("/_local/clock", serde_json::json!({"advance_secs": 0}))
            .await;
        chrono::DateTime::parse_from_rfc3339(a.str("/now"))
            .expect("now")
            .with_timezone(&chrono::Utc)
    }

    /// Delivers a payment notification as a channel would, signed with `secret`.
    pub async fn notify_payment(&self, secret: &str, body: &Value, timestamp: i64) -> Answer {
        let raw = serde_json::to_vec(body).expect("json");
        let signature = paspor_domain::payments::sign(secret.as_bytes(), timestamp, &raw);
        let resp = self
            .http
            .post(format!("{}/v1/payments/notifications", self.base))
            .header("content-type", "application/json")
            .header("x-paspor-timestamp", timestamp.to_string())
            .header("x-paspor-signature", signature)
            .body(raw)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Pays a billing code now, with the current secret.
    pub async fn pay(&self, billing_code: &str, amount_idr: i64, transaction_id: &str) -> Answer {
        let now = self.now().await;
        let body = serde_json::json!({"transaction_id": transaction_id, "billing_code": billing_code, "amount_idr": amount_idr, "paid_at": now, "channel": "indomaret"});
        self.notify_payment(WEBHOOK_SECRET, &body, now.timestamp())
            .await
    }
}
