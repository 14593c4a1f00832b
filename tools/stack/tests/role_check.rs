//! The stack holds each function to exactly its role: with one permission taken out of a
//! copy of the template, the request that needs it is refused as AWS refuses it, and the
//! stack's count says so. (Needs the functions' binaries and the stand-ins, which
//! scripts/test builds and installs; it runs this with `--ignored`.)

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
#[ignore = "needs the functions' binaries and the stand-ins: scripts/test runs it"]
fn a_permission_taken_out_of_the_template_is_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template = std::fs::read_to_string(root.join("infra/template.yaml")).expect("template");
    // The booking function reads availability with dynamodb:Query.
    let start = template
        .find("  BookingFunction:")
        .expect("BookingFunction");
    let end = start
        + template[start..]
            .find("  BillingFunction:")
            .expect("next function");
    let booking = &template[start..end];
    let needle = "dynamodb:DeleteItem, dynamodb:Query, ";
    assert!(
        booking.contains(needle),
        "the booking role's statement changed: update this test"
    );
    let edited = format!(
        "{}{}{}",
        &template[..start],
        booking.replacen(needle, "dynamodb:DeleteItem, ", 1),
        &template[end..]
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("infra")).expect("infra");
    let copy = dir.path().join("infra/template.yaml");
    std::fs::write(&copy, edited).expect("write");

    let bin = Path::new(env!("CARGO_BIN_EXE_paspor-stack"));
    let mut child = Command::new(bin)
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--template")
        .arg(&copy)
        .arg("--bin-dir")
        .arg(bin.parent().expect("bin dir"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the stack");
    let stderr = child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + Duration::from_secs(240);
    let base = loop {
        let line = lines
            .next()
            .expect("the stack exited before listening")
            .expect("read");
        if let Some(url) = line.strip_prefix("paspor-stack listening on ") {
            break url.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "the stack did not start");
    };
    std::thread::spawn(move || lines.for_each(drop));

    // No office exists, so the offices list is read with the one permission it needs
    // (Query is the one taken away): the function gets AccessDeniedException and fails.
    let response = reqwest::blocking_get(&format!("{base}/v1/offices"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait().expect("wait");
    let log = log.join().expect("log");
    let refused = log
        .iter()
        .find(|l| l.starts_with("AWS requests checked:"))
        .unwrap_or_else(|| panic!("no role-check totals in {log:#?}"));
    assert!(
        !refused.contains("refused: 0 "),
        "the request without its permission was not refused: {refused} (answer {response:?})"
    );
    let row = log
        .iter()
        .find(|l| l.starts_with("booking") && l.contains("dynamodb:Query"))
        .unwrap_or_else(|| panic!("no booking dynamodb:Query row in {log:#?}"));
    let counts: Vec<u64> = row
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(counts.len() == 2 && counts[1] >= 1, "{row}");
    assert!(
        response.expect("an answer") >= 500,
        "the refused read cannot succeed"
    );
}

mod reqwest {
    /// One GET from a plain thread (the stack's answer's status).
    pub fn blocking_get(url: &str) -> Result<u16, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let r = ::reqwest::get(url).await.map_err(|e| e.to_string())?;
            Ok(r.status().as_u16())
        })
    }
}
