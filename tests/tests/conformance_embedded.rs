//! The conformance suite on the embedded backend (SQLite, files, outbox). Always runs.

paspor_tests::conformance_suite!(paspor_tests::fixture::embedded());
