//! The only code that knows how the domain's records lie in the table: their keys, and the
//! writes that recur (take a place, give it back, save an application under its version),
//! and transactions whose conditions have names.

pub mod applications;
pub mod jobs;
pub mod keys;
pub mod places;
pub mod tx;
