//! Killed and stopped mid-write: every acknowledged operation must be in the database afterwards, once, and
//! every invariant must hold. `kill -9` shows that nothing acknowledged is lost when the process dies; it
//! cannot show what power loss would do (the operating system's page cache survives a killed process), which
//! is why `live_connections_are_durable` in the store's suite checks the durable settings themselves.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Stdio};

use voltvend_domain::OperationId;
use voltvend_store::{CheckScope, OpenOptions};

use crate::support::{clock, migrated_sqlite, run, scratch_pg, voltvend};

const ACKS_BEFORE_KILL: usize = 3_000;

/// `bench ops` printing its acknowledgements, against `url`.
fn bench(url: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = voltvend()
        .args([
            "--database-url",
            url,
            "bench",
            "ops",
            "--baseline",
            "0",
            "--operations",
            "10000000",
            "--concurrency",
            "64",
            "--accounts",
            "64",
            "--print-acks",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

fn acks_until(lines: &mut Lines<BufReader<ChildStdout>>, n: usize) -> Vec<OperationId> {
    let mut acked = Vec::new();
    while acked.len() < n {
        let line = lines.next().expect("the bench ended before it was stopped").unwrap();
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.parse().unwrap());
        }
    }
    acked
}

async fn assert_durable(url: &str, acked: &[OperationId]) {
    let store = voltvend_store::open(&OpenOptions::new(url), clock()).await.unwrap();
    let report = store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.sales >= acked.len() as i64, "{} sales stored, {} acknowledged", report.sales, acked.len());
    for id in acked {
        assert!(store.sale(*id).await.unwrap().is_some(), "acknowledged sale {id} was lost");
    }
    eprintln!("{} acknowledged; {} sales durable, all acknowledged ones present", acked.len(), report.sales);
    store.close().await;
}

async fn kill_9_loses_nothing_acknowledged(url: &str) {
    let (mut child, mut lines) = bench(url);
    let mut acked = acks_until(&mut lines, ACKS_BEFORE_KILL);
    child.kill().unwrap(); // SIGKILL: no destructors, no flush, no goodbye.
    child.wait().unwrap();
    // Acks already written to the pipe before the kill are acknowledged too.
    acked.extend(
        lines.map_while(Result::ok).filter_map(|l| l.strip_prefix("ack ").map(|id| id.parse::<OperationId>().unwrap())),
    );
    assert_durable(url, &acked).await;
}

#[tokio::test]
async fn acknowledged_sales_survive_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_9_loses_nothing_acknowledged(&migrated_sqlite(dir.path())).await;
}

#[tokio::test]
async fn acknowledged_sales_survive_kill_9_on_postgres() {
    let Some(db) = scratch_pg().await else { return };
    let o = run(&["--database-url", &db.url, "migrate"], "");
    assert!(o.status.success(), "{o:?}");
    kill_9_loses_nothing_acknowledged(&db.url).await;
    db.drop_it().await;
}

/// SIGTERM under load: the bench stops submitting, the writer drains, every submission gets an answer and
/// every acknowledged one is durable.
#[tokio::test]
async fn sigterm_drains_the_writer_and_leaves_no_caller_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path());
    let (mut child, mut lines) = bench(&url);
    let mut acked = acks_until(&mut lines, ACKS_BEFORE_KILL);
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut summary = None;
    for line in lines.map_while(Result::ok) {
        if let Some(id) = line.strip_prefix("ack ") {
            acked.push(id.parse().unwrap());
        } else if line.starts_with("stopped by a signal") {
            summary = Some(line);
        }
    }
    assert!(child.wait().unwrap().success(), "a clean exit after SIGTERM");
    let summary = summary.expect("the bench says what became of every submission");
    let number = |key: &str| -> u64 {
        let rest = summary.split(key).nth(1).unwrap_or_else(|| panic!("{summary}"));
        rest.trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    assert_eq!(number("unanswered"), 0, "{summary}");
    assert_eq!(number("acknowledged") as usize, acked.len(), "every acknowledgement was printed: {summary}");
    assert_eq!(number("submitted"), number("acknowledged") + number("refused while stopping"), "{summary}");
    assert_durable(&url, &acked).await;
}
