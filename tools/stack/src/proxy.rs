//! The one endpoint every function's AWS SDK talks to instead of AWS. Each function signs
//! with its own access key id; the proxy tells the function by it, classifies the request
//! into IAM (action, resource) pairs, checks them against that function's role, and
//! either answers as AWS refuses or forwards the request byte for byte to the stand-in.
//!
//! A request signed with no key the proxy knows (a phone's presigned POST upload, the
//! stack's own setup calls) is forwarded unchecked: S3 enforces the presigned policy itself.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::iam::{Decision, Policy};
use crate::sigv4;

/// Uploads are a few MB; SDK calls far less.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Where each service's stand-in listens (base URLs, no trailing slash needed).
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub dynamodb: String,
    pub s3: String,
    pub sqs: String,
    pub ses: String,
    pub ssm: String,
}

/// One function's identity: its access key id maps to this.
#[derive(Debug, Clone)]
pub struct Identity {
    pub function: String,
    /// `arn:aws:iam::{account}:role/{name}`
    pub role_arn: String,
    pub policy: Policy,
}

/// An object stored through the proxy (PUT object, or a presigned POST upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
}

pub type ObjectCreatedHook = Arc<dyn Fn(ObjectCreated) + Send + Sync>;

pub struct ProxyConfig {
    pub region: String,
    pub account: String,
    pub upstreams: Upstreams,
    /// By access key id.
    pub identities: HashMap<String, Identity>,
    /// Every email sent through SES is written here as `{ulid}.eml`.
    pub outbox: PathBuf,
    pub on_object_created: ObjectCreatedHook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    DynamoDb,
    S3,
    Sqs,
    Ses,
    Ssm,
}

impl Service {
    fn from_signing_name(name: &str) -> Option<Self> {
        Some(match name {
            "dynamodb" => Self::DynamoDb,
            "s3" => Self::S3,
            "sqs" => Self::Sqs,
            "ses" | "email" => Self::Ses,
            "ssm" => Self::Ssm,
            _ => return None,
        })
    }
}

/// One IAM check a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, String>,
}

impl Check {
    fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.context.insert(key.to_owned(), value.into());
        self
    }
}

/// The parts of a request classification looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a Method,
    /// As received, percent-encoded.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Classifies a request to `service` into the IAM checks AWS would make.
pub fn classify(
    service: Service,
    req: &RequestParts<'_>,
    region: &str,
    account: &str,
) -> Result<Vec<Check>, String> {
    match service {
        Service::DynamoDb => classify_dynamodb(req, region, account),
        Service::Sqs => classify_sqs(req, region, account),
        Service::Ssm => classify_ssm(req, region, account),
        Service::Ses => classify_ses(req, region, account),
        Service::S3 => classify_s3(req),
    }
}

fn target<'a>(req: &RequestParts<'a>, prefix: &str) -> Option<&'a str> {
    req.headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(prefix))
}

fn json_body(req: &RequestParts<'_>) -> Result<Value, String> {
    if req.body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(req.body).map_err(|e| format!("the body is not JSON: {e}"))
}

fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn classify_dynamodb(
    req: &RequestParts<'_>,
    region: &str,
    account: &str,
) -> Result<Vec<Check>, String> {
    let op = target(req, "DynamoDB_20120810.").ok_or("no DynamoDB X-Amz-Target")?;
    let body = json_body(req)?;
    let table = |name: &str| format!("arn:aws:dynamodb:{region}:{account}:table/{name}");
    let action = format!("dynamodb:{op}");
    Ok(match op {
        "TransactWriteItems" | "TransactGetItems" => {
            let items = body
                .get("TransactItems")
                .and_then(Value::as_array)
                .ok_or("no TransactItems")?;
            let mut checks = Vec::new();
            for item in items {
                let obj = item.as_object().ok_or("a TransactItem is not an object")?;
                // Each element is checked as its own operation (DynamoDB's IAM guide).
                for (kind, inner) in obj {
                    let iam = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        "Get" => "GetItem",
                        other => return Err(format!("unknown TransactItem kind {other}")),
                    };
                    let name = str_field(inner, "TableName").ok_or("an item has no TableName")?;
                    checks.push(
                        Check::new(format!("dynamodb:{iam}"), table(name))
                            .with("dynamodb:EnclosingOperation", op),
                    );
                }
            }
            checks
        }
        "BatchWriteItem" | "BatchGetItem" => body
            .get("RequestItems")
            .and_then(Value::as_object)
            .ok_or("no RequestItems")?
            .keys()
            .map(|name| Check::new(action.clone(), table(name)))
            .collect(),
        "ListTables" | "DescribeLimits" | "DescribeEndpoints" => vec![Check::new(action, "*")],
        _ => {
            let name = str_field(&body, "TableName").ok_or("no TableName")?;
            let resource = match str_field(&body, "IndexName") {
                Some(index) if matches!(op, "Query" | "Scan") => {
                    format!("{}/index/{index}", table(name))
                }
                _ => table(name),
            };
            vec![Check::new(action, resource)]
        }
    })
}

/// `https://host/{account}/{name}` → `arn:aws:sqs:{region}:{account}:{name}`.
fn queue_arn(url: &str, region: &str) -> Option<String> {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next()?;
    let account = parts.next()?;
    (!name.is_empty() && !account.is_empty())
        .then(|| format!("arn:aws:sqs:{region}:{account}:{name}"))
}

fn classify_sqs(req: &RequestParts<'_>, region: &str, account: &str) -> Result<Vec<Check>, String> {
    // The JSON protocol (X-Amz-Target), or the older query protocol (Action= in a form).
    let (op, queue_url, queue_name) = match target(req, "AmazonSQS.") {
        Some(op) => {
            let body = json_body(req)?;
            (
                op.to_owned(),
                str_field(&body, "QueueUrl").map(str::to_owned),
                str_field(&body, "QueueName").map(str::to_owned),
            )
        }
        None => {
            let form = sigv4::query_pairs(&String::from_utf8_lossy(req.body));
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            (
                get("Action").ok_or("no SQS X-Amz-Target or Action")?,
                get("QueueUrl"),
                get("QueueName"),
            )
        }
    };
    let action = format!("sqs:{op}");
    let resource = match (queue_url, queue_name) {
        (Some(url), _) => queue_arn(&url, region).ok_or_else(|| format!("bad QueueUrl {url}"))?,
        (None, Some(name)) => format!("arn:aws:sqs:{region}:{account}:{name}"),
        (None, None) => "*".to_owned(),
    };
    Ok(vec![Check::new(action, resource)])
}

fn parameter_arn(region: &str, account: &str, name: &str) -> String {
    let sep = if name.starts_with('/') { "" } else { "/" };
    format!("arn:aws:ssm:{region}:{account}:parameter{sep}{name}")
}

fn classify_ssm(req: &RequestParts<'_>, region: &str, account: &str) -> Result<Vec<Check>, String> {
    let op = target(req, "AmazonSSM.").ok_or("no SSM X-Amz-Target")?;
    let body = json_body(req)?;
    let action = format!("ssm:{op}");
    if let Some(names) = body.get("Names").and_then(Value::as_array) {
        return names
            .iter()
            .map(|n| {
                n.as_str()
                    .map(|n| Check::new(action.clone(), parameter_arn(region, account, n)))
                    .ok_or_else(|| "a name is not a string".to_owned())
            })
            .collect();
    }
    Ok(vec![match str_field(&body, "Name") {
        Some(name) => Check::new(action, parameter_arn(region, account, name)),
        None => Check::new(action, "*"),
    }])
}

/// The address in `Name <addr>` or a bare `addr`.
fn bare_address(s: &str) -> &str {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].trim(),
        _ => s.trim(),
    }
}

fn classify_ses(req: &RequestParts<'_>, region: &str, account: &str) -> Result<Vec<Check>, String> {
    if req.method == Method::POST && req.path.trim_end_matches('/') == "/v2/email/outbound-emails" {
        let body = json_body(req)?;
        let from = str_field(&body, "FromEmailAddress").ok_or("no FromEmailAddress")?;
        // SES authorises the sending identity; recipients only matter in the sandbox.
        return Ok(vec![
            Check::new(
                "ses:SendEmail",
                format!(
                    "arn:aws:ses:{region}:{account}:identity/{}",
                    bare_address(from)
                ),
            )
            .with("ses:FromAddress", bare_address(from)),
        ]);
    }
    Err(format!(
        "SES {} {} is not known to the stack",
        req.method, req.path
    ))
}

fn has_param(pairs: &[(String, String)], name: &str) -> bool {
    pairs.iter().any(|(k, _)| k == name)
}

fn param<'p>(pairs: &'p [(String, String)], name: &str) -> Option<&'p str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A path-style S3 path split into bucket and (decoded) key.
fn s3_bucket_key(path: &str) -> (String, String) {
    let decoded = String::from_utf8_lossy(&sigv4::percent_decode(path.as_bytes())).into_owned();
    let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
    match rest.split_once('/') {
        Some((b, k)) => (b.to_owned(), k.to_owned()),
        None => (rest.to_owned(), String::new()),
    }
}

/// Every `<Key>` in a DeleteObjects body.
fn delete_keys(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut keys = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("<Key>") {
        rest = &rest[start + 5..];
        let Some(end) = rest.find("</Key>") else {
            break;
        };
        keys.push(xml_unescape(&rest[..end]));
        rest = &rest[end + 6..];
    }
    keys
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn classify_s3(req: &RequestParts<'_>) -> Result<Vec<Check>, String> {
    let (bucket, key) = s3_bucket_key(req.path);
    let q = sigv4::query_pairs(req.query);
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let object_arn = format!("arn:aws:s3:::{bucket}/{key}");
    let m = req.method;
    if bucket.is_empty() {
        return Ok(vec![Check::new("s3:ListAllMyBuckets", "*")]);
    }
    if key.is_empty() {
        // Bucket subresources, by the IAM action each needs.
        const SUB: &[(&str, &str, &str)] = &[
            ("cors", "s3:GetBucketCORS", "s3:PutBucketCORS"),
            (
                "notification",
                "s3:GetBucketNotification",
                "s3:PutBucketNotification",
            ),
            ("policy", "s3:GetBucketPolicy", "s3:PutBucketPolicy"),
            (
                "lifecycle",
                "s3:GetLifecycleConfiguration",
                "s3:PutLifecycleConfiguration",
            ),
            (
                "versioning",
                "s3:GetBucketVersioning",
                "s3:PutBucketVersioning",
            ),
            ("location", "s3:GetBucketLocation", "s3:GetBucketLocation"),
            ("tagging", "s3:GetBucketTagging", "s3:PutBucketTagging"),
            ("acl", "s3:GetBucketAcl", "s3:PutBucketAcl"),
            (
                "encryption",
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
            ),
        ];
        if let Some((sub, get, put)) = SUB.iter().find(|(s, _, _)| has_param(&q, s)) {
            let action = match *m {
                Method::GET | Method::HEAD => *get,
                Method::PUT => *put,
                Method::DELETE if *sub == "policy" => "s3:DeleteBucketPolicy",
                // DeleteBucketCors, -Lifecycle, -Tagging, -Encryption need the Put* action.
                Method::DELETE => *put,
                _ => return Err(format!("S3 {m} ?{sub} is not known to the stack")),
            };
            return Ok(vec![Check::new(action, bucket_arn)]);
        }
        return Ok(match *m {
            Method::GET | Method::HEAD if has_param(&q, "uploads") => {
                vec![Check::new("s3:ListBucketMultipartUploads", bucket_arn)]
            }
            Method::GET | Method::HEAD => {
                let mut c = Check::new("s3:ListBucket", bucket_arn);
                for (name, key) in [
                    ("prefix", "s3:prefix"),
                    ("delimiter", "s3:delimiter"),
                    ("max-keys", "s3:max-keys"),
                ] {
                    if let Some(v) = param(&q, name) {
                        c = c.with(key, v);
                    }
                }
                if let Some(v) = param(&q, "list-type") {
                    c = c.with("s3:ListObjectsVersion", format!("v{v}"));
                }
                vec![c]
            }
            Method::PUT => vec![Check::new("s3:CreateBucket", bucket_arn)],
            Method::DELETE => vec![Check::new("s3:DeleteBucket", bucket_arn)],
            Method::POST if has_param(&q, "delete") => delete_keys(req.body)
                .into_iter()
                .map(|k| Check::new("s3:DeleteObject", format!("arn:aws:s3:::{bucket}/{k}")))
                .collect(),
            Method::POST => {
                // A browser-form (presigned POST) upload: the key is in the form.
                let form = multipart_form(req.headers, req.body)
                    .ok_or("a POST to a bucket that is not a multipart form")?;
                vec![Check::new(
                    "s3:PutObject",
                    format!("arn:aws:s3:::{bucket}/{}", form.key()),
                )]
            }
            _ => return Err(format!("S3 {m} on a bucket is not known to the stack")),
        });
    }
    let has_upload = has_param(&q, "uploadId");
    Ok(match *m {
        Method::GET | Method::HEAD if has_param(&q, "tagging") => {
            vec![Check::new("s3:GetObjectTagging", object_arn)]
        }
        Method::GET | Method::HEAD if has_upload => {
            vec![Check::new("s3:ListMultipartUploadParts", object_arn)]
        }
        Method::GET | Method::HEAD => vec![Check::new("s3:GetObject", object_arn)],
        Method::PUT if has_param(&q, "tagging") => {
            vec![Check::new("s3:PutObjectTagging", object_arn)]
        }
        Method::PUT => {
            let mut checks = vec![Check::new("s3:PutObject", object_arn)];
            // CopyObject / UploadPartCopy also read the source.
            if let Some(src) = req
                .headers
                .get("x-amz-copy-source")
                .and_then(|v| v.to_str().ok())
            {
                let src =
                    String::from_utf8_lossy(&sigv4::percent_decode(src.as_bytes())).into_owned();
                let src = src.split('?').next().unwrap_or_default();
                checks.push(Check::new(
                    "s3:GetObject",
                    format!("arn:aws:s3:::{}", src.trim_start_matches('/')),
                ));
            }
            checks
        }
        Method::DELETE if has_upload => vec![Check::new("s3:AbortMultipartUpload", object_arn)],
        Method::DELETE if has_param(&q, "tagging") => {
            vec![Check::new("s3:DeleteObjectTagging", object_arn)]
        }
        Method::DELETE => vec![Check::new("s3:DeleteObject", object_arn)],
        // CreateMultipartUpload (?uploads) and CompleteMultipartUpload (?uploadId).
        Method::POST if has_param(&q, "uploads") || has_upload => {
            vec![Check::new("s3:PutObject", object_arn)]
        }
        _ => return Err(format!("S3 {m} on an object is not known to the stack")),
    })
}

/// A parsed `multipart/form-data` body: its text fields, and the file part.
#[derive(Debug, Default)]
struct Form {
    fields: Vec<(String, String)>,
    filename: Option<String>,
    file_len: u64,
}

impl Form {
    /// The object key: the `key` field, `${filename}` replaced as S3 does.
    fn key(&self) -> String {
        let key = self
            .fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("key"))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        key.replace("${filename}", self.filename.as_deref().unwrap_or_default())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn multipart_form(headers: &HeaderMap, body: &[u8]) -> Option<Form> {
    let ct = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return None;
    }
    let boundary = ct
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))?
        .1
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let mut form = Form::default();
    let mut rest = &body[find(body, delim.as_bytes())? + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some(form);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        rest = &rest[head_end + 4..];
        let next = find(rest, format!("\r\n{delim}").as_bytes())?;
        let content = &rest[..next];
        rest = &rest[next + 2 + delim.len()..];
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        let attr = |name: &str| {
            disposition
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim_matches('"').to_owned())
        };
        let name = attr("name")?;
        if name.eq_ignore_ascii_case("file") {
            form.filename = attr("filename");
            form.file_len = content.len() as u64;
        } else {
            form.fields
                .push((name, String::from_utf8_lossy(content).into_owned()));
        }
    }
}

/// Checked and refused, for one (function, action).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub checked: u64,
    pub refused: u64,
}

/// Every request the proxy saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests from a known function (each checked).
    pub requests: u64,
    /// Of those, refused.
    pub refused_requests: u64,
    /// IAM checks (a transaction makes one per element).
    pub checks: u64,
    pub refused_checks: u64,
    /// Requests with no known key, forwarded unchecked.
    pub unchecked: u64,
}

#[derive(Default)]
struct Stats {
    by: BTreeMap<(String, String), Counts>,
    totals: Totals,
}

pub struct Proxy {
    config: ProxyConfig,
    client: reqwest::Client,
    stats: Mutex<Stats>,
    trace: Mutex<Vec<Traced>>,
}

/// One AWS request of a function, timed: how BENCHMARKS.md counts the round trips one
/// HTTP request waits for (requests that do not overlap run one after another).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Traced {
    pub function: String,
    /// The operation (`X-Amz-Target`'s name, or the S3 method and whether a key is named).
    pub operation: String,
    pub start_us: i64,
    pub end_us: i64,
}

fn operation_of<B>(req: &http::Request<B>) -> String {
    match req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        Some(t) => t.rsplit('.').next().unwrap_or(t).to_owned(),
        None if req.uri().path().starts_with("/v2/email") => "SendEmail".to_owned(),
        None => format!("s3 {}", req.method()),
    }
}

/// AWS's request id shape is opaque; a ULID is as good.
fn request_id() -> String {
    ulid::Ulid::new().to_string()
}

fn response(status: StatusCode, headers: &[(&str, String)], body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}

/// Hop-by-hop headers are the connection's, not the request's.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

impl Proxy {
    pub fn new(config: ProxyConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Self {
            config,
            client,
            stats: Mutex::new(Stats::default()),
            trace: Mutex::new(Vec::new()),
        })
    }

    pub fn totals(&self) -> Totals {
        self.stats.lock().map(|s| s.totals).unwrap_or_default()
    }

    /// Checked and refused by (function, action).
    pub fn counts(&self) -> BTreeMap<(String, String), Counts> {
        self.stats.lock().map(|s| s.by.clone()).unwrap_or_default()
    }

    /// A table of checked/refused by function and action, and the totals.
    pub fn report(&self) -> String {
        let counts = self.counts();
        let t = self.totals();
        let fw = counts
            .keys()
            .map(|(f, _)| f.len())
            .max()
            .unwrap_or(0)
            .max(8);
        let aw = counts
            .keys()
            .map(|(_, a)| a.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let mut out = format!(
            "{:fw$}  {:aw$}  {:>8}  {:>8}\n",
            "function", "action", "checked", "refused"
        );
        for ((f, a), c) in &counts {
            out.push_str(&format!(
                "{f:fw$}  {a:aw$}  {:>8}  {:>8}\n",
                c.checked, c.refused
            ));
        }
        out.push_str(&format!(
            "AWS requests checked: {} ({} IAM checks), refused: {} ({} checks); unchecked client requests: {}\n",
            t.requests, t.checks, t.refused_requests, t.refused_checks, t.unchecked
        ));
        out
    }

    fn record(&self, function: &str, action: &str, refused: bool) {
        if let Ok(mut s) = self.stats.lock() {
            let c =
                s.by.entry((function.to_owned(), action.to_owned()))
                    .or_default();
            c.checked += 1;
            c.refused += u64::from(refused);
            s.totals.checks += 1;
            s.totals.refused_checks += u64::from(refused);
        }
    }

    fn record_request(&self, known: bool, refused: bool) {
        if let Ok(mut s) = self.stats.lock() {
            if known {
                s.totals.requests += 1;
                s.totals.refused_requests += u64::from(refused);
            } else {
                s.totals.unchecked += 1;
            }
        }
    }

    fn upstream(&self, service: Service) -> &str {
        let u = &self.config.upstreams;
        match service {
            Service::DynamoDb => &u.dynamodb,
            Service::S3 => &u.s3,
            Service::Sqs => &u.sqs,
            Service::Ses => &u.ses,
            Service::Ssm => &u.ssm,
        }
    }

    /// `arn:aws:sts::{account}:assumed-role/{role}/{function}`, as Lambda's session is named.
    fn principal(&self, identity: &Identity) -> String {
        let role = identity
            .role_arn
            .rsplit_once(":role/")
            .map(|(_, r)| r.rsplit('/').next().unwrap_or(r))
            .unwrap_or(&identity.role_arn);
        format!(
            "arn:aws:sts::{}:assumed-role/{role}/{}",
            self.config.account, identity.function
        )
    }

    /// Every function's AWS requests so far, in the order they ended.
    pub fn trace(&self) -> Vec<Traced> {
        self.trace.lock().map(|t| t.clone()).unwrap_or_default()
    }

    async fn handle(&self, req: http::Request<Body>) -> Response {
        let start = chrono::Utc::now().timestamp_micros();
        let function = sigv4::credential(req.headers(), req.uri().query().unwrap_or(""))
            .and_then(|c| self.config.identities.get(&c.access_key_id))
            .map(|id| id.function.clone());
        let operation = operation_of(&req);
        let answer = self.handle_checked(req).await;
        if let (Some(function), Ok(mut trace)) = (function, self.trace.lock()) {
            trace.push(Traced {
                function,
                operation,
                start_us: start,
                end_us: chrono::Utc::now().timestamp_micros(),
            });
        }
        answer
    }

    async fn handle_checked(&self, req: http::Request<Body>) -> Response {
        let (parts, body) = req.into_parts();
        let body = match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(e) => {
                return response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &[],
                    format!("body not read: {e}"),
                );
            }
        };
        let path = parts.uri.path();
        let query = parts.uri.query().unwrap_or("");
        let headers = &parts.headers;
        let credential = sigv4::credential(headers, query);
        let identity = credential
            .as_ref()
            .and_then(|c| self.config.identities.get(&c.access_key_id));
        // With no signature in a header the request is a client's: only S3 takes those.
        let service = match &credential {
            Some(c) => match Service::from_signing_name(&c.service) {
                Some(s) => s,
                None => {
                    return response(
                        StatusCode::BAD_REQUEST,
                        &[],
                        format!("service {} is not one the stack stands in for", c.service),
                    );
                }
            },
            None => Service::S3,
        };
        let rp = RequestParts {
            method: &parts.method,
            path,
            query,
            headers,
            body: &body,
        };
        let checks = match classify(service, &rp, &self.config.region, &self.config.account) {
            Ok(c) => c,
            Err(e) if identity.is_some() => {
                // A function doing what nobody classified is refused, never waved through.
                if let Some(id) = identity {
                    self.record(&id.function, "unclassified", true);
                }
                self.record_request(true, true);
                return response(
                    StatusCode::NOT_IMPLEMENTED,
                    &[],
                    format!("paspor-stack proxy: {e}"),
                );
            }
            Err(_) => Vec::new(),
        };
        if let Some(id) = identity {
            let mut refusal = None;
            for c in &checks {
                let decision = id.policy.decide(&c.action, &c.resource, &c.context);
                let refused = decision != Decision::Allowed;
                self.record(&id.function, &c.action, refused);
                if refused && refusal.is_none() {
                    refusal = Some((c, decision));
                }
            }
            self.record_request(true, refusal.is_some());
            if let Some((c, decision)) = refusal {
                return self.access_denied(service, &parts.method, id, c, decision);
            }
        } else {
            self.record_request(false, false);
        }

        let upstream = match self.forward(service, &parts, body.clone()).await {
            Ok(r) => r,
            Err(e) => {
                return response(
                    StatusCode::BAD_GATEWAY,
                    &[],
                    format!("paspor-stack proxy: upstream {service:?}: {e}"),
                );
            }
        };
        let (status, up_headers, up_body) = upstream;

        if service == Service::S3 {
            let (bucket, key) = s3_bucket_key(path);
            // S3 answers a missing object 403 unless the caller may list the bucket.
            if let Some(id) = identity
                && status == StatusCode::NOT_FOUND
                && !key.is_empty()
                && matches!(parts.method, Method::GET | Method::HEAD)
            {
                let arn = format!("arn:aws:s3:::{bucket}");
                let ctx = BTreeMap::from([("s3:prefix".to_owned(), key.clone())]);
                let allowed = id.policy.allows("s3:ListBucket", &arn, &ctx);
                self.record(&id.function, "s3:ListBucket", !allowed);
                if !allowed {
                    return s3_denied(&parts.method, "Access Denied");
                }
            }
            if status.is_success() {
                self.object_created(
                    &parts.method,
                    query,
                    headers,
                    &body,
                    &up_headers,
                    bucket,
                    key,
                );
            }
        }
        if service == Service::Ses
            && status.is_success()
            && path.trim_end_matches('/') == "/v2/email/outbound-emails"
            && let Err(e) = self.write_eml(&body)
        {
            tracing_warn(&format!("outbox: {e}"));
        }
        let mut r = Response::new(Body::from(up_body));
        *r.status_mut() = status;
        for (k, v) in up_headers.iter() {
            if !hop_by_hop(k.as_str()) {
                r.headers_mut().append(k.clone(), v.clone());
            }
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn object_created(
        &self,
        method: &Method,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
        up_headers: &HeaderMap,
        bucket: String,
        key: String,
    ) {
        // The SDK tags every call with `x-id=<Operation>`; any other parameter is a
        // subresource (tagging, a multipart part), not a new object.
        let q: Vec<_> = sigv4::query_pairs(query)
            .into_iter()
            .filter(|(k, _)| k != "x-id")
            .collect();
        let etag = up_headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned();
        let header_u64 = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let created = if *method == Method::PUT
            && !key.is_empty()
            && q.is_empty()
            && !headers.contains_key("x-amz-copy-source")
        {
            // aws-chunked bodies carry the object's length in their own header.
            let size = header_u64("x-amz-decoded-content-length").unwrap_or(body.len() as u64);
            Some(ObjectCreated {
                bucket,
                key,
                size,
                etag,
            })
        } else if *method == Method::POST && key.is_empty() && q.is_empty() {
            multipart_form(headers, body).map(|form| ObjectCreated {
                bucket,
                key: form.key(),
                size: form.file_len,
                etag,
            })
        } else {
            None
        };
        if let Some(c) = created {
            (self.config.on_object_created)(c);
        }
    }

    async fn forward(
        &self,
        service: Service,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
        let base = self.upstream(service).trim_end_matches('/');
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let url = format!("{base}{path_and_query}");
        let mut headers = HeaderMap::new();
        for (k, v) in &parts.headers {
            // Host stays as signed; the client computes content-length from the body.
            if !hop_by_hop(k.as_str()) && k != http::header::CONTENT_LENGTH {
                headers.append(k.clone(), v.clone());
            }
        }
        let resp = self
            .client
            .request(parts.method.clone(), url)
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        Ok((status, headers, bytes))
    }

    fn access_denied(
        &self,
        service: Service,
        method: &Method,
        id: &Identity,
        c: &Check,
        decision: Decision,
    ) -> Response {
        let why = match decision {
            Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
            _ => format!(
                "because no identity-based policy allows the {} action",
                c.action
            ),
        };
        let who = self.principal(id);
        let rid = request_id();
        match service {
            Service::DynamoDb => {
                let msg = format!(
                    "User: {who} is not authorized to perform: {} on resource: {} {why}",
                    c.action, c.resource
                );
                response(
                    StatusCode::BAD_REQUEST,
                    &[
                        ("content-type", "application/x-amz-json-1.0".into()),
                        ("x-amzn-requestid", rid),
                    ],
                    serde_json::json!({
                        "__type": "com.amazon.coral.service#AccessDeniedException",
                        "Message": msg,
                    })
                    .to_string(),
                )
            }
            Service::Sqs => {
                let msg = format!(
                    "User: {who} is not authorized to perform: {} on resource: {} {why}",
                    c.action, c.resource
                );
                response(
                    StatusCode::BAD_REQUEST,
                    &[
                        ("content-type", "application/x-amz-json-1.0".into()),
                        ("x-amzn-requestid", rid),
                        // The SDK's query-compatible error code.
                        ("x-amzn-query-error", "AccessDenied;Sender".into()),
                    ],
                    serde_json::json!({
                        "__type": "com.amazon.coral.service#AccessDeniedException",
                        "message": msg,
                    })
                    .to_string(),
                )
            }
            Service::Ssm => {
                let msg = format!(
                    "User: {who} is not authorized to perform: {} on resource: {} {why}",
                    c.action, c.resource
                );
                response(
                    StatusCode::BAD_REQUEST,
                    &[
                        ("content-type", "application/x-amz-json-1.1".into()),
                        ("x-amzn-requestid", rid),
                    ],
                    serde_json::json!({"__type": "AccessDeniedException", "message": msg})
                        .to_string(),
                )
            }
            Service::Ses => {
                let msg = format!(
                    "User `{who}' is not authorized to perform `{}' on resource `{}'",
                    c.action, c.resource
                );
                response(
                    StatusCode::FORBIDDEN,
                    &[
                        ("content-type", "application/json".into()),
                        ("x-amzn-errortype", "AccessDeniedException".into()),
                        ("x-amzn-requestid", rid),
                    ],
                    serde_json::json!({"message": msg}).to_string(),
                )
            }
            Service::S3 => s3_denied(
                method,
                &format!(
                    "User: {who} is not authorized to perform: {} on resource: \"{}\" {why}",
                    c.action, c.resource
                ),
            ),
        }
    }

    /// Writes a SendEmail (SES v2, simple content) as an RFC 5322 message in the outbox.
    fn write_eml(&self, body: &[u8]) -> anyhow::Result<PathBuf> {
        let v: Value = serde_json::from_slice(body)?;
        let from = str_field(&v, "FromEmailAddress")
            .unwrap_or_default()
            .to_owned();
        let list = |key: &str| -> Vec<String> {
            v.get("Destination")
                .and_then(|d| d.get(key))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let simple = v
            .get("Content")
            .and_then(|c| c.get("Simple"))
            .ok_or_else(|| anyhow::anyhow!("only simple content is written to the outbox"))?;
        let data = |v: Option<&Value>| {
            v.and_then(|x| x.get("Data"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let subject = data(simple.get("Subject")).unwrap_or_default();
        let text = data(simple.get("Body").and_then(|b| b.get("Text")));
        let html = data(simple.get("Body").and_then(|b| b.get("Html")));
        let id = ulid::Ulid::new().to_string();
        let domain = bare_address(&from)
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| "paspor.local".to_owned());
        let mut msg = mail_builder::MessageBuilder::new()
            .from(bare_address(&from).to_owned())
            .to(list("ToAddresses"))
            .subject(subject)
            .date(chrono::Utc::now().timestamp())
            .message_id(format!("{id}@{domain}"));
        let cc = list("CcAddresses");
        if !cc.is_empty() {
            msg = msg.cc(cc);
        }
        if let Some(t) = text {
            msg = msg.text_body(t);
        }
        if let Some(h) = html {
            msg = msg.html_body(h);
        }
        std::fs::create_dir_all(&self.config.outbox)?;
        let path = self.config.outbox.join(format!("{id}.eml"));
        // Written whole then renamed, so a reader never sees half a message.
        let tmp = self.config.outbox.join(format!(".{id}.eml.tmp"));
        std::fs::write(&tmp, msg.write_to_vec()?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

fn tracing_warn(msg: &str) {
    eprintln!("paspor-stack proxy: {msg}");
}

fn s3_denied(method: &Method, message: &str) -> Response {
    let rid = request_id();
    let headers = [
        ("content-type", "application/xml".to_owned()),
        ("x-amz-request-id", rid.clone()),
    ];
    // A HEAD answer has no body; the SDK reads the status alone.
    if *method == Method::HEAD {
        return response(StatusCode::FORBIDDEN, &headers, Body::empty());
    }
    response(
        StatusCode::FORBIDDEN,
        &headers,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>{}</Message><RequestId>{rid}</RequestId><HostId>paspor-stack</HostId></Error>",
            xml_escape(message)
        ),
    )
}

async fn fallback(State(proxy): State<Arc<Proxy>>, req: http::Request<Body>) -> Response {
    proxy.handle(req).await
}

/// The proxy's router (any method, any path), for embedding.
pub fn router(proxy: Arc<Proxy>) -> Router {
    Router::new().fallback(fallback).with_state(proxy)
}

/// Serves the proxy on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    proxy: Arc<Proxy>,
    cors: crate::s3cors::Rules,
) -> std::io::Result<()> {
    let app = router(proxy).layer(axum::middleware::from_fn_with_state(
        Arc::new(cors),
        crate::s3cors::apply,
    ));
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REGION: &str = "ap-southeast-3";
    const ACCOUNT: &str = "123456789012";
    const TABLE: &str = "arn:aws:dynamodb:ap-southeast-3:123456789012:table/paspor-table";
    const BUCKET: &str = "paspor-docs";

    fn hdrs(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn run(
        service: Service,
        method: Method,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<Check>, String> {
        let h = hdrs(headers);
        classify(
            service,
            &RequestParts {
                method: &method,
                path,
                query,
                headers: &h,
                body,
            },
            REGION,
            ACCOUNT,
        )
    }

    fn pairs(checks: &[Check]) -> Vec<(&str, &str)> {
        checks
            .iter()
            .map(|c| (c.action.as_str(), c.resource.as_str()))
            .collect()
    }

    #[test]
    fn dynamodb_transactions_check_each_element() {
        let body = json!({
            "TransactItems": [
                {"Put": {"TableName": "paspor-table", "Item": {}}},
                {"Update": {"TableName": "paspor-table", "Key": {}, "UpdateExpression": "SET a = :a"}},
                {"Delete": {"TableName": "other", "Key": {}}},
                {"ConditionCheck": {"TableName": "paspor-table", "Key": {}, "ConditionExpression": "attribute_exists(pk)"}}
            ],
            "ClientRequestToken": "x"
        });
        let c = run(
            Service::DynamoDb,
            Method::POST,
            "/",
            "",
            &[("x-amz-target", "DynamoDB_20120810.TransactWriteItems")],
            body.to_string().as_bytes(),
        )
        .expect("classified");
        assert_eq!(
            pairs(&c),
            vec![
                ("dynamodb:PutItem", TABLE),
                ("dynamodb:UpdateItem", TABLE),
                (
                    "dynamodb:DeleteItem",
                    "arn:aws:dynamodb:ap-southeast-3:123456789012:table/other"
                ),
                ("dynamodb:ConditionCheckItem", TABLE),
            ]
        );
        assert_eq!(
            c[0].context
                .get("dynamodb:EnclosingOperation")
                .map(String::as_str),
            Some("TransactWriteItems")
        );
        let get = json!({"TransactItems": [{"Get": {"TableName": "paspor-table", "Key": {}}}]});
        let c = run(
            Service::DynamoDb,
            Method::POST,
            "/",
            "",
            &[("x-amz-target", "DynamoDB_20120810.TransactGetItems")],
            get.to_string().as_bytes(),
        )
        .expect("classified");
        assert_eq!(pairs(&c), vec![("dynamodb:GetItem", TABLE)]);
        let q = json!({"TableName": "paspor-table", "IndexName": "gsi1", "KeyConditionExpression": "pk = :p"});
        let c = run(
            Service::DynamoDb,
            Method::POST,
            "/",
            "",
            &[("x-amz-target", "DynamoDB_20120810.Query")],
            q.to_string().as_bytes(),
        )
        .expect("classified");
        assert_eq!(
            pairs(&c),
            vec![("dynamodb:Query", &*format!("{TABLE}/index/gsi1"))]
        );
        let b = json!({"RequestItems": {"paspor-table": [{"PutRequest": {"Item": {}}}]}});
        let c = run(
            Service::DynamoDb,
            Method::POST,
            "/",
            "",
            &[("x-amz-target", "DynamoDB_20120810.BatchWriteItem")],
            b.to_string().as_bytes(),
        )
        .expect("classified");
        assert_eq!(pairs(&c), vec![("dynamodb:BatchWriteItem", TABLE)]);
        assert!(run(Service::DynamoDb, Method::POST, "/", "", &[], b"{}").is_err());
    }

    #[test]
    fn sqs_and_ssm_and_ses() {
        let body = json!({"QueueUrl": "http://127.0.0.1:4566/123456789012/paspor-jobs", "MessageBody": "{}"});
        let c = run(
            Service::Sqs,
            Method::POST,
            "/",
            "",
            &[("x-amz-target", "AmazonSQS.SendMessage")],
            body.to_string().as_bytes(),
        )
        .expect("classified");
        assert_eq!(
            pairs(&c),
            vec![(
                "sqs:SendMessage",
                "arn:aws:sqs:ap-southeast-3:123456789012:paspor-jobs"
            )]
        );
        let form = b"Action=SendMessage&QueueUrl=http%3A%2F%2Fh%2F123456789012%2Fq&MessageBody=x";
        let c = run(Service::Sqs, Method::POST, "/", "", &[], form).expect("classified");
        assert_eq!(
            pairs(&c),
            vec![(
                "sqs:SendMessage",
                "arn:aws:sqs:ap-southeast-3:123456789012:q"
            )]
        );

        let body = json!({"Names": ["/paspor/dev/token-key", "/paspor/dev/otp-key"], "WithDecryption": true});
        let c = run(
            Service::Ssm,
            Method::POST,
            "/",
            "",
            &[("x-amz-target", "AmazonSSM.GetParameters")],
            body.to_string().as_bytes(),
        )
        .expect("classified");
        assert_eq!(
            pairs(&c),
            vec![
                (
                    "ssm:GetParameters",
                    "arn:aws:ssm:ap-southeast-3:123456789012:parameter/paspor/dev/token-key"
                ),
                (
                    "ssm:GetParameters",
                    "arn:aws:ssm:ap-southeast-3:123456789012:parameter/paspor/dev/otp-key"
                ),
            ]
        );

        let mail = json!({"FromEmailAddress": "Paspor <noreply@paspor.example>", "Destination": {"ToAddresses": ["a@b.c"]}, "Content": {"Simple": {}}});
        let c = run(
            Service::Ses,
            Method::POST,
            "/v2/email/outbound-emails",
            "",
            &[],
            mail.to_string().as_bytes(),
        )
        .expect("classified");
        assert_eq!(
            pairs(&c),
            vec![(
                "ses:SendEmail",
                "arn:aws:ses:ap-southeast-3:123456789012:identity/noreply@paspor.example"
            )]
        );
        assert!(
            run(
                Service::Ses,
                Method::GET,
                "/v2/email/identities",
                "",
                &[],
                b""
            )
            .is_err()
        );
    }

    #[test]
    fn s3_paths() {
        let obj = "arn:aws:s3:::paspor-docs/documents/app%201/passport.jpg";
        let c = |m: Method, path: &str, q: &str, h: &[(&str, &str)], body: &[u8]| {
            run(Service::S3, m, path, q, h, body).expect("classified")
        };
        // Keys are decoded from the path: the ARN holds the key itself.
        let p = "/paspor-docs/documents/app%25201/passport.jpg";
        assert_eq!(
            pairs(&c(Method::GET, p, "", &[], b"")),
            vec![("s3:GetObject", obj)]
        );
        assert_eq!(
            pairs(&c(Method::HEAD, p, "", &[], b"")),
            vec![("s3:GetObject", obj)]
        );
        assert_eq!(
            pairs(&c(Method::PUT, p, "x-id=PutObject", &[], b"data")),
            vec![("s3:PutObject", obj)]
        );
        assert_eq!(
            pairs(&c(Method::DELETE, p, "x-id=DeleteObject", &[], b"")),
            vec![("s3:DeleteObject", obj)]
        );
        let list = c(
            Method::GET,
            "/paspor-docs",
            "list-type=2&prefix=documents%2Fapp1%2F",
            &[],
            b"",
        );
        assert_eq!(
            pairs(&list),
            vec![("s3:ListBucket", "arn:aws:s3:::paspor-docs")]
        );
        assert_eq!(
            list[0].context.get("s3:prefix").map(String::as_str),
            Some("documents/app1/")
        );
        let del = br#"<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>documents/a&amp;b</Key></Object><Object><Key>invoices/c.pdf</Key></Object><Quiet>true</Quiet></Delete>"#;
        assert_eq!(
            pairs(&c(Method::POST, "/paspor-docs", "delete", &[], del)),
            vec![
                ("s3:DeleteObject", "arn:aws:s3:::paspor-docs/documents/a&b"),
                ("s3:DeleteObject", "arn:aws:s3:::paspor-docs/invoices/c.pdf")
            ]
        );
        assert_eq!(
            pairs(&c(Method::PUT, "/paspor-docs", "", &[], b"")),
            vec![("s3:CreateBucket", "arn:aws:s3:::paspor-docs")]
        );
        assert_eq!(
            pairs(&c(Method::PUT, "/paspor-docs", "cors", &[], b"")),
            vec![("s3:PutBucketCORS", "arn:aws:s3:::paspor-docs")]
        );
        assert_eq!(
            pairs(&c(Method::HEAD, "/paspor-docs", "", &[], b"")),
            vec![("s3:ListBucket", "arn:aws:s3:::paspor-docs")]
        );
        let (ct, form) = upload_form("documents/app1/${filename}", "photo.jpg", b"JFIFDATA");
        assert_eq!(
            pairs(&c(
                Method::POST,
                "/paspor-docs",
                "",
                &[("content-type", &ct)],
                &form
            )),
            vec![(
                "s3:PutObject",
                "arn:aws:s3:::paspor-docs/documents/app1/photo.jpg"
            )]
        );
    }

    fn upload_form(key: &str, filename: &str, file: &[u8]) -> (String, Vec<u8>) {
        let b = "----paspor7MA4YWxk";
        let mut body = Vec::new();
        for (k, v) in [
            ("key", key),
            ("Content-Type", "image/jpeg"),
            (
                "x-amz-credential",
                "AKIDUP/20261202/ap-southeast-3/s3/aws4_request",
            ),
            ("policy", "e30="),
        ] {
            body.extend_from_slice(
                format!("--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(format!("--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={b}"), body)
    }

    // ------------------------------------------------------------ in process

    /// What the fake upstream saw.
    #[derive(Default)]
    struct Seen {
        requests: Vec<(String, String, Option<String>, Vec<u8>)>,
    }

    /// A stand-in for every service: records the request; `/paspor-docs/missing*` is S3's
    /// 404 NoSuchKey; a PUT answers with an ETag.
    async fn fake_upstream(seen: Arc<Mutex<Seen>>) -> String {
        let app = Router::new().fallback(move |req: http::Request<Body>| {
            let seen = seen.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, MAX_BODY).await.expect("body");
                let host = parts
                    .headers
                    .get("host")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                seen.lock().expect("lock").requests.push((
                    parts.method.to_string(),
                    parts.uri.to_string(),
                    host,
                    body.to_vec(),
                ));
                let path = parts.uri.path();
                if path.starts_with("/paspor-docs/documents/missing") {
                    return response(
                        StatusCode::NOT_FOUND,
                        &[("content-type", "application/xml".into())],
                        "<Error><Code>NoSuchKey</Code></Error>",
                    );
                }
                if parts.method == Method::HEAD {
                    return response(
                        StatusCode::OK,
                        &[
                            ("content-length", "1234".into()),
                            ("etag", "\"abc\"".into()),
                        ],
                        Body::empty(),
                    );
                }
                if parts.method == Method::PUT {
                    return response(StatusCode::OK, &[("etag", "\"etag-put\"".into())], "");
                }
                if parts.method == Method::POST
                    && path == "/paspor-docs"
                    && parts.uri.query().is_none()
                {
                    return response(
                        StatusCode::NO_CONTENT,
                        &[("etag", "\"etag-post\"".into())],
                        Body::empty(),
                    );
                }
                response(
                    StatusCode::OK,
                    &[
                        ("content-type", "application/x-amz-json-1.0".into()),
                        ("x-upstream", "yes".into()),
                    ],
                    r#"{"ok":true}"#,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn policy(statements: serde_json::Value) -> Policy {
        Policy::from_statements(statements.as_array().expect("list")).expect("policy")
    }

    struct Harness {
        url: String,
        proxy: Arc<Proxy>,
        seen: Arc<Mutex<Seen>>,
        created: Arc<Mutex<Vec<ObjectCreated>>>,
        outbox: tempfile::TempDir,
        http: reqwest::Client,
    }

    async fn harness() -> Harness {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let up = fake_upstream(seen.clone()).await;
        let created = Arc::new(Mutex::new(Vec::new()));
        let outbox = tempfile::tempdir().expect("tempdir");
        let docs = format!("arn:aws:s3:::{BUCKET}");
        let identities = HashMap::from([
            (
                "AKIDUPLOADS".to_owned(),
                Identity {
                    function: "uploads".into(),
                    role_arn: format!("arn:aws:iam::{ACCOUNT}:role/paspor-dev-UploadsRole-X"),
                    policy: policy(json!([
                        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": TABLE},
                        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], "Resource": format!("{docs}/documents/*")},
                        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": docs},
                        {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/paspor/dev/*")},
                    ])),
                },
            ),
            (
                "AKIDWORKER".to_owned(),
                Identity {
                    function: "worker".into(),
                    role_arn: format!("arn:aws:iam::{ACCOUNT}:role/paspor-dev-WorkerRole-Y"),
                    policy: policy(json!([
                        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": format!("{docs}/documents/*")},
                        {"Effect": "Allow", "Action": ["ses:SendEmail"], "Resource": format!("arn:aws:ses:{REGION}:{ACCOUNT}:identity/*")},
                        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:paspor-jobs")},
                    ])),
                },
            ),
        ]);
        let sink = created.clone();
        let config = ProxyConfig {
            region: REGION.into(),
            account: ACCOUNT.into(),
            upstreams: Upstreams {
                dynamodb: up.clone(),
                s3: up.clone(),
                sqs: up.clone(),
                ses: up.clone(),
                ssm: up,
            },
            identities,
            outbox: outbox.path().join("outbox"),
            on_object_created: Arc::new(move |c| sink.lock().expect("lock").push(c)),
        };
        let proxy = Arc::new(Proxy::new(config).expect("proxy"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(serve(listener, proxy.clone(), Default::default()));
        Harness {
            url,
            proxy,
            seen,
            created,
            outbox,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        }
    }

    /// An Authorization header naming `akid` for `service` (the proxy does not verify).
    fn auth(akid: &str, service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential={akid}/20261202/{REGION}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        )
    }

    impl Harness {
        async fn send(
            &self,
            method: Method,
            path: &str,
            akid: &str,
            service: &str,
            headers: &[(&str, &str)],
            body: Vec<u8>,
        ) -> (StatusCode, HeaderMap, String) {
            let mut req = self
                .http
                .request(method, format!("{}{path}", self.url))
                .header("authorization", auth(akid, service))
                .header("host", "signed.example:1234");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let r = req.body(body).send().await.expect("send");
            let (s, h) = (r.status(), r.headers().clone());
            (s, h, r.text().await.expect("text"))
        }

        fn forwarded(&self) -> usize {
            self.seen.lock().expect("lock").requests.len()
        }
    }

    #[tokio::test]
    async fn forwards_allowed_requests_byte_for_byte() {
        let h = harness().await;
        let body = json!({"TableName": "paspor-table", "Key": {"pk": {"S": "a"}}}).to_string();
        let (s, hd, text) = h
            .send(
                Method::POST,
                "/",
                "AKIDUPLOADS",
                "dynamodb",
                &[("x-amz-target", "DynamoDB_20120810.GetItem")],
                body.clone().into_bytes(),
            )
            .await;
        assert_eq!((s, text.as_str()), (StatusCode::OK, r#"{"ok":true}"#));
        assert_eq!(
            hd.get("x-upstream").map(|v| v.as_bytes()),
            Some(&b"yes"[..])
        );
        let seen = h
            .seen
            .lock()
            .expect("lock")
            .requests
            .last()
            .cloned()
            .expect("forwarded");
        assert_eq!(seen.0, "POST");
        assert_eq!(
            seen.2.as_deref(),
            Some("signed.example:1234"),
            "the Host header stays as signed"
        );
        assert_eq!(seen.3, body.as_bytes());

        // The path and query reach the upstream as encoded by the client.
        let (s, hd, _) = h
            .send(
                Method::HEAD,
                "/paspor-docs/documents/a%20b.jpg?x-id=HeadObject",
                "AKIDUPLOADS",
                "s3",
                &[],
                vec![],
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            hd.get("content-length").map(|v| v.as_bytes()),
            Some(&b"1234"[..]),
            "HEAD keeps its content-length"
        );
        let seen = h
            .seen
            .lock()
            .expect("lock")
            .requests
            .last()
            .cloned()
            .expect("forwarded");
        assert_eq!(seen.1, "/paspor-docs/documents/a%20b.jpg?x-id=HeadObject");

        let t = h.proxy.totals();
        assert_eq!(
            (t.requests, t.refused_requests, t.checks, t.refused_checks),
            (2, 0, 2, 0)
        );
    }

    #[tokio::test]
    async fn refusals_answer_as_aws_does() {
        let h = harness().await;
        let body =
            json!({"TableName": "paspor-table", "KeyConditionExpression": "pk = :p"}).to_string();
        let (s, hd, text) = h
            .send(
                Method::POST,
                "/",
                "AKIDUPLOADS",
                "dynamodb",
                &[("x-amz-target", "DynamoDB_20120810.Query")],
                body.into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            hd.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/x-amz-json-1.0"[..])
        );
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            v["__type"],
            "com.amazon.coral.service#AccessDeniedException"
        );
        assert_eq!(
            v["Message"],
            format!(
                "User: arn:aws:sts::{ACCOUNT}:assumed-role/paspor-dev-UploadsRole-X/uploads is not authorized to perform: dynamodb:Query on resource: {TABLE} because no identity-based policy allows the dynamodb:Query action"
            )
        );

        // One element of a transaction the role may not do refuses the whole transaction.
        let tx = json!({"TransactItems": [{"Put": {"TableName": "paspor-table", "Item": {}}}, {"Delete": {"TableName": "paspor-table", "Key": {}}}]}).to_string();
        let (s, _, text) = h
            .send(
                Method::POST,
                "/",
                "AKIDUPLOADS",
                "dynamodb",
                &[("x-amz-target", "DynamoDB_20120810.TransactWriteItems")],
                tx.into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(text.contains("dynamodb:DeleteItem"), "{text}");

        let sqs = json!({"QueueUrl": "http://x/123456789012/paspor-jobs", "MessageBody": "m"})
            .to_string();
        let (s, hd, text) = h
            .send(
                Method::POST,
                "/",
                "AKIDUPLOADS",
                "sqs",
                &[("x-amz-target", "AmazonSQS.SendMessage")],
                sqs.clone().into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            hd.get("x-amzn-query-error").map(|v| v.as_bytes()),
            Some(&b"AccessDenied;Sender"[..])
        );
        assert!(
            text.contains(
                "sqs:SendMessage on resource: arn:aws:sqs:ap-southeast-3:123456789012:paspor-jobs"
            ),
            "{text}"
        );
        let (s, _, _) = h
            .send(
                Method::POST,
                "/",
                "AKIDWORKER",
                "sqs",
                &[("x-amz-target", "AmazonSQS.SendMessage")],
                sqs.into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::OK);

        let ssm = json!({"Names": ["/paspor/dev/token-key", "/paspor/prod/token-key"]}).to_string();
        let (s, _, text) = h
            .send(
                Method::POST,
                "/",
                "AKIDUPLOADS",
                "ssm",
                &[("x-amz-target", "AmazonSSM.GetParameters")],
                ssm.into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["__type"], "AccessDeniedException");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or_default()
                .contains("parameter/paspor/prod/token-key")
        );

        let mail = json!({"FromEmailAddress": "noreply@paspor.example", "Destination": {"ToAddresses": ["a@b.c"]}, "Content": {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}}}).to_string();
        let (s, hd, _) = h
            .send(
                Method::POST,
                "/v2/email/outbound-emails",
                "AKIDUPLOADS",
                "ses",
                &[("content-type", "application/json")],
                mail.into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            hd.get("x-amzn-errortype").map(|v| v.as_bytes()),
            Some(&b"AccessDeniedException"[..])
        );

        let (s, hd, text) = h
            .send(
                Method::GET,
                "/paspor-docs/invoices/a.pdf?x-id=GetObject",
                "AKIDUPLOADS",
                "s3",
                &[],
                vec![],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            hd.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/xml"[..])
        );
        assert!(
            text.contains("<Code>AccessDenied</Code>")
                && text.contains(
                    "s3:GetObject on resource: &quot;arn:aws:s3:::paspor-docs/invoices/a.pdf&quot;"
                ),
            "{text}"
        );

        // Nothing refused reached the upstream.
        assert_eq!(h.forwarded(), 1);
        let counts = h.proxy.counts();
        assert_eq!(
            counts[&("uploads".to_owned(), "dynamodb:Query".to_owned())],
            Counts {
                checked: 1,
                refused: 1
            }
        );
        assert_eq!(
            counts[&("uploads".to_owned(), "dynamodb:PutItem".to_owned())],
            Counts {
                checked: 1,
                refused: 0
            }
        );
        assert_eq!(
            counts[&("worker".to_owned(), "sqs:SendMessage".to_owned())],
            Counts {
                checked: 1,
                refused: 0
            }
        );
        let t = h.proxy.totals();
        assert_eq!((t.requests, t.refused_requests), (7, 6));
        let report = h.proxy.report();
        assert!(
            report.contains("uploads")
                && report.contains("dynamodb:Query")
                && report.contains("refused: 6"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn missing_object_is_403_without_list_bucket() {
        let h = harness().await;
        // uploads has s3:ListBucket: S3's own 404 passes through.
        let (s, _, text) = h
            .send(
                Method::GET,
                "/paspor-docs/documents/missing.jpg?x-id=GetObject",
                "AKIDUPLOADS",
                "s3",
                &[],
                vec![],
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(text.contains("NoSuchKey"));
        // worker has not: 403, as S3 answers.
        let (s, _, text) = h
            .send(
                Method::GET,
                "/paspor-docs/documents/missing.jpg?x-id=GetObject",
                "AKIDWORKER",
                "s3",
                &[],
                vec![],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(text.contains("<Code>AccessDenied</Code>"));
        let (s, _, text) = h
            .send(
                Method::HEAD,
                "/paspor-docs/documents/missing.jpg",
                "AKIDWORKER",
                "s3",
                &[],
                vec![],
            )
            .await;
        assert_eq!((s, text.as_str()), (StatusCode::FORBIDDEN, ""));
        let counts = h.proxy.counts();
        assert_eq!(
            counts[&("worker".to_owned(), "s3:ListBucket".to_owned())],
            Counts {
                checked: 2,
                refused: 2
            }
        );
        assert_eq!(
            counts[&("uploads".to_owned(), "s3:ListBucket".to_owned())],
            Counts {
                checked: 1,
                refused: 0
            }
        );
    }

    #[tokio::test]
    async fn unknown_keys_are_forwarded_unchecked_and_uploads_are_reported() {
        let h = harness().await;
        // The phone's presigned POST: no Authorization header, the credential in the form.
        let (ct, form) = upload_form("documents/app1/${filename}", "photo.jpg", b"JFIFDATA");
        let r = h
            .http
            .post(format!("{}/paspor-docs", h.url))
            .header("content-type", ct)
            .body(form.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            h.seen
                .lock()
                .expect("lock")
                .requests
                .last()
                .map(|r| r.3.clone()),
            Some(form)
        );

        // A function's PUT object.
        let (s, _, _) = h
            .send(
                Method::PUT,
                "/paspor-docs/documents/app1/selfie.jpg?x-id=PutObject",
                "AKIDUPLOADS",
                "s3",
                &[],
                b"12345".to_vec(),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        // A key the proxy does not know: forwarded, not checked.
        let (s, _, _) = h
            .send(
                Method::POST,
                "/",
                "AKIDSETUP",
                "dynamodb",
                &[("x-amz-target", "DynamoDB_20120810.CreateTable")],
                br#"{"TableName":"t"}"#.to_vec(),
            )
            .await;
        assert_eq!(s, StatusCode::OK);

        assert_eq!(
            *h.created.lock().expect("lock"),
            vec![
                ObjectCreated {
                    bucket: BUCKET.into(),
                    key: "documents/app1/photo.jpg".into(),
                    size: 8,
                    etag: "etag-post".into()
                },
                ObjectCreated {
                    bucket: BUCKET.into(),
                    key: "documents/app1/selfie.jpg".into(),
                    size: 5,
                    etag: "etag-put".into()
                },
            ]
        );
        let t = h.proxy.totals();
        assert_eq!((t.requests, t.unchecked, t.refused_requests), (1, 2, 0));
    }

    #[tokio::test]
    async fn sent_email_lands_in_the_outbox() {
        let h = harness().await;
        let mail = json!({
            "FromEmailAddress": "Paspor <noreply@paspor.example>",
            "Destination": {"ToAddresses": ["budi@example.id"]},
            "Content": {"Simple": {"Subject": {"Data": "Kode verifikasi Anda", "Charset": "UTF-8"}, "Body": {"Text": {"Data": "Kode: 123456", "Charset": "UTF-8"}}}}
        })
        .to_string();
        let (s, _, _) = h
            .send(
                Method::POST,
                "/v2/email/outbound-emails",
                "AKIDWORKER",
                "ses",
                &[("content-type", "application/json")],
                mail.into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let files: Vec<_> = std::fs::read_dir(h.outbox.path().join("outbox"))
            .expect("outbox")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
        let eml = std::fs::read_to_string(&files[0]).expect("eml");
        for want in [
            "From: <noreply@paspor.example>",
            "To: <budi@example.id>",
            "Subject: Kode verifikasi Anda",
            "Date: ",
            "Message-ID: <",
            "Kode: 123456",
        ] {
            assert!(eml.contains(want), "{want} in\n{eml}");
        }
    }
}
