//! What a draw asks of AWS, counted on the stand-ins as `cost_journey` counts an
//! application: the sweeper's steps and the worker's batches go through the counting
//! ports, each phase apart, so docs/capacity.md can scale the draw to a million entries.
//! A release of 6 single entries for 4 places (3 winners, 3 waitlisted with two choices
//! each). The emails the batches queue are priced as `cost_journey` prices one. The counts
//! are asserted exactly. Built only with `--features aws`.
#![cfg(feature = "aws")]

use std::sync::Arc;

use paspor_domain::jobs::Job;
use paspor_tests::{
    conformance::release_with_entries,
    counting::{Ledger, Tally, counted},
    fixture::test_secrets,
};

fn lines(what: &str, t: &Tally) -> String {
    let requests: Vec<String> = t.requests.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(
        "{what}: {}; read units {}, write units {}, SQS chunks {}, emails {}\n",
        requests.join(", "),
        t.read_units,
        t.write_units,
        t.sqs_chunks,
        t.emails
    )
}

fn requests(t: &Tally) -> Vec<(String, u64)> {
    t.requests.clone().into_iter().collect()
}

fn budget(of: &[(&str, u64)]) -> Vec<(String, u64)> {
    of.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_costs_what_capacity_md_prices() {
    let (f, _guard) = paspor_tests::aws::fixture().await;
    let ledger = Arc::new(Ledger::default());
    let mut g = f.clone();
    g.ports = counted(f.ports.clone(), ledger.clone());
    let (releases, id) = release_with_entries(&g, 6).await;
    let worker = paspor_worker::Worker::new(g.ports.clone(), &test_secrets());
    (f.drain_jobs)().await;
    ledger.reset();

    // The sweeper: the window shut on 32 shards, the digest, the draw computed, its two
    // batches queued.
    assert_eq!(releases.run().await.expect("plan"), 2);
    let plan = ledger.snapshot();
    ledger.reset();
    // The worker, one invocation per batch as the draw queue delivers them: the winners'
    // batch, then the waitlisted one.
    let mut queued: Vec<Job> = (f.drain_jobs)()
        .await
        .into_iter()
        .filter(|j| matches!(j, Job::ApplyDraw(_)))
        .collect();
    queued.sort_by_key(|j| match j {
        Job::ApplyDraw(b) => b.batch,
        _ => u32::MAX,
    });
    let mut batches = Vec::new();
    for job in queued {
        let body = serde_json::to_string(&job).expect("job json");
        worker.handle(&body).await.expect("batch");
        batches.push(ledger.snapshot());
        ledger.reset();
    }
    assert_eq!(batches.len(), 2);
    // The sweeper again: every batch applied, the slots opened first-come, drawn.
    assert_eq!(releases.run().await.expect("finish"), 1);
    let finish = ledger.snapshot();
    assert_eq!(
        releases.get(&id).await.expect("release").won,
        Some(3),
        "three winners"
    );

    let report = [
        lines("sweeper: close and plan", &plan),
        lines("worker: 3 winners", &batches[0]),
        lines("worker: 3 waitlisted", &batches[1]),
        lines("sweeper: finish", &finish),
    ]
    .concat();
    println!("{report}");
    // The measured budget (2026-12-03). A change that adds a request fails here: update
    // docs/capacity.md's draw section with the new count.
    assert_eq!(
        requests(&plan),
        budget(&[
            // The release saved closed, drawing, then with its plan.
            ("DynamoDB PutItem", 3),
            // The releases listed; 32 shards read to close and 32 to draw; the applied
            // batches.
            ("DynamoDB Query", 66),
            // Each shard's window shut.
            ("DynamoDB UpdateItem", 32),
            // The published result: not there yet, then written once.
            ("S3 HeadObject", 1),
            ("S3 PutObject", 1),
            // Two batches.
            ("SQS SendMessage", 2),
        ]),
        "{report}"
    );
    // The office is read once per instance, or twice when two slots' winners miss its
    // cache at the same moment.
    let mut winners = requests(&batches[0]);
    let office_reads = winners
        .iter_mut()
        .find(|(k, _)| k == "DynamoDB GetItem")
        .map(|(_, n)| std::mem::replace(n, 0))
        .unwrap_or(0);
    assert!((9..=10).contains(&office_reads), "{report}");
    assert_eq!(
        winners,
        budget(&[
            // The release, the batch's mark, each entry and its application (8), the
            // office (1, or 2 above).
            ("DynamoDB GetItem", 0),
            // The batch's mark.
            ("DynamoDB PutItem", 1),
            // Each winner booked in one transaction of 6 items (entry, application,
            // slot, billing code, schedule, expiry hour).
            ("DynamoDB TransactWriteItems", 3),
            ("DynamoDB TransactWriteItems (items)", 18),
            // Each winner's outcome and billing emails.
            ("SQS SendMessage", 6),
        ]),
        "{report}"
    );
    assert_eq!(
        requests(&batches[1]),
        budget(&[
            ("DynamoDB GetItem", 5),
            ("DynamoDB PutItem", 1),
            // The entry and one waitlist item per choice.
            ("DynamoDB TransactWriteItems", 3),
            ("DynamoDB TransactWriteItems (items)", 9),
            ("SQS SendMessage", 3),
        ]),
        "{report}"
    );
    assert_eq!(
        requests(&finish),
        budget(&[
            ("DynamoDB PutItem", 1),
            // The releases listed; the applied batches.
            ("DynamoDB Query", 2),
            // Each slot opened first-come.
            ("DynamoDB UpdateItem", 2),
            // The result is there (drawn means published).
            ("S3 HeadObject", 1),
        ]),
        "{report}"
    );
    // Units vary by a unit at a 1 KB boundary (timestamps' fractions) but must not grow.
    for (what, got, most) in [
        ("winners' write units", batches[0].write_units, 43),
        ("waitlisted write units", batches[1].write_units, 19),
    ] {
        assert!(
            (most - 2..=most).contains(&got),
            "{what}: {got}, budget {most}\n{report}"
        );
    }
}
