//! The notification outbox delivered: low-balance alarms and a trip reach the log and a signed webhook, in
//! order, once each; a webhook that fails gets them again later; a restart resumes where delivery stopped.
//! The signature is checked with Python's `hmac`, an implementation no one here wrote.

use std::sync::Arc;

use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use voltvend_domain::ManualClock;
use voltvend_headend::notify::{LogSender, Notifier, Sender, WebhookSender};
use voltvend_ops::{Command, ImportTariff};
use voltvend_store::OpenOptions;
use voltvend_testkit::estate::{Estate, FLAT_TARIFF};

const SECRET: &[u8] = b"a webhook secret of the test";

/// What the receiver got: its headers (lower-case names) and its body.
type Got = (Vec<(String, String)>, Vec<u8>);

/// A minimal HTTP/1.1 receiver: answers each request with the next status of `statuses` (then 200).
async fn receiver(statuses: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Got>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/voltvend", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            // Read until the headers end and the body is complete (keep-alive connections carry several).
            loop {
                let mut chunk = [0_u8; 4096];
                let n = s.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let len: usize =
                        headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
                    if buf.len() < end + 4 + len {
                        break;
                    }
                    let body = buf[end + 4..end + 4 + len].to_vec();
                    buf.drain(..end + 4 + len);
                    let status = statuses.next().unwrap_or(200);
                    tx.send((headers, body)).unwrap();
                    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    s.write_all(answer.as_bytes()).await.unwrap();
                }
            }
        }
    });
    (url, rx)
}

fn python_signature(t: &str, body: &[u8]) -> Option<String> {
    let script = "import hmac,hashlib,sys; d=sys.stdin.buffer.read(); \
                  print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode()+b'.'+d, hashlib.sha256).hexdigest())";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, std::str::from_utf8(SECRET).unwrap(), t])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    use std::io::Write;
    child.stdin.take()?.write_all(body).ok()?;
    let out = child.wait_with_output().ok()?;
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_and_trips_reach_the_log_and_a_signed_webhook_once_each_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("notify.sqlite").display());
    let clock = Arc::new(ManualClock::new("2026-11-23T08:00:00Z".parse::<Timestamp>().unwrap()));
    let mut options = OpenOptions::new(&url).creating();
    options.context = Arc::new(Estate::context());
    let store = voltvend_store::open(&options, clock.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let mut estate = Estate::new(21);
    for op in estate.setup.clone() {
        store.submit(op).await.unwrap();
    }
    let document = format!("{FLAT_TARIFF}\n[alarms]\nlevel_1 = \"20.00\"\nlevel_2 = \"5.00\"\n");
    let import = estate.system(Command::ImportTariff(ImportTariff {
        code: "test-flat".into(),
        name: "Test flat 0.60".into(),
        document,
    }));
    store.submit(import).await.unwrap();
    store.submit(estate.remote_sale(3_000)).await.unwrap();
    // The webhook fails the first time it is called.
    let (hook, mut got) = receiver(vec![500]).await;
    let webhook: Arc<dyn Sender> = Arc::new(WebhookSender::new(&hook, SECRET.to_vec(), clock.clone()).unwrap());
    let notifier = Notifier::new(store.clone(), vec![Arc::new(LogSender), webhook.clone()]);
    // Senders new to the database start at its end: the history is not told.
    assert_eq!(notifier.deliver().await.unwrap(), 0);
    // 30.00 → 18.00 (below level 1), then → 0 (below level 2, and out of credit: tripped).
    let r = estate.readings(&[("2026-11-23T00:00:00Z", 1_000_000), ("2026-11-23T01:00:00Z", 1_020_000)]);
    store.submit(r).await.unwrap();
    store.submit(estate.readings(&[("2026-11-23T02:00:00Z", 1_060_000)])).await.unwrap();

    // The log takes all three; the webhook refuses the first and gets nothing more this pass.
    assert_eq!(notifier.deliver().await.unwrap(), 3);
    let (_, refused) = got.recv().await.unwrap();
    // Next pass: the webhook gets all three, in order.
    assert_eq!(notifier.deliver().await.unwrap(), 3);
    let mut events = Vec::new();
    for _ in 0..3 {
        let (headers, body) = got.recv().await.unwrap();
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        let n: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(header("voltvend-event-id"), n["id"].as_str().unwrap());
        let signature = header("voltvend-signature");
        let (t, v1) = signature.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
        assert_eq!(t, "1795420800", "the injected clock's time");
        let expected = python_signature(t, &body);
        if voltvend_testkit::peer_available(expected.is_some(), "python3") {
            assert_eq!(Some(v1.to_string()), expected, "the signature checks with Python's hmac");
        }
        assert_eq!((n["meter_address"].as_str(), n["currency"].as_str()), (Some("000000000101"), Some("CNY")));
        events.push(n["event"].as_str().unwrap().to_string());
    }
    assert_eq!(events, ["low_balance_1", "supply_tripped", "low_balance_2"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&refused).unwrap()["event"], "low_balance_1");
    // Nothing new: nothing sent; a notifier started afresh (a restart) resumes where delivery stopped.
    assert_eq!(notifier.deliver().await.unwrap(), 0);
    let again = Notifier::new(store.clone(), vec![Arc::new(LogSender), webhook]);
    assert_eq!(again.deliver().await.unwrap(), 0);
    assert!(got.try_recv().is_err());
    // A forged signature is not what the receiver would compute.
    assert!(
        voltvend_headend::notify::signature(b"another secret of 16+", 1, b"{}").unwrap()
            != voltvend_headend::notify::signature(SECRET, 1, b"{}").unwrap()
    );
}
