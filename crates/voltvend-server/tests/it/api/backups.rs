//! Scheduled backups through the API: taken now by the group's administrator, verified, listed with their
//! verification, thinned by the retention as days pass; a backup that cannot be written answers `backup_failed`
//! and raises the alarm through the notification outbox, whose senders get it — one that is down, once it is up.

use std::sync::{Arc, Mutex};

use axum::http::Method;
use voltvend_domain::BuiltinRole;
use voltvend_headend::notify::{Notification, SendResult, Sender};
use voltvend_server::backups::{BackupPolicy, Scheduler};

use super::Api;

/// A sender that keeps what it is given; while `down`, it refuses everything.
#[derive(Default)]
struct Recorder(Mutex<Vec<Notification>>, std::sync::atomic::AtomicBool);

impl Sender for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendResult<'a> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async { Err("the webhook is down".to_string()) });
        }
        self.0.lock().unwrap().push(n.clone());
        Box::pin(async { Ok(()) })
    }
}

async fn take(api: &Api, building: char) -> super::Resp {
    api.send(api.as_(BuiltinRole::Administrator, building, Method::POST, "/api/v1/backups")).await
}

fn with_policy(api: &mut Api, policy: BackupPolicy, senders: Vec<Arc<dyn Sender>>) {
    let old = api.state.backups.clone().unwrap();
    api.state.backups = Some(Arc::new(Scheduler {
        store: old.store.clone(),
        source_url: old.source_url.clone(),
        policy,
        clock: old.clock.clone(),
        senders,
        running: tokio::sync::Mutex::new(()),
        alarms: std::sync::atomic::AtomicU64::new(0),
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_verified_listed_and_thinned_and_a_failure_raises_the_alarm() {
    let mut api = Api::new().await;
    let dir = api.dir.path().join("second-disk");
    let policy =
        BackupPolicy { dir: dir.clone(), every: jiff::SignedDuration::from_hours(24), keep_daily: 2, keep_weekly: 0 };
    let recorder = Arc::new(Recorder::default());
    // The senders the scheduler is given are only for a database that cannot take the alarm: the alarm goes
    // through the outbox, which this notifier delivers to the recorder (from now on: it starts at the end).
    with_policy(&mut api, policy.clone(), Vec::new());
    let notifier = voltvend_headend::notify::Notifier::new(api.store.clone(), vec![recorder.clone()]);
    notifier.deliver().await.unwrap();
    assert_eq!(take(&api, 'a').await.code(), "scope_too_narrow", "a building's administrator");
    let mut taken = Vec::new();
    for _ in 0..3 {
        let r = take(&api, 'g').await;
        assert_eq!(r.status.as_u16(), 201, "{}", String::from_utf8_lossy(&r.bytes));
        let b = r.json();
        assert_eq!(b["ok"], true, "{b}");
        assert!(b["detail"].as_str().unwrap().contains("every invariant holds"), "{b}");
        taken.push(b["file"].as_str().unwrap().to_string());
        api.clock.advance(jiff::SignedDuration::from_hours(24));
    }
    // Kept: the newest of each of the last two days; the first is gone, with its verification record.
    let list = api.send(api.as_(BuiltinRole::Administrator, 'g', Method::GET, "/api/v1/backups")).await.ok();
    let files: Vec<&str> = list.as_array().unwrap().iter().map(|b| b["file"].as_str().unwrap()).collect();
    assert_eq!(files, [taken[2].as_str(), taken[1].as_str()]);
    assert!(!dir.join(&taken[0]).exists() && !dir.join(format!("{}.verified.json", taken[0])).exists());
    notifier.deliver().await.unwrap();
    assert!(recorder.0.lock().unwrap().is_empty(), "no alarm while all is well");
    // The scheduler's next run is due a day after the newest backup.
    let scheduler = api.state.backups.clone().unwrap();
    let newest = voltvend_server::backups::list(&dir).unwrap()[0].taken_at;
    assert_eq!(scheduler.next_due().unwrap(), newest + jiff::SignedDuration::from_hours(24));

    // A second location that cannot be written (a file where the directory should be): the alarm.
    let blocked = api.dir.path().join("not-a-directory");
    std::fs::write(&blocked, b"x").unwrap();
    with_policy(&mut api, BackupPolicy { dir: blocked, ..policy }, Vec::new());
    // The webhook is down when it happens: the alarm waits in the outbox.
    recorder.1.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = take(&api, 'g').await;
    assert_eq!((r.status.as_u16(), r.code().as_str()), (500, "backup_failed"));
    let outbox = api.store.outbox(0, 1_000).await.unwrap();
    let (_, row) = outbox.last().unwrap();
    assert_eq!((row.kind.as_str(), row.meter_id), ("backup_failed", None));
    assert!(row.detail.contains("not-a-directory"), "{row:?}");
    assert_eq!(notifier.deliver().await.unwrap(), 0);
    assert!(recorder.0.lock().unwrap().is_empty());
    // Up again: delivered once, on the next pass.
    recorder.1.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(notifier.deliver().await.unwrap(), 1);
    assert_eq!(notifier.deliver().await.unwrap(), 0);
    let alarms = recorder.0.lock().unwrap().clone();
    assert_eq!(alarms.len(), 1);
    assert_eq!((alarms[0].event, alarms[0].meter_id.as_str()), ("backup_failed", ""));
    assert!(alarms[0].detail.as_deref().unwrap().contains("not-a-directory"), "{:?}", alarms[0]);
    let audit = api.store.audit_records(0, 10_000).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "raise_alarm"), "the alarm is in the audit trail");
}
