//! `paspor-bench-draw`: the draw of a national release, computed as the server computes it
//! (`paspor_domain::draw`): `--entries` entries (a fifth of them families of two or three)
//! with one to five choices among `--places` places (ten an hour, eight hours a day, at
//! as many office-days as that takes), one pool each. Prints the time to compute the
//! digest, the order and every outcome, then to write the published result (gzip JSON, as
//! the sweeper stores it), its size, and the peak memory.

use std::{collections::BTreeMap, time::Instant};

use chrono::{NaiveDate, TimeDelta};
use clap::Parser;
use paspor_bench::{Lcg, Size, peak_rss};
use paspor_domain::{
    draw::{self, DrawEntry, SlotRef},
    model::lane::Lane,
    repo::places::Capacity,
};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    size: Size,
}

fn main() {
    let args = Args::parse();
    let per_slot = 10;
    let n_slots = usize::try_from(args.size.places / per_slot)
        .unwrap_or(0)
        .max(1);
    let first = NaiveDate::from_ymd_opt(2027, 2, 1).unwrap_or_default();
    let slots: Vec<SlotRef> = (0..n_slots)
        .map(|i| SlotRef {
            office_id: format!("kantor-{:03}", i / (8 * 20)),
            date: first + TimeDelta::days(((i / 8) % 20) as i64),
            time: format!("{:02}:00", 8 + i % 8),
        })
        .collect();
    let capacity: BTreeMap<SlotRef, Capacity> = slots
        .iter()
        .map(|s| (s.clone(), Capacity::Pool(per_slot)))
        .collect();
    let mut rng = Lcg(18);
    let started = Instant::now();
    let entries: Vec<DrawEntry> = (0..args.size.entries)
        .map(|i| {
            let family = if rng.next(5) == 0 { 2 + rng.next(2) } else { 1 };
            let choices = (0..1 + rng.next(5))
                .map(|_| slots[rng.next(slots.len())].clone())
                .collect();
            DrawEntry {
                entry_id: ulid::Ulid::from_parts(1_796_000_000_000 + i as u64, i as u128)
                    .to_string(),
                needs: vec![vec![Lane::Regular]; family],
                choices,
            }
        })
        .collect();
    let made = started.elapsed();
    let seed = draw::new_seed();
    let started = Instant::now();
    let digest = draw::entries_digest(entries.iter().map(|e| e.entry_id.as_str()));
    let digested = started.elapsed();
    let drawn = draw::draw(&seed, &digest, &capacity, &entries);
    let total = started.elapsed();
    let won = drawn.iter().filter(|d| d.won.is_some()).count();
    let by_id: std::collections::HashMap<&str, usize> = entries
        .iter()
        .map(|e| (e.entry_id.as_str(), e.needs.len()))
        .collect();
    let placed: usize = drawn
        .iter()
        .filter(|d| d.won.is_some())
        .map(|d| by_id.get(d.entry_id.as_str()).copied().unwrap_or(0))
        .sum();
    println!(
        "entries {} for {} places in {} slots: {won} entries won ({placed} places), {} waitlisted",
        args.size.entries,
        args.size.places,
        n_slots,
        drawn.len() - won
    );
    println!(
        "generated in {:.2} s; digest {:.2} s; digest + order + outcomes {:.2} s",
        made.as_secs_f64(),
        digested.as_secs_f64(),
        total.as_secs_f64(),
    );
    let hex_seed = hex::encode(seed);
    let header = draw::Header {
        release_id: "rilis-nasional",
        seed: &hex_seed,
        seed_sha256: &draw::seed_sha256(&seed),
        entries_digest: &digest,
        drawn_at: None,
    };
    let started = Instant::now();
    let gz = match draw::result_document(&header, &capacity, &entries, &drawn) {
        Ok(gz) => gz,
        Err(e) => {
            eprintln!("result document: {e}");
            std::process::exit(1);
        }
    };
    let written = started.elapsed();
    let mut json = 0u64;
    let mut reader = flate2::read::GzDecoder::new(&gz[..]);
    if let Err(e) = std::io::copy(&mut reader, &mut CountingSink(&mut json)) {
        eprintln!("result document: {e}");
    }
    println!(
        "result document: {:.2} s to write, {:.1} MB gzip of {:.1} MB JSON; peak memory {}",
        written.as_secs_f64(),
        gz.len() as f64 / 1e6,
        json as f64 / 1e6,
        peak_rss()
    );
}

/// Counts what is written to it, and keeps nothing.
struct CountingSink<'a>(&'a mut u64);

impl std::io::Write for CountingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
