//! Access tokens: HS256 JWTs naming the account and the session. Lifetimes are checked
//! against the one clock, not the machine's, so `/_local/clock` reaches them too.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    /// The session: survives a password change made from it.
    pub sid: String,
    /// Issued at, milliseconds since the epoch.
    pub iat_ms: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    pub typ: String,
}

/// The signing keys, newest first: the newest signs, every one verifies. Rotating is adding
/// a key in front, then, once the longest token life has passed, removing the old one;
/// nobody is signed out.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: Vec<DecodingKey>,
    validation: Validation,
}

impl TokenKeys {
    /// `keys` as [`crate::Secrets::token_keys`] holds them (checked there: never empty).
    pub fn new(keys: &[Vec<u8>]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the service clock by the caller.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Self {
            encoding: EncodingKey::from_secret(keys.first().map(Vec::as_slice).unwrap_or_default()),
            decoding: keys.iter().map(|k| DecodingKey::from_secret(k)).collect(),
            validation,
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// The claims of a well-signed access token that has not expired at `now_ms`.
    pub fn verify(&self, token: &str, now_ms: i64) -> Option<Claims> {
        let c = self.decoding.iter().find_map(|key| {
            jsonwebtoken::decode::<Claims>(token, key, &self.validation)
                .ok()
                .map(|data| data.claims)
        })?;
        (c.typ == "access" && c.exp * 1000 > now_ms).then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "acc".into(),
            sid: "s1".into(),
            iat_ms: 0,
            exp,
            typ: "access".into(),
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = TokenKeys::new(&[b"secret-key-for-tests".to_vec()]);
        let t = k.issue(&claims(100)).expect("issue");
        assert_eq!(k.verify(&t, 99_999), Some(claims(100)));
        assert_eq!(k.verify(&t, 100_000), None);
    }

    #[test]
    fn a_rotation_keeps_old_tokens_valid_until_the_old_key_goes() {
        let old = TokenKeys::new(&[b"old-key-0123456789".to_vec()]);
        let rotating = TokenKeys::new(&[
            b"new-key-0123456789".to_vec(),
            b"old-key-0123456789".to_vec(),
        ]);
        let rotated = TokenKeys::new(&[b"new-key-0123456789".to_vec()]);
        let before = old.issue(&claims(100)).expect("issue");
        let during = rotating.issue(&claims(100)).expect("issue");
        assert_eq!(rotating.verify(&before, 0), Some(claims(100)));
        assert_eq!(rotated.verify(&during, 0), Some(claims(100)));
        assert_eq!(rotated.verify(&before, 0), None);
        assert_eq!(old.verify(&during, 0), None);
    }

    #[test]
    fn forged_or_tampered() {
        let k = TokenKeys::new(&[b"secret-key-for-tests".to_vec()]);
        let other = TokenKeys::new(&[b"another-key".to_vec()]);
        let t = other.issue(&claims(100)).expect("issue");
        assert_eq!(k.verify(&t, 0), None);
        let good = k.issue(&claims(100)).expect("issue");
        let mut tampered = good.clone();
        tampered.insert(good.len() / 2, 'x');
        assert_eq!(k.verify(&tampered, 0), None);
        assert_eq!(k.verify("not-a-token", 0), None);
    }
}
