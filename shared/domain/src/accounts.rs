//! Accounts and their OTPs: sign-up, verification, sign-in with lockout, password reset
//! and change, and the bearer tokens that follow.

use std::sync::{Arc, OnceLock};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::text;
use crate::{
    Error, FieldError, Ports, Secrets,
    jobs::{Job, Message},
    mail::Lang,
    model::ids::Email,
    otp::{self, Purpose, SendWindow},
    repo::keys,
    store::{Cond, Item, Key, StoreError, TTL_ATTR, Update},
    tokens::{Claims, TokenKeys},
    validate,
};

/// Failed sign-ins in a row that lock an email…
pub const LOGIN_MAX_FAILURES: i64 = 10;
/// …for this long.
pub const LOGIN_LOCK_SECS: i64 = 15 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Unverified,
    Verified,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccountRecord {
    account_id: String,
    email: String,
    full_name: String,
    phone: String,
    password_hash: String,
    status: AccountStatus,
    created_at: DateTime<Utc>,
    /// Tokens issued before this instant are void…
    tokens_valid_after_ms: i64,
    /// …except this session's, whose owner changed the password.
    surviving_sid: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EmailIndex {
    account_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct OtpRecord {
    hash: String,
    expires_at_ms: i64,
    attempts: u32,
    ttl: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SendWindowRecord {
    #[serde(flatten)]
    window: SendWindow,
    version: u64,
    ttl: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LoginRecord {
    #[serde(default)]
    failures: i64,
    #[serde(default)]
    locked_until_ms: i64,
}

#[derive(Debug, Clone)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub full_name: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedUp {
    pub account_id: String,
    pub email: String,
    pub status: AccountStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub account_id: String,
    pub email: String,
    pub full_name: String,
    pub phone: String,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub sid: String,
}

#[derive(Debug, Clone)]
pub struct AccountsConfig {
    pub token_ttl_secs: i64,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            token_ttl_secs: 3600,
        }
    }
}

pub struct Accounts {
    ports: Ports,
    tokens: TokenKeys,
    otp_key: Vec<u8>,
    config: AccountsConfig,
    /// A hash to verify against when the email is unknown, so both answers take as long.
    dummy_hash: Arc<OnceLock<String>>,
}

fn argon2() -> Argon2<'static> {
    // OWASP's minimum for Argon2id: 19 MiB, 2 iterations, 1 lane. These constants are
    // valid, so the fallback to the (identical) defaults is never taken.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

async fn hash_password(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hash task: {e}")))?
}

async fn verify_password(password: String, phc: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&phc).map_err(|e| Error::Internal(format!("stored hash: {e}")))?;
        Ok(argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| Error::Internal(format!("verify task: {e}")))?
}

fn ttl_after(now_ms: i64, secs: i64) -> i64 {
    now_ms / 1000 + secs
}

fn collect(checks: impl IntoIterator<Item = Result<(), FieldError>>) -> Result<(), Error> {
    let errors: Vec<FieldError> = checks.into_iter().filter_map(Result::err).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

impl Accounts {
    pub fn new(ports: Ports, secrets: &Secrets, config: AccountsConfig) -> Self {
        Self {
            ports,
            tokens: TokenKeys::new(&secrets.token_keys),
            otp_key: secrets.otp_key.clone(),
            config,
            dummy_hash: Arc::new(OnceLock::new()),
        }
    }

    fn now_ms(&self) -> i64 {
        self.ports.clock.now_ms()
    }

    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRecord>, Error> {
        let Some(index) = self.ports.table.get(&keys::email(email)).await? else {
            return Ok(None);
        };
        let index: EmailIndex = index.record()?;
        self.account(&index.account_id).await
    }

    async fn account(&self, id: &str) -> Result<Option<AccountRecord>, Error> {
        match self.ports.table.get(&keys::account(id)).await? {
            Some(item) => Ok(Some(item.record()?)),
            None => Ok(None),
        }
    }

    /// `POST /v1/accounts`.
    pub async fn sign_up(&self, input: SignUp, lang: Lang) -> Result<SignedUp, Error> {
        let parsed = Email::parse(&input.email);
        let email = Email::normalize(&input.email);
        let phone = validate::normalize_phone(&input.phone);
        collect([
            parsed.map(|_| ()),
            phone.as_ref().map(|_| ()).map_err(Clone::clone),
            validate::check_password("password", &input.password, &email),
            validate::check_name("full_name", &input.full_name),
        ])?;
        let phone = phone.map_err(|e| Error::Invalid(vec![e]))?;
        let full_name = input.full_name.trim().to_owned();

        // Twice at most: a parallel first sign-up of the same email that wins the insert is
        // then met as a repeat, so it cannot take the account over either.
        let mut account = None;
        for _ in 0..2 {
            match self.account_by_email(&email).await? {
                Some(a) if a.status == AccountStatus::Verified => return Err(Error::EmailTaken),
                Some(a) => {
                    account = Some(
                        self.repeat_sign_up(a, &input.password, &full_name, &phone)
                            .await?,
                    );
                    break;
                }
                None => {
                    let fresh = AccountRecord {
                        account_id: ulid::Ulid::new().to_string(),
                        email: email.clone(),
                        full_name: full_name.clone(),
                        phone: phone.clone(),
                        password_hash: hash_password(input.password.clone()).await?,
                        status: AccountStatus::Unverified,
                        created_at: self.ports.clock.now(),
                        tokens_valid_after_ms: 0,
                        surviving_sid: None,
                    };
                    match self.insert(&fresh).await {
                        Ok(()) => {
                            account = Some(fresh);
                            break;
                        }
                        Err(StoreError::ConditionFailed { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        let Some(account) = account else {
            return Err(Error::Busy {
                retry_after_secs: 1,
            });
        };
        // The resend limits hold for every sign-up; the account's password was settled first.
        self.claim_send(&email).await?;
        self.send_code(&account, Purpose::Signup, lang).await?;
        Ok(SignedUp {
            account_id: account.account_id,
            email: account.email,
            status: AccountStatus::Unverified,
        })
    }

    /// A sign-up of an email still unverified. Anyone may sign up any email, so a repeat
    /// never takes over the first: the same password is the same person (their newest name
    /// and phone win); another password makes the password unknowable, so the code (which
    /// proves only the mailbox) activates none, and the owner sets one with a reset.
    async fn repeat_sign_up(
        &self,
        mut account: AccountRecord,
        password: &str,
        full_name: &str,
        phone: &str,
    ) -> Result<AccountRecord, Error> {
        // An unknowable password is compared with the dummy hash: every answer takes as long.
        let phc = match account.password_hash.as_str() {
            "" => self.dummy_hash().await?,
            stored => stored.to_owned(),
        };
        let same =
            verify_password(password.to_owned(), phc).await? && !account.password_hash.is_empty();
        if same {
            account.full_name = full_name.to_owned();
            account.phone = phone.to_owned();
        } else {
            account.password_hash = String::new();
        }
        self.ports
            .table
            .put(
                Item::from_record(keys::account(&account.account_id), &account)?,
                Some(Cond::eq("status", "unverified")),
            )
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => Error::EmailTaken,
                e => e.into(),
            })?;
        Ok(account)
    }

    /// Writes a new account and its email index together; either exists already: nothing.
    async fn insert(&self, account: &AccountRecord) -> Result<(), StoreError> {
        let index = EmailIndex {
            account_id: account.account_id.clone(),
        };
        self.ports
            .table
            .transact(vec![
                crate::store::Write::Put {
                    item: Item::from_record(keys::email(&account.email), &index)?,
                    cond: Some(Cond::NotExists),
                },
                crate::store::Write::Put {
                    item: Item::from_record(keys::account(&account.account_id), account)?,
                    cond: Some(Cond::NotExists),
                },
            ])
            .await
    }

    /// Takes one send from the email's allowance, or answers how long to wait.
    async fn claim_send(&self, email: &str) -> Result<(), Error> {
        let key = keys::otp_send_window(email);
        let current = self.ports.table.get(&key).await?;
        let record: SendWindowRecord = match &current {
            Some(item) => item.record()?,
            None => SendWindowRecord::default(),
        };
        let now = self.now_ms();
        let window = record
            .window
            .claim(now)
            .map_err(|retry_after_secs| Error::OtpCooldown { retry_after_secs })?;
        let cond = match current {
            Some(_) => Cond::eq("version", record.version),
            None => Cond::NotExists,
        };
        let next = SendWindowRecord {
            window,
            version: record.version + 1,
            ttl: ttl_after(now, 2 * 3600),
        };
        self.ports
            .table
            .put(Item::from_record(key, &next)?, Some(cond))
            .await
            .map_err(|e| match e {
                // Another request just sent a code to this email.
                StoreError::ConditionFailed { .. } => Error::OtpCooldown {
                    retry_after_secs: otp::COOLDOWN_SECS as u64,
                },
                e => e.into(),
            })
    }

    /// Stores a fresh code (voiding the previous one) and queues its email.
    async fn send_code(
        &self,
        account: &AccountRecord,
        purpose: Purpose,
        lang: Lang,
    ) -> Result<(), Error> {
        let code = otp::generate();
        let now = self.now_ms();
        let record = OtpRecord {
            hash: otp::hash(&self.otp_key, &account.email, purpose, &code),
            expires_at_ms: now + otp::VALID_SECS * 1000,
            attempts: 0,
            ttl: ttl_after(now, otp::VALID_SECS + 24 * 3600),
        };
        self.ports
            .table
            .put(
                Item::from_record(keys::otp(&account.email, purpose), &record)?,
                None,
            )
            .await?;
        let job = Job::SendEmail {
            id: ulid::Ulid::new().to_string(),
            to: account.email.clone(),
            lang,
            message: Message::Otp {
                code,
                purpose,
                full_name: account.full_name.clone(),
                valid_minutes: (otp::VALID_SECS / 60) as u32,
            },
        };
        self.ports
            .queue
            .enqueue(&job)
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Checks a code and uses it up. Wrong codes count; the fifth voids it.
    async fn consume_code(&self, email: &str, purpose: Purpose, code: &str) -> Result<(), Error> {
        let key = keys::otp(email, purpose);
        // A concurrent attempt on the same code changes `attempts`; re-read and decide again.
        for _ in 0..5 {
            let Some(item) = self.ports.table.get(&key).await? else {
                return Err(Error::OtpExpired);
            };
            let record: OtpRecord = item.record()?;
            if record.attempts >= otp::MAX_ATTEMPTS {
                return Err(Error::OtpLocked);
            }
            if record.expires_at_ms <= self.now_ms() {
                return Err(Error::OtpExpired);
            }
            let unchanged = Some(Cond::eq("attempts", record.attempts));
            if otp::matches(&self.otp_key, email, purpose, code, &record.hash) {
                match self.ports.table.delete(&key, unchanged).await {
                    Ok(()) => return Ok(()),
                    Err(StoreError::ConditionFailed { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            match self
                .ports
                .table
                .update(&key, Update::new().add("attempts", 1), unchanged)
                .await
            {
                Ok(attrs) => {
                    let used = attrs
                        .get("attempts")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(u64::MAX);
                    let left = u64::from(otp::MAX_ATTEMPTS).saturating_sub(used);
                    return Err(if left == 0 {
                        Error::OtpLocked
                    } else {
                        Error::InvalidOtp {
                            attempts_left: left as u32,
                        }
                    });
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Busy {
            retry_after_secs: 1,
        })
    }

    fn check_code_input(email: &str, code: &str) -> Result<Email, Error> {
        let code_ok = code.len() == 6 && code.chars().all(|c| c.is_ascii_digit());
        let email = Email::parse(email);
        collect([
            email.as_ref().map(|_| ()).map_err(Clone::clone),
            if code_ok {
                Ok(())
            } else {
                Err(FieldError::new("code", text::OTP_CODE_FORM))
            },
        ])?;
        email.map_err(|e| Error::Invalid(vec![e]))
    }

    /// `POST /v1/accounts/verify`: uses the sign-up code and signs in.
    pub async fn verify(&self, email: &str, code: &str) -> Result<Session, Error> {
        let email = Self::check_code_input(email, code)?;
        self.consume_code(&email, Purpose::Signup, code).await?;
        let Some(account) = self.account_by_email(&email).await? else {
            return Err(Error::OtpExpired);
        };
        self.ports
            .table
            .update(
                &keys::account(&account.account_id),
                Update::new().set("status", "verified"),
                Some(Cond::Exists),
            )
            .await?;
        self.session(&account.account_id)
    }

    /// The email and name to write to about an account.
    pub async fn contact(&self, account_id: &str) -> Result<Option<(String, String)>, Error> {
        Ok(self
            .account(account_id)
            .await?
            .map(|a| (a.email, a.full_name)))
    }

    /// Imports an account that proved its email elsewhere (a migration from M-Paspor, or a
    /// benchmark's thousands of users), with an Argon2id hash made by [`Self::hash`].
    pub async fn import_verified(
        &self,
        email: &str,
        full_name: &str,
        phone: &str,
        password_hash: &str,
    ) -> Result<String, Error> {
        let email = Email::normalize(email);
        let account = AccountRecord {
            account_id: ulid::Ulid::new().to_string(),
            email: email.clone(),
            full_name: full_name.to_owned(),
            phone: validate::normalize_phone(phone).map_err(|e| Error::Invalid(vec![e]))?,
            password_hash: password_hash.to_owned(),
            status: AccountStatus::Verified,
            created_at: self.ports.clock.now(),
            tokens_valid_after_ms: 0,
            surviving_sid: None,
        };
        self.insert(&account).await.map_err(|e| match e {
            StoreError::ConditionFailed { .. } => Error::EmailTaken,
            e => e.into(),
        })?;
        Ok(account.account_id)
    }

    /// An Argon2id hash of a password, as sign-up stores it.
    pub async fn hash(password: &str) -> Result<String, Error> {
        hash_password(password.to_owned()).await
    }

    /// A fresh session for an account (after it proved who it is).
    pub fn session(&self, account_id: &str) -> Result<Session, Error> {
        let now = self.now_ms();
        let claims = Claims {
            sub: account_id.to_owned(),
            sid: ulid::Ulid::new().to_string(),
            iat_ms: now,
            exp: now / 1000 + self.config.token_ttl_secs,
            typ: "access".into(),
        };
        let access_token = self
            .tokens
            .issue(&claims)
            .map_err(|e| Error::Internal(format!("token: {e}")))?;
        Ok(Session {
            access_token,
            token_type: "Bearer",
            expires_in: self.config.token_ttl_secs,
        })
    }

    /// `POST /v1/otp/resend` and `POST /v1/password/forgot`: answers the same whether or
    /// not the account exists; the allowance is spent either way, so it reveals nothing.
    pub async fn resend(&self, email: &str, purpose: Purpose, lang: Lang) -> Result<(), Error> {
        let email = Email::parse(email).map_err(|e| Error::Invalid(vec![e]))?;
        self.claim_send(&email).await?;
        // A sign-up code only for an account still unverified; a reset code for any account
        // (a reset also verifies, since the code proves the mailbox).
        match self.account_by_email(&email).await? {
            Some(account)
                if purpose == Purpose::PasswordReset
                    || account.status == AccountStatus::Unverified =>
            {
                self.send_code(&account, purpose, lang).await
            }
            _ => Ok(()),
        }
    }

    /// `POST /v1/sessions`.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Session, Error> {
        // Bounded before it becomes part of a key (and no account has such an email).
        let email = Email::parse(email).map_err(|e| Error::Invalid(vec![e]))?;
        let lock_key = keys::login_failures(&email);
        let now = self.now_ms();
        let login: LoginRecord = match self.ports.table.get(&lock_key).await? {
            Some(item) => item.record()?,
            None => LoginRecord::default(),
        };
        if login.locked_until_ms > now {
            return Err(Error::TooManyAttempts {
                retry_after_secs: ((login.locked_until_ms - now + 999) / 1000) as u64,
            });
        }
        let account = self.account_by_email(&email).await?;
        // No account, or one whose password is unknowable (see `sign_up`): the dummy hash
        // is verified all the same, so every refusal takes as long.
        let usable = account.as_ref().filter(|a| !a.password_hash.is_empty());
        let phc = match usable {
            Some(a) => a.password_hash.clone(),
            None => self.dummy_hash().await?,
        };
        let password_ok = verify_password(password.to_owned(), phc).await? && usable.is_some();
        let account = match account {
            Some(a) if password_ok => a,
            _ => {
                self.count_failure(&lock_key).await?;
                return Err(Error::InvalidCredentials);
            }
        };
        if login.failures > 0 {
            self.ports.table.delete(&lock_key, None).await?;
        }
        if account.status != AccountStatus::Verified {
            return Err(Error::AccountUnverified);
        }
        self.session(&account.account_id)
    }

    async fn dummy_hash(&self) -> Result<String, Error> {
        if let Some(h) = self.dummy_hash.get() {
            return Ok(h.clone());
        }
        let h = hash_password(ulid::Ulid::new().to_string()).await?;
        Ok(self.dummy_hash.get_or_init(|| h).clone())
    }

    async fn count_failure(&self, key: &Key) -> Result<(), Error> {
        let now = self.now_ms();
        let attrs = self
            .ports
            .table
            .update(
                key,
                Update::new()
                    .add("failures", 1)
                    .set(TTL_ATTR, ttl_after(now, 24 * 3600)),
                None,
            )
            .await?;
        let failures = attrs
            .get("failures")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        if failures >= LOGIN_MAX_FAILURES {
            self.ports
                .table
                .update(
                    key,
                    Update::new()
                        .set("failures", 0)
                        .set("locked_until_ms", now + LOGIN_LOCK_SECS * 1000),
                    None,
                )
                .await?;
        }
        Ok(())
    }

    /// `POST /v1/password/reset`: sets a new password with a reset code and voids every
    /// token issued before.
    pub async fn reset_password(
        &self,
        email: &str,
        code: &str,
        new_password: &str,
    ) -> Result<(), Error> {
        let email = Self::check_code_input(email, code)?;
        collect([validate::check_password(
            "new_password",
            new_password,
            &email,
        )])?;
        self.consume_code(&email, Purpose::PasswordReset, code)
            .await?;
        let Some(account) = self.account_by_email(&email).await? else {
            return Err(Error::OtpExpired);
        };
        let hash = hash_password(new_password.to_owned()).await?;
        // The code proved the mailbox, so a reset also verifies an unverified account.
        let update = Update::new()
            .set("password_hash", hash)
            .set("status", "verified")
            .set("tokens_valid_after_ms", self.now_ms())
            .set("surviving_sid", serde_json::Value::Null);
        self.ports
            .table
            .update(
                &keys::account(&account.account_id),
                update,
                Some(Cond::Exists),
            )
            .await?;
        self.ports
            .table
            .delete(&keys::login_failures(&email), None)
            .await?;
        Ok(())
    }

    /// `PUT /v1/password`: every other token issued before is void.
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new_password: &str,
    ) -> Result<(), Error> {
        let account = self
            .account(&who.account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        collect([validate::check_password(
            "new_password",
            new_password,
            &account.email,
        )])?;
        if account.password_hash.is_empty()
            || !verify_password(current.to_owned(), account.password_hash.clone()).await?
        {
            return Err(Error::InvalidCredentials);
        }
        let hash = hash_password(new_password.to_owned()).await?;
        let update = Update::new()
            .set("password_hash", hash)
            .set("tokens_valid_after_ms", self.now_ms())
            .set("surviving_sid", who.sid.clone());
        self.ports
            .table
            .update(
                &keys::account(&account.account_id),
                update,
                Some(Cond::Exists),
            )
            .await?;
        Ok(())
    }

    /// The account a bearer token speaks for, if the token is genuine, unexpired and not
    /// voided by a later password change.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        let claims = self
            .tokens
            .verify(token, self.now_ms())
            .ok_or(Error::Unauthorized)?;
        let account = self
            .account(&claims.sub)
            .await?
            .ok_or(Error::Unauthorized)?;
        let current = claims.iat_ms >= account.tokens_valid_after_ms
            || account.surviving_sid.as_deref() == Some(claims.sid.as_str());
        if !current || account.status != AccountStatus::Verified {
            return Err(Error::Unauthorized);
        }
        Ok(Principal {
            account_id: claims.sub,
            sid: claims.sid,
        })
    }

    /// `GET /v1/me`.
    pub async fn profile(&self, who: &Principal) -> Result<Profile, Error> {
        let a = self
            .account(&who.account_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok(Profile {
            account_id: a.account_id,
            email: a.email,
            full_name: a.full_name,
            phone: a.phone,
        })
    }
}
