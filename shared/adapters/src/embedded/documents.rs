//! Documents on disk, with the local server's own upload target: a form POST like S3's
//! presigned POST, whose policy (key, type, size, expiry) is signed with a local key and
//! enforced by the target before a byte is kept.

use std::{
    path::{Path, PathBuf},
    sync::RwLock,
};

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use paspor_domain::documents::{
    ContentType, DocumentStore, Download, StorageError, UploadForm, UploadPolicy,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::io::AsyncReadExt;

use super::EmbeddedError;

/// The path the local server serves its upload target on.
pub const UPLOAD_PATH: &str = "/_local/uploads";
/// The path under which it serves a presigned download (`/_local/objects/{key}`).
pub const DOWNLOAD_PATH: &str = "/_local/objects";

pub struct DiskDocuments {
    dir: PathBuf,
    key: Vec<u8>,
    /// The server's own base URL, known once it listens.
    base_url: RwLock<String>,
}

/// What the signed policy carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalPolicy {
    pub key: String,
    pub content_type: ContentType,
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// A presigned download's query, as the link carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadQuery {
    /// Unix seconds.
    pub expires: i64,
    #[serde(rename = "type")]
    pub content_type: String,
    #[serde(default)]
    pub gzip: bool,
    #[serde(default)]
    pub immutable: bool,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the form's signature does not match its policy")]
    BadSignature,
    #[error("the upload form has expired")]
    Expired,
    #[error("the form's fields differ from its policy")]
    Mismatch,
}

fn storage(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

impl DiskDocuments {
    pub fn new(dir: PathBuf, key: Vec<u8>) -> Result<Self, EmbeddedError> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            key,
            base_url: RwLock::new("http://127.0.0.1:8080".into()),
        })
    }

    pub fn set_base_url(&self, url: &str) {
        if let Ok(mut base) = self.base_url.write() {
            *base = url.trim_end_matches('/').to_owned();
        }
    }

    fn sign(&self, policy_b64: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(policy_b64.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// What a download link signs: the key and every header it will be answered with.
    fn download_signature(&self, key: &str, q: &DownloadQuery) -> String {
        self.sign(&format!(
            "download\n{key}\n{}\n{}\n{}\n{}",
            q.expires, q.content_type, q.gzip, q.immutable
        ))
    }

    /// Checks a download link: signed by this server for this key, and not expired.
    pub fn verify_download(
        &self,
        key: &str,
        q: &DownloadQuery,
        now: DateTime<Utc>,
    ) -> Result<(), PolicyError> {
        let expected = self.download_signature(key, q);
        if !bool::from(expected.as_bytes().ct_eq(q.signature.as_bytes())) {
            return Err(PolicyError::BadSignature);
        }
        if q.expires <= now.timestamp() {
            return Err(PolicyError::Expired);
        }
        Ok(())
    }

    /// Checks a submitted form against its signed policy; answers the policy to enforce.
    pub fn verify(
        &self,
        policy_b64: &str,
        signature: &str,
        key: &str,
        content_type: &str,
        now: DateTime<Utc>,
    ) -> Result<LocalPolicy, PolicyError> {
        let expected = self.sign(policy_b64);
        if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            return Err(PolicyError::BadSignature);
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(policy_b64)
            .map_err(|_| PolicyError::BadSignature)?;
        let policy: LocalPolicy =
            serde_json::from_slice(&raw).map_err(|_| PolicyError::BadSignature)?;
        if policy.expires_at <= now {
            return Err(PolicyError::Expired);
        }
        if policy.key != key || policy.content_type.mime() != content_type {
            return Err(PolicyError::Mismatch);
        }
        Ok(policy)
    }

    /// Where an object lives; keys are checked to stay inside the folder.
    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        let safe = !key.is_empty()
            && key
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
        if !safe {
            return Err(StorageError(format!("unsafe key {key:?}")));
        }
        Ok(self.dir.join(key))
    }

    /// Stores an object atomically: a temporary file, renamed into place.
    pub async fn store(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        let path = self.path(key)?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(storage)?;
        }
        let tmp = tmp_path(&path);
        tokio::fs::write(&tmp, bytes).await.map_err(storage)?;
        tokio::fs::rename(&tmp, &path).await.map_err(storage)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every file under `prefix` as (key, path), temporary `.part` files included, and the
    /// directories walked, deepest last. A key is its path below the folder with `/`.
    fn walk(&self, prefix: &str) -> Result<Walked, StorageError> {
        // Only the folder the prefix names (up to its last `/`) can hold matching keys.
        let folder = match prefix.rfind('/') {
            Some(i) => self.path(&prefix[..i])?,
            None if prefix.is_empty() => self.dir.clone(),
            None => self
                .path(prefix)?
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        };
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        if folder != self.dir {
            dirs.push(folder.clone());
        }
        let mut stack = vec![folder];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(storage(e)),
            };
            for entry in entries {
                let path = entry.map_err(storage)?.path();
                let Ok(rel) = path.strip_prefix(&self.dir) else {
                    continue;
                };
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                if path.is_dir() {
                    if key.starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                        stack.push(path.clone());
                        dirs.push(path);
                    }
                } else if key.starts_with(prefix) {
                    files.push((key, path));
                }
            }
        }
        files.sort();
        Ok((files, dirs))
    }
}

/// What [`DiskDocuments::walk`] found: files as (key, path), and the folders it went through.
type Walked = (Vec<(String, PathBuf)>, Vec<PathBuf>);

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

#[async_trait]
impl DocumentStore for DiskDocuments {
    async fn presign_upload(&self, p: &UploadPolicy) -> Result<UploadForm, StorageError> {
        let policy = LocalPolicy {
            key: p.key.clone(),
            content_type: p.content_type,
            max_bytes: p.max_bytes,
            expires_at: p.expires_at,
        };
        let policy_b64 = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(&policy).map_err(storage)?);
        let signature = self.sign(&policy_b64);
        let base = self.base_url.read().map(|b| b.clone()).unwrap_or_default();
        Ok(UploadForm {
            method: "POST",
            url: format!("{base}{UPLOAD_PATH}"),
            fields: [
                ("key".to_owned(), p.key.clone()),
                ("Content-Type".to_owned(), p.content_type.mime().to_owned()),
                ("policy".to_owned(), policy_b64),
                ("x-paspor-signature".to_owned(), signature),
            ]
            .into_iter()
            .collect(),
            expires_at: p.expires_at,
        })
    }

    async fn presign_download(&self, d: &Download) -> Result<String, StorageError> {
        self.path(&d.key)?;
        let mut q = DownloadQuery {
            expires: d.expires_at.timestamp(),
            content_type: d.content_type.to_owned(),
            gzip: d.gzip,
            immutable: d.immutable,
            signature: String::new(),
        };
        q.signature = self.download_signature(&d.key, &q);
        let base = self.base_url.read().map(|b| b.clone()).unwrap_or_default();
        // Every part is URL-safe as it is: checked keys, a MIME type, digits, hex.
        Ok(format!(
            "{base}{DOWNLOAD_PATH}/{}?expires={}&type={}&gzip={}&immutable={}&signature={}",
            d.key, q.expires, q.content_type, q.gzip, q.immutable, q.signature
        ))
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match tokio::fs::metadata(self.path(key)?).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage(e)),
        }
    }

    async fn read_head(&self, key: &str, n: u64) -> Result<Vec<u8>, StorageError> {
        let file = tokio::fs::File::open(self.path(key)?)
            .await
            .map_err(storage)?;
        let mut head = Vec::new();
        file.take(n).read_to_end(&mut head).await.map_err(storage)?;
        Ok(head)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        self.store(key, &bytes).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let (files, _) = self.walk(prefix)?;
        Ok(files
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| !key.ends_with(".part"))
            .collect())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        let (files, dirs) = self.walk(prefix)?;
        let mut deleted = 0;
        for (key, path) in files {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => deleted += u64::from(!key.ends_with(".part")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(storage(e)),
            }
        }
        // Folders left empty go too (S3 has none); one still holding files stays.
        for dir in dirs.iter().rev() {
            let _ = tokio::fs::remove_dir(dir).await;
        }
        Ok(deleted)
    }
}

impl std::fmt::Debug for DiskDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskDocuments")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}
