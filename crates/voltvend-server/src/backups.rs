//! Scheduled backups (DESIGN.md §2.8): the server writes a backup to a second location on a schedule,
//! verifies it at once (the checks `voltvend restore` runs, without restoring anything), keeps a retention of
//! daily and weekly backups, and raises an alarm through the notification outbox when a backup or its
//! verification fails.
//!
//! Each backup's verification is written beside it (`FILE.verified.json`), so the record travels with the
//! file and survives a restore of an older database; `voltvend restore --list` and `GET /api/v1/backups` read
//! the directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use voltvend_domain::Clock;
use voltvend_headend::notify::{Notification, Sender};
use voltvend_store::Store;

/// Where, how often, and how many to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPolicy {
    pub dir: PathBuf,
    pub every: SignedDuration,
    /// The newest backup of each of this many days is kept…
    pub keep_daily: usize,
    /// …and the newest of each of this many ISO weeks.
    pub keep_weekly: usize,
}

/// What the verification of one backup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub verified_at: String,
    pub ok: bool,
    /// What was checked (counts), or why it failed.
    pub detail: String,
}

/// A backup in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupEntry {
    pub file: PathBuf,
    /// When it was taken (from its name).
    pub taken_at: Timestamp,
    pub bytes: u64,
    /// `None`: never verified (written by hand, or the verification was interrupted).
    pub verification: Option<Verification>,
}

const PREFIX: &str = "voltvend-";
const STAMP: &str = "%Y%m%dT%H%M%SZ";

fn sidecar(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_os_string();
    name.push(".verified.json");
    PathBuf::from(name)
}

/// The time a backup's name says it was taken: `voltvend-YYYYMMDDTHHMMSSZ.sqlite` or `….pgdump`.
fn taken_at(file: &Path) -> Option<Timestamp> {
    let name = file.file_name()?.to_str()?;
    let stem = name.strip_prefix(PREFIX)?;
    let stamp = stem.strip_suffix(".sqlite").or_else(|| stem.strip_suffix(".pgdump"))?;
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S", stamp.strip_suffix('Z')?)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Every backup in `dir`, newest first. A directory that does not exist holds none.
pub fn list(dir: &Path) -> anyhow::Result<Vec<BackupEntry>> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("cannot read the backup directory {}: {e}", dir.display()),
    };
    let mut out = Vec::new();
    for entry in read {
        let path = entry?.path();
        let Some(at) = taken_at(&path) else { continue };
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let verification =
            std::fs::read(sidecar(&path)).ok().and_then(|b| serde_json::from_slice::<Verification>(&b).ok());
        out.push(BackupEntry { file: path, taken_at: at, bytes, verification });
    }
    out.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.file.cmp(&a.file)));
    Ok(out)
}

/// The backups the retention lets go (newest first in `entries`): of the verified ones, all but the newest of
/// each of the last `keep_daily` days and of the last `keep_weekly` ISO weeks (UTC); every failed or
/// unverified one except the newest backup of all, which stays for inspection.
pub fn expired(entries: &[BackupEntry], keep_daily: usize, keep_weekly: usize) -> Vec<PathBuf> {
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let good = e.verification.as_ref().is_some_and(|v| v.ok);
        if !good {
            if i > 0 {
                out.push(e.file.clone());
            }
            continue;
        }
        let date = e.taken_at.to_zoned(jiff::tz::TimeZone::UTC).date();
        let week = date.iso_week_date();
        let week = (week.year(), week.week());
        let mut keep = false;
        if !days.contains(&date) && days.len() < keep_daily {
            days.push(date);
            keep = true;
        }
        if !weeks.contains(&week) && weeks.len() < keep_weekly {
            weeks.push(week);
            keep = true;
        }
        if !keep && i > 0 {
            out.push(e.file.clone());
        }
    }
    out
}

/// Takes one backup now, verifies it, records the verification beside it, and applies the retention.
/// Returns the new backup; a failed backup or verification is an error (and an alarm, see [`Scheduler`]).
pub async fn run_once(
    store: &dyn Store,
    source_url: &str,
    policy: &BackupPolicy,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<BackupEntry> {
    std::fs::create_dir_all(&policy.dir)
        .map_err(|e| anyhow::anyhow!("cannot create the backup directory {}: {e}", policy.dir.display()))?;
    let stamp = clock.now().strftime(STAMP).to_string();
    let file = store.backup_to(&policy.dir, &stamp).await?;
    let verified = voltvend_store::backup::verify_backup(&file, source_url, clock.clone()).await;
    let verification = Verification {
        verified_at: clock.now().to_string(),
        ok: verified.is_ok(),
        detail: match &verified {
            Ok(r) => format!(
                "{} ledger accounts, {} transfers, {} entries, {} sales, {} audit records; every invariant holds",
                r.accounts, r.transfers, r.entries, r.sales, r.audit_records
            ),
            Err(e) => e.to_string(),
        },
    };
    std::fs::write(sidecar(&file), serde_json::to_vec_pretty(&verification)?)?;
    let entries = list(&policy.dir)?;
    for old in expired(&entries, policy.keep_daily, policy.keep_weekly) {
        for path in [sidecar(&old), old.clone()] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(file = %path.display(), error = %e, "cannot remove an expired backup"),
            }
        }
    }
    if let Err(e) = verified {
        anyhow::bail!("the backup {} failed its verification: {e}", file.display());
    }
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    Ok(BackupEntry {
        taken_at: taken_at(&file).unwrap_or_else(|| clock.now()),
        file,
        bytes,
        verification: Some(verification),
    })
}

/// Runs backups on the policy's schedule and raises an alarm through the notification outbox when one fails.
pub struct Scheduler {
    pub store: Arc<dyn Store>,
    pub source_url: String,
    pub policy: BackupPolicy,
    pub clock: Arc<dyn Clock>,
    /// Told directly only when the outbox cannot take the alarm.
    pub senders: Vec<Arc<dyn Sender>>,
    /// One backup at a time: a run asked for by hand waits for the scheduled one (and the other way round),
    /// so that neither's retention removes the other's file before it is verified.
    pub running: tokio::sync::Mutex<()>,
    /// Alarms raised by this process (part of each alarm's operation id).
    pub alarms: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl Scheduler {
    /// When the next backup is due: `every` after the newest one in the directory, or now.
    pub fn next_due(&self) -> anyhow::Result<Timestamp> {
        let now = self.clock.now();
        Ok(match list(&self.policy.dir)?.first() {
            Some(newest) => newest.taken_at.checked_add(self.policy.every).unwrap_or(now),
            None => now,
        })
    }

    /// One backup now, after any other in progress: verified, the retention applied.
    pub async fn run(&self) -> anyhow::Result<BackupEntry> {
        let _one = self.running.lock().await;
        run_once(self.store.as_ref(), &self.source_url, &self.policy, self.clock.clone()).await
    }

    /// One scheduled run: the backup, or the alarm.
    pub async fn tick(&self) -> Option<BackupEntry> {
        match self.run().await {
            Ok(entry) => {
                tracing::info!(file = %entry.file.display(), bytes = entry.bytes, "backup written and verified");
                Some(entry)
            }
            Err(e) => {
                self.alarm(&e.to_string()).await;
                None
            }
        }
    }

    /// The alarm: an error in the log, and a `backup_failed` alarm in the notification outbox, which its
    /// senders (the webhook…) deliver in order and retry until they have it. When the database cannot record
    /// it (the failure may be the database's own), the senders are told at once instead.
    pub async fn alarm(&self, why: &str) {
        tracing::error!(error = why, "backup failed");
        let at = self.clock.now();
        // What the outbox takes: no control characters, at most 1 000 bytes.
        let detail = voltvend_domain::text::sanitize(why, 1_000);
        // A new operation per alarm (the instant and a count of this process's alarms): each is told.
        let mut id = [0_u8; 16];
        id[..8].copy_from_slice(&at.as_microsecond().to_be_bytes());
        id[8..].copy_from_slice(&self.alarms.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_be_bytes());
        let op = voltvend_ops::Operation::new(
            voltvend_domain::OperationId::from_uuid(uuid::Uuid::from_bytes(id)),
            voltvend_ops::Actor::system("backup"),
            voltvend_ops::Command::RaiseAlarm(voltvend_ops::RaiseAlarm {
                kind: voltvend_ops::OutboxKind::BackupFailed,
                detail: detail.clone(),
            }),
        );
        let Err(e) = self.store.submit(op).await else { return };
        tracing::warn!(error = %e, "the backup alarm could not be put in the outbox; telling the senders directly");
        let n = Notification::system(format!("backup:{}", at.strftime(STAMP)), "backup_failed", at, &detail);
        for s in &self.senders {
            if let Err(e) = s.send(&n).await {
                tracing::warn!(sender = s.name(), error = %e, "the backup alarm was not delivered");
            }
        }
    }

    /// Runs until the task is dropped: waits until a backup is due, takes it, and so on. A failed run is
    /// tried again after a tenth of the interval (at most an hour), not a whole interval later.
    pub fn start(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut retry_at: Option<Timestamp> = None;
            loop {
                let due = match (retry_at, self.next_due()) {
                    (Some(r), _) => r,
                    (None, Ok(d)) => d,
                    (None, Err(e)) => {
                        self.alarm(&e.to_string()).await;
                        self.clock.now().checked_add(SignedDuration::from_hours(1)).unwrap_or(self.clock.now())
                    }
                };
                let wait = due.duration_since(self.clock.now());
                if wait > SignedDuration::ZERO {
                    tokio::time::sleep(wait.unsigned_abs()).await;
                }
                retry_at = match self.tick().await {
                    Some(_) => None,
                    None => {
                        let back_off = (self.policy.every / 10).min(SignedDuration::from_hours(1));
                        self.clock.now().checked_add(back_off).ok()
                    }
                };
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, ok: Option<bool>) -> BackupEntry {
        let file = PathBuf::from(format!("/b/voltvend-{name}.sqlite"));
        let verification = ok.map(|ok| Verification { verified_at: String::new(), ok, detail: String::new() });
        BackupEntry { taken_at: taken_at(&file).unwrap(), file, bytes: 1, verification }
    }

    #[test]
    fn names_give_the_time_and_other_files_are_not_backups() {
        let t = taken_at(Path::new("/x/voltvend-20261204T173000Z.pgdump")).unwrap();
        assert_eq!(t.to_string(), "2026-12-04T17:30:00Z");
        for other in ["voltvend-20261204T173000Z.sqlite.verified.json", "voltvend-2026.sqlite", "notes.txt"] {
            assert_eq!(taken_at(Path::new(other)), None, "{other}");
        }
    }

    #[test]
    fn retention_keeps_the_newest_of_each_day_and_week_and_never_counts_a_failed_backup() {
        // Newest first: two on Friday 4 Dec, Thursday, a failed one, Wednesday, and three weeks back.
        let entries = [
            entry("20261204T180000Z", Some(true)),
            entry("20261204T060000Z", Some(true)),
            entry("20261203T060000Z", Some(true)),
            entry("20261202T180000Z", Some(false)),
            entry("20261202T060000Z", Some(true)),
            entry("20261126T060000Z", Some(true)),
            entry("20261119T060000Z", None),
            entry("20261112T060000Z", Some(true)),
        ];
        let gone = |daily, weekly| -> Vec<String> {
            expired(&entries, daily, weekly).iter().map(|p| p.display().to_string()).collect()
        };
        // Two days, two weeks: Friday's newest and Thursday (days), this week's newest and 26 Nov (weeks).
        assert_eq!(
            gone(2, 2),
            [
                "/b/voltvend-20261204T060000Z.sqlite",
                "/b/voltvend-20261202T180000Z.sqlite",
                "/b/voltvend-20261202T060000Z.sqlite",
                "/b/voltvend-20261119T060000Z.sqlite",
                "/b/voltvend-20261112T060000Z.sqlite",
            ]
        );
        // The newest backup stays even if it failed (to be looked at), and nothing good is lost to it.
        let failed_newest = [entry("20261205T060000Z", Some(false)), entry("20261204T180000Z", Some(true))];
        assert!(expired(&failed_newest, 1, 0).is_empty());
    }
}
