//! The records the rules work on, apart from the services that load and store them.

pub mod application;
pub mod ids;
pub mod lane;
pub mod payment;
