//! `draw_local`: a national release drawn end to end on `paspor-local`'s embedded backend,
//! through the domain's own services as the server runs them: `--entries` accounts with one
//! submitted application each enter a release of `--places` places (the 13 demo offices,
//! 8 hours a day, 50 places an hour, as many weekdays as that takes) with 1–5 choices; the window
//! closes, the sweeper's step computes the draw and queues its batches, every batch is
//! applied as the worker applies it (two at a time, one per core), and the next step opens
//! what is left. Prints each phase's time, the process's peak memory and every request to the
//! table, counted with DynamoDB's units (`tests/src/counting.rs`, the cost tests' counter).

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Instant,
};

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use clap::Parser;
use paspor_adapters::embedded::Embedded;
use paspor_bench::{Lcg, Size, application_for, peak_rss, plain, submitted};
use paspor_domain::{
    Services, ServicesConfig,
    accounts::Accounts,
    clock::Clock,
    draw::SlotRef,
    jobs::{Job, JobQueue, QueueError},
    offices::demo_offices,
    releases::{DrawBatch, Phase, ReleaseSpec},
    repo::places::Capacity,
};

#[path = "../../../src/counting.rs"]
#[allow(dead_code)]
mod counting;

const PER_HOUR: i64 = 50;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    size: Size,
    /// A fresh directory for the embedded store.
    #[arg(long)]
    data_dir: PathBuf,
}

/// The draw's batches kept for the bench's own workers; every other job (the emails) is
/// counted and dropped, as the worker would send them.
#[derive(Default)]
struct Captured {
    batches: Mutex<Vec<DrawBatch>>,
    emails: Mutex<u64>,
}

#[async_trait]
impl JobQueue for Captured {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        match job {
            Job::ApplyDraw(batch) => self
                .batches
                .lock()
                .map_err(|e| QueueError(e.to_string()))?
                .push(batch.clone()),
            _ => *self.emails.lock().map_err(|e| QueueError(e.to_string()))? += 1,
        }
        Ok(())
    }
}

fn report(phase: &str, took: f64, ledger: &counting::Ledger) {
    let t = ledger.snapshot();
    let requests: Vec<String> = t.requests.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "{phase}: {took:.1} s; peak memory {}; {}; read units {}, write units {}",
        peak_rss(),
        requests.join(", "),
        t.read_units,
        t.write_units
    );
    ledger.reset();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let embedded = Embedded::open(&args.data_dir, vec![b"bench-webhook-secret".to_vec()])?;
    let captured = Arc::new(Captured::default());
    let ledger = Arc::new(counting::Ledger::default());
    let mut ports = embedded.ports();
    ports.queue = captured.clone();
    let ports = counting::counted(ports, ledger.clone());
    let services = Services::new(ports, &embedded.secrets, ServicesConfig::default());
    let clock = embedded.clock.clone();

    // The demo offices, the release's weekdays two months ahead, 8 hours of 50 places.
    let mut offices = Vec::new();
    for office in demo_offices() {
        services.quota.add_office_if_missing(&office).await?;
        offices.push(office.office_id);
    }
    let per_day = 8 * PER_HOUR * offices.len() as i64;
    let days_needed = usize::try_from((args.size.places + per_day - 1) / per_day)?.max(1);
    let now = clock.now();
    let mut days = Vec::new();
    let mut day = now.date_naive() + TimeDelta::days(60);
    while days.len() < days_needed {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            days.push(day);
        }
        day += TimeDelta::days(1);
    }
    let hours: Vec<String> = (8..16).map(|h| format!("{h:02}:00")).collect();
    let spec = ReleaseSpec {
        office_ids: offices.clone(),
        from: days[0],
        to: days[days.len() - 1],
        slots: hours
            .iter()
            .map(|h| (h.clone(), Capacity::Pool(PER_HOUR)))
            .collect(),
        include_weekends: false,
        entry_opens_at: now + TimeDelta::minutes(1),
        entry_closes_at: now + TimeDelta::days(1),
        draw_at: now + TimeDelta::days(1) + TimeDelta::minutes(1),
        payment_hours: None,
    };
    let started = Instant::now();
    let (release, _) = services.releases.put("rilis-bench-nasional", spec).await?;
    let id = release.release_id.clone();
    let held = release.held_slots();
    let slots: Vec<SlotRef> = held.keys().cloned().collect();
    report(
        &format!(
            "release put ({} slots, {} places)",
            slots.len(),
            slots.len() as i64 * PER_HOUR
        ),
        started.elapsed().as_secs_f64(),
        &ledger,
    );

    // The entrants: an account and a submitted application each.
    let started = Instant::now();
    let hash = Accounts::hash("rahasia-bench").await?;
    let mut people = Vec::with_capacity(args.size.entries);
    for i in 0..args.size.entries {
        let account = services
            .accounts
            .import_verified(
                &format!("undian{i}@example.com"),
                "Bench",
                "081200000000",
                &hash,
            )
            .await?;
        let birth = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
            + TimeDelta::days((i % 20_000) as i64);
        let nik = format!("737101{}{:04}", birth.format("%d%m%y"), i / 20_000 + 1);
        let app_id = application_for(&services.applications, &account, nik, birth, plain()).await?;
        submitted(&services.applications, &app_id).await?;
        people.push((account, app_id));
        if (i + 1) % 50_000 == 0 {
            eprintln!(
                "prepared {}/{} ({:.0} s)",
                i + 1,
                args.size.entries,
                started.elapsed().as_secs_f64()
            );
        }
    }
    ledger.reset();
    println!(
        "prepared {} accounts with a submitted application: {:.1} s",
        args.size.entries,
        started.elapsed().as_secs_f64()
    );

    // Every one enters, with 1 to 5 distinct choices.
    clock.advance(61)?;
    let started = Instant::now();
    let mut rng = Lcg(7);
    for (n, (account, app)) in people.iter().enumerate() {
        let mut choices: Vec<SlotRef> = Vec::new();
        for _ in 0..1 + rng.next(5) {
            let pick = slots[rng.next(slots.len())].clone();
            if !choices.contains(&pick) {
                choices.push(pick);
            }
        }
        services
            .releases
            .enter(account, &id, std::slice::from_ref(app), &choices)
            .await?;
        if (n + 1) % 100_000 == 0 {
            eprintln!(
                "entered {}/{} ({:.0} s)",
                n + 1,
                people.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    drop(people);
    report(
        &format!("{} entries", args.size.entries),
        started.elapsed().as_secs_f64(),
        &ledger,
    );

    // The sweeper's step after the window: closed, the digest, the draw, its batches.
    clock.advance(24 * 3600)?;
    let started = Instant::now();
    let steps = services.releases.run().await?;
    let batches: Vec<DrawBatch> = std::mem::take(
        &mut *captured
            .batches
            .lock()
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    report(
        &format!("close and plan ({steps} steps, {} batches)", batches.len()),
        started.elapsed().as_secs_f64(),
        &ledger,
    );

    // The worker: every batch, two at a time.
    let started = Instant::now();
    let total = batches.len();
    let queue = Arc::new(Mutex::new(batches));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (queue, releases) = (queue.clone(), services.releases.clone());
        workers.spawn(async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(batch) = next else {
                    return Ok::<(), paspor_domain::Error>(());
                };
                releases.apply_batch(&batch).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    report(
        &format!("{total} batches applied"),
        started.elapsed().as_secs_f64(),
        &ledger,
    );

    // The next step: what is left first-come, drawn.
    let started = Instant::now();
    services.releases.run().await?;
    let drawn = services.releases.get(&id).await?;
    anyhow::ensure!(drawn.phase == Phase::Drawn, "the release is not drawn");
    report(
        &format!(
            "finish ({} won, {} waitlisted, {} emails queued)",
            drawn.won.unwrap_or(0),
            drawn.waitlisted.unwrap_or(0),
            captured.emails.lock().map(|n| *n).unwrap_or(0)
        ),
        started.elapsed().as_secs_f64(),
        &ledger,
    );
    Ok(())
}
