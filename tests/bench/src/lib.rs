//! What the benchmark binaries share: a cheap generator, the process's peak memory, and the
//! benchmarks' usual applicant and application.

use chrono::NaiveDate;
use paspor_domain::{
    Error,
    applications::{Applications, NewApplicant, NewApplication, Relationship, Status},
    nik::Sex,
    passport::{ApplicationType, PassportType, Purpose},
};

/// A national release's size: a million entries for 200,000 places unless told.
#[derive(clap::Args)]
pub struct Size {
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: usize,
    #[arg(long, default_value_t = 200_000)]
    pub places: i64,
}

/// A tiny deterministic generator (the benchmarks need spread, not secrecy).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % below.max(1)
    }
}

/// The process's peak resident memory, as `/proc` says it.
pub fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A first regular passport for tourism, neither same-day nor priority.
pub fn plain() -> NewApplication {
    NewApplication {
        passport_type: PassportType::Regular,
        application_type: ApplicationType::New,
        purpose: Purpose::Tourism,
        express: false,
        priority_reason: None,
    }
}

/// An applicant of `account` (a man born in Makassar on `birth`, NIK `nik`) and a new
/// application of `kind` for him, a draft; answers its id.
pub async fn application_for(
    applications: &Applications,
    account: &str,
    nik: String,
    birth: NaiveDate,
    kind: NewApplication,
) -> Result<String, Error> {
    let input = NewApplicant {
        nik,
        full_name: "Bench".into(),
        birth_date: birth,
        birth_place: "Makassar".into(),
        sex: Sex::Male,
        relationship: Relationship::Other,
    };
    let applicant = applications.add_applicant(account, input).await?;
    let app = applications
        .create(account, &applicant.applicant_id, "SG", kind)
        .await?;
    Ok(app.application_id)
}

/// Marks an application submitted, as if its documents were checked (the benchmarks skip
/// the uploads).
pub async fn submitted(applications: &Applications, application_id: &str) -> Result<(), Error> {
    applications
        .change(None, application_id, |a, now| {
            a.set_status(Status::Submitted, now);
            Ok(())
        })
        .await?;
    Ok(())
}
