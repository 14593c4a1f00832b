//! `paspor-bench prepare`: fills a data directory for the benchmarks in `scripts/bench`.
//! Users and applications are written through the domain services (the same code as the
//! API) but without the API's per-user steps (OTP mail, uploads), which would take longer
//! than the benchmark: what is measured is the server under load, not this preparation.

use std::{collections::BTreeMap, io::Write, path::PathBuf};

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use clap::Parser;
use paspor_adapters::embedded::Embedded;
use paspor_bench::{application_for, plain, submitted};
use paspor_domain::{
    accounts::Accounts,
    applications::{NewApplicant, NewApplication, Relationship},
    clock::Clock,
    model::lane::{Lane, PriorityReason},
    nik::Sex,
    passport::{ApplicationType, PassportType, Purpose},
    repo::places::Capacity,
};
use paspor_http::{AppState, Settings};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    data_dir: PathBuf,
    /// Submitted applications ready to book (one booking attempt each).
    #[arg(long, default_value_t = 20_000)]
    applications: usize,
    /// Places in the rush slot.
    #[arg(long, default_value_t = 100)]
    capacity: i64,
    /// Draft applications for the upload-url benchmark (each phone uploads its own).
    #[arg(long, default_value_t = 200)]
    drafts: usize,
    /// Where to write the request list and the facts the script needs.
    #[arg(long)]
    out: PathBuf,
}

/// A weekday at least two days ahead, so it is bookable in every time zone.
fn rush_day(today: NaiveDate) -> NaiveDate {
    let mut d = today + TimeDelta::days(2);
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d += TimeDelta::days(1);
    }
    d
}

/// One kind of applicant for the laned benchmarks.
#[derive(Clone, Copy)]
struct Kind {
    passport_type: PassportType,
    express: bool,
    priority_reason: Option<PriorityReason>,
}

const REGULAR: Kind = Kind {
    passport_type: PassportType::Regular,
    express: false,
    priority_reason: None,
};
const ELECTRONIC: Kind = Kind {
    passport_type: PassportType::Electronic,
    ..REGULAR
};
const EXPRESS: Kind = Kind {
    express: true,
    ..REGULAR
};
const PRIORITY: Kind = Kind {
    priority_reason: Some(PriorityReason::Disability),
    ..REGULAR
};

/// `count` submitted applications in accounts of five (`tag` names the accounts, `region`
/// the NIKs' region code), of the kind `kind_of(i)` says; adults of 31 to 51, so priority
/// comes only from a declared reason. Answers each account's token and applications.
async fn prepare_set(
    state: &AppState,
    hash: &str,
    tag: &str,
    region: &str,
    count: usize,
    kind_of: impl Fn(usize) -> Kind,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    let mut made = 0;
    for f in 0..count.div_ceil(5) {
        let account = state
            .accounts
            .import_verified(
                &format!("{tag}{f}@example.com"),
                "Bench",
                "081200000000",
                hash,
            )
            .await?;
        let token = state.accounts.session(&account)?.access_token;
        let mut ids = Vec::new();
        for m in 0..5 {
            if made == count {
                break;
            }
            let birth = NaiveDate::from_ymd_opt(1975, 1, 1).unwrap_or_default()
                + TimeDelta::days((made % 7_000) as i64);
            let nik = format!(
                "{region}{}{:04}",
                birth.format("%d%m%y"),
                made / 7_000 * 5 + m + 1
            );
            let k = kind_of(made);
            let kind = NewApplication {
                passport_type: k.passport_type,
                express: k.express,
                priority_reason: k.priority_reason,
                ..plain()
            };
            let app_id = application_for(&state.applications, &account, nik, birth, kind).await?;
            submitted(&state.applications, &app_id).await?;
            ids.push(app_id);
            made += 1;
        }
        out.push((token, ids));
    }
    eprintln!("prepared {made} applications for {tag}");
    Ok(out)
}

/// A slot's lanes for `q` places: 45% regular, 25% e-passport, 10% same-day, the rest
/// priority (`express` off: the family slot, as families do not ask for same-day service).
fn lanes_of(q: i64, express: bool) -> BTreeMap<Lane, i64> {
    let (regular, electronic) = (q * 45 / 100, q / 4);
    let same_day = if express { q / 10 } else { 0 };
    BTreeMap::from([
        (Lane::Regular, regular),
        (Lane::Electronic, electronic),
        (Lane::Express, same_day),
        (Lane::Priority, q - regular - electronic - same_day),
    ])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let embedded = Embedded::open(&args.data_dir, vec![b"bench-webhook-secret".to_vec()])?;
    let state = AppState::new(embedded.ports(), &embedded.secrets, Settings::default());
    paspor_local::seed_demo(&state).await?;

    let office = state.quota.office("makassar").await?;
    let day = rush_day(office.timezone.today(embedded.clock.now()));
    let slot: BTreeMap<String, i64> = [("10:00".to_owned(), args.capacity)].into_iter().collect();
    state
        .quota
        .open_quota("makassar", day, day, &slot, true, false)
        .await?;
    // The same places in lanes (the laned rush), and in lanes without same-day service
    // (the family rush).
    let laned: BTreeMap<String, Capacity> = [
        (
            "11:00".to_owned(),
            Capacity::Lanes(lanes_of(args.capacity, true)),
        ),
        (
            "12:00".to_owned(),
            Capacity::Lanes(lanes_of(args.capacity, false)),
        ),
    ]
    .into_iter()
    .collect();
    state
        .quota
        .open_quota("makassar", day, day, &laned, true, false)
        .await?;

    let hash = Accounts::hash("rahasia-bench").await?;
    let mut requests =
        std::io::BufWriter::new(std::fs::File::create(args.out.join("requests.txt"))?);
    let start = std::time::Instant::now();
    let families = args.applications.div_ceil(5);
    let mut made = 0;
    let mut draft = None;
    for f in 0..families {
        let account = state
            .accounts
            .import_verified(
                &format!("bench{f}@example.com"),
                "Bench",
                "081200000000",
                &hash,
            )
            .await?;
        let token = state.accounts.session(&account)?.access_token;
        for m in 0..5 {
            if made == args.applications {
                break;
            }
            let birth = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
                + TimeDelta::days((made % 20_000) as i64);
            let nik = format!(
                "737101{}{:04}",
                birth.format("%d%m%y"),
                made / 20_000 * 5 + m + 1
            );
            let app_id =
                application_for(&state.applications, &account, nik, birth, plain()).await?;
            if draft.is_none() {
                // The first stays a draft: the upload-url benchmark presigns for it.
                draft = Some((app_id.clone(), token.clone()));
            } else {
                submitted(&state.applications, &app_id).await?;
                writeln!(requests, "{app_id} {token}")?;
            }
            made += 1;
        }
        if f % 500 == 0 {
            eprintln!(
                "prepared {made}/{} applications ({:.1} s)",
                args.applications,
                start.elapsed().as_secs_f64()
            );
        }
    }
    requests.flush()?;
    let mut drafts = std::io::BufWriter::new(std::fs::File::create(args.out.join("drafts.txt"))?);
    for d in 0..args.drafts {
        let account = state
            .accounts
            .import_verified(
                &format!("draft{d}@example.com"),
                "Draft",
                "081200000001",
                &hash,
            )
            .await?;
        let token = state.accounts.session(&account)?.access_token;
        let birth =
            NaiveDate::from_ymd_opt(1940, 1, 1).unwrap_or_default() + TimeDelta::days(d as i64);
        let input = NewApplicant {
            nik: format!("317101{}0001", birth.format("%d%m%y")),
            full_name: "Draft".into(),
            birth_date: birth,
            birth_place: "Jakarta".into(),
            sex: Sex::Male,
            relationship: Relationship::Holder,
        };
        let applicant = state.applications.add_applicant(&account, input).await?;
        let kind = NewApplication {
            passport_type: PassportType::Regular,
            application_type: ApplicationType::New,
            purpose: Purpose::Tourism,
            express: false,
            priority_reason: None,
        };
        let app = state
            .applications
            .create(&account, &applicant.applicant_id, "JP", kind)
            .await?;
        writeln!(drafts, "{} {token}", app.application_id)?;
    }
    drafts.flush()?;

    // Singles of every lane for the laned rush: half regular, a fifth e-passport, a tenth
    // same-day, a fifth priority.
    let half = args.applications / 2;
    let singles = prepare_set(&state, &hash, "laned", "737102", half, |i| match i % 10 {
        0..=4 => REGULAR,
        5 | 6 => ELECTRONIC,
        7 => EXPRESS,
        _ => PRIORITY,
    })
    .await?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(args.out.join("singles.txt"))?);
    for (token, ids) in &singles {
        for id in ids {
            writeln!(file, "{id} {token}")?;
        }
    }
    file.flush()?;
    // Families of 2 to 5 (parents, grandparents, children) for the family rush.
    let families = prepare_set(&state, &hash, "family", "737103", half, |i| {
        [REGULAR, ELECTRONIC, PRIORITY][i % 3]
    })
    .await?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(args.out.join("families.txt"))?);
    for (k, (token, ids)) in families.iter().enumerate() {
        let size = (2 + k % 4).min(ids.len());
        if size >= 2 {
            writeln!(file, "{} {token}", ids[..size].join(","))?;
        }
    }
    file.flush()?;
    // A release by draw whose window is open, for the entry rush: Makassar, five days past
    // the demo seed's 30 days of quota, eight hours of ten places.
    let now = state.ports.clock.now();
    let release_from = office.timezone.today(now) + TimeDelta::days(35);
    let release = paspor_domain::releases::ReleaseSpec {
        office_ids: vec!["makassar".into()],
        from: release_from,
        to: release_from + TimeDelta::days(4),
        slots: (8..=15)
            .map(|h| (format!("{h:02}:00"), Capacity::Pool(10)))
            .collect(),
        include_weekends: true,
        entry_opens_at: now - TimeDelta::minutes(1),
        entry_closes_at: now + TimeDelta::days(1),
        draw_at: now + TimeDelta::days(1) + TimeDelta::hours(1),
        payment_hours: None,
    };
    state.releases.put("rilis-bench", release).await?;
    let choices: Vec<serde_json::Value> = [(0, "09:00"), (1, "10:00"), (2, "13:00")]
        .iter()
        .map(|(d, t)| {
            serde_json::json!({"office_id": "makassar", "date": release_from + TimeDelta::days(*d), "time": t})
        })
        .collect();
    let (draft_id, draft_token) = draft.unwrap_or_default();
    let facts = serde_json::json!({
        "office": "makassar",
        "date": day,
        "time": "10:00",
        "laned_time": "11:00",
        "family_time": "12:00",
        "capacity": args.capacity,
        "attempts": made.saturating_sub(1),
        "draft_application": draft_id,
        "draft_token": draft_token,
        "email": "bench0@example.com",
        "password": "rahasia-bench",
        "release": "rilis-bench",
        "choices": serde_json::to_string(&choices)?,
    });
    std::fs::write(
        args.out.join("facts.json"),
        serde_json::to_vec_pretty(&facts)?,
    )?;
    eprintln!(
        "prepared {made} applications in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
