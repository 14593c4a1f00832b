//! The deployed shape of Paspor, run on this machine with no AWS account.
//!
//! `infra/template.yaml` is the one source: the functions, their environment and roles,
//! the HTTP API's routes, the queues and their event source mappings, the schedule.

pub mod iam;
pub mod proxy;
pub mod sigv4;
