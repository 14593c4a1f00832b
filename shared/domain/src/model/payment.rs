//! A payment channel's notification and the record kept of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    BankTeller,
    Atm,
    PostOffice,
    Indomaret,
    Tokopedia,
    Bukalapak,
    MobileBanking,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub transaction_id: String,
    pub billing_code: String,
    pub amount_idr: i64,
    pub paid_at: DateTime<Utc>,
    pub channel: Channel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Duplicate,
    RecordedForRefund,
}

/// A payment as recorded, for the operators' list of exceptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRecord {
    #[serde(flatten)]
    pub notification: Notification,
    pub application_id: String,
    pub received_at: DateTime<Utc>,
    pub outcome: Outcome,
    /// Why a payment waits for a refund.
    pub reason: Option<String>,
}
