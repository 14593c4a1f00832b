//! Operator metrics (bookings, slot-full answers, payments, late payments, refunds,
//! expiries, upload rejections). On Lambda each count is one line in CloudWatch's embedded
//! metric format, which CloudWatch turns into a metric without any API call; elsewhere it
//! is a log event.

use serde_json::json;

pub const NAMESPACE: &str = "Paspor";

/// Counts `value` of `name` (a CloudWatch metric name, e.g. `Bookings`).
pub fn count(name: &str, value: f64) {
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        println!("{}", emf(name, value, &stage(), chrono_ms()));
    } else {
        tracing::info!(metric = name, value, "metric");
    }
}

fn stage() -> String {
    std::env::var("PASPOR_STAGE").unwrap_or_else(|_| "dev".into())
}

fn chrono_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// One embedded-metric-format record, dimensioned by stage.
pub fn emf(name: &str, value: f64, stage: &str, timestamp_ms: u128) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Stage"]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "Stage": stage,
        name: value,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_metric_format() {
        let line: serde_json::Value =
            serde_json::from_str(&emf("Bookings", 1.0, "prod", 1_764_000_000_000)).expect("json");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Paspor");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "Bookings"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Stage"
        );
        assert_eq!(line["_aws"]["Timestamp"], 1_764_000_000_000u64);
        assert_eq!(
            (line["Stage"].clone(), line["Bookings"].clone()),
            (json!("prod"), json!(1.0))
        );
    }
}
