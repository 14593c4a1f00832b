//! Verifying AWS Signature Version 4 on an incoming request, as API Gateway does on its
//! `AWS_IAM` routes (service `execute-api`), and reading the caller's access key id out of
//! a request (for the AWS proxy's identity).
//!
//! Only the header form (`Authorization: AWS4-HMAC-SHA256 ...`) is verified; a presigned
//! URL (`X-Amz-Signature` in the query) is refused as unsigned.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// AWS refuses a request signed more than 15 minutes away from its own clock.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A request as received: the path and query exactly as on the wire (still percent-encoded).
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Who signed a request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub session_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header (API Gateway: "Missing Authentication Token").
    #[error("missing authentication")]
    Missing,
    #[error("malformed authorization: {0}")]
    Malformed(String),
    #[error("unknown access key id {0}")]
    UnknownKey(String),
    #[error("credential scope {0} is not this region and service")]
    WrongScope(String),
    #[error("signature expired or not yet valid: {0}")]
    Skew(String),
    #[error("the payload hash does not match the body")]
    PayloadMismatch,
    #[error("the signature does not match")]
    BadSignature,
}

/// The `Credential=` part: `AKID/20261202/ap-southeast-3/execute-api/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Credential {
    fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('/');
        let access_key_id = parts.next()?.to_owned();
        let date = parts.next()?.to_owned();
        let region = parts.next()?.to_owned();
        let service = parts.next()?.to_owned();
        (parts.next()? == "aws4_request" && parts.next().is_none() && !access_key_id.is_empty())
            .then_some(Self {
                access_key_id,
                date,
                region,
                service,
            })
    }

    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

struct Authorization {
    credential: Credential,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(value: &str) -> Result<Authorization, SigV4Error> {
    let malformed = |m: &str| SigV4Error::Malformed(m.to_owned());
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| malformed("not AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let Some((k, v)) = part.split_once('=') else {
            return Err(malformed("a part without '='"));
        };
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(malformed("an unknown part")),
        }
    }
    let credential = credential
        .and_then(Credential::parse)
        .ok_or_else(|| malformed("Credential"))?;
    let signed_headers: Vec<String> = signed
        .ok_or_else(|| malformed("SignedHeaders"))?
        .split(';')
        .map(str::to_owned)
        .collect();
    if signed_headers.iter().any(|h| h.is_empty()) || !signed_headers.iter().any(|h| h == "host") {
        return Err(malformed("SignedHeaders must name host"));
    }
    let signature = signature
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| malformed("Signature"))?
        .to_ascii_lowercase();
    Ok(Authorization {
        credential,
        signed_headers,
        signature,
    })
}

/// The credential a request carries: from the `Authorization` header, or from the
/// `X-Amz-Credential` query parameter of a presigned URL. Nothing is verified.
pub fn credential(headers: &HeaderMap, query: &str) -> Option<Credential> {
    if let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return parse_authorization(auth).ok().map(|a| a.credential);
    }
    query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == "X-Amz-Credential")
        .and_then(|(_, v)| Credential::parse(&v))
}

/// The access key id a request is signed with, if any (see [`credential`]).
pub fn access_key_id(headers: &HeaderMap, query: &str) -> Option<String> {
    credential(headers, query).map(|c| c.access_key_id)
}

/// Verifies the request's signature for `service` in `region`; `secret_for` gives the
/// secret access key of an access key id.
pub fn verify(
    req: &Incoming<'_>,
    service: &str,
    region: &str,
    secret_for: impl Fn(&str) -> Option<String>,
    now: DateTime<Utc>,
) -> Result<Verified, SigV4Error> {
    let auth_value = match req.headers.get(http::header::AUTHORIZATION) {
        Some(v) => v
            .to_str()
            .map_err(|_| SigV4Error::Malformed("not text".into()))?,
        None => return Err(SigV4Error::Missing),
    };
    let auth = parse_authorization(auth_value)?;
    let cred = &auth.credential;
    if cred.region != region || cred.service != service {
        return Err(SigV4Error::WrongScope(cred.scope()));
    }
    let amz_date = header_str(req.headers, "x-amz-date")
        .ok_or_else(|| SigV4Error::Malformed("no x-amz-date".into()))?;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| SigV4Error::Malformed("x-amz-date".into()))?
        .and_utc();
    if !amz_date.starts_with(&cred.date) {
        return Err(SigV4Error::Malformed(
            "the credential's date is not x-amz-date's".into(),
        ));
    }
    if (now - signed_at).abs() > MAX_SKEW {
        return Err(SigV4Error::Skew(format!("signed {amz_date}, now {now}")));
    }
    // A session token must be covered by the signature, or it could be swapped.
    let session_token = header_str(req.headers, "x-amz-security-token").map(str::to_owned);
    if session_token.is_some()
        && !auth
            .signed_headers
            .iter()
            .any(|h| h == "x-amz-security-token")
    {
        return Err(SigV4Error::Malformed(
            "x-amz-security-token is not signed".into(),
        ));
    }
    let secret = secret_for(&cred.access_key_id)
        .ok_or_else(|| SigV4Error::UnknownKey(cred.access_key_id.clone()))?;

    let payload_hash = payload_hash(req, service)?;
    let canonical = canonical_request(req, service, &auth.signed_headers, &payload_hash)?;
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        cred.scope(),
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&secret, &cred.date, &cred.region, &cred.service);
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        Ok(Verified {
            access_key_id: cred.access_key_id.clone(),
            session_token,
        })
    } else {
        Err(SigV4Error::BadSignature)
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The body's hash; a client's `x-amz-content-sha256` must be that hash (only S3 takes
/// `UNSIGNED-PAYLOAD`).
fn payload_hash(req: &Incoming<'_>, service: &str) -> Result<String, SigV4Error> {
    let actual = if req.body.is_empty() {
        EMPTY_SHA256.to_owned()
    } else {
        hex::encode(Sha256::digest(req.body))
    };
    match header_str(req.headers, "x-amz-content-sha256") {
        None => Ok(actual),
        Some("UNSIGNED-PAYLOAD") if service == "s3" => Ok("UNSIGNED-PAYLOAD".to_owned()),
        Some(given) if given.eq_ignore_ascii_case(&actual) => Ok(given.to_owned()),
        Some(_) => Err(SigV4Error::PayloadMismatch),
    }
}

pub(crate) fn canonical_request(
    req: &Incoming<'_>,
    service: &str,
    signed_headers: &[String],
    payload_hash: &str,
) -> Result<String, SigV4Error> {
    let uri = if service == "s3" {
        // S3: the path is neither normalised nor encoded twice.
        uri_encode(&percent_decode(req.path.as_bytes()), false)
    } else {
        let normalised = normalize_path(req.path);
        uri_encode(normalised.as_bytes(), false)
    };
    let mut out = String::new();
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&uri);
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in signed_headers {
        let values: Vec<String> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| trim_all(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        if values.is_empty() {
            return Err(SigV4Error::Malformed(format!(
                "signed header {name} is missing"
            )));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// Trims and collapses runs of spaces inside a header value, as the canonical form wants.
fn trim_all(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for word in v.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// RFC 3986 dot-segment removal, and empty segments dropped, as every service but S3 does.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    let trailing = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Query pairs, decoded (`+` is a space, as form encoding has it).
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                String::from_utf8_lossy(&percent_decode(s.replace('+', " ").as_bytes()))
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .map(|(k, v)| {
            (
                uri_encode(k.as_bytes(), true),
                uri_encode(v.as_bytes(), true),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// AWS's URI encoding: every byte but `A-Za-z0-9-_.~` as `%XX` (and `/` too when asked).
pub(crate) fn uri_encode(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b'/' && !encode_slash {
            out.push('/');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test input")
            .with_timezone(&Utc)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("test input"),
                http::HeaderValue::from_str(v).expect("test input"),
            );
        }
        h
    }

    fn secrets(k: &str) -> Option<String> {
        (k == AKID || k == "AKIDSTACK").then(|| SECRET.to_owned())
    }

    /// One vector of AWS's SigV4 test suite (aws-sigv4's `aws-signing-test-suite/v4`).
    fn vector(
        method: &str,
        path: &str,
        query: &str,
        extra: &[(&str, &str)],
        signed: &str,
        sig: &str,
        body: &[u8],
    ) {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={sig}"
        );
        let mut pairs = vec![
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", auth.as_str()),
        ];
        pairs.extend_from_slice(extra);
        let h = headers(&pairs);
        let req = Incoming {
            method,
            path,
            query,
            headers: &h,
            body,
        };
        let got = verify(
            &req,
            "service",
            "us-east-1",
            secrets,
            at("2015-08-30T12:40:00Z"),
        );
        assert_eq!(
            got,
            Ok(Verified {
                access_key_id: AKID.into(),
                session_token: extra
                    .iter()
                    .find(|(k, _)| *k == "x-amz-security-token")
                    .map(|(_, v)| v.to_string())
            }),
            "{method} {path}?{query}"
        );
    }

    #[test]
    fn aws_test_suite_vectors_verify() {
        vector(
            "GET",
            "/",
            "",
            &[],
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            b"",
        );
        vector(
            "POST",
            "/",
            "",
            &[],
            "host;x-amz-date",
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            b"",
        );
        // get-relative-relative-normalized and get-slashes-normalized
        vector(
            "GET",
            "/example1/example2/../..",
            "",
            &[],
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            b"",
        );
        vector(
            "GET",
            "//example//",
            "",
            &[],
            "host;x-amz-date",
            "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
            b"",
        );
        vector(
            "GET",
            "/",
            "Param2=value2&Param1=value1",
            &[],
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            b"",
        );
        vector(
            "GET",
            "/",
            "",
            &[("my-header1", " value1"), ("my-header2", "\"a   b   c\"")],
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            b"",
        );
        vector(
            "GET",
            "/",
            "",
            &[(
                "x-amz-security-token",
                "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
            )],
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
            b"",
        );
        vector(
            "POST",
            "/",
            "",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("content-length", "13"),
                (
                    "x-amz-content-sha256",
                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                ),
            ],
            "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
            b"Param1=value1",
        );
    }

    #[test]
    fn execute_api_path_is_encoded_twice() {
        // The test suite's double-encode-path canonical request.
        let h = headers(&[
            ("host", "tj9n5r0m12.execute-api.us-east-1.amazonaws.com"),
            ("x-amz-date", "20210511T154045Z"),
        ]);
        let req = Incoming {
            method: "POST",
            path: "/test/@connections/JBDvjfGEIAMCERw%3D",
            query: "",
            headers: &h,
            body: b"",
        };
        let c = canonical_request(
            &req,
            "execute-api",
            &["host".into(), "x-amz-date".into()],
            EMPTY_SHA256,
        )
        .expect("test input");
        assert_eq!(
            c,
            "POST\n/test/%40connections/JBDvjfGEIAMCERw%253D\n\nhost:tj9n5r0m12.execute-api.us-east-1.amazonaws.com\nx-amz-date:20210511T154045Z\n\nhost;x-amz-date\n".to_owned() + EMPTY_SHA256
        );
    }

    /// Signs like the AWS SDKs do (the aws-sigv4 crate) and returns the request's parts.
    fn sdk_signed(
        method: &str,
        uri: &str,
        body: &[u8],
        token: Option<&str>,
        when: SystemTime,
    ) -> http::Request<Vec<u8>> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let creds = aws_credential_types::Credentials::new(
            "AKIDSTACK",
            SECRET,
            token.map(str::to_owned),
            None,
            "test",
        );
        let identity = creds.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("ap-southeast-3")
            .name("execute-api")
            .time(when)
            .settings(SigningSettings::default())
            .build()
            .expect("test input")
            .into();
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "localhost:8080")
            .header("content-type", "application/json")
            .body(body.to_vec())
            .expect("test input");
        let signable = SignableRequest::new(
            method,
            uri,
            req.headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_str().expect("test input"))),
            SignableBody::Bytes(body),
        )
        .expect("test input");
        let (instructions, _) = sign(signable, &params).expect("test input").into_parts();
        instructions.apply_to_request_http1x(&mut req);
        req
    }

    fn check(req: &http::Request<Vec<u8>>, now: DateTime<Utc>) -> Result<Verified, SigV4Error> {
        let incoming = Incoming {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
            headers: req.headers(),
            body: req.body(),
        };
        verify(&incoming, "execute-api", "ap-southeast-3", secrets, now)
    }

    const SIGNED_AT: &str = "2026-12-02T03:04:05Z";

    fn signed_at() -> SystemTime {
        at(SIGNED_AT).into()
    }

    #[test]
    fn sdk_signatures_verify() {
        let uri = "http://localhost:8080/dev/v1/ops/offices/JKT%2001/quota?b=2&a=1%2B1&empty=";
        let req = sdk_signed("PUT", uri, br#"{"quota":5}"#, None, signed_at());
        assert_eq!(
            check(&req, at(SIGNED_AT)),
            Ok(Verified {
                access_key_id: "AKIDSTACK".into(),
                session_token: None
            })
        );
        let req = sdk_signed(
            "GET",
            "http://localhost:8080/dev/v1/ops/payments/exceptions",
            b"",
            Some("tok"),
            signed_at(),
        );
        assert_eq!(
            check(&req, at(SIGNED_AT))
                .expect("test input")
                .session_token
                .as_deref(),
            Some("tok")
        );
    }

    #[test]
    fn tampering_fails() {
        let uri = "http://localhost:8080/dev/v1/ops/offices/JKT/quota?x=1";
        let now = at(SIGNED_AT);
        let good = sdk_signed("PUT", uri, br#"{"quota":5}"#, None, signed_at());

        let mut body = good.clone();
        *body.body_mut() = br#"{"quota":6}"#.to_vec();
        // aws-sigv4 sends x-amz-content-sha256 only when asked, so this is the signature.
        assert!(matches!(
            check(&body, now),
            Err(SigV4Error::BadSignature | SigV4Error::PayloadMismatch)
        ));

        let mut header = good.clone();
        header
            .headers_mut()
            .insert("content-type", http::HeaderValue::from_static("text/plain"));
        assert_eq!(check(&header, now), Err(SigV4Error::BadSignature));

        let mut path = good.clone();
        *path.uri_mut() = "http://localhost:8080/dev/v1/ops/offices/BDG/quota?x=1"
            .parse()
            .expect("test input");
        assert_eq!(check(&path, now), Err(SigV4Error::BadSignature));

        let mut query = good.clone();
        *query.uri_mut() = "http://localhost:8080/dev/v1/ops/offices/JKT/quota?x=2"
            .parse()
            .expect("test input");
        assert_eq!(check(&query, now), Err(SigV4Error::BadSignature));

        let mut method = good.clone();
        *method.method_mut() = http::Method::POST;
        assert_eq!(check(&method, now), Err(SigV4Error::BadSignature));

        let mut hash = good.clone();
        hash.headers_mut().insert(
            "x-amz-content-sha256",
            http::HeaderValue::from_static(EMPTY_SHA256),
        );
        assert_eq!(check(&hash, now), Err(SigV4Error::PayloadMismatch));

        assert!(check(&good, now).is_ok());
    }

    #[test]
    fn unknown_key_wrong_scope_and_missing_fail() {
        let now = at(SIGNED_AT);
        let req = sdk_signed("GET", "http://localhost:8080/x", b"", None, signed_at());
        let incoming = Incoming {
            method: "GET",
            path: "/x",
            query: "",
            headers: req.headers(),
            body: b"",
        };
        assert_eq!(
            verify(&incoming, "execute-api", "ap-southeast-3", |_| None, now),
            Err(SigV4Error::UnknownKey("AKIDSTACK".into()))
        );
        assert!(matches!(
            verify(&incoming, "execute-api", "us-east-1", secrets, now),
            Err(SigV4Error::WrongScope(_))
        ));
        assert!(matches!(
            verify(&incoming, "s3", "ap-southeast-3", secrets, now),
            Err(SigV4Error::WrongScope(_))
        ));
        let wrong_secret = |_: &str| Some("another".to_owned());
        assert_eq!(
            verify(
                &incoming,
                "execute-api",
                "ap-southeast-3",
                wrong_secret,
                now
            ),
            Err(SigV4Error::BadSignature)
        );
        let empty = HeaderMap::new();
        let bare = Incoming {
            headers: &empty,
            ..incoming
        };
        assert_eq!(
            verify(&bare, "execute-api", "ap-southeast-3", secrets, now),
            Err(SigV4Error::Missing)
        );
    }

    #[test]
    fn clock_skew_over_15_minutes_fails() {
        let req = sdk_signed("GET", "http://localhost:8080/x", b"", None, signed_at());
        assert!(check(&req, at("2026-12-02T03:19:05Z")).is_ok());
        assert!(check(&req, at("2026-12-02T02:49:05Z")).is_ok());
        assert!(matches!(
            check(&req, at("2026-12-02T03:19:06Z")),
            Err(SigV4Error::Skew(_))
        ));
        assert!(matches!(
            check(&req, at("2026-12-02T02:49:04Z")),
            Err(SigV4Error::Skew(_))
        ));
    }

    #[test]
    fn access_key_id_from_header_or_query() {
        let req = sdk_signed("GET", "http://localhost:8080/x", b"", None, signed_at());
        assert_eq!(
            access_key_id(req.headers(), "").as_deref(),
            Some("AKIDSTACK")
        );
        let c = credential(req.headers(), "").expect("test input");
        assert_eq!(
            (c.region.as_str(), c.service.as_str(), c.date.as_str()),
            ("ap-southeast-3", "execute-api", "20261202")
        );
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDQ%2F20261202%2Fap-southeast-3%2Fs3%2Faws4_request";
        let c = credential(&HeaderMap::new(), q).expect("test input");
        assert_eq!(
            (c.access_key_id.as_str(), c.service.as_str()),
            ("AKIDQ", "s3")
        );
        assert_eq!(access_key_id(&HeaderMap::new(), "a=b"), None);
        let junk = headers(&[("authorization", "Bearer abc")]);
        assert_eq!(access_key_id(&junk, ""), None);
    }
}
