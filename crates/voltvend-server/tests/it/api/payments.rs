//! Online payments end to end: a manager opens WeChat Pay and Alipay channels, a cashier makes a customer's
//! payment intent, and the provider — played by `tests/peers/pay_provider.py`, whose notifications the
//! providers' own SDKs from PyPI accept first — notifies the server. One sale per payment however often it is
//! told; a tampered or forged notification, or one for an order we never made, changes nothing and is answered
//! as failed in the provider's format; a payment of another amount is kept for review.
//! Requires `python3` with `wechatpayv3` and `python-alipay-sdk` (CI installs them); elsewhere it skips.

use std::process::{Command, Stdio};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use voltvend_domain::{BuiltinRole, Clock};

use super::{Api, Req};

fn peer_available() -> bool {
    voltvend_testkit::payment_sdks_available()
}

fn peer(args: &[&str]) -> String {
    let script = format!("{}/tests/peers/pay_provider.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "provider peer failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A WeChat Pay channel's credentials file: the keys `pay_provider.py setup` made; with the fake API's port, also
/// what orders and queries need.
fn wechat_credentials(api_port: Option<u16>) -> String {
    let mut c = "provider = \"wechat_pay\"\nmchid = \"1900000109\"\nappid = \"wxd678efh567hg6787\"\n\
                 apiv3_key = \"file:apiv3.txt\"\n"
        .to_string();
    if let Some(port) = api_port {
        c += &format!(
            "merchant_key = \"file:wechat_merchant.key\"\nmerchant_serial = \"5157F09EFDC096DE15EBE81A47057A7232F1B8E1\"\n\
             api_base = \"http://127.0.0.1:{port}\"\n"
        );
    }
    c + "[platform_keys]\n\"PUB_KEY_ID_0114232134912410000000000001\" = \"file:wechat_platform.pem\"\n"
}

/// An Alipay channel's credentials file, the same way.
fn alipay_credentials(gateway_port: Option<u16>) -> String {
    let mut c =
        "provider = \"alipay\"\napp_id = \"2021000122600001\"\nalipay_public_key = \"file:alipay_public.pem\"\n"
            .to_string();
    if let Some(port) = gateway_port {
        c += &format!("app_private_key = \"file:app.key\"\ngateway = \"http://127.0.0.1:{port}/gateway.do\"\n");
    }
    c
}

struct Provider {
    api: Api,
    keys: String,
}

impl Provider {
    async fn new() -> Self {
        let api = Api::new().await;
        let keys = api.dir.path().join("payments").display().to_string();
        peer(&["setup", &keys]);
        Self { api, keys }
    }

    /// A channel opened by the property's manager (through the group administrator, whose scope holds the
    /// property), with its credentials file written as an operator would.
    async fn channel(&self, provider: &str, credentials: &str) -> String {
        let body = json!({
            "provider": provider, "name": format!("{provider} online"),
            "premises_id": self.api.estate.property.id.to_string(), "currency": "CNY",
        });
        let r = self
            .api
            .send(
                self.api
                    .as_(BuiltinRole::Administrator, 'g', Method::POST, "/api/v1/payment-channels")
                    .fresh_key()
                    .json(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
        let id = r.json()["id"].as_str().unwrap().to_string();
        assert_eq!(r.json()["notify_path"], format!("/pay/notify/{id}"));
        std::fs::write(format!("{}/{id}.toml", self.keys), credentials).unwrap();
        id
    }

    /// A cashier's intent for A-101's remote meter.
    async fn intent(&self, channel: &str, amount: &str) -> Value {
        let e = &self.api.estate;
        let body = json!({
            "channel_id": channel, "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(),
            "amount": amount,
        });
        let r = self
            .api
            .send(
                self.api.as_(BuiltinRole::Cashier, 'a', Method::POST, "/api/v1/payment-intents").fresh_key().json(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
        r.json()
    }

    async fn get_intent(&self, id: &str) -> Value {
        let path = format!("/api/v1/payment-intents/{id}");
        self.api.send(self.api.as_(BuiltinRole::Manager, 'a', Method::GET, &path)).await.json()
    }

    fn wechat(&self, order_no: &str, total_fen: i64, currency: &str, txn: &str) -> (Vec<(String, String)>, String) {
        let ts = self.api.clock.now().as_second().to_string();
        let n: Value = serde_json::from_str(&peer(&[
            "wechat",
            &self.keys,
            order_no,
            &total_fen.to_string(),
            currency,
            txn,
            &ts,
            // Seconds after the time the provider's query answers give (16:01:00): the same payment, written apart.
            "2026-11-23T16:01:07+08:00",
        ]))
        .unwrap();
        let headers =
            n["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()));
        (headers.collect(), n["body"].as_str().unwrap().to_string())
    }

    async fn notify(
        &self,
        channel: &str,
        headers: &[(String, String)],
        body: &str,
        content_type: &str,
    ) -> (StatusCode, String) {
        let mut req = Req::new(Method::POST, &format!("/pay/notify/{channel}")).header("content-type", content_type);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = self.api.send(req.body_raw(body)).await;
        (r.status, String::from_utf8_lossy(&r.bytes).into_owned())
    }

    async fn wallet(&self) -> String {
        let path = format!("/api/v1/accounts/{}", self.api.estate.account_a);
        let r = self.api.send(self.api.as_(BuiltinRole::Manager, 'a', Method::GET, &path)).await.json();
        r["balance"]["minor"].as_str().map(str::to_string).unwrap_or_else(|| panic!("no balance in {r}"))
    }

    async fn sales_of_account(&self) -> usize {
        let path = format!("/api/v1/sales?account_id={}&limit=200", self.api.estate.account_a);
        let r = self.api.send(self.api.as_(BuiltinRole::Manager, 'a', Method::GET, &path)).await.json();
        r["items"].as_array().map_or(0, Vec::len)
    }
}

#[tokio::test]
async fn a_wechat_pay_notification_sells_once_and_a_forgery_changes_nothing() {
    if !peer_available() {
        return;
    }
    let p = Provider::new().await;
    let channel = p.channel("wechat_pay", &wechat_credentials(None)).await;
    let wallet = p.wallet().await.parse::<i64>().unwrap();
    let sales = p.sales_of_account().await;
    let intent = p.intent(&channel, "50.00").await;
    let order = intent["order_no"].as_str().unwrap().to_string();
    assert_eq!((intent["status"].as_str(), order.len()), (Some("open"), 32));

    // Tampered after signing: refused in WeChat Pay's format, nothing changes.
    let (headers, body) = p.wechat(&order, 5_000, "CNY", "4200000001202611230000000001");
    let tampered = body.replacen("\"ciphertext\": \"", "\"ciphertext\": \"A", 1);
    let (status, answer) = p.notify(&channel, &headers, &tampered, "application/json").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(serde_json::from_str::<Value>(&answer).unwrap()["code"], "FAIL");
    assert_eq!(p.get_intent(intent["id"].as_str().unwrap()).await["status"], "open");

    // The real one: one sale, through the channel's standing shift.
    let (status, answer) = p.notify(&channel, &headers, &body, "application/json").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let settled = p.get_intent(intent["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "paid", "{settled}");
    assert_eq!(settled["provider_txn"], "4200000001202611230000000001");
    let sale_path = format!("/api/v1/sales/{}", settled["settled_by"].as_str().unwrap());
    let sale = p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::GET, &sale_path)).await.json();
    assert_eq!((sale["method"].as_str(), sale["paid"]["minor"].as_str()), (Some("online"), Some("5000")), "{sale}");
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000);

    // Told again (WeChat Pay retries until it hears 204): nothing more.
    let (status, _) = p.notify(&channel, &headers, &body, "application/json").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000);
    assert_eq!(p.sales_of_account().await, sales + 1);

    // An order we never made: verified, but refused (logged); a channel we do not have: refused.
    let (h, b) = p.wechat(&"0".repeat(32), 5_000, "CNY", "4200000001202611230000000002");
    assert_eq!(p.notify(&channel, &h, &b, "application/json").await.0, StatusCode::NOT_FOUND);
    let nowhere = uuid::Uuid::nil().to_string();
    assert_eq!(p.notify(&nowhere, &headers, &body, "application/json").await.0, StatusCode::NOT_FOUND);

    // Paid another amount: taken (the provider stops retrying), held for review, not credited.
    let short = p.intent(&channel, "20.00").await;
    let (h, b) = p.wechat(short["order_no"].as_str().unwrap(), 1_999, "CNY", "4200000001202611230000000003");
    assert_eq!(p.notify(&channel, &h, &b, "application/json").await.0, StatusCode::NO_CONTENT);
    let held = p.get_intent(short["id"].as_str().unwrap()).await;
    assert_eq!(
        (held["status"].as_str(), held["reason_code"].as_str()),
        (Some("held"), Some("payment_amount_mismatch"))
    );
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000);
    let refused =
        p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::GET, "/api/v1/refused-payments")).await.json();
    let kept = refused["items"].as_array().unwrap().iter().find(|r| r["reference"] == "4200000001202611230000000003");
    assert_eq!(kept.map(|r| r["paid"]["minor"].clone()), Some(json!("1999")), "{refused}");

    // After review, the manager credits the 19.99 that came to the account instead of handing it back: a sale,
    // once; a cashier may not decide it.
    let path = format!("/api/v1/refused-payments/{}/credit", kept.unwrap()["id"].as_str().unwrap());
    let r = p.api.send(p.api.as_(BuiltinRole::Cashier, 'a', Method::POST, &path).fresh_key()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::POST, &path).fresh_key()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    let sale = r.json();
    assert_eq!((sale["method"].as_str(), sale["paid"]["minor"].as_str()), (Some("online"), Some("1999")), "{sale}");
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000 + 1_999);
    let r = p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::POST, &path).fresh_key()).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "already_refunded".to_string()));
    let refused =
        p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::GET, "/api/v1/refused-payments")).await.json();
    let kept = refused["items"].as_array().unwrap().iter().find(|r| r["reference"] == "4200000001202611230000000003");
    assert_eq!(kept.map(|r| r["credited"].clone()), Some(json!(true)), "{refused}");
}

#[tokio::test]
async fn an_alipay_notification_sells_and_is_answered_in_alipays_words() {
    if !peer_available() {
        return;
    }
    let p = Provider::new().await;
    let channel = p.channel("alipay", &alipay_credentials(None)).await;
    let wallet = p.wallet().await.parse::<i64>().unwrap();
    let intent = p.intent(&channel, "88.80").await;
    let order = intent["order_no"].as_str().unwrap();
    let form = peer(&["alipay", &p.keys, order, "88.80", "2026112322001446880500000001", "2026-11-23 16:01:00"]);
    let content = "application/x-www-form-urlencoded; charset=utf-8";
    // Changed on the way: "fail", nothing credited.
    let forged = form.replacen("total_amount=88.80", "total_amount=888.00", 1);
    assert_ne!(forged, form);
    assert_eq!(p.notify(&channel, &[], &forged, content).await.1, "fail");
    assert_eq!(p.get_intent(intent["id"].as_str().unwrap()).await["status"], "open");
    // As signed: "success", sold once however often told.
    for _ in 0..2 {
        assert_eq!(p.notify(&channel, &[], &form, content).await, (StatusCode::OK, "success".to_string()));
    }
    assert_eq!(p.get_intent(intent["id"].as_str().unwrap()).await["status"], "paid");
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 8_880);
}

/// Runs the UnionPay peer (`tests/peers/unionpay.py`).
fn unionpay(args: &[&str]) -> String {
    let script = format!("{}/tests/peers/unionpay.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "UnionPay peer failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn a_unionpay_notification_is_taken_only_from_unionpays_certificate_under_the_trusted_chain() {
    if !peer_available() {
        return;
    }
    let p = Provider::new().await;
    unionpay(&["setup", &p.keys]);
    let mer_id = "777290058110048";
    let credentials = format!(
        "provider = \"unionpay\"\nmer_id = \"{mer_id}\"\nroot_cert = \"file:unionpay_root.pem\"\n\
         middle_cert = \"file:unionpay_middle.pem\"\n"
    );
    let channel = p.channel("unionpay", &credentials).await;
    let wallet = p.wallet().await.parse::<i64>().unwrap();
    let intent = p.intent(&channel, "50.00").await;
    let order = intent["order_no"].as_str().unwrap();
    let content = "application/x-www-form-urlencoded; charset=utf-8";
    let notification = |signer: &str, merchant: &str| {
        // Ordered at 16:00 Beijing (txnTime), paid at 16:01:07 (traceTime).
        unionpay(&[
            "notify",
            &p.keys,
            signer,
            merchant,
            order,
            "5000",
            "712611231601070012345",
            "20261123160000",
            "00",
            "1123160107",
        ])
    };
    // Refused, nothing credited: a certificate that lapsed, one issued to another organisation, one under an
    // intermediate the channel does not trust, an amount changed after signing, another merchant's payment.
    for (signer, merchant) in [
        ("expired", mer_id),
        ("stranger", mer_id),
        ("rogue", mer_id),
        ("tampered", mer_id),
        ("good", "777290058110049"),
    ] {
        let (status, text) = p.notify(&channel, &[], &notification(signer, merchant), content).await;
        assert_eq!((status, text.as_str()), (StatusCode::UNAUTHORIZED, "fail"), "{signer} {merchant}");
    }
    assert_eq!(p.get_intent(intent["id"].as_str().unwrap()).await["status"], "open");
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet);
    // Not even a form: refused as malformed.
    assert_eq!(p.notify(&channel, &[], "signMethod=02", content).await.0, StatusCode::BAD_REQUEST);
    // Signed by UnionPay's certificate under the trusted chain: "ok", one sale however often told.
    let good = notification("good", mer_id);
    for _ in 0..2 {
        assert_eq!(p.notify(&channel, &[], &good, content).await, (StatusCode::OK, "ok".to_string()));
    }
    let paid = p.get_intent(intent["id"].as_str().unwrap()).await;
    assert_eq!((paid["status"].as_str(), paid["provider_txn"].as_str()), (Some("paid"), Some("712611231601070012345")));
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000);
    assert_eq!(
        paid["paid_at"].as_str().map(|t| t.parse::<jiff::Timestamp>().unwrap()),
        Some("2026-11-23T08:01:07Z".parse().unwrap())
    );

    // UnionPay's certificate with its common name written as a BMPString is UnionPay's too.
    let bmp_intent = p.intent(&channel, "1.00").await;
    let bmp = unionpay(&[
        "notify",
        &p.keys,
        "bmp",
        mer_id,
        bmp_intent["order_no"].as_str().unwrap(),
        "100",
        "712611231601070054321",
        "20261123160000",
        "00",
        "1123160107",
    ]);
    assert_eq!(p.notify(&channel, &[], &bmp, content).await, (StatusCode::OK, "ok".to_string()));
    let wallet = wallet + 100;
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000);

    // With the merchant's signing key: orders (a signed form the customer's browser posts to UnionPay) and status
    // queries (answers signed like notifications), against UnionPay's gateway played by the peer.
    let fake = FakeProviders::spawn("unionpay.py", &p.keys);
    let credentials = format!(
        "{credentials}merchant_key = \"file:unionpay_merchant.key\"\ncert_id = \"69629715588\"\n\
         api_base = \"http://127.0.0.1:{}\"\n",
        fake.port
    );
    std::fs::write(format!("{}/{channel}.toml", p.keys), credentials).unwrap();
    let next = p.intent(&channel, "20.00").await;
    let next_order = next["order_no"].as_str().unwrap();
    let (status, made) = p.make_order(&next).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let action = format!("http://127.0.0.1:{}/gateway/api/frontTransReq.do", fake.port);
    assert_eq!(made["form"]["action"].as_str(), Some(action.as_str()), "{made}");
    // The gateway's checks: signed by the merchant's key its certId names, for this merchant and order.
    let checked: Value =
        serde_json::from_str(&unionpay(&["check", &p.keys, &made["form"]["fields"].to_string()])).unwrap();
    let expires: jiff::Timestamp = next["expires_at"].as_str().unwrap().parse().unwrap();
    let beijing = expires.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8))).strftime("%Y%m%d%H%M%S").to_string();
    assert_eq!(
        (checked["orderId"].as_str(), checked["txnAmt"].as_str(), checked["payTimeout"].as_str()),
        (Some(next_order), Some("2000"), Some(beijing.as_str())),
        "{checked}"
    );
    assert_eq!(checked["backUrl"], format!("https://vend.example.com/pay/notify/{channel}"));
    assert_eq!(checked["frontUrl"], format!("https://vend.example.com/pay/status/{}", next["id"].as_str().unwrap()));
    // The customer's page shows the form, and may post it to UnionPay's gateway and nowhere else.
    let r = p.api.send(Req::new(Method::GET, &format!("/pay/status/{}?lang=en", next["id"].as_str().unwrap()))).await;
    let html = String::from_utf8_lossy(&r.bytes).into_owned();
    assert!(html.contains("id=\"provider-form\"") && html.contains(&format!("action=\"{action}\"")), "{html}");
    let csp = r.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(csp.contains(&format!("form-action 'self' http://127.0.0.1:{};", fake.port)), "{csp}");
    // UnionPay knows no such transaction, then knows it unpaid: open. Paid: the query settles it, once.
    let (status, asked) = p.query(&next).await;
    assert_eq!((status, asked["status"].as_str()), (StatusCode::OK, Some("open")), "{asked}");
    unionpay(&["order", &p.keys, next_order, "unpaid", "2000", "712611231601070099999"]);
    let (status, asked) = p.query(&next).await;
    assert_eq!((status, asked["status"].as_str()), (StatusCode::OK, Some("open")), "{asked}");
    unionpay(&["order", &p.keys, next_order, "paid", "2000", "712611231601070099999"]);
    for _ in 0..2 {
        let (status, after) = p.query(&next).await;
        assert_eq!((status, after["status"].as_str()), (StatusCode::OK, Some("paid")), "{after}");
        assert_eq!(after["provider_txn"], "712611231601070099999");
        // The answer's trace time: 16:02:00 Beijing.
        assert_eq!(
            after["paid_at"].as_str().map(|t| t.parse::<jiff::Timestamp>().unwrap()),
            Some("2026-11-23T08:02:00Z".parse().unwrap())
        );
    }
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000 + 2_000);
}

#[tokio::test]
async fn channels_and_intents_are_checked_and_scoped() {
    let api = Api::new().await;
    let e = &api.estate;
    let open = |role, b| {
        api.as_(role, b, Method::POST, "/api/v1/payment-channels").fresh_key().json(json!({
            "provider": "wechat_pay", "name": "WeChat Pay", "premises_id": e.property.id.to_string(), "currency": "CNY",
        }))
    };
    // A cashier may not open a channel; a manager of building A does not see the property's books' premises.
    assert_eq!(api.send(open(BuiltinRole::Cashier, 'a')).await.status, StatusCode::FORBIDDEN);
    assert_eq!(api.send(open(BuiltinRole::Manager, 'a')).await.status, StatusCode::NOT_FOUND);
    let r = api.send(open(BuiltinRole::Administrator, 'g')).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let channel = r.json()["id"].as_str().unwrap().to_string();
    let bad_provider = api
        .as_(BuiltinRole::Administrator, 'g', Method::POST, "/api/v1/payment-channels")
        .fresh_key()
        .json(json!({"provider": "paypal", "name": "x", "premises_id": e.property.id.to_string(), "currency": "CNY"}));
    assert_eq!(api.send(bad_provider).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Intents: building B's cashier cannot reach A-101; a bad amount or expiry is refused.
    let intent = |b, amount: &str, minutes: u32| {
        api.as_(BuiltinRole::Cashier, b, Method::POST, "/api/v1/payment-intents").fresh_key().json(json!({
            "channel_id": channel, "account_id": e.account_a.to_string(), "meter_id": e.remote_meter.to_string(),
            "amount": amount, "expires_in_minutes": minutes,
        }))
    };
    assert_eq!(api.send(intent('b', "10.00", 15)).await.status, StatusCode::NOT_FOUND);
    let r = api.send(intent('a', "10.001", 15)).await;
    assert!(r.status.is_client_error() && r.json()["details"]["field"] == "amount", "{:?}", r.json());
    assert_eq!(api.send(intent('a', "10.00", 0)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api.send(intent('a', "-1.00", 15)).await.code(), "amount_not_positive");
    let made = api.send(intent('a', "10.00", 15)).await;
    assert_eq!(made.status, StatusCode::CREATED);
    let id = made.json()["id"].as_str().unwrap().to_string();
    // Building B's manager does not see it; A's does.
    let get = |b| api.as_(BuiltinRole::Manager, b, Method::GET, &format!("/api/v1/payment-intents/{id}"));
    assert_eq!(api.send(get('b')).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.send(get('a')).await.status, StatusCode::OK);
    let list = api.send(api.as_(BuiltinRole::Manager, 'b', Method::GET, "/api/v1/payment-intents")).await.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    // Closing the channel stops new intents.
    let close = api
        .as_(BuiltinRole::Administrator, 'g', Method::POST, &format!("/api/v1/payment-channels/{channel}/active"))
        .fresh_key()
        .json(json!({"active": false}));
    assert_eq!(api.send(close).await.json()["active"], false);
    let r = api.send(intent('a', "10.00", 15)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "payment_channel_closed".to_string()));
}

/// The providers' APIs played by the peer on a local port, killed when dropped.
struct FakeProviders {
    child: std::process::Child,
    port: u16,
}

impl FakeProviders {
    fn start(keys: &str) -> Self {
        Self::spawn("pay_provider.py", keys)
    }

    /// The peer `script` in `tests/peers` serving the providers' APIs over `keys`.
    fn spawn(script: &str, keys: &str) -> Self {
        use std::io::BufRead;
        let script = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .args([script.as_str(), "serve", keys])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The peer prints its port once it listens: the test waits for that line, not for a time.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Self { port: line.trim().parse().unwrap_or_else(|_| panic!("no port from the peer: {line:?}")), child }
    }
}

impl Drop for FakeProviders {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// What the provider knows of an order now (its answers are signed at the test's clock).
    fn order(&self, order_no: &str, state: &str, total_fen: i64, txn: &str) {
        let ts = self.api.clock.now().as_second().to_string();
        peer(&["order", &self.keys, order_no, state, &total_fen.to_string(), txn, &ts]);
    }

    async fn make_order(&self, intent: &Value) -> (StatusCode, Value) {
        self.order_as(intent, BuiltinRole::Cashier, 'a', json!({})).await
    }

    async fn order_as(&self, intent: &Value, role: BuiltinRole, scope: char, body: Value) -> (StatusCode, Value) {
        let path = format!("/api/v1/payment-intents/{}/order", intent["id"].as_str().unwrap());
        let r = self.api.send(self.api.as_(role, scope, Method::POST, &path).json(body)).await;
        (r.status, r.json())
    }

    /// What the provider was asked when the order was made.
    fn asked(&self, order_no: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{}/orders/{order_no}.asked.json", self.keys)).unwrap())
            .unwrap()
    }

    async fn query(&self, intent: &Value) -> (StatusCode, Value) {
        let path = format!("/api/v1/payment-intents/{}/query", intent["id"].as_str().unwrap());
        let r = self.api.send(self.api.as_(BuiltinRole::Cashier, 'a', Method::POST, &path)).await;
        (r.status, r.json())
    }
}

#[tokio::test]
async fn status_queries_settle_expire_and_outlast_a_silent_provider() {
    if !peer_available() {
        return;
    }
    let p = Provider::new().await;
    let fake = FakeProviders::start(&p.keys);
    let wechat = p.channel("wechat_pay", &wechat_credentials(Some(fake.port))).await;
    let wallet = p.wallet().await.parse::<i64>().unwrap();
    let sales = p.sales_of_account().await;

    // The notification never came; the query finds the payment and settles it.
    let paid = p.intent(&wechat, "50.00").await;
    let order = paid["order_no"].as_str().unwrap();
    p.order(order, "SUCCESS", 5_000, "4200000001202611230000000101");
    let (status, after) = p.query(&paid).await;
    assert_eq!((status, after["status"].as_str()), (StatusCode::OK, Some("paid")), "{after}");
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000);
    // The notification arrives late: the same payment, nothing more.
    let (h, b) = p.wechat(order, 5_000, "CNY", "4200000001202611230000000101");
    assert_eq!(p.notify(&wechat, &h, &b, "application/json").await.0, StatusCode::NO_CONTENT);
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000);
    assert_eq!(p.sales_of_account().await, sales + 1);
    // Asked again: already paid, nothing more.
    assert_eq!(p.query(&paid).await.1["status"], "paid");

    // The provider's order for an intent: what the customer's QR code holds, for the amount asked, payable until
    // the intent expires, notifying this server. Not paid: open until it expires, then expired.
    let unpaid = p.intent(&wechat, "10.00").await;
    let (status, made) = p.make_order(&unpaid).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert!(made["pay_url"].as_str().unwrap().starts_with("weixin://wxpay/bizpayurl?pr="), "{made}");
    let asked = p.asked(unpaid["order_no"].as_str().unwrap());
    let serial = p.api.store.meter(p.api.estate.remote_meter).await.unwrap().meter.serial;
    assert_eq!(
        (asked["amount"]["total"].as_i64(), asked["description"].as_str()),
        (Some(1_000), Some(format!("电费 {serial}").as_str())),
        "{asked}"
    );
    assert_eq!(asked["notify_url"], format!("https://vend.example.com/pay/notify/{wechat}"));
    let expires: jiff::Timestamp = unpaid["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(asked["time_expire"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap(), expires);
    assert_eq!(p.query(&unpaid).await.1["status"], "open");
    // An order the provider never heard of (the customer never scanned) is unpaid too.
    let never = p.intent(&wechat, "10.00").await;
    assert_eq!(p.query(&never).await.1["status"], "open");

    // An answer not signed by the provider's key: refused, nothing changes.
    let forged = p.intent(&wechat, "10.00").await;
    p.order(forged["order_no"].as_str().unwrap(), "forged", 1_000, "4200000001202611230000000199");
    let (status, answer) = p.query(&forged).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("payment_provider_bad_answer")));
    assert!(answer["message"].as_str().unwrap().starts_with("payment_bad_signature"), "{answer}");
    assert_eq!(p.get_intent(forged["id"].as_str().unwrap()).await["status"], "open");
    p.order(forged["order_no"].as_str().unwrap(), "NOTPAY", 1_000, "");

    // A provider that does not answer: the query fails and changes nothing.
    let silent = p.intent(&wechat, "10.00").await;
    p.order(silent["order_no"].as_str().unwrap(), "hang", 1_000, "");
    let (status, answer) = p.query(&silent).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("payment_provider_unavailable")));
    assert_eq!(p.get_intent(silent["id"].as_str().unwrap()).await["status"], "open");

    p.api.clock.advance(jiff::SignedDuration::from_mins(16));
    p.order(unpaid["order_no"].as_str().unwrap(), "NOTPAY", 1_000, "");
    assert_eq!(p.query(&unpaid).await.1["status"], "expired");

    // Alipay's gateway, through the sweeper that asks about every open intent.
    let alipay = p.channel("alipay", &alipay_credentials(Some(fake.port))).await;
    let swept = p.intent(&alipay, "88.80").await;
    p.order(swept["order_no"].as_str().unwrap(), "TRADE_SUCCESS", 8_880, "2026112322001446880500000101");
    let waiting = p.intent(&alipay, "1.00").await;
    let (status, made) = p.make_order(&waiting).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert!(made["pay_url"].as_str().unwrap().starts_with("https://qr.alipay.com/"), "{made}");
    let asked = p.asked(waiting["order_no"].as_str().unwrap());
    assert_eq!(asked["biz_content"]["total_amount"], "1.00", "{asked}");
    assert_eq!(asked["notify_url"], format!("https://vend.example.com/pay/notify/{alipay}"));
    p.order(silent["order_no"].as_str().unwrap(), "NOTPAY", 1_000, "");
    let asked = voltvend_server::payments::sweep(&p.api.state, jiff::SignedDuration::ZERO, 100).await;
    assert_eq!(asked, 5, "the open intents: never, forged, silent, swept, waiting");
    assert_eq!(p.get_intent(swept["id"].as_str().unwrap()).await["status"], "paid");
    assert_eq!(p.get_intent(waiting["id"].as_str().unwrap()).await["status"], "open");
    assert_eq!(p.get_intent(silent["id"].as_str().unwrap()).await["status"], "expired");
    assert_eq!(p.get_intent(never["id"].as_str().unwrap()).await["status"], "expired");
    assert_eq!(p.wallet().await.parse::<i64>().unwrap(), wallet + 5_000 + 8_880);
}

/// A page as the customer's browser gets it.
async fn page(api: &Api, req: Req) -> (StatusCode, String, Option<String>) {
    let r = api.send(req).await;
    let location = r.headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    (r.status, String::from_utf8_lossy(&r.bytes).into_owned(), location)
}

fn form(path: &str, fields: &[(&str, &str)]) -> Req {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    Req::new(Method::POST, path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body_raw(&body)
}

#[tokio::test]
async fn a_customer_pays_from_the_page_with_a_meter_number_and_sees_the_token() {
    if !peer_available() {
        return;
    }
    let p = Provider::new().await;
    let fake = FakeProviders::start(&p.keys);
    let channel = p.channel("wechat_pay", &wechat_credentials(Some(fake.port))).await;
    let e = &p.api.estate;
    let (status, html, _) = page(&p.api, Req::new(Method::GET, "/pay?lang=en")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"meter\"") && html.contains("lang=\"en\""), "{html}");
    let (_, zh, _) = page(&p.api, Req::new(Method::GET, "/pay?lang=zh-CN")).await;
    assert!(zh.contains("表号"), "{zh}");

    // The estate's meters, by the numbers a customer reads off them: the STS meter's serial and its meter number.
    let sts = p.api.store.meter(e.sts_meter).await.unwrap().meter;
    let (sts_serial, sts_number) = (sts.serial.clone(), sts.address.clone());
    // Only a meter's exact number finds it: a part of one, or one with more after it, finds nothing.
    let (part, longer) = (&sts_serial[..sts_serial.len() - 1], format!("{sts_serial}0"));
    for wrong in [part, longer.as_str(), ""] {
        let (status, html, _) =
            page(&p.api, form("/pay/confirm", &[("meter", wrong), ("amount", "50"), ("lang", "en")])).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
        assert!(html.contains("data-code=\"pay.err.meter\"") && !html.contains("holder"), "{wrong}: {html}");
    }
    let (status, html, _) =
        page(&p.api, form("/pay/confirm", &[("meter", &sts_serial), ("amount", "5.001"), ("lang", "en")])).await;
    assert_eq!((status, html.contains("pay.err.amount")), (StatusCode::UNPROCESSABLE_ENTITY, true));
    // From another site: refused.
    let mut cross = form("/pay/confirm", &[("meter", &sts_serial), ("amount", "50")]);
    cross.headers.retain(|(k, _)| k != "sec-fetch-site");
    let cross = cross.header("sec-fetch-site", "cross-site");
    assert_eq!(page(&p.api, cross).await.0, StatusCode::FORBIDDEN);

    // The STS meter of B-201, by its meter number: the holder masked, what 50.00 buys, the channel.
    let customer = p.api.store.account(e.account_b).await.unwrap().account.customer_id;
    let name = p.api.store.customer(customer).await.unwrap().name;
    let (status, html, _) =
        page(&p.api, form("/pay/confirm", &[("meter", &sts_number), ("amount", "50"), ("lang", "en")])).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let masked = voltvend_server::ui::pay::masked(&name);
    assert!(html.contains(&masked) && !html.contains(&name), "the holder is masked: {masked} in {html}");
    assert!(html.contains("kWh") && html.contains(&format!("value=\"{channel}\"")), "{html}");

    // Pay: an intent, the provider's order, the QR code.
    let fields = [("meter", sts_number.as_str()), ("amount", "50.00"), ("channel", channel.as_str()), ("lang", "en")];
    let (status, _, location) = page(&p.api, form("/pay/order", &fields)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let intent_id = location.trim_start_matches("/pay/status/").split('?').next().unwrap().to_string();
    let (_, html, _) = page(&p.api, Req::new(Method::GET, &location)).await;
    assert!(html.contains("data-status=\"open\"") && html.contains("<svg role=\"img\""), "{html}");
    assert!(html.contains("weixin://wxpay/bizpayurl"), "{html}");
    let order_no = uuid::Uuid::parse_str(&intent_id).unwrap().simple().to_string();
    assert_eq!(p.asked(&order_no)["amount"]["total"], 5_000);

    // The customer pays; the notification comes; the page shows the receipt and the token.
    let (h, b) = p.wechat(&order_no, 5_000, "CNY", "4200000001202611230000000301");
    assert_eq!(p.notify(&channel, &h, &b, "application/json").await.0, StatusCode::NO_CONTENT);
    let (_, html, _) = page(&p.api, Req::new(Method::GET, &location)).await;
    assert!(html.contains("data-status=\"paid\""), "{html}");
    let token =
        html.split("class=\"token\"").nth(1).and_then(|s| s.split('>').nth(1)).and_then(|s| s.split('<').next());
    let digits: String = token.unwrap_or_default().chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 20, "an STS token on the page: {html}");
    let intent_path = format!("/api/v1/payment-intents/{intent_id}");
    let intent = p.api.send(p.api.as_(BuiltinRole::Manager, 'b', Method::GET, &intent_path)).await.json();
    let sale_path = format!("/api/v1/sales/{}", intent["settled_by"].as_str().unwrap());
    let sale = p.api.send(p.api.as_(BuiltinRole::Manager, 'b', Method::GET, &sale_path)).await.json();
    assert_eq!(sale["tokens"][0].as_str().map(|t| t.replace(' ', "")), Some(digits), "{sale}");

    // A stranger's guess at an intent finds nothing; a client that asks too often is told to wait.
    assert_eq!(
        page(&p.api, Req::new(Method::GET, &format!("/pay/status/{}", uuid::Uuid::nil()))).await.0,
        StatusCode::NOT_FOUND
    );
    let mut statuses = Vec::new();
    for _ in 0..=voltvend_server::ui::pay::REQUESTS_PER_MINUTE {
        statuses.push(page(&p.api, Req::new(Method::GET, "/pay")).await.0);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

/// One detail line of a WeChat Pay trade bill (every field prefixed by a backtick, as the provider writes it).
fn bill_line(at: &str, txn: &str, order: &str, state: &str, settled: &str, refunded: &str) -> String {
    let fields = [
        at,
        "wxd678efh567hg6787",
        "1900000109",
        "0",
        "",
        txn,
        order,
        "oUpF8u",
        "NATIVE",
        state,
        "OTHERS",
        "CNY",
        settled,
        "0.00",
        "0",
        "0",
        refunded,
        "0.00",
        "",
        "",
        "电费",
        "",
        "0.30000",
        "0.60%",
        settled,
        refunded,
        "",
    ];
    fields.iter().map(|f| format!("`{f}")).collect::<Vec<_>>().join(",")
}

#[tokio::test]
async fn a_wechat_statement_is_reconciled_with_what_the_channel_recorded() {
    if !peer_available() {
        return;
    }
    let p = Provider::new().await;
    let channel = p.channel("wechat_pay", &wechat_credentials(None)).await;
    let mut paid = Vec::new();
    for (amount, fen, txn) in
        [("50.00", 5_000, "T-MATCH"), ("20.00", 1_999, "T-SHORT"), ("30.00", 3_000, "T-ONLY-OURS")]
    {
        let intent = p.intent(&channel, amount).await;
        let order = intent["order_no"].as_str().unwrap().to_string();
        let (h, b) = p.wechat(&order, fen, "CNY", txn);
        assert_eq!(p.notify(&channel, &h, &b, "application/json").await.0, StatusCode::NO_CONTENT);
        paid.push(order);
    }
    // The provider's bill for the day: the first two as paid (the second for what was really paid), a payment
    // for an order we never heard was paid, a refund — and not the third.
    let header = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,\
                  应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,\
                  手续费,费率,订单金额,申请退款金额,费率备注";
    let stranger = "f".repeat(32);
    let bill = [
        header.replace(' ', ""),
        bill_line("2026-11-23 16:01:07", "T-MATCH", &paid[0], "SUCCESS", "50.00", "0.00"),
        bill_line("2026-11-23 16:01:07", "T-SHORT", &paid[1], "SUCCESS", "19.99", "0.00"),
        bill_line("2026-11-23 17:30:00", "T-STRANGER", &stranger, "SUCCESS", "8.00", "0.00"),
        bill_line("2026-11-23 18:00:00", "T-MATCH", &paid[0], "REFUND", "0.00", "5.00"),
        // The next day's line is not this day's.
        bill_line("2026-11-24 00:00:01", "T-TOMORROW", &stranger, "SUCCESS", "1.00", "0.00"),
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额".to_string(),
        "`4,`77.99,`5.00,`0.00,`0.90000,`77.99,`5.00".to_string(),
    ]
    .join("\r\n");
    let path = format!("/api/v1/payment-channels/{channel}/reconciliation");
    let r = p
        .api
        .send(
            p.api
                .as_(BuiltinRole::Administrator, 'g', Method::POST, &path)
                .json(json!({"date": "2026-11-23", "statement": bill})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let report = r.json();
    assert_eq!(
        (report["statement_payments"].as_u64(), report["ledger_payments"].as_u64()),
        (Some(3), Some(3)),
        "{report}"
    );
    assert_eq!(
        (report["statement_total"]["minor"].as_str(), report["ledger_total"]["minor"].as_str()),
        (Some("7799"), Some("9999"))
    );
    assert_eq!(report["matched"], 2, "{report}");
    let kinds: Vec<(String, String)> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap().to_string(), d["transaction_id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("not_in_ledger".to_string(), "T-STRANGER".to_string()),
            // The provider handed back part of a sale's money: the customer keeps the credit too.
            ("refund_unknown".to_string(), "T-MATCH".to_string()),
            // A line of the next day, in this day's file: listed, not matched.
            ("other_day".to_string(), "T-TOMORROW".to_string()),
            ("not_in_statement".to_string(), "T-ONLY-OURS".to_string())
        ]
    );
    assert_eq!(report["statement_refunds"][0]["amount"]["minor"], "500");
    assert_eq!((report["refunds_matched"].as_u64(), &report["statement"]), (Some(0), &Value::Null), "not kept");
    // The clearing account holds all three payments (one held for review as owed back).
    assert_eq!(report["clearing_balance"]["minor"], "9999");
    // A file that is not a bill is refused, naming the field.
    let bad = p
        .api
        .send(
            p.api
                .as_(BuiltinRole::Administrator, 'g', Method::POST, &path)
                .json(json!({"date": "2026-11-23", "statement": "a,b"})),
        )
        .await;
    assert_eq!((bad.status, bad.json()["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("statement")));

    // The held payment is refunded (in the provider's console, recorded here); then the day's position: per
    // channel and per provider, what was sold, held, kept and refunded, and what the provider owes now.
    let held =
        p.api.send(p.api.as_(BuiltinRole::Administrator, 'g', Method::GET, "/api/v1/payment-intents?status=held"));
    let held = held.await.json();
    let refused = held["items"][0]["settled_by"].as_str().unwrap().to_string();
    let refund = format!("/api/v1/refused-payments/{refused}/refund");
    let r = p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::POST, &refund).fresh_key().json(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let position = |date: &str| {
        let path = format!("/api/v1/payment-position?date={date}");
        p.api.send(p.api.as_(BuiltinRole::Administrator, 'g', Method::GET, &path))
    };
    let r = position("2026-11-23").await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let day = r.json();
    let figures = |v: &Value| {
        let t = |k: &str| (v[k]["count"].as_u64().unwrap(), v[k]["total"]["minor"].as_str().unwrap().to_string());
        (t("sold"), t("held"), t("kept"), v["collected"]["minor"].as_str().unwrap().to_string(), t("refunded"))
    };
    let want = (
        (2, "8000".to_string()),
        (1, "1999".to_string()),
        (0, "0".to_string()),
        "9999".to_string(),
        (1, "1999".to_string()),
    );
    let channels = day["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 1, "{day}");
    assert_eq!((channels[0]["channel_id"].as_str(), figures(&channels[0])), (Some(channel.as_str()), want.clone()));
    // What the provider owes after the refund: the two sales.
    assert_eq!(channels[0]["clearing_balance"]["minor"], "8000");
    let providers = day["providers"].as_array().unwrap();
    assert_eq!(
        (providers.len(), providers[0]["provider"].as_str(), providers[0]["currency"].as_str()),
        (1, Some("wechat_pay"), Some("CNY"))
    );
    assert_eq!(figures(&providers[0]), want);
    // The next day in Beijing: nothing came in, the balance stands.
    let next = position("2026-11-24").await.json();
    assert_eq!(figures(&next["channels"][0]).3, "0");
    assert_eq!(next["providers"][0]["clearing_balance"]["minor"], "8000");
    assert_eq!(position("23/11/2026").await.status, StatusCode::BAD_REQUEST);

    // A second payment for the first intent, paid already: kept as owed back, and on the ledger's side of the day.
    let (h, b) = p.wechat(&paid[0], 5_000, "CNY", "T-SECOND");
    assert_eq!(p.notify(&channel, &h, &b, "application/json").await.0, StatusCode::NO_CONTENT);

    // 对账单导入: the bill kept. Its reconciliation, read back, is the check's — and the refund of the held payment
    // recorded since is on our side only.
    let statements = format!("/api/v1/payment-channels/{channel}/statements");
    let admin = |method, path: &str| p.api.as_(BuiltinRole::Administrator, 'g', method, path);
    let import = |bill: &str, key: &str| {
        admin(Method::POST, &statements).key(key).json(json!({"date": "2026-11-23", "statement": bill}))
    };
    let r = p.api.send(import(&bill, "bill-1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    let kept = r.json();
    assert_eq!((kept["lines"].as_u64(), kept["payments"]["count"].as_u64()), (Some(5), Some(4)), "{kept}");
    assert_eq!((kept["refunds"]["count"].as_u64(), kept["refunds"]["total"]["minor"].as_str()), (Some(1), Some("500")));
    assert_eq!(kept["sha256"].as_str().map(str::len), Some(64));
    let again = p.api.send(import(&bill, "bill-1")).await;
    assert_eq!((again.status, again.json()["id"].clone()), (StatusCode::CREATED, kept["id"].clone()), "a replay");
    let day_path = format!("{statements}/2026-11-23");
    let day = p.api.send(admin(Method::GET, &day_path)).await;
    assert_eq!(day.status, StatusCode::OK, "{}", String::from_utf8_lossy(&day.bytes));
    let day = day.json();
    let kinds = |v: &Value| -> Vec<(String, String)> {
        v["differences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["kind"].as_str().unwrap().to_string(), d["transaction_id"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(day["statement"]["id"], kept["id"]);
    assert_eq!(
        kinds(&day),
        [
            ("not_in_ledger", "T-STRANGER"),
            ("refund_unknown", "T-MATCH"),
            ("other_day", "T-TOMORROW"),
            ("not_in_statement", "T-ONLY-OURS"),
            ("not_in_statement", "T-SECOND"),
            ("refund_not_in_statement", "T-SHORT"),
        ]
        .iter()
        .map(|(k, t)| (k.to_string(), t.to_string()))
        .collect::<Vec<_>>(),
        "{day}"
    );
    // The provider's corrected bill shows every payment we recorded and the refund of the held one: the day's
    // statement is now that import, and nothing differs.
    let corrected = [
        header.replace(' ', ""),
        bill_line("2026-11-23 16:01:07", "T-MATCH", &paid[0], "SUCCESS", "50.00", "0.00"),
        bill_line("2026-11-23 16:01:07", "T-SHORT", &paid[1], "SUCCESS", "19.99", "0.00"),
        bill_line("2026-11-23 16:01:07", "T-ONLY-OURS", &paid[2], "SUCCESS", "30.00", "0.00"),
        bill_line("2026-11-23 16:05:00", "T-SECOND", &paid[0], "SUCCESS", "50.00", "0.00"),
        bill_line("2026-11-23 19:00:00", "T-SHORT", &paid[1], "REFUND", "0.00", "19.99"),
    ]
    .join("\r\n");
    p.api.clock.advance(jiff::SignedDuration::from_mins(1));
    let r = p.api.send(import(&corrected, "bill-2")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    let day = p.api.send(admin(Method::GET, &day_path)).await.json();
    assert_eq!(day["statement"]["id"], r.json()["id"]);
    assert_eq!((day["matched"].as_u64(), day["refunds_matched"].as_u64()), (Some(4), Some(1)), "{day}");
    assert_eq!(kinds(&day), Vec::<(String, String)>::new(), "{day}");
    // The same bill as WeChat Pay gives it (gzip), in base64: the same reconciliation; one field or the other.
    let gzipped = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(corrected.as_bytes()).unwrap();
        gz.finish().unwrap()
    };
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&gzipped)
    };
    p.api.clock.advance(jiff::SignedDuration::from_mins(1));
    let body = json!({"date": "2026-11-23", "statement_base64": b64});
    let r = p.api.send(admin(Method::POST, &statements).key("bill-2z").json(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    assert_ne!(r.json()["sha256"], day["statement"]["sha256"], "the digest is the file's as received");
    let day = p.api.send(admin(Method::GET, &day_path)).await.json();
    assert_eq!(day["statement"]["id"], r.json()["id"]);
    assert_eq!((day["matched"].as_u64(), day["refunds_matched"].as_u64()), (Some(4), Some(1)), "{day}");
    for body in [
        json!({"date": "2026-11-23"}),
        json!({"date": "2026-11-23", "statement": corrected, "statement_base64": "YQ=="}),
        json!({"date": "2026-11-23", "statement_base64": "not base64!"}),
    ] {
        let r = p.api.send(admin(Method::POST, &statements).fresh_key().json(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&r.bytes));
    }
    // A refund for another amount than we recorded differs.
    let short_refund = corrected.replace(
        &bill_line("2026-11-23 19:00:00", "T-SHORT", &paid[1], "REFUND", "0.00", "19.99"),
        &bill_line("2026-11-23 19:00:00", "T-SHORT", &paid[1], "REFUND", "0.00", "9.99"),
    );
    assert_ne!(short_refund, corrected);
    p.api.clock.advance(jiff::SignedDuration::from_mins(1));
    let r = p.api.send(import(&short_refund, "bill-3")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let day = p.api.send(admin(Method::GET, &day_path)).await.json();
    assert_eq!(kinds(&day), vec![("refund_amount".to_string(), "T-SHORT".to_string())], "{day}");
    assert_eq!((day["matched"].as_u64(), day["refunds_matched"].as_u64()), (Some(4), Some(0)), "{day}");
    // A file that is not a bill keeps nothing; a day never imported is not found; the building's manager does not
    // see the property's channel, and a cashier may read a kept statement but not import one.
    let r = p
        .api
        .send(admin(Method::POST, &statements).fresh_key().json(json!({"date": "2026-11-25", "statement": "a,b"})));
    assert_eq!(r.await.status, StatusCode::BAD_REQUEST);
    let none = p.api.send(admin(Method::GET, &format!("{statements}/2026-11-25"))).await;
    assert_eq!((none.status, none.code()), (StatusCode::NOT_FOUND, "not_found".to_string()));
    let manager = p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::GET, &day_path)).await;
    assert_eq!(manager.status, StatusCode::NOT_FOUND);
    let cashier = p.api.as_(BuiltinRole::Cashier, 'a', Method::POST, &statements).fresh_key();
    let r = p.api.send(cashier.json(json!({"date": "2026-11-23", "statement": bill}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A busy day's bill, larger than the body other requests may have (64 KiB here), is taken.
    let mut busy = vec![header.replace(' ', "")];
    for n in 0..600 {
        busy.push(bill_line("2026-11-26 10:00:00", &format!("T-BUSY-{n:04}"), &stranger, "SUCCESS", "1.00", "0.00"));
    }
    let busy = busy.join("\r\n");
    assert!(busy.len() > 64 * 1024, "{}", busy.len());
    let body = json!({"date": "2026-11-26", "statement": busy});
    let r = p.api.send(admin(Method::POST, &statements).fresh_key().json(body)).await;
    assert_eq!((r.status, r.json()["lines"].as_u64()), (StatusCode::CREATED, Some(600)));
    // The check that keeps nothing takes no more than any other request.
    let check = format!("/api/v1/payment-channels/{channel}/reconciliation");
    let r = p.api.send(admin(Method::POST, &check).json(json!({"date": "2026-11-26", "statement": busy}))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", String::from_utf8_lossy(&r.bytes));
}

/// An M-Pesa channel's credentials file: the Daraja app's keys and passkey `pay_provider.py setup` made, and the
/// fake Daraja's address.
fn mpesa_credentials(port: u16) -> String {
    format!(
        "provider = \"mpesa\"\nconsumer_key = \"file:mpesa_consumer_key.txt\"\n\
         consumer_secret = \"file:mpesa_consumer_secret.txt\"\nbusiness_short_code = \"174379\"\n\
         passkey = \"file:mpesa_passkey.txt\"\napi_base = \"http://127.0.0.1:{port}\"\n"
    )
}

/// A flat tariff in shillings for the mini-grid: 25.00 KES per kWh.
const KES_TARIFF: &str = r#"
code = "ke-minigrid-flat"
name = "Mini-grid flat 25.00"
utility = "electricity"
currency = "KES"
time_zone = "Africa/Nairobi"

[[versions]]
effective_from = "2020-01-01T00:00:00+03:00"

[versions.prices]
all = "25.00"
"#;

/// A mini-grid in Kenya beside the estate, in the same group: its own property with books in shillings, and one
/// customer with a remote meter. Returns the property, the account and the meter.
async fn kenyan_minigrid(
    api: &mut Api,
) -> (voltvend_domain::PremisesId, voltvend_domain::AccountId, voltvend_domain::MeterId) {
    use voltvend_domain::tariff::inverse::ArrearsRecovery;
    use voltvend_domain::{
        AccountId, BooksId, ControlMode, CtVtRatio, Currency, Customer, CustomerId, Meter, MeterId, MeterProtocol,
        PremisesId, PremisesLevel, Utility,
    };
    use voltvend_ops::{Command as Op, CustomerRef, ImportTariff, MeterBinding, OpenAccount, OpenBooks};
    let id = |n| voltvend_testkit::estate::id(900, n);
    let property = api.estate.group.new_child(PremisesId::from_uuid(id(1)), PremisesLevel::Property, "Kisumu").unwrap();
    let village = property.new_child(PremisesId::from_uuid(id(2)), PremisesLevel::Building, "Village").unwrap();
    let plot = village.new_child(PremisesId::from_uuid(id(3)), PremisesLevel::Unit, "Plot 7").unwrap();
    let (books, meter, account) = (BooksId::from_uuid(id(4)), MeterId::from_uuid(id(5)), AccountId::from_uuid(id(6)));
    let mut m = Meter::receive(
        meter,
        "KSM-0000000000007",
        Utility::Electricity,
        ControlMode::Remote,
        MeterProtocol::Dlt645,
        "000000000907",
        CtVtRatio::DIRECT,
    )
    .unwrap();
    m.premises_id = Some(property.id);
    let open = OpenAccount {
        customer: CustomerRef::New(
            Customer::new(CustomerId::from_uuid(id(7)), plot.id, "Achieng Otieno", Some("0712345678")).unwrap(),
        ),
        account_id: account,
        premises_id: plot.id,
        currency: Currency::KES,
        books_id: books,
        overdraft_limit_minor: 0,
        recovery: ArrearsRecovery::Share(200_000),
        min_purchase_minor: 100,
        max_balance_minor: None,
        meters: vec![MeterBinding {
            meter_id: meter,
            receive: None,
            tariff_code: Some("ke-minigrid-flat".into()),
            sts: None,
            opg: None,
            max_credit_minor: None,
        }],
        first_sale: None,
    };
    for command in [
        Op::CreatePremises(property.clone()),
        Op::CreatePremises(village),
        Op::CreatePremises(plot),
        Op::OpenBooks(OpenBooks { id: books, premises_id: property.id, currency: Currency::KES }),
        Op::ImportTariff(ImportTariff {
            code: "ke-minigrid-flat".into(),
            name: "Mini-grid flat 25.00".into(),
            document: KES_TARIFF.into(),
        }),
        Op::ReceiveMeter(m),
        Op::OpenAccount(open),
    ] {
        let kind = command.kind();
        api.store.submit(api.estate.system(command)).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    (property.id, account, meter)
}

/// M-Pesa's STK push callback as Daraja posts it (unsigned): paid, with its metadata, or another result.
fn stk_callback(checkout: &str, result: i64, amount: &str) -> String {
    let metadata = if result == 0 {
        format!(
            r#","CallbackMetadata":{{"Item":[{{"Name":"Amount","Value":{amount}}},{{"Name":"MpesaReceiptNumber","Value":"TLQ7RT61SV"}},{{"Name":"Balance"}},{{"Name":"TransactionDate","Value":20261123110130}},{{"Name":"PhoneNumber","Value":254712345678}}]}}"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"Body":{{"stkCallback":{{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"{checkout}","ResultCode":{result},"ResultDesc":"words"{metadata}}}}}}}"#
    )
}

#[tokio::test]
async fn an_mpesa_prompt_is_paid_once_and_only_darajas_own_answer_settles_it() {
    if !peer_available() {
        return;
    }
    let mut p = Provider::new().await;
    let fake = FakeProviders::start(&p.keys);
    let (property, account, meter) = kenyan_minigrid(&mut p.api).await;
    // The group's administrator opens the channel for the mini-grid and makes its customer's intents.
    let admin = |method, path: &str| p.api.as_(BuiltinRole::Administrator, 'g', method, path);
    let body =
        json!({"provider": "mpesa", "name": "M-Pesa Kisumu", "premises_id": property.to_string(), "currency": "KES"});
    let r = p.api.send(admin(Method::POST, "/api/v1/payment-channels").fresh_key().json(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    let channel = r.json()["id"].as_str().unwrap().to_string();
    std::fs::write(format!("{}/{channel}.toml", p.keys), mpesa_credentials(fake.port)).unwrap();
    let intent = |amount: &str| {
        let body = json!({
            "channel_id": channel, "account_id": account.to_string(), "meter_id": meter.to_string(), "amount": amount,
        });
        admin(Method::POST, "/api/v1/payment-intents").fresh_key().json(body)
    };
    let wallet = || async {
        let path = format!("/api/v1/accounts/{account}");
        let r = p.api.send(p.api.as_(BuiltinRole::Administrator, 'g', Method::GET, &path)).await.json();
        r["balance"]["minor"].as_str().unwrap().parse::<i64>().unwrap()
    };
    let get = |id: &str| {
        let path = format!("/api/v1/payment-intents/{id}");
        let req = p.api.as_(BuiltinRole::Administrator, 'g', Method::GET, &path);
        async { p.api.send(req).await.json() }
    };
    let before = wallet().await;
    let r = p.api.send(intent("150.00")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    let paid = r.json();

    // The prompt needs the payer's phone, and whole shillings.
    let (status, answer) = p.order_as(&paid, BuiltinRole::Administrator, 'g', json!({})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("payment_phone_needed")));
    let cents = p.api.send(intent("150.50")).await.json();
    let (status, answer) = p.order_as(&cents, BuiltinRole::Administrator, 'g', json!({"phone": "0712345678"})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("payment_amount_unpayable")));

    // The prompt: Daraja is asked with a token it issued and the documented password (the fake checks both),
    // for 150 shillings from 254712345678, to call back this server; the intent records Daraja's reference.
    let (status, made) = p.order_as(&paid, BuiltinRole::Administrator, 'g', json!({"phone": "+254 712 345 678"})).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(made["pay_url"], Value::Null);
    let checkout = made["prompt_reference"].as_str().unwrap().to_string();
    assert_eq!(made["intent"]["provider_ref"].as_str(), Some(checkout.as_str()));
    let asked: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}/mpesa/{checkout}.asked.json", p.keys)).unwrap())
            .unwrap();
    assert_eq!((asked["Amount"].as_i64(), asked["PhoneNumber"].as_str()), (Some(150), Some("254712345678")));
    let order_no = paid["order_no"].as_str().unwrap();
    assert_eq!(asked["CallBackURL"], format!("https://vend.example.com/pay/notify/{channel}?order={order_no}"));
    // The customer sees the meter on the prompt (its number's last twelve characters); Nairobi's time.
    let serial = p.api.store.meter(meter).await.unwrap().meter.serial;
    let tail: String = serial.chars().skip(serial.chars().count().saturating_sub(12)).collect();
    assert_eq!(asked["AccountReference"].as_str(), Some(tail.as_str()));
    let nairobi = p.api.clock.now().to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(3)));
    assert_eq!(asked["Timestamp"].as_str(), Some(nairobi.strftime("%Y%m%d%H%M%S").to_string().as_str()));
    // One prompt per intent: a second is refused before Daraja is asked.
    let (status, again) = p.order_as(&paid, BuiltinRole::Administrator, 'g', json!({"phone": "0712345678"})).await;
    assert_eq!((status, again["code"].as_str()), (StatusCode::CONFLICT, Some("payment_order_exists")), "{again}");

    // A callback that claims the payment while Daraja says the prompt is still on the phone: nothing changes.
    let callback = |body: String| {
        Req::new(Method::POST, &format!("/pay/notify/{channel}"))
            .header("content-type", "application/json")
            .body_raw(&body)
    };
    let r = p.api.send(callback(stk_callback(&checkout, 0, "150.00"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    assert_eq!(get(paid["id"].as_str().unwrap()).await["status"], "open");
    assert_eq!(wallet().await, before);
    // A callback for a request no intent made: refused, in Daraja's shape.
    let r = p.api.send(callback(stk_callback("ws_CO_20261123110000deadbeef", 0, "150.00"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["ResultCode"], 1);
    let r = p.api.send(callback("{\"Body\":{}}".into())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The customer enters the PIN: Daraja says paid. The callback — even one that lies about the amount — makes
    // one sale of what was pushed; the same callback again, and the sweeper's query, add nothing.
    p.api.clock.advance(jiff::SignedDuration::from_mins(2));
    peer(&["mpesa-state", &p.keys, &checkout, "paid"]);
    let r = p.api.send(callback(stk_callback(&checkout, 0, "15000.00"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    assert_eq!(r.json(), json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    let settled = get(paid["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "paid", "{settled}");
    assert_eq!(
        (settled["provider_txn"].as_str(), settled["paid_minor"].as_str()),
        (Some(checkout.as_str()), Some("15000"))
    );
    // The payment's time is when Daraja confirmed it, never the callback's word (which said 11:01:30 in Nairobi).
    assert_eq!(settled["paid_at"].as_str().map(|t| t.parse::<jiff::Timestamp>().unwrap()), Some(p.api.clock.now()));
    assert_eq!(wallet().await, before + 15_000);
    let r = p.api.send(callback(stk_callback(&checkout, 0, "150.00"))).await;
    assert_eq!(r.status, StatusCode::OK);
    voltvend_server::payments::sweep(&p.api.state, jiff::SignedDuration::ZERO, 100).await;
    assert_eq!(wallet().await, before + 15_000);
    let path = format!("/api/v1/sales/{}", settled["settled_by"].as_str().unwrap());
    let sale = p.api.send(p.api.as_(BuiltinRole::Administrator, 'g', Method::GET, &path)).await.json();
    assert_eq!(
        (sale["method"].as_str(), sale["reference"].as_str()),
        (Some("online"), Some(checkout.as_str())),
        "{sale}"
    );

    // A prompt is pushed only while the intent has five minutes to run (no prompt outlives its intent).
    let body = json!({
        "channel_id": channel, "account_id": account.to_string(), "meter_id": meter.to_string(), "amount": "10.00",
        "expires_in_minutes": 4,
    });
    let short = p.api.send(admin(Method::POST, "/api/v1/payment-intents").fresh_key().json(body)).await.json();
    let (status, answer) = p.order_as(&short, BuiltinRole::Administrator, 'g', json!({"phone": "0712345678"})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::CONFLICT, Some("payment_intent_expiring")));

    // A prompt Daraja took whose answer was lost on the way: nothing recorded, the order fails. When the customer
    // pays it, the callback names a request no intent recorded — without the intent in its URL it is refused;
    // with it, that intent (which recorded no prompt) adopts the request once Daraja confirms it was paid.
    std::fs::write(format!("{}/mpesa/garble", p.keys), "").unwrap();
    let lost = p.api.send(intent("70.00")).await.json();
    let (status, answer) = p.order_as(&lost, BuiltinRole::Administrator, 'g', json!({"phone": "0712345678"})).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_GATEWAY, Some("payment_provider_bad_answer")));
    std::fs::remove_file(format!("{}/mpesa/garble", p.keys)).unwrap();
    assert_eq!(get(lost["id"].as_str().unwrap()).await["provider_ref"], Value::Null);
    let lost_ref = std::fs::read_to_string(format!("{}/mpesa/last.txt", p.keys)).unwrap();
    peer(&["mpesa-state", &p.keys, &lost_ref, "paid"]);
    assert_eq!(p.api.send(callback(stk_callback(&lost_ref, 0, "70.00"))).await.status, StatusCode::NOT_FOUND);
    let lost_order = lost["order_no"].as_str().unwrap();
    let adopted = Req::new(Method::POST, &format!("/pay/notify/{channel}?order={lost_order}"))
        .header("content-type", "application/json")
        .body_raw(&stk_callback(&lost_ref, 0, "70.00"));
    let r = p.api.send(adopted).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    let lost_now = get(lost["id"].as_str().unwrap()).await;
    assert_eq!(
        (lost_now["status"].as_str(), lost_now["provider_ref"].as_str()),
        (Some("paid"), Some(lost_ref.as_str()))
    );
    assert_eq!(wallet().await, before + 15_000 + 7_000);
    // Another intent's URL cannot adopt a request already recorded: the recorded intent is the one settled.
    let other = p.api.send(intent("70.00")).await.json();
    let stolen =
        Req::new(Method::POST, &format!("/pay/notify/{channel}?order={}", other["order_no"].as_str().unwrap()))
            .header("content-type", "application/json")
            .body_raw(&stk_callback(&lost_ref, 0, "70.00"));
    assert_eq!(p.api.send(stolen).await.status, StatusCode::OK);
    assert_eq!(get(other["id"].as_str().unwrap()).await["status"], "open");
    assert_eq!(wallet().await, before + 15_000 + 7_000);
    let before = before + 7_000;

    // A prompt the customer cancelled stays open until it expires, then expires; a prompt Daraja does not
    // answer about changes nothing; the sweeper settles a paid prompt whose callback never came.
    let order = |intent: &Value| {
        let intent = intent.clone();
        let p = &p;
        async move {
            let (status, made) =
                p.order_as(&intent, BuiltinRole::Administrator, 'g', json!({"phone": "0110123456"})).await;
            assert_eq!(status, StatusCode::OK, "{made}");
            made["prompt_reference"].as_str().unwrap().to_string()
        }
    };
    let cancelled = p.api.send(intent("20.00")).await.json();
    let cancelled_ref = order(&cancelled).await;
    peer(&["mpesa-state", &p.keys, &cancelled_ref, "cancelled"]);
    let r = p.api.send(callback(stk_callback(&cancelled_ref, 1032, ""))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(get(cancelled["id"].as_str().unwrap()).await["status"], "open");
    let silent = p.api.send(intent("30.00")).await.json();
    let silent_ref = order(&silent).await;
    peer(&["mpesa-state", &p.keys, &silent_ref, "hang"]);
    // Asked by a cashier of another property: not theirs to see.
    assert_eq!(p.query(&silent).await.0, StatusCode::NOT_FOUND);
    let path = format!("/api/v1/payment-intents/{}/query", silent["id"].as_str().unwrap());
    let r = p.api.send(admin(Method::POST, &path)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_GATEWAY, "payment_provider_unavailable".to_string()));
    let swept = p.api.send(intent("40.00")).await.json();
    let swept_ref = order(&swept).await;
    peer(&["mpesa-state", &p.keys, &swept_ref, "paid"]);
    peer(&["mpesa-state", &p.keys, &silent_ref, "pending"]);
    voltvend_server::payments::sweep(&p.api.state, jiff::SignedDuration::ZERO, 100).await;
    assert_eq!(get(swept["id"].as_str().unwrap()).await["status"], "paid");
    assert_eq!(wallet().await, before + 15_000 + 4_000);
    p.api.clock.advance(jiff::SignedDuration::from_mins(16));
    voltvend_server::payments::sweep(&p.api.state, jiff::SignedDuration::ZERO, 100).await;
    assert_eq!(get(cancelled["id"].as_str().unwrap()).await["status"], "expired");
    // Still on the phone past the expiry: not unpaid yet, so not expired — until well past any prompt's life.
    assert_eq!(get(silent["id"].as_str().unwrap()).await["status"], "open");
    p.api.clock.advance(jiff::SignedDuration::from_mins(10));
    voltvend_server::payments::sweep(&p.api.state, jiff::SignedDuration::ZERO, 100).await;
    assert_eq!(get(silent["id"].as_str().unwrap()).await["status"], "expired");
    // Daraja then says it was paid after all: the callback still sells it (the prompt was pushed in time), at the
    // intent's expiry.
    peer(&["mpesa-state", &p.keys, &silent_ref, "paid"]);
    assert_eq!(p.api.send(callback(stk_callback(&silent_ref, 0, "30.00"))).await.status, StatusCode::OK);
    let late = get(silent["id"].as_str().unwrap()).await;
    assert_eq!(
        (late["status"].as_str(), late["paid_at"].as_str()),
        (Some("paid"), silent["expires_at"].as_str()),
        "{late}"
    );
    assert_eq!(wallet().await, before + 15_000 + 4_000 + 3_000);
    // The intent with no prompt at all expires.
    assert_eq!(get(cents["id"].as_str().unwrap()).await["status"], "expired");
    // The customer's page: the phone is asked for and checked before anything is made; then the prompt goes to
    // it, and the page says to answer it (no QR code), until Daraja says it was paid.
    let (status, html, _) =
        page(&p.api, form("/pay/confirm", &[("meter", serial.as_str()), ("amount", "60"), ("lang", "en")])).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("name=\"phone\"") && html.contains(&format!("value=\"{channel}\"")), "{html}");
    let mut fields = vec![("meter", serial.as_str()), ("amount", "60"), ("channel", channel.as_str()), ("lang", "en")];
    let (status, html, _) =
        page(&p.api, form("/pay/order", &[fields.clone(), vec![("phone", "12345")]].concat())).await;
    assert_eq!(
        (status, html.contains("data-code=\"pay.err.phone\"")),
        (StatusCode::UNPROCESSABLE_ENTITY, true),
        "{html}"
    );
    fields.push(("phone", "0712 345 678"));
    let (status, _, location) = page(&p.api, form("/pay/order", &fields)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let (_, html, _) = page(&p.api, Req::new(Method::GET, &location)).await;
    assert!(
        html.contains("data-status=\"open\"") && html.contains("id=\"prompted\"") && !html.contains("<svg"),
        "{html}"
    );
    let id = location.trim_start_matches("/pay/status/").split('?').next().unwrap().to_string();
    let prompt = get(&id).await["provider_ref"].as_str().unwrap().to_string();
    peer(&["mpesa-state", &p.keys, &prompt, "paid"]);
    let (_, html, _) = page(&p.api, Req::new(Method::GET, &location)).await;
    assert!(html.contains("data-status=\"paid\""), "{html}");
    assert_eq!(wallet().await, before + 15_000 + 4_000 + 3_000 + 6_000);

    // One OAuth token served every call while it lasted.
    let tokens = std::fs::read_to_string(format!("{}/mpesa/tokens.count", p.keys)).unwrap();
    assert_eq!(tokens.len(), 1, "tokens bought: {tokens}");

    // M-Pesa's organisation statement names each payment by its receipt and the account reference the prompt
    // showed, in Nairobi's time: the day's payments are matched by that reference and their amounts. One paid
    // prompt is missing from it, and it shows a payment to the paybill that none of our prompts asked for.
    let list = format!("/api/v1/payment-intents?channel_id={channel}&limit=100");
    let paid_ones: Vec<Value> = p.api.send(admin(Method::GET, &list)).await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["paid_at"].is_null())
        .cloned()
        .collect();
    assert!(paid_ones.len() >= 4, "{paid_ones:?}");
    let nairobi = |at: &str| {
        let at: jiff::Timestamp = at.parse().unwrap();
        at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(3)))
    };
    let day = nairobi(paid_ones[0]["paid_at"].as_str().unwrap()).date();
    let mut csv = "Account Holder:,Kisumu Mini-grid\nShort Code:,174379\nAccount:,Utility Account\n\
                   Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,\
                   Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.\n"
        .to_string();
    let (missing, shown) = paid_ones.split_first().unwrap();
    for (n, i) in shown.iter().enumerate() {
        let shillings = i["paid_minor"].as_str().unwrap().parse::<i64>().unwrap() / 100;
        // The customer paid a little before Daraja confirmed it to us.
        let paid_at: jiff::Timestamp = i["paid_at"].as_str().unwrap().parse().unwrap();
        let when = nairobi(&(paid_at - jiff::SignedDuration::from_secs(90)).to_string())
            .strftime("%d-%m-%Y %H:%M:%S")
            .to_string();
        assert_eq!(nairobi(i["paid_at"].as_str().unwrap()).date(), day, "one Nairobi day");
        csv.push_str(&format!(
            "TKN{n:07},{when},{when},Pay Bill Online from 2547****5678 - JANE DOE Acc. {tail},Completed,\
             {shillings}.00,,0.00,true,Pay Utility,2547****5678 - JANE DOE,,{tail}\n",
        ));
    }
    let noon = day.strftime("%d-%m-%Y 12:00:00");
    csv.push_str(&format!("TKNSTRANGE,{noon},,Pay Bill Online,Completed,77.00,,0.00,true,Pay Utility,,,OTHER-METER\n"));
    let statements = format!("/api/v1/payment-channels/{channel}/statements");
    let body = json!({"date": day.to_string(), "statement": csv});
    let r = p.api.send(admin(Method::POST, &statements).fresh_key().json(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.bytes));
    let rec = p.api.send(admin(Method::GET, &format!("{statements}/{day}"))).await.json();
    assert_eq!(rec["matched"].as_u64(), Some(shown.len() as u64), "{rec}");
    let differences: Vec<(&str, &str)> = rec["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["transaction_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        differences,
        vec![("not_in_ledger", "TKNSTRANGE"), ("not_in_statement", missing["provider_txn"].as_str().unwrap())],
        "{rec}"
    );
}

/// The customer's page says what a payment pays first: A-101 owes October's rent (100.00, overdue; the policy
/// takes 30 % of each purchase for it) and 15.00 from before (20 % of the rest recovers it): of 50.00, 15.00 pays
/// the rent and 7.00 the arrears. With nothing owed, neither line is shown.
#[tokio::test]
async fn the_customers_page_says_what_a_payment_pays_first() {
    use super::lifecycle::post;
    let api = Api::new().await;
    let e = api.estate.clone();
    let body = json!({"provider": "wechat_pay", "name": "WeChat Pay", "premises_id": e.property.id.to_string(), "currency": "CNY"});
    let r = api
        .send(api.as_(BuiltinRole::Administrator, 'g', Method::POST, "/api/v1/payment-channels").fresh_key().json(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let serial = api.store.meter(e.remote_meter).await.unwrap().meter.serial;
    let confirm = || form("/pay/confirm", &[("meter", serial.as_str()), ("amount", "50"), ("lang", "en")]);
    let (status, html, _) = page(&api, confirm()).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(!html.contains("id=\"bills\"") && !html.contains("id=\"arrears\""), "{html}");

    let block_a = e.building_a.id.to_string();
    let rent = json!({"premises_id": block_a, "name": "租金", "basis": "per_unit", "rate": "100", "currency": "CNY", "due_day": 10});
    let rent = api.send(post(&api, BuiltinRole::Manager, 'a', "/api/v1/fee-schedules", rent)).await.ok();
    let october = format!("/api/v1/fee-schedules/{}/periods/2026-10", rent["id"].as_str().unwrap());
    api.send(api.as_(BuiltinRole::Manager, 'a', Method::POST, &october).fresh_key()).await.ok();
    let policy = json!({"policy": "share_of_purchase", "share_percent": "30"});
    api.send(post(&api, BuiltinRole::Manager, 'a', &format!("/api/v1/premises/{block_a}/fee-policy"), policy))
        .await
        .ok();
    let account = api.store.account(e.account_a).await.unwrap();
    let books = api.store.books(e.books).await.unwrap();
    let arrears = voltvend_domain::TransferRequest::simple(
        voltvend_domain::TransferId::from_uuid(uuid::Uuid::from_u128(0xA77E_0001)),
        voltvend_domain::TransferKind::Adjustment,
        account.arrears,
        books.energy_revenue,
        voltvend_domain::Money::from_minor(1_500, voltvend_domain::Currency::CNY),
        "arrears brought forward",
    );
    let mut estate = e.clone();
    api.store.submit(estate.system(voltvend_ops::Command::PostTransfer(arrears))).await.unwrap();
    let (status, html, _) = page(&api, confirm()).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<dd id=\"bills\">15.00 CNY</dd>"), "{html}");
    assert!(html.contains("<dd id=\"arrears\">7.00 CNY</dd>"), "{html}");
    let (_, zh, _) =
        page(&api, form("/pay/confirm", &[("meter", serial.as_str()), ("amount", "50"), ("lang", "zh-CN")])).await;
    assert!(zh.contains("先缴账单及房租物业费") && zh.contains("先还欠费"), "{zh}");
}

/// 房租物业费 online (issue 18, part 3): A-101's prepaid tenant owes October's rent (100.00) and pays 40.00 of it
/// alone from the customer's page through WeChat Pay. The page says what is owed and refuses more than that (a
/// prepaid account's credit is bought as a sale) and a meter whose account owes nothing; the order is titled as
/// rent; the notification takes it as a fee payment through the channel's shift, with its receipt on the page,
/// the wallet untouched and the rent 60.00 still owed.
#[tokio::test]
async fn a_prepaid_tenant_pays_rent_alone_from_the_page() {
    use super::lifecycle::post;
    if !peer_available() {
        return;
    }
    let p = Provider::new().await;
    let fake = FakeProviders::start(&p.keys);
    let channel = p.channel("wechat_pay", &wechat_credentials(Some(fake.port))).await;
    let e = p.api.estate.clone();
    let rent = json!({"premises_id": e.building_a.id.to_string(), "name": "租金", "basis": "per_unit", "rate": "100",
                      "currency": "CNY", "due_day": 10});
    let rent = p.api.send(post(&p.api, BuiltinRole::Manager, 'a', "/api/v1/fee-schedules", rent)).await.ok();
    let october = format!("/api/v1/fee-schedules/{}/periods/2026-10", rent["id"].as_str().unwrap());
    p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::POST, &october).fresh_key()).await.ok();
    let (status, html, _) = page(&p.api, Req::new(Method::GET, "/pay?lang=en")).await;
    assert!(status == StatusCode::OK && html.contains("id=\"purpose-fees\""), "{html}");

    let serial = p.api.store.meter(e.remote_meter).await.unwrap().meter.serial;
    let fees = |amount: &'static str, meter: String| {
        form("/pay/confirm", &[("meter", meter.as_str()), ("amount", amount), ("purpose", "fees"), ("lang", "en")])
    };
    let (status, html, _) = page(&p.api, fees("150", serial.clone())).await;
    assert_eq!((status, html.contains("data-code=\"pay.err.fees_over\"")), (StatusCode::UNPROCESSABLE_ENTITY, true));
    assert!(html.contains("id=\"purpose-fees\" checked"), "the choice is kept: {html}");
    let b201 = p.api.store.meter(e.sts_meter).await.unwrap().meter.serial;
    let (status, html, _) = page(&p.api, fees("10", b201)).await;
    assert_eq!((status, html.contains("data-code=\"pay.err.no_fees\"")), (StatusCode::UNPROCESSABLE_ENTITY, true));
    let (status, html, _) = page(&p.api, fees("40", serial.clone())).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("<dd id=\"owed\">100.00 CNY</dd>") && html.contains("<dd id=\"bills\">40.00 CNY</dd>"),
        "{html}"
    );
    assert!(!html.contains("id=\"quantity\"") && html.contains("name=\"purpose\" value=\"fees\""), "{html}");
    // The rent itself, before paying: which month, when due, what is owed of it.
    let line = "<td>租金 2026-10</td><td>2026-10-10 (overdue)</td><td class=\"num\">100.00 CNY</td>";
    assert!(html.contains(line), "{html}");
    let (_, zh, _) = page(
        &p.api,
        form("/pay/confirm", &[("meter", serial.as_str()), ("amount", "40"), ("purpose", "fees"), ("lang", "zh-CN")]),
    )
    .await;
    assert!(zh.contains("应缴房租物业费及账单") && zh.contains("缴纳房租物业费及账单"), "{zh}");

    let wallet = p.wallet().await;
    let fields =
        [("meter", serial.as_str()), ("amount", "40.00"), ("purpose", "fees"), ("channel", &channel), ("lang", "en")];
    let (status, _, location) = page(&p.api, form("/pay/order", &fields)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let intent_id = location.trim_start_matches("/pay/status/").split('?').next().unwrap().to_string();
    let intent = p.get_intent(&intent_id).await;
    assert_eq!((intent["purpose"].as_str(), intent["amount"]["minor"].as_str()), (Some("fees"), Some("4000")));
    page(&p.api, Req::new(Method::GET, &location)).await;
    let order_no = uuid::Uuid::parse_str(&intent_id).unwrap().simple().to_string();
    let asked = p.asked(&order_no);
    assert!(asked["description"].as_str().is_some_and(|d| d.starts_with("房租物业费")), "{asked}");

    let (h, b) = p.wechat(&order_no, 4_000, "CNY", "4200000001202611230000000777");
    assert_eq!(p.notify(&channel, &h, &b, "application/json").await.0, StatusCode::NO_CONTENT);
    let intent = p.get_intent(&intent_id).await;
    assert_eq!(intent["status"], "paid", "{intent}");
    let fees_of_a = format!("/api/v1/accounts/{}/fees", e.account_a);
    let account_fees = p.api.send(p.api.as_(BuiltinRole::Manager, 'a', Method::GET, &fees_of_a)).await.json();
    let paid = &account_fees["payments"][0];
    assert_eq!((paid["id"].as_str(), paid["method"].as_str()), (intent["settled_by"].as_str(), Some("online")));
    assert_eq!(
        (paid["paid"]["minor"].as_str(), paid["reference"].as_str()),
        (Some("4000"), Some("4200000001202611230000000777"))
    );
    assert_eq!(account_fees["owed"]["minor"], "6000", "{account_fees}");
    assert_eq!(p.wallet().await, wallet, "rent alone: no credit bought");
    let (_, html, _) = page(&p.api, Req::new(Method::GET, &location)).await;
    let receipt = paid["receipt_no"].as_i64().unwrap();
    assert!(html.contains("data-status=\"paid\"") && html.contains(&format!("Receipt no. {receipt}")), "{html}");
    assert!(!html.contains("class=\"token\""), "{html}");
}
