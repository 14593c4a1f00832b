//! The conformance suite on the AWS backend: DynamoDB Local, SeaweedFS for S3, and moto for
//! SQS and SES, started by `scripts/test`. Built only with `--features aws`.
#![cfg(feature = "aws")]

paspor_tests::conformance_suite!(paspor_tests::aws::fixture().await);
