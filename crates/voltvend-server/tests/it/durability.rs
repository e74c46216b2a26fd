//! Kill -9 while transfers are being acknowledged: every acknowledged transfer must be in the database
//! afterwards, once, and the ledger's invariants must hold.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use voltvend_domain::TransferId;
use voltvend_store::OpenOptions;

use crate::support::{clock, sqlite_url, voltvend};

const ACKS_BEFORE_KILL: usize = 3_000;

#[tokio::test]
async fn acknowledged_transfers_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let mut child = voltvend()
        .args([
            "--database-url",
            &url,
            "bench",
            "ledger",
            "--baseline",
            "0",
            "--transfers",
            "10000000",
            "--concurrency",
            "64",
            "--print-acks",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < ACKS_BEFORE_KILL {
        let line = lines.next().expect("process ended before it was killed").unwrap();
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.parse::<TransferId>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no flush, no goodbye.
    child.wait().unwrap();
    // Acks already written to the pipe before the kill are acknowledged too.
    for line in lines.map_while(Result::ok) {
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.parse().unwrap());
        }
    }

    let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
    let report = store.check_ledger().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(
        report.transfers >= acked.len() as i64,
        "{} in the database, {} acknowledged",
        report.transfers,
        acked.len()
    );
    for id in &acked {
        let t = store.transfer(*id).await.unwrap();
        assert!(t.is_some(), "acknowledged transfer {id} was lost");
    }
    eprintln!(
        "killed after {} acknowledgements; {} transfers durable, all acknowledged ones present",
        acked.len(),
        report.transfers
    );
    store.close().await;
}
