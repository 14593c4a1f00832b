//! The fair release's draw, exactly as the contract specifies it (API.md, "Fair release"),
//! as plain functions of the seed, the entries and the slots: no database, no clock. The
//! server draws with these; `scripts/verify-draw` recomputes the same from a published
//! result with code of its own.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::{model::lane::Lane, repo::places::Capacity};

/// The secret 32 bytes a release is drawn with.
pub type Seed = [u8; 32];

/// A fresh seed, from the operating system's generator.
pub fn new_seed() -> Seed {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}

/// What is published before the window opens: hex SHA-256 of the seed's bytes.
pub fn seed_sha256(seed: &Seed) -> String {
    hex::encode(Sha256::digest(seed))
}

/// Hex SHA-256 of the entry ids, sorted by their UTF-8 bytes, each followed by `\n`.
pub fn entries_digest<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut hash = Sha256::new();
    for id in ids {
        hash.update(id.as_bytes());
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

/// SHA-256(seed ‖ entries_digest's hex ‖ entry id): the entry's place in the order.
pub fn order_key(seed: &Seed, digest: &str, entry_id: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(seed);
    hash.update(digest.as_bytes());
    hash.update(entry_id.as_bytes());
    hash.finalize().into()
}

/// An office's day and hour.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SlotRef {
    pub office_id: String,
    pub date: NaiveDate,
    pub time: String,
}

/// An entry as the draw sees it: its applications' lanes, in the order listed, and its
/// choices, best first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawEntry {
    pub entry_id: String,
    pub needs: Vec<Vec<Lane>>,
    pub choices: Vec<SlotRef>,
}

/// What the draw gave an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drawn {
    pub entry_id: String,
    /// From 1, in ascending order key.
    pub position: usize,
    /// The won choice and each application's lane in it (`None` in a one-number slot);
    /// `None`: waitlisted.
    pub won: Option<(SlotRef, Vec<Option<Lane>>)>,
}

/// Places left in one slot while drawing.
#[derive(Debug, Clone)]
enum Room {
    Pool(i64),
    Lanes(BTreeMap<Lane, i64>),
}

impl Room {
    fn of(capacity: &Capacity) -> Self {
        match capacity {
            Capacity::Pool(n) => Self::Pool(*n),
            Capacity::Lanes(lanes) => Self::Lanes(lanes.clone()),
        }
    }

    /// Places every application of `needs`, in order, each in the first of its lanes with
    /// room; all of them or none (the room is left as it was).
    fn take(&mut self, needs: &[Vec<Lane>]) -> Option<Vec<Option<Lane>>> {
        match self {
            Self::Pool(left) => {
                let n = i64::try_from(needs.len()).ok()?;
                if *left < n {
                    return None;
                }
                *left -= n;
                Some(vec![None; needs.len()])
            }
            Self::Lanes(left) => {
                let mut after = left.clone();
                let mut got = Vec::with_capacity(needs.len());
                for lanes in needs {
                    let lane = lanes
                        .iter()
                        .copied()
                        .find(|l| after.get(l).is_some_and(|&r| r > 0))?;
                    if let Some(r) = after.get_mut(&lane) {
                        *r -= 1;
                    }
                    got.push(Some(lane));
                }
                *left = after;
                Some(got)
            }
        }
    }
}

/// The draw: every entry in ascending order key gets its first choice where all its
/// applications fit, or is waitlisted. Answers the entries in position order.
pub fn draw(
    seed: &Seed,
    digest: &str,
    slots: &BTreeMap<SlotRef, Capacity>,
    entries: &[DrawEntry],
) -> Vec<Drawn> {
    let mut order: Vec<([u8; 32], &DrawEntry)> = entries
        .iter()
        .map(|e| (order_key(seed, digest, &e.entry_id), e))
        .collect();
    order.sort_unstable_by_key(|a| a.0);
    let mut room: BTreeMap<&SlotRef, Room> = slots.iter().map(|(s, c)| (s, Room::of(c))).collect();
    order
        .into_iter()
        .enumerate()
        .map(|(i, (_, entry))| {
            let won = entry.choices.iter().find_map(|choice| {
                let lanes = room.get_mut(choice)?.take(&entry.needs)?;
                Some((choice.clone(), lanes))
            });
            Drawn {
                entry_id: entry.entry_id.clone(),
                position: i + 1,
                won,
            }
        })
        .collect()
}

/// What the published result says of its release, beside the draw.
#[derive(Debug, Serialize)]
pub struct Header<'a> {
    pub release_id: &'a str,
    /// The seed in 64 lowercase hex characters, revealed with the result.
    pub seed: &'a str,
    pub seed_sha256: &'a str,
    pub entries_digest: &'a str,
    pub drawn_at: Option<DateTime<Utc>>,
}

/// The published result, gzip-compressed: everything `scripts/verify-draw` needs to
/// recompute the draw, and nothing about who entered. Serialized straight into the
/// compressor entry by entry, in draw order: a million entries are ~250 MB of JSON that
/// never exists uncompressed.
pub fn result_document(
    header: &Header,
    slots: &BTreeMap<SlotRef, Capacity>,
    wanted: &[DrawEntry],
    drawn: &[Drawn],
) -> std::io::Result<Vec<u8>> {
    let doc = Document {
        header,
        slots: slots
            .iter()
            .map(|(slot, capacity)| PublishedSlot { slot, capacity })
            .collect(),
        entries: PublishedEntries {
            drawn,
            wanted: wanted.iter().map(|w| (w.entry_id.as_str(), w)).collect(),
        },
    };
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // serde_json writes a few bytes at a time; the compressor wants them in blocks.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, gz);
    serde_json::to_writer(&mut out, &doc)?;
    out.into_inner().map_err(|e| e.into_error())?.finish()
}

#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    header: &'a Header<'a>,
    slots: Vec<PublishedSlot<'a>>,
    entries: PublishedEntries<'a>,
}

#[derive(Serialize)]
struct PublishedSlot<'a> {
    #[serde(flatten)]
    slot: &'a SlotRef,
    capacity: &'a Capacity,
}

struct PublishedEntries<'a> {
    drawn: &'a [Drawn],
    wanted: HashMap<&'a str, &'a DrawEntry>,
}

#[derive(Serialize)]
struct PublishedEntry<'a> {
    entry_id: &'a str,
    position: usize,
    needs: &'a [Vec<Lane>],
    choices: &'a [SlotRef],
    outcome: &'static str,
    slot: Option<&'a SlotRef>,
}

impl Serialize for PublishedEntries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.drawn.iter().map(|d| {
            let wanted = self.wanted.get(d.entry_id.as_str());
            PublishedEntry {
                entry_id: &d.entry_id,
                position: d.position,
                needs: wanted.map_or(&[][..], |w| &w.needs),
                choices: wanted.map_or(&[][..], |w| &w.choices),
                outcome: if d.won.is_some() { "won" } else { "waitlisted" },
                slot: d.won.as_ref().map(|(slot, _)| slot),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(time: &str) -> SlotRef {
        SlotRef {
            office_id: "yogyakarta".into(),
            date: NaiveDate::from_ymd_opt(2027, 1, 11).expect("day"),
            time: time.into(),
        }
    }

    fn entry(id: &str, needs: Vec<Vec<Lane>>, choices: &[&str]) -> DrawEntry {
        DrawEntry {
            entry_id: id.into(),
            needs,
            choices: choices.iter().map(|t| slot(t)).collect(),
        }
    }

    #[test]
    fn the_commitments_are_the_contracts_hashes() {
        let seed = [7u8; 32];
        // sha256 of 32 bytes of 0x07, as `printf` and `sha256sum` compute it.
        assert_eq!(seed_sha256(&seed).len(), 64);
        assert_eq!(
            entries_digest(["b", "a"]),
            hex::encode(Sha256::digest(b"a\nb\n"))
        );
        assert_eq!(entries_digest(["a", "b"]), entries_digest(["b", "a"]));
        let mut bytes = seed.to_vec();
        bytes.extend_from_slice(b"d1gest");
        bytes.extend_from_slice(b"e1");
        let expected: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(order_key(&seed, "d1gest", "e1"), expected);
    }

    #[test]
    fn the_result_document_is_the_draw_in_order_and_nothing_else() {
        use std::io::Read;
        let seed = [3u8; 32];
        let slots = BTreeMap::from([
            (slot("08:00"), Capacity::Pool(1)),
            (
                slot("09:00"),
                Capacity::Lanes(BTreeMap::from([(Lane::Priority, 1)])),
            ),
        ]);
        let entries = vec![
            entry("e1", vec![vec![Lane::Regular]], &["08:00"]),
            entry("e2", vec![vec![Lane::Regular]], &["08:00", "09:00"]),
            entry("e3", vec![vec![Lane::Priority, Lane::Regular]], &["09:00"]),
        ];
        let digest = entries_digest(entries.iter().map(|e| e.entry_id.as_str()));
        let drawn = draw(&seed, &digest, &slots, &entries);
        let hex_seed = hex::encode(seed);
        let header = Header {
            release_id: "rilis",
            seed: &hex_seed,
            seed_sha256: &seed_sha256(&seed),
            entries_digest: &digest,
            drawn_at: None,
        };
        let gz = result_document(&header, &slots, &entries, &drawn).expect("document");
        let mut json = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut json)
            .expect("gzip");
        let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
        let mut keys: Vec<&str> = doc
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "drawn_at",
                "entries",
                "entries_digest",
                "release_id",
                "seed",
                "seed_sha256",
                "slots"
            ]
        );
        assert_eq!(doc["seed"], hex_seed);
        assert_eq!(
            doc["slots"],
            serde_json::json!([
                {"office_id": "yogyakarta", "date": "2027-01-11", "time": "08:00", "capacity": 1},
                {"office_id": "yogyakarta", "date": "2027-01-11", "time": "09:00", "capacity": {"priority": 1}},
            ])
        );
        let published = doc["entries"].as_array().expect("entries");
        assert_eq!(published.len(), 3);
        for (p, d) in published.iter().zip(&drawn) {
            let e = entries
                .iter()
                .find(|e| e.entry_id == d.entry_id)
                .expect("entry");
            assert_eq!(
                p,
                &serde_json::json!({
                    "entry_id": d.entry_id,
                    "position": d.position,
                    "needs": e.needs,
                    "choices": e.choices,
                    "outcome": if d.won.is_some() { "won" } else { "waitlisted" },
                    "slot": d.won.as_ref().map(|(s, _)| s),
                })
            );
        }
    }

    #[test]
    fn each_entry_in_order_takes_its_first_choice_that_fits_whole() {
        let seed = [1u8; 32];
        let lanes = |caps: &[(Lane, i64)]| Capacity::Lanes(caps.iter().copied().collect());
        let slots = BTreeMap::from([
            (
                slot("08:00"),
                lanes(&[(Lane::Regular, 1), (Lane::Priority, 1)]),
            ),
            (slot("09:00"), Capacity::Pool(2)),
        ]);
        let grandma = vec![Lane::Priority, Lane::Regular];
        let parent = vec![Lane::Regular];
        let entries = vec![
            entry(
                "family",
                vec![grandma.clone(), parent.clone()],
                &["08:00", "09:00"],
            ),
            entry("single", vec![parent.clone()], &["08:00"]),
            entry(
                "pair",
                vec![parent.clone(), parent.clone()],
                &["08:00", "09:00"],
            ),
        ];
        let digest = entries_digest(entries.iter().map(|e| e.entry_id.as_str()));
        let drawn = draw(&seed, &digest, &slots, &entries);
        let mut keys: Vec<(String, [u8; 32])> = entries
            .iter()
            .map(|e| (e.entry_id.clone(), order_key(&seed, &digest, &e.entry_id)))
            .collect();
        keys.sort_by_key(|a| a.1);
        let order: Vec<&str> = drawn.iter().map(|d| d.entry_id.as_str()).collect();
        assert_eq!(order, keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>());
        assert_eq!(
            drawn.iter().map(|d| d.position).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // Recompute by hand for whichever order the seed gave: 08:00 holds one regular and
        // one priority place, 09:00 two of any kind.
        let (mut regular, mut priority, mut pool) = (1, 1, 2);
        for d in &drawn {
            let e = entries
                .iter()
                .find(|e| e.entry_id == d.entry_id)
                .expect("entry");
            let fits_08 = {
                let (mut r, mut p) = (regular, priority);
                e.needs
                    .iter()
                    .all(|lanes| {
                        if lanes.contains(&Lane::Priority) && p > 0 {
                            p -= 1;
                            true
                        } else if r > 0 {
                            r -= 1;
                            true
                        } else {
                            false
                        }
                    })
                    .then_some((r, p))
            };
            let expected = if let Some((r, p)) = fits_08 {
                (regular, priority) = (r, p);
                Some("08:00")
            } else if e.choices.contains(&slot("09:00")) && pool >= e.needs.len() as i64 {
                pool -= e.needs.len() as i64;
                Some("09:00")
            } else {
                None
            };
            assert_eq!(
                d.won.as_ref().map(|(s, _)| s.time.as_str()),
                expected,
                "{}",
                d.entry_id
            );
        }
    }

    #[test]
    fn a_choice_that_does_not_fit_whole_takes_nothing() {
        let slots = BTreeMap::from([(
            slot("08:00"),
            Capacity::Lanes(BTreeMap::from([(Lane::Regular, 1), (Lane::Electronic, 1)])),
        )]);
        let mut room = Room::of(&slots[&slot("08:00")]);
        // Two regulars: the second finds no place, so the first's is given back.
        assert_eq!(room.take(&[vec![Lane::Regular], vec![Lane::Regular]]), None);
        assert_eq!(
            room.take(&[vec![Lane::Regular], vec![Lane::Electronic]]),
            Some(vec![Some(Lane::Regular), Some(Lane::Electronic)])
        );
        assert_eq!(room.take(&[vec![Lane::Regular]]), None);
        let mut pool = Room::of(&Capacity::Pool(1));
        assert_eq!(pool.take(&[vec![Lane::Express], vec![Lane::Regular]]), None);
        assert_eq!(pool.take(&[vec![Lane::Express]]), Some(vec![None]));
    }

    /// Fairness, measured: 20,000 entries for 2,000 places over a day-long window, entry
    /// ids as the server makes them (ULIDs: their first characters are the time of entry).
    /// Those who entered in the first minute win as often as those of the last hour,
    /// within sampling error (see the numbers in the assertion's message).
    #[test]
    fn entering_early_gains_nothing() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(18);
        let opens_ms: u64 = 1_796_000_000_000;
        let day_ms: u64 = 24 * 3600 * 1000;
        // A rush in the first minute (a quarter of all entries), the rest spread out.
        let entries: Vec<(u64, DrawEntry)> = (0..20_000u64)
            .map(|i| {
                let at = if i % 4 == 0 {
                    opens_ms + rng.gen_range(0..60_000)
                } else {
                    opens_ms + rng.gen_range(0..day_ms)
                };
                let id = ulid::Ulid::from_parts(at, rng.r#gen::<u128>()).to_string();
                (at, entry(&id, vec![vec![Lane::Regular]], &["08:00"]))
            })
            .collect();
        let slots = BTreeMap::from([(slot("08:00"), Capacity::Pool(2_000))]);
        let only: Vec<DrawEntry> = entries.iter().map(|(_, e)| e.clone()).collect();
        let seed = [42u8; 32];
        let digest = entries_digest(only.iter().map(|e| e.entry_id.as_str()));
        let won: std::collections::HashSet<String> = draw(&seed, &digest, &slots, &only)
            .into_iter()
            .filter(|d| d.won.is_some())
            .map(|d| d.entry_id)
            .collect();
        assert_eq!(won.len(), 2_000);
        let share = |from: u64, to: u64| {
            let group: Vec<&DrawEntry> = entries
                .iter()
                .filter(|(at, _)| (from..to).contains(at))
                .map(|(_, e)| e)
                .collect();
            let wins = group.iter().filter(|e| won.contains(&e.entry_id)).count();
            (wins as f64 / group.len() as f64, group.len())
        };
        let (first, n_first) = share(opens_ms, opens_ms + 60_000);
        let (last, n_last) = share(opens_ms + day_ms - 3_600_000, opens_ms + day_ms);
        // Two standard errors of the difference of two shares of about 0.1.
        let p = 0.1_f64;
        let se = (p * (1.0 - p) * (1.0 / n_first as f64 + 1.0 / n_last as f64)).sqrt();
        println!("won: first minute {first:.4} of {n_first}, last hour {last:.4} of {n_last}");
        assert!(
            (first - last).abs() < 2.0 * se,
            "first minute {first:.4} of {n_first}, last hour {last:.4} of {n_last}, 2 se {:.4}",
            2.0 * se
        );
    }
}
