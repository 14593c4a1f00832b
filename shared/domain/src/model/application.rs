//! An application and its applicant as they are stored: the types every rule reads.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    documents::ContentType,
    model::lane::{Lane, PriorityReason},
    nik::Sex,
    passport::{ApplicationType, DocumentKind, PassportType, Purpose},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    #[serde(rename = "self")]
    Holder,
    Spouse,
    Child,
    Parent,
    Sibling,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Submitted,
    AwaitingPayment,
    Paid,
    CheckedIn,
    Approved,
    Rejected,
    Expired,
    Cancelled,
}

impl Status {
    /// Whether the application still holds its NIK (one active application per NIK).
    pub fn is_active(self) -> bool {
        !matches!(
            self,
            Self::Approved | Self::Rejected | Self::Expired | Self::Cancelled
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    pub applicant_id: String,
    pub nik: String,
    pub full_name: String,
    pub birth_date: NaiveDate,
    pub birth_place: String,
    pub sex: Sex,
    pub relationship: Relationship,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewApplicant {
    pub nik: String,
    pub full_name: String,
    pub birth_date: NaiveDate,
    pub birth_place: String,
    pub sex: Sex,
    pub relationship: Relationship,
}

#[derive(Debug, Clone, Copy)]
pub struct NewApplication {
    pub passport_type: PassportType,
    pub application_type: ApplicationType,
    pub purpose: Purpose,
    pub express: bool,
    /// A declared reason for priority (age-based priority needs none).
    pub priority_reason: Option<PriorityReason>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentState {
    pub uploaded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<ContentType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<DateTime<Utc>>,
    /// The reason the last upload was refused, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// The stored object that passed the checks (the HTTP view never shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// An upload form was issued for this object; it is checked on completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingUpload>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpload {
    pub key: String,
    pub content_type: ContentType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub status: Status,
    pub at: DateTime<Utc>,
}

/// The applicant as the application recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicantSnapshot {
    pub applicant_id: String,
    pub nik: String,
    pub full_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub application_id: String,
    pub account_id: String,
    pub applicant: ApplicantSnapshot,
    pub passport_type: PassportType,
    pub application_type: ApplicationType,
    pub purpose: Purpose,
    pub express: bool,
    /// A declared reason for priority, checked by the officer at check-in.
    #[serde(default)]
    pub priority_reason: Option<PriorityReason>,
    pub destination_country: String,
    pub validity_years: u32,
    pub fee_idr: i64,
    pub documents: BTreeMap<DocumentKind, DocumentState>,
    pub status: Status,
    pub timeline: Vec<TimelineEntry>,
    pub created_at: DateTime<Utc>,
    /// Optimistic concurrency: every change is conditioned on the version it read.
    pub version: u64,
    #[serde(default)]
    pub booking: Option<BookingInfo>,
    #[serde(default)]
    pub billing: Option<Billing>,
    /// How often the booking was moved (at most once).
    #[serde(default)]
    pub reschedules: u32,
    /// The place an expired billing released: a late payment takes it back if it can.
    #[serde(default)]
    pub lapsed_booking: Option<BookingInfo>,
    /// The last change (records from before it was kept read their last status change).
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The release whose draw this application is entered in: it books no place
    /// first-come, nor enters another draw, until that one is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entered_release: Option<String>,
}

/// The place an application holds: an office, a day (office time) and an hourly slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingInfo {
    pub office_id: String,
    pub date: NaiveDate,
    pub time: String,
    /// The lane the place was taken in; none in a one-number slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<Lane>,
    /// The family booking this place was taken with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The release whose draw (or waitlist) gave this place: given back before the
    /// release's first day, it goes to the waitlist first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<FromRelease>,
}

/// A place's release, and the day its waitlist ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromRelease {
    pub release_id: String,
    pub first_day: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingStatus {
    Unpaid,
    Paid,
    Expired,
}

/// What the applicant pays at a bank, ATM, post office, minimarket or marketplace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billing {
    pub billing_code: String,
    pub amount_idr: i64,
    pub status: BillingStatus,
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl Application {
    pub fn missing_documents(&self) -> Vec<DocumentKind> {
        self.documents
            .iter()
            .filter(|(_, d)| !d.uploaded)
            .map(|(k, _)| *k)
            .collect()
    }

    pub fn set_status(&mut self, status: Status, at: DateTime<Utc>) {
        self.status = status;
        self.timeline.push(TimelineEntry { status, at });
        self.updated_at = Some(at);
    }

    /// When the application last changed: a draft untouched this long is abandoned, and an
    /// ended one has been over this long.
    pub fn last_changed(&self) -> DateTime<Utc> {
        let status_changed = self.timeline.last().map_or(self.created_at, |t| t.at);
        self.updated_at
            .map_or(status_changed, |u| u.max(status_changed))
    }
}
