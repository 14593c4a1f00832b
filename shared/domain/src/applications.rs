//! Applicants ("Tambah Pemohon") and their applications: the questionnaire with its fee
//! and documents, uploads straight to storage and their checks, and submission.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use hmac::{Hmac, Mac};

use sha2::Sha256;

use crate::{
    Error, FieldError, Ports,
    documents::{
        self, ContentType, Inspection, MAX_DOCUMENT_BYTES, UPLOAD_URL_SECS, UploadForm,
        UploadPolicy,
    },
    passport::{self, DocumentKind},
    repo::{
        keys,
        tx::{Failed, Tx},
    },
    store::{Cond, Item, Receipt, StoreError, Update, Write, no_receipt},
};

pub const MAX_APPLICANTS: i64 = 5;

pub use crate::model::application::*;
use crate::{model::ids::Nik, text};

/// Days an application's stored objects are kept after it ends, or after a draft was last
/// touched, unless configured (UU PDP: no longer than the purpose needs; a month leaves room
/// for a complaint about a decision).
pub const DEFAULT_DOCUMENT_RETENTION_DAYS: i64 = 30;

/// Indonesia's western time: the day an application is made on.
fn jakarta_today(now: DateTime<Utc>) -> NaiveDate {
    let wib = FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| unreachable!());
    now.with_timezone(&wib).date_naive()
}

pub struct Applications {
    ports: Ports,
    pii_key: Vec<u8>,
    /// Longest wait for storage before the client is told to try again (S3 slowing down
    /// must not hold a request until API Gateway's 30 s give up).
    storage_timeout: std::time::Duration,
    /// How long the stored objects stay once the application ended or was left as a draft.
    document_retention: TimeDelta,
}

/// How long a storage call may take by default.
pub const STORAGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Applications {
    pub fn new(ports: Ports, secrets: &crate::Secrets) -> Self {
        Self {
            ports,
            pii_key: secrets.nik_lock_key.clone(),
            storage_timeout: STORAGE_TIMEOUT,
            document_retention: TimeDelta::days(DEFAULT_DOCUMENT_RETENTION_DAYS),
        }
    }

    pub fn with_document_retention_days(mut self, days: i64) -> Self {
        self.document_retention = TimeDelta::days(days);
        self
    }

    pub fn document_retention(&self) -> TimeDelta {
        self.document_retention
    }

    /// The write that schedules a look at an application's stored objects one retention
    /// after `changed`: written with every change that ends an application (and when a
    /// draft is made), in the same transaction, so no ending goes unscheduled.
    pub fn purge_entry(&self, id: &str, changed: DateTime<Utc>) -> Result<Write, Error> {
        self.purge_entry_at(id, changed + self.document_retention)
    }

    pub(crate) fn purge_entry_at(&self, id: &str, due: DateTime<Utc>) -> Result<Write, Error> {
        Ok(crate::repo::applications::purge_entry(id, due)?)
    }

    /// What a transition of `app` needs to know besides it.
    pub fn context(&self, app: &Application, now: DateTime<Utc>) -> crate::transitions::Context {
        crate::transitions::Context {
            now,
            nik_ref: self.nik_ref(&app.applicant.nik),
            retention: self.document_retention,
        }
    }

    pub fn with_storage_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.storage_timeout = timeout;
        self
    }

    /// A storage call bounded by the storage timeout; slow or failing, it is `Busy`.
    async fn storage<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, crate::documents::StorageError>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.storage_timeout, call).await {
            Ok(result) => result.map_err(storage_unavailable),
            Err(_) => Err(storage_unavailable(crate::documents::StorageError(
                "timed out".into(),
            ))),
        }
    }

    /// A keyed hash of the NIK, so keys and indexes never hold the number itself.
    pub fn nik_ref(&self, nik: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.pii_key).unwrap_or_else(|_| unreachable!());
        mac.update(b"nik|");
        mac.update(nik.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    pub async fn add_applicant(
        &self,
        account_id: &str,
        input: NewApplicant,
    ) -> Result<Applicant, Error> {
        let mut errors = Vec::new();
        let name_ok = crate::validate::check_name("full_name", &input.full_name);
        let place_ok = crate::validate::check_name("birth_place", &input.birth_place);
        errors.extend(name_ok.err());
        errors.extend(place_ok.err());
        let now = self.ports.clock.now();
        if let Err(e) = crate::validate::check_date("birth_date", input.birth_date) {
            errors.push(e);
        } else if input.birth_date > jakarta_today(now) {
            errors.push(FieldError::new("birth_date", text::BIRTH_DATE_IN_FUTURE));
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let nik = Nik::parse(&input.nik, input.birth_date, input.sex)
            .map_err(|problem| Error::InvalidNik(problem.text()))?;
        let applicant = Applicant {
            applicant_id: ulid::Ulid::new().to_string(),
            nik: nik.into_string(),
            full_name: input.full_name.trim().to_owned(),
            birth_date: input.birth_date,
            birth_place: input.birth_place.trim().to_owned(),
            sex: input.sex,
            relationship: input.relationship,
            created_at: now,
        };
        let nik_ref = self.nik_ref(&applicant.nik);
        #[derive(Clone, Copy)]
        enum Guard {
            Limit,
            Exists,
        }
        let mut tx = Tx::new();
        tx.guarded(
            Guard::Limit,
            Write::Update {
                key: keys::applicant_count(account_id),
                update: Update::new().add("count", 1),
                cond: Some(Cond::Any(vec![
                    Cond::NotExists,
                    Cond::LessThanValue("count".into(), MAX_APPLICANTS),
                ])),
            },
        )
        .guarded(
            Guard::Exists,
            Write::Put {
                item: Item::from_record(
                    keys::account_nik(account_id, &nik_ref),
                    &serde_json::json!({"applicant_id": applicant.applicant_id}),
                )?,
                cond: Some(Cond::NotExists),
            },
        )
        .guarded(
            Guard::Exists,
            Write::Put {
                item: Item::from_record(
                    keys::applicant(account_id, &applicant.applicant_id),
                    &applicant,
                )?,
                cond: Some(Cond::NotExists),
            },
        );
        match tx.commit(self.ports.table.as_ref()).await {
            Ok(()) => Ok(applicant),
            Err(Failed::Guard(Guard::Limit)) => Err(Error::ApplicantLimit),
            Err(Failed::Guard(Guard::Exists) | Failed::Unnamed) => Err(Error::ApplicantExists),
            Err(Failed::Store(e)) => Err(e.into()),
        }
    }

    /// The write that frees an application's NIK for a new application (only if this
    /// application still holds it).
    pub fn release_nik(&self, app: &Application) -> Write {
        crate::repo::applications::release_nik(
            &self.nik_ref(&app.applicant.nik),
            &app.application_id,
        )
    }

    pub async fn applicants(&self, account_id: &str) -> Result<Vec<Applicant>, Error> {
        let items = self
            .ports
            .table
            .query(
                &keys::account_items(account_id),
                keys::APPLICANTS_OF_ACCOUNT,
                100,
            )
            .await?;
        items
            .iter()
            .map(|i| i.record().map_err(Error::from))
            .collect()
    }

    async fn applicant(&self, account_id: &str, applicant_id: &str) -> Result<Applicant, Error> {
        if !crate::model::ids::is_id(applicant_id) {
            return Err(Error::NotFound);
        }
        match self
            .ports
            .table
            .get(&keys::applicant(account_id, applicant_id))
            .await?
        {
            Some(item) => Ok(item.record()?),
            None => Err(Error::NotFound),
        }
    }

    pub async fn create(
        &self,
        account_id: &str,
        applicant_id: &str,
        destination: &str,
        input: NewApplication,
    ) -> Result<Application, Error> {
        self.create_with(account_id, applicant_id, destination, input, &no_receipt)
            .await
    }

    /// [`Self::create`], recording the caller's answer in the same transaction.
    pub async fn create_with(
        &self,
        account_id: &str,
        applicant_id: &str,
        destination: &str,
        input: NewApplication,
        receipt: Receipt<'_, Application>,
    ) -> Result<Application, Error> {
        if !passport::is_country(destination) {
            return Err(Error::invalid(
                "destination_country",
                text::COUNTRY_CODE_FORM,
            ));
        }
        let applicant = self
            .applicant(account_id, applicant_id)
            .await
            .map_err(|e| match e {
                Error::NotFound => Error::invalid("applicant_id", text::NO_SUCH_APPLICANT),
                e => e,
            })?;
        let now = self.ports.clock.now();
        let adult = passport::age_on(applicant.birth_date, jakarta_today(now))
            >= passport::ADULT_AGE
            || applicant.relationship == Relationship::Spouse;
        let terms = passport::terms(
            input.passport_type,
            input.application_type,
            input.express,
            adult,
        );
        let documents = passport::required_documents(adult, input.application_type, input.purpose)
            .into_iter()
            .map(|k| (k, DocumentState::default()))
            .collect();
        let application = Application {
            application_id: ulid::Ulid::new().to_string(),
            account_id: account_id.to_owned(),
            applicant: ApplicantSnapshot {
                applicant_id: applicant.applicant_id.clone(),
                nik: applicant.nik.clone(),
                full_name: applicant.full_name.clone(),
                birth_date: applicant.birth_date,
                sex: applicant.sex,
            },
            passport_type: input.passport_type,
            application_type: input.application_type,
            purpose: input.purpose,
            express: input.express,
            priority_reason: input.priority_reason,
            destination_country: destination.to_owned(),
            validity_years: terms.validity_years,
            fee_idr: terms.fee_idr,
            documents,
            status: Status::Draft,
            timeline: vec![TimelineEntry {
                status: Status::Draft,
                at: now,
            }],
            created_at: now,
            version: 1,
            booking: None,
            billing: None,
            reschedules: 0,
            lapsed_booking: None,
            updated_at: Some(now),
            entered_release: None,
        };
        let id = &application.application_id;
        #[derive(Clone, Copy)]
        enum Guard {
            Nik,
            Receipt,
        }
        let mut tx = Tx::new();
        tx.guarded(
            Guard::Nik,
            crate::repo::applications::take_nik_if_free(&self.nik_ref(&applicant.nik), id)?,
        )
        .write(Write::Put {
            item: Item::from_record(keys::application(id), &application)?,
            cond: Some(Cond::NotExists),
        })
        .write(Write::Put {
            item: Item::from_record(
                keys::account_application(account_id, id),
                &serde_json::json!({"application_id": id}),
            )?,
            cond: Some(Cond::NotExists),
        })
        // A draft left alone loses its uploads; the purge looks again if it was touched.
        .write(self.purge_entry(id, now)?)
        .guarded_opt(Guard::Receipt, receipt(&application)?);
        match tx.commit(self.ports.table.as_ref()).await {
            Ok(()) => Ok(application),
            Err(Failed::Guard(Guard::Nik)) => Err(Error::ActiveApplicationExists),
            Err(Failed::Guard(Guard::Receipt)) => Err(Error::receipt_lost()),
            Err(Failed::Unnamed) => Err(StoreError::ConditionFailed { index: None }.into()),
            Err(Failed::Store(e)) => Err(e.into()),
        }
    }

    /// The application if this account owns it; another account's answers as missing.
    pub async fn get(&self, account_id: &str, id: &str) -> Result<Application, Error> {
        let app = self.load(id).await?;
        if app.account_id != account_id {
            return Err(Error::NotFound);
        }
        Ok(app)
    }

    pub async fn load(&self, id: &str) -> Result<Application, Error> {
        if !crate::model::ids::is_id(id) {
            return Err(Error::NotFound);
        }
        match self.ports.table.get(&keys::application(id)).await? {
            Some(item) => Ok(item.record()?),
            None => Err(Error::NotFound),
        }
    }

    pub async fn list(&self, account_id: &str) -> Result<Vec<Application>, Error> {
        let index = self
            .ports
            .table
            .query(
                &keys::account_items(account_id),
                keys::APPLICATIONS_OF_ACCOUNT,
                1000,
            )
            .await?;
        let mut apps = Vec::with_capacity(index.len());
        for item in index {
            if let Some(id) = keys::application_of_entry(&item.key.sk) {
                apps.push(self.load(id).await?);
            }
        }
        apps.sort_by_key(|a| std::cmp::Reverse(a.created_at));
        Ok(apps)
    }

    /// Stores a changed application if nobody changed it since it was read.
    pub async fn save(&self, app: &mut Application) -> Result<(), Error> {
        let read = app.version;
        app.version += 1;
        let touched = app.updated_at;
        app.updated_at = Some(self.ports.clock.now());
        let item = Item::from_record(keys::application(&app.application_id), app)?;
        match self
            .ports
            .table
            .put(item, Some(Cond::eq("version", read)))
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => {
                app.version = read;
                app.updated_at = touched;
                Err(Error::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads, changes and saves an application, again if a concurrent change got there first.
    pub async fn change<T>(
        &self,
        account_id: Option<&str>,
        id: &str,
        mut f: impl FnMut(&mut Application, DateTime<Utc>) -> Result<T, Error>,
    ) -> Result<(Application, T), Error> {
        for _ in 0..5 {
            let mut app = match account_id {
                Some(account) => self.get(account, id).await?,
                None => self.load(id).await?,
            };
            let out = f(&mut app, self.ports.clock.now())?;
            match self.save(&mut app).await {
                Ok(()) => return Ok((app, out)),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Busy {
            retry_after_secs: 1,
        })
    }

    pub async fn upload_url(
        &self,
        account_id: &str,
        id: &str,
        kind: &str,
        content_type: &str,
        content_length: i64,
    ) -> Result<UploadForm, Error> {
        let documents = self.ports.documents.clone();
        let kind = DocumentKind::parse(kind).ok_or(Error::DocumentNotRequired)?;
        let content_type = ContentType::parse(content_type).ok_or(Error::UnsupportedContentType)?;
        if content_length <= 0 {
            return Err(Error::invalid("content_length", text::FILE_EMPTY));
        }
        if content_length as u64 > MAX_DOCUMENT_BYTES {
            return Err(Error::DocumentTooLarge);
        }
        let key = format!(
            "{}{}/{}-{}",
            documents::upload_prefix(id),
            kind.as_str(),
            ulid::Ulid::new(),
            random_hex()
        );
        let now = self.ports.clock.now();
        let policy = UploadPolicy {
            key: key.clone(),
            content_type,
            max_bytes: content_length as u64,
            now,
            expires_at: now + TimeDelta::seconds(UPLOAD_URL_SECS),
        };
        // Signed before anything is recorded: storage failing leaves the application as it
        // was, and the client is told to try again.
        let form = self.storage(documents.presign_upload(&policy)).await?;
        let (_, ()) = self
            .change(Some(account_id), id, |app, _| {
                if app.status != Status::Draft {
                    return Err(Error::InvalidState(text::UPLOAD_NEEDS_DRAFT));
                }
                let doc = app
                    .documents
                    .get_mut(&kind)
                    .ok_or(Error::DocumentNotRequired)?;
                doc.pending = Some(PendingUpload {
                    key: key.clone(),
                    content_type,
                });
                Ok(())
            })
            .await?;
        Ok(form)
    }

    /// `complete`: checks the stored object and marks the document.
    pub async fn complete(
        &self,
        account_id: &str,
        id: &str,
        kind: &str,
    ) -> Result<DocumentState, Error> {
        let kind = DocumentKind::parse(kind).ok_or(Error::DocumentNotRequired)?;
        let app = self.get(account_id, id).await?;
        let doc = app.documents.get(&kind).ok_or(Error::DocumentNotRequired)?;
        match &doc.pending {
            None if doc.uploaded => Ok(doc.clone()),
            None => Err(not_accepted(doc)),
            Some(pending) => {
                let pending = pending.clone();
                match self.check_upload(id, kind, &pending).await? {
                    Some(Inspection::Accepted { .. }) | None => {
                        let app = self.load(id).await?;
                        let doc = app.documents.get(&kind).cloned().unwrap_or_default();
                        if doc.uploaded {
                            Ok(doc)
                        } else {
                            Err(not_accepted(&doc))
                        }
                    }
                    Some(Inspection::Missing) => Err(Error::UploadMissing),
                    Some(Inspection::Rejected { reason }) => Err(Error::UploadRejected { reason }),
                }
            }
        }
    }

    /// A stored object announced by storage itself (S3's object-created event, or the
    /// local upload target): the same check as `complete`, for clients that never call it.
    pub async fn object_stored(&self, key: &str) -> Result<(), Error> {
        let mut parts = key.split('/').skip(1);
        let (id, kind) = match (parts.next(), parts.next()) {
            (Some(id), Some(kind)) if key.starts_with(&documents::upload_prefix(id)) => (id, kind),
            _ => {
                tracing::warn!("stored object outside documents/ ignored");
                return Ok(());
            }
        };
        let Some(kind) = DocumentKind::parse(kind) else {
            return Ok(());
        };
        let app = match self.load(id).await {
            Ok(app) => app,
            Err(Error::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        let pending = app.documents.get(&kind).and_then(|d| d.pending.clone());
        match pending {
            Some(p) if p.key == key => self.check_upload(id, kind, &p).await.map(|_| ()),
            // A stale or unknown object: the newest form is the one that counts.
            _ => Ok(()),
        }
    }

    /// Inspects a pending upload and records the verdict. `None` if the pending upload
    /// changed meanwhile (a newer form was issued, or the other path already decided).
    async fn check_upload(
        &self,
        id: &str,
        kind: DocumentKind,
        pending: &PendingUpload,
    ) -> Result<Option<Inspection>, Error> {
        let verdict = self
            .storage(documents::inspect(
                self.ports.documents.as_ref(),
                &pending.key,
                pending.content_type,
            ))
            .await?;
        if verdict == Inspection::Missing {
            return Ok(Some(verdict));
        }
        let (_, (applied, replaced)) = self
            .change(None, id, |app, now| {
                let Some(doc) = app.documents.get_mut(&kind) else {
                    return Ok((false, None));
                };
                if doc.pending.as_ref() != Some(pending) || app.status != Status::Draft {
                    return Ok((false, None));
                }
                doc.pending = None;
                let mut replaced = None;
                match &verdict {
                    Inspection::Accepted { size } => {
                        replaced = doc.key.take().filter(|old| *old != pending.key);
                        *doc = DocumentState {
                            uploaded: true,
                            content_type: Some(pending.content_type),
                            size: Some(*size),
                            uploaded_at: Some(now),
                            rejected: None,
                            key: Some(pending.key.clone()),
                            pending: None,
                        };
                    }
                    Inspection::Rejected { reason } => doc.rejected = Some((*reason).to_owned()),
                    Inspection::Missing => {}
                }
                Ok((true, replaced))
            })
            .await?;
        if let Inspection::Rejected { .. } = verdict
            && applied
            && let Err(e) = self.ports.documents.delete(&pending.key).await
        {
            tracing::warn!(error = %e, "rejected upload not deleted");
        }
        // The file a re-upload replaced; if this fails, the purge deletes it with the rest.
        if let Some(old) = replaced
            && let Err(e) = self.storage(self.ports.documents.delete(&old)).await
        {
            tracing::warn!(error = %e, "replaced upload not deleted; the purge will");
        }
        Ok(applied.then_some(verdict))
    }

    pub async fn submit(&self, account_id: &str, id: &str) -> Result<Application, Error> {
        let (app, ()) = self
            .change(Some(account_id), id, |app, now| {
                if app.status != Status::Draft {
                    return Err(Error::InvalidState(text::SUBMIT_NEEDS_DRAFT));
                }
                let missing = app.missing_documents();
                if !missing.is_empty() {
                    return Err(Error::DocumentsMissing {
                        kinds: missing.iter().map(|k| k.as_str()).collect(),
                    });
                }
                app.set_status(Status::Submitted, now);
                Ok(())
            })
            .await?;
        Ok(app)
    }
}

fn random_hex() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Storage failed (S3 throttling or an outage): logged with its detail; the client is
/// asked to try again in a moment, and nothing was recorded.
pub(crate) fn storage_unavailable(e: crate::documents::StorageError) -> Error {
    tracing::error!(error = %e, "document storage failed");
    Error::Busy {
        retry_after_secs: 2,
    }
}

/// Why a document with no pending upload is not uploaded: its last upload was refused (the
/// other path, S3's notification or an earlier `complete`, decided and deleted the file),
/// or nothing was ever stored.
fn not_accepted(doc: &DocumentState) -> Error {
    match &doc.rejected {
        Some(kept) => Error::UploadRejected {
            reason: documents::rejection(kept),
        },
        None => Error::UploadMissing,
    }
}
