//! Placeholder until the signature check lands.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}
pub fn verify(
    req: &Incoming<'_>,
    _service: &str,
    _region: &str,
    secret_for: impl Fn(&str) -> Option<String>,
    _now: chrono::DateTime<chrono::Utc>,
) -> Result<String, String> {
    let auth = req.headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or("unsigned")?;
    let key = auth.split("Credential=").nth(1).and_then(|c| c.split('/').next()).ok_or("no credential")?;
    secret_for(key).map(|_| key.to_owned()).ok_or_else(|| "unknown key".to_owned())
}
