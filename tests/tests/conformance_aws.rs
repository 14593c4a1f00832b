//! The conformance suite on the AWS backend: DynamoDB Local, and moto for SQS and SES,
//! started by `scripts/test`. Built only with `--features aws`.
#![cfg(feature = "aws")]

use paspor_tests::{aws, conformance as c};

macro_rules! on_aws {
    ($f:ident; $($name:ident => $check:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let ($f, _dir) = aws::fixture().await;
            $check.await;
        }
    )*};
}

on_aws! { f;
    table_round_trip => c::table_round_trip(&f);
    table_conditions => c::table_conditions(&f);
    table_counter_stops_at_capacity => c::table_counter_stops_at_capacity(&f);
    table_transactions => c::table_transactions(&f);
    table_query => c::table_query(&f);
    table_contention_120_on_20 => c::table_contention(&f, 120, 20);
    booking_rush_120_on_20 => c::booking_rush(&f, 120, 20);
    payments_duplicate_deliveries => c::payments_duplicate_deliveries(&f);
    payment_races_expiry => c::payment_races_expiry(&f);
    queue_round_trip => c::queue_round_trip(&f);
    mailer_delivers => c::mailer_delivers(&f);
    documents_enforce_the_form => c::documents_enforce_the_form(&f);
    accounts_journey => c::accounts_journey(&f);
    accounts_limits => c::accounts_limits(&f);
}
