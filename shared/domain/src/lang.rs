//! The two languages everything is said in.

use serde::{Deserialize, Serialize};

/// Indonesian first; English for those who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Id,
    En,
}
