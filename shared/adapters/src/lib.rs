//! The domain's ports on real backends: [`embedded`] (SQLite, files on disk, an outbox
//! folder; feature `embedded`) for `paspor-local` and the tests, and [`aws`] (DynamoDB, SQS,
//! SES, SSM; feature `aws`) for Lambda. This is the only crate that builds an SDK client.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;
