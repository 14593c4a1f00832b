//! Paspor's domain: the rules of the service and the ports it needs from the world.
//!
//! Nothing here knows AWS, HTTP or SQL. Adapters implement the ports ([`store::Table`],
//! [`jobs::JobQueue`], [`mail::Mailer`], [`clock::Clock`]); the HTTP layer calls the
//! services ([`accounts::Accounts`]).

pub mod accounts;
pub mod applications;
pub mod booking;
pub mod clock;
pub mod documents;
pub mod draw;
pub mod error;
pub mod jobs;
pub mod lang;
pub mod mail;
pub mod model;
pub mod nik;
pub mod notify;
pub mod offices;
pub mod operations;
pub mod otp;
pub mod passport;
pub mod payments;
pub mod ports;
pub mod quota;
pub mod ratelimit;
pub mod releases;
pub mod repo;
pub mod retry;
pub mod sealed;
pub mod services;
pub mod store;
pub mod text;
pub mod tokens;
pub mod transitions;
pub mod validate;

pub use error::{Error, FieldError};
pub use ports::{Ports, Secrets};
pub use services::{Services, ServicesConfig};
