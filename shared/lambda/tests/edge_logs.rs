//! The edge's log lines, alone in their own test binary: tracing caches whether a call
//! site is wanted process-wide, and a test on another thread reaching the same call site
//! with no subscriber at the same moment could make this one's lines vanish (it did, once
//! in a full run).

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use common::{answer, event, plain, settled};
use paspor_tests::fixture::embedded;

/// Log lines written into a buffer, as CloudWatch would get them (JSON).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_log_lines_of_a_request_carry_api_gateways_request_id() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (f, _dir) = embedded();
    let edge = settled(&f);
    let (status, _) = answer(&edge, &event("dev", "/v1/echo", "", plain())).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("utf-8");
    let access = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("no access log line in {text}"));
    assert_eq!(access["route"], "/v1/echo", "{access}");
    assert_eq!(access["span"]["request_id"], "Ab3dEfGhIjKlMnO=", "{access}");
}
