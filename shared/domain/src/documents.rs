//! Document storage: the client sends each file straight to storage on a presigned
//! request that storage itself enforces (size, type, expiry); the server then checks what
//! was stored. No function ever carries a file.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// 2 MiB, the most a document may weigh.
pub const MAX_DOCUMENT_BYTES: u64 = 2 * 1024 * 1024;
/// How long an upload form stays valid.
pub const UPLOAD_URL_SECS: i64 = 15 * 60;

/// Where an application's uploads are stored: `documents/{id}/{kind}/{object}`.
pub fn upload_prefix(application_id: &str) -> String {
    format!("documents/{application_id}/")
}

/// Where the invoices and receipts rendered for an application are stored.
pub fn invoice_prefix(application_id: &str) -> String {
    format!("invoices/{application_id}/")
}

/// Where a release's published result lives: the draw, gzip-compressed JSON, written once
/// when the draw is computed and never changed. Named by its seed's commitment too, so a
/// release id used again (a fresh table beside a retained bucket) never finds another
/// draw's document.
pub fn result_key(release_id: &str, seed_sha256: &str) -> String {
    format!("results/{release_id}/{seed_sha256}.json.gz")
}

/// How long a link to a published result stays valid: long enough to follow it.
pub const RESULT_URL_SECS: i64 = 5 * 60;

/// Every prefix an application's objects live under: deleting them deletes all it stored.
pub fn application_prefixes(application_id: &str) -> [String; 2] {
    [
        upload_prefix(application_id),
        invoice_prefix(application_id),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "application/pdf")]
    Pdf,
}

impl ContentType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "application/pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Pdf => "application/pdf",
        }
    }

    /// How many leading bytes [`Self::matches`] needs.
    pub const SNIFF_BYTES: u64 = 8;

    /// Whether a file's first bytes are those of this type.
    pub fn matches(self, head: &[u8]) -> bool {
        match self {
            Self::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::Png => head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
            Self::Pdf => head.starts_with(b"%PDF-"),
        }
    }
}

/// What the client sends the file with: a form POST (S3's presigned POST, or the local
/// server's equivalent) with these fields, the file last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadForm {
    pub method: &'static str,
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// The conditions storage must enforce on one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPolicy {
    pub key: String,
    pub content_type: ContentType,
    pub max_bytes: u64,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A link to read one stored object, answered with these headers (S3's `response-*`
/// overrides): the stored bytes may be gzip that the reader should see as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub key: String,
    pub content_type: &'static str,
    /// The stored bytes are gzip: answered with `Content-Encoding: gzip`.
    pub gzip: bool,
    /// The object never changes: answered as cacheable for a year.
    pub immutable: bool,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Download {
    pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
}

#[derive(Debug, thiserror::Error)]
#[error("document storage: {0}")]
pub struct StorageError(pub String);

#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Signs an upload form locally: no network call.
    async fn presign_upload(&self, policy: &UploadPolicy) -> Result<UploadForm, StorageError>;

    /// Signs a link that reads one object until `expires_at`: no network call.
    async fn presign_download(&self, download: &Download) -> Result<String, StorageError>;

    /// The stored object's size, if it exists.
    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError>;

    /// The object's first `n` bytes (fewer if it is shorter).
    async fn read_head(&self, key: &str, n: u64) -> Result<Vec<u8>, StorageError>;

    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Stores a file the server made itself (an invoice or a receipt).
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError>;

    /// A whole stored object, if it exists.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// The keys of every object whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;

    /// Deletes every object whose key starts with `prefix`; answers how many there were.
    /// Safe to repeat: a second call finds nothing.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError>;
}

/// The verdict on a stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspection {
    Missing,
    Accepted { size: u64 },
    Rejected { reason: &'static str },
}

/// The reasons [`inspect`] refuses an upload for, as a document keeps the last one.
const REJECTIONS: [&str; 3] = ["empty", "too_large", "content_mismatch"];

/// A kept reason as [`Inspection::Rejected`] gives it (an unknown one reads as a mismatch).
pub fn rejection(kept: &str) -> &'static str {
    REJECTIONS
        .into_iter()
        .find(|r| *r == kept)
        .unwrap_or("content_mismatch")
}

/// Checks a stored object: present, within the size, and its first bytes match its type.
pub async fn inspect(
    store: &dyn DocumentStore,
    key: &str,
    content_type: ContentType,
) -> Result<Inspection, StorageError> {
    let Some(size) = store.size(key).await? else {
        return Ok(Inspection::Missing);
    };
    if size == 0 {
        return Ok(Inspection::Rejected {
            reason: REJECTIONS[0],
        });
    }
    if size > MAX_DOCUMENT_BYTES {
        return Ok(Inspection::Rejected {
            reason: REJECTIONS[1],
        });
    }
    let head = store.read_head(key, ContentType::SNIFF_BYTES).await?;
    if !content_type.matches(&head) {
        return Ok(Inspection::Rejected {
            reason: REJECTIONS[2],
        });
    }
    Ok(Inspection::Accepted { size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_types() {
        assert!(ContentType::Jpeg.matches(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]));
        assert!(!ContentType::Jpeg.matches(b"GIF89a"));
        assert!(ContentType::Png.matches(b"\x89PNG\r\n\x1a\n\0\0"));
        assert!(!ContentType::Png.matches(b"\x89PNG"));
        assert!(ContentType::Pdf.matches(b"%PDF-1.7\n"));
        assert!(!ContentType::Pdf.matches(b"<html>"));
        assert_eq!(ContentType::parse("image/gif"), None);
        assert_eq!(
            ContentType::parse("application/pdf").map(ContentType::mime),
            Some("application/pdf")
        );
    }
}
