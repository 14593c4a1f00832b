//! The domain's ports on real backends: [`embedded`] (SQLite, files on disk, an outbox
//! folder) for `paspor-local` and the tests, and [`aws`] (DynamoDB, SQS, SES, SSM) for
//! Lambda. This is the only crate that builds an SDK client.

#[cfg(feature = "aws")]
pub mod aws;
pub mod embedded;
