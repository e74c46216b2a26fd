//! IC-card prepaid end to end through the API, with the counter's (virtual) card reader and the prepaid
//! controller model of `voltvend-meter` as the meter: a field engineer's parameter card opens the account on
//! the controller, the cashier issues the user card and sells onto it, the card is "inserted" into the
//! controller, which loads the purchase once and writes its return data, the counter reads it back; a torn
//! write is written again and loads once; 挂失 and 补卡 carry the unloaded purchase over and the old card is
//! refused by the counter and the meter; a forged card is refused; 退卡 blanks the card. Every refusal
//! changes nothing, and another building's operators do not see the meter's card.

use axum::http::Method;
use jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use voltvend_card::{Algorithm, CardKind, CardSerial, Header, RootKey, Terminal, VirtualCard};
use voltvend_domain::{BuiltinRole, Clock as _};
use voltvend_meter::controller::{CardOutcome, Controller, ControllerConfig, CreditUnit, ErrorCode, Mode};
use voltvend_testkit::estate::{CARD_METER_NO, CARD_ROOT_KEY_HEX};

use super::Api;
use super::lifecycle::{get, post};

const CASHIER: BuiltinRole = BuiltinRole::Cashier;
const FIELD: BuiltinRole = BuiltinRole::FieldEngineer;
const READER: &str = "default";

fn card(n: u8) -> VirtualCard {
    VirtualCard::new(CardSerial([0xC0, 0, 0, 0, 0, 0, 0, n]), Algorithm::Sm4, &mut StdRng::seed_from_u64(u64::from(n)))
}

fn serial(n: u8) -> String {
    CardSerial([0xC0, 0, 0, 0, 0, 0, 0, n]).to_string()
}

/// The meter's controller: local, in Wh, with the tests' card root key in its secure module.
fn controller() -> Controller {
    let cfg = ControllerConfig {
        mode: Mode::Local,
        credit_unit: CreditUnit::Energy,
        ..ControllerConfig::remote(jiff::tz::TimeZone::UTC)
    };
    Controller::new(cfg, 0, None).with_meter_no(CARD_METER_NO)
}

fn esam() -> RootKey {
    RootKey::from_hex(Algorithm::Sm4, CARD_ROOT_KEY_HEX).unwrap()
}

struct Fixture {
    api: Api,
    meter: String,
    account: String,
}

impl Fixture {
    async fn new() -> Self {
        let api = Api::new().await;
        let mut estate = api.estate.clone();
        let (meter, account, ops) = estate.ic_card_setup(CARD_METER_NO, true);
        for op in ops {
            api.store.submit(op).await.unwrap();
        }
        Self { api, meter: meter.to_string(), account: account.to_string() }
    }

    fn insert(&self, c: VirtualCard) {
        self.api.state.cards.insert_virtual(READER, c);
    }

    fn take(&self) -> VirtualCard {
        self.api.state.cards.take_virtual(READER).expect("a card in the reader")
    }

    async fn send(&self, role: BuiltinRole, building: char, path: &str, body: Value) -> super::Resp {
        self.api.send(post(&self.api, role, building, path, body)).await
    }

    async fn sell(&self, amount: &str) -> super::Resp {
        let body = json!({"account_id": self.account, "meter_id": self.meter, "method": "cash", "amount": amount});
        self.send(CASHIER, 'a', "/api/v1/sales", body).await
    }

    async fn read(&self, role: BuiltinRole, building: char) -> super::Resp {
        self.send(role, building, "/api/v1/card-reader/read", json!({})).await
    }

    async fn meter_card(&self) -> Value {
        get(&self.api, CASHIER, 'a', &format!("/api/v1/meters/{}/card", self.meter)).await
    }

    fn now(&self) -> Timestamp {
        self.api.clock.now()
    }

    async fn sales(&self) -> usize {
        let page = get(&self.api, CASHIER, 'a', &format!("/api/v1/sales?meter_id={}", self.meter)).await;
        page["items"].as_array().unwrap().len()
    }
}

/// Inserts the card into the controller (as the customer does at the meter cabinet).
fn at_the_meter(c: &mut Controller, card: &mut VirtualCard, at: Timestamp) -> Result<CardOutcome, ErrorCode> {
    c.insert_card(card, &esam(), at, &mut StdRng::seed_from_u64(99)).map(|done| done.outcome)
}

fn count(v: &Value) -> u64 {
    v["count"].as_u64().unwrap()
}

fn milli(v: &Value) -> i64 {
    v["milli"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_meter_is_commissioned_sold_to_loaded_once_read_back_reissued_and_returned() {
    let f = Fixture::new().await;
    let meter_path = format!("/api/v1/meters/{}", f.meter);
    let mut meter = controller();

    // Commissioning: the field engineer writes a parameter card for the meter; the controller opens the account.
    f.insert(card(100));
    let body = json!({"kind": "parameter", "alarm1": "5", "alarm2": "1", "hoarding_limit": "500"});
    let r = f.send(FIELD, 'a', &format!("{meter_path}/field-cards"), body.clone()).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.json());
    assert_eq!(r.json()["kind"], "parameter");
    // The card is issued now: a second field card cannot be written over it.
    assert_eq!(f.send(FIELD, 'a', &format!("{meter_path}/field-cards"), body).await.code(), "card_not_blank");
    let mut param = f.take();
    assert_eq!(at_the_meter(&mut meter, &mut param, f.now()), Ok(CardOutcome::AccountOpened));
    assert_eq!(meter.config().alarm1, 5_000);

    // No sale before the customer has a card; nothing is sold.
    assert_eq!(f.sell("6.00").await.code(), "card_not_issued");

    // 发卡: another building's cashier does not see the meter; an auditor may not; the cashier may.
    f.insert(card(1));
    assert_eq!(f.send(CASHIER, 'b', &format!("{meter_path}/card"), json!({})).await.status.as_u16(), 404);
    assert_eq!(f.send(BuiltinRole::Auditor, 'a', &format!("{meter_path}/card"), json!({})).await.status.as_u16(), 403);
    let r = f.send(CASHIER, 'a', &format!("{meter_path}/card"), json!({})).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.json());
    let issued = r.json();
    assert_eq!(
        (issued["card"]["serial"].as_str(), issued["card"]["generation"].as_u64()),
        (Some(&*serial(1)), Some(0))
    );
    assert_eq!(issued["write"]["written"], true);

    // A sale writes purchase 1 onto the card, read back and checked.
    let r = f.sell("6.00").await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.json());
    let sale1 = r.json();
    assert_eq!(sale1["card"]["written"], true, "{sale1}");
    assert_eq!(count(&sale1["card"]["purchase"]), 1);
    let bought1 = milli(&sale1["quantity"]);
    assert_eq!(milli(&sale1["card"]["purchase"]["quantity"]), bought1);

    // At the meter: loaded once, used, inserted again (nothing more), its return data written on the card.
    let mut user = f.take();
    assert_eq!(at_the_meter(&mut meter, &mut user, f.now()), Ok(CardOutcome::Loaded { amount: bought1, count: 1 }));
    meter.consume(3_000, 1_000, f.now());
    assert_eq!(at_the_meter(&mut meter, &mut user, f.now()), Ok(CardOutcome::AlreadyLoaded { count: 1 }));
    assert_eq!(meter.credit(), bought1 - 3_000);

    // Back at the counter: the card read back (回抄) by the cashier; the meter's credit is what it reported.
    f.api.clock.advance(jiff::SignedDuration::from_mins(30));
    f.insert(user);
    let r = f.read(CASHIER, 'a').await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.json());
    let read = r.json();
    assert_eq!((read["standing"].as_str(), read["recorded"].as_bool()), (Some("current"), Some(true)));
    assert_eq!(milli(&read["returned"]["remaining"]), bought1 - 3_000);
    assert_eq!(read["card"]["loaded_count"], 1);
    // Building B's cashier does not see this meter's card; an auditor may not record return data.
    assert_eq!(f.read(CASHIER, 'b').await.status.as_u16(), 404);
    assert_eq!(f.read(BuiltinRole::Auditor, 'a').await.status.as_u16(), 403);
    let view = get(&f.api, CASHIER, 'a', &meter_path).await;
    assert_eq!(milli(&view["local_credit"]["last_return"]["remaining"]), bought1 - 3_000, "{view}");

    // Sale 2, with the card pulled out mid-write: the sale stands, the card is not written…
    let mut user = f.take();
    user.tear_next_update(5);
    f.insert(user);
    let r = f.sell("12.00").await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.json());
    let sale2 = r.json();
    assert_eq!(sale2["card"]["written"], false, "{sale2}");
    assert_eq!(sale2["card"]["error"]["code"], "card_absent");
    // …and a torn purchase is refused at the meter, loading nothing.
    let mut user = f.take();
    let before = meter.credit();
    assert_eq!(at_the_meter(&mut meter, &mut user, f.now()), Err(ErrorCode::CardDamaged));
    assert_eq!(meter.credit(), before);
    // The torn card cannot be read at the counter either: nothing is sold onto it until it is written again.
    f.insert(user);
    let sales_before = f.sales().await;
    assert_eq!(f.sell("6.00").await.code(), "card_damaged");
    assert_eq!(f.sales().await, sales_before);
    // Written again from the record: purchase 2, which the meter loads once.
    let sale2_id = sale2["id"].as_str().unwrap();
    let r = f.send(CASHIER, 'a', &format!("/api/v1/sales/{sale2_id}/card"), json!({})).await;
    assert_eq!((r.status.as_u16(), r.json()["written"].as_bool()), (200, Some(true)), "{}", r.json());
    let mut user = f.take();
    let bought2 = milli(&sale2["quantity"]);
    assert_eq!(at_the_meter(&mut meter, &mut user, f.now()), Ok(CardOutcome::Loaded { amount: bought2, count: 2 }));
    assert_eq!(at_the_meter(&mut meter, &mut user, f.now()), Ok(CardOutcome::AlreadyLoaded { count: 2 }));

    // 挂失, then 补卡 on a new blank card: purchase 2 is carried over (the system has not seen it loaded).
    let lost = json!({"serial": serial(1), "reason": "lost on the bus"});
    let r = f.send(CASHIER, 'a', &format!("{meter_path}/card/lost"), lost).await;
    assert_eq!((r.status.as_u16(), r.json()["status"].as_str()), (200, Some("lost")));
    f.insert(card(2));
    let r = f.send(CASHIER, 'a', &format!("{meter_path}/card"), json!({})).await;
    assert_eq!(r.code(), "text_empty", "a reissue says why");
    let r = f.send(CASHIER, 'a', &format!("{meter_path}/card"), json!({"reason": "lost"})).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.json());
    let reissued = r.json();
    assert_eq!(reissued["card"]["generation"], 1);
    assert_eq!(reissued["card"]["replaced"], json!([serial(1)]));
    assert_eq!((reissued["write"]["written"].as_bool(), count(&reissued["write"]["purchase"])), (Some(true), 2));
    // The meter loaded purchase 2 from the old card already: the new card adds nothing, and from now on the
    // old card is refused at the meter.
    let mut new_card = f.take();
    let credit = meter.credit();
    assert_eq!(at_the_meter(&mut meter, &mut new_card, f.now()), Ok(CardOutcome::AlreadyLoaded { count: 2 }));
    assert_eq!(meter.credit(), credit);
    assert_eq!(at_the_meter(&mut meter, &mut user, f.now()), Err(ErrorCode::CardReplaced));
    // …and at the counter: the old card reads as replaced and nothing is sold onto it.
    let sales_before = f.sales().await;
    f.insert(user);
    let read = f.read(CASHIER, 'a').await.json();
    assert_eq!(read["standing"], "replaced");
    assert_eq!(f.sell("6.00").await.code(), "card_replaced");
    assert_eq!(f.sales().await, sales_before);

    // The new card read back shows purchase 2 loaded; a sale goes on as purchase 3.
    f.take();
    f.insert(new_card);
    assert_eq!(f.read(CASHIER, 'a').await.json()["card"]["loaded_count"], 2);
    let r = f.sell("3.00").await;
    assert_eq!((r.status.as_u16(), count(&r.json()["card"]["purchase"])), (201, 3), "{}", r.json());

    // 退卡 is refused while purchase 3 is on the card unloaded; once loaded and read back, the card is taken
    // back and blanked.
    let back = json!({"reason": "moving out"});
    assert_eq!(
        f.send(CASHIER, 'a', &format!("{meter_path}/card/return"), back.clone()).await.code(),
        "card_purchase_pending"
    );
    let mut new_card = f.take();
    assert!(matches!(at_the_meter(&mut meter, &mut new_card, f.now()), Ok(CardOutcome::Loaded { count: 3, .. })));
    f.insert(new_card);
    let r = f.send(CASHIER, 'a', &format!("{meter_path}/card/return"), back).await;
    assert_eq!((r.status.as_u16(), r.json()["status"].as_str()), (200, Some("returned")), "{}", r.json());
    let read = f.read(CASHIER, 'a').await.json();
    assert_eq!(read["blank"], true);
    assert_eq!(f.meter_card().await["status"], "returned");
    assert_eq!(f.sell("6.00").await.code(), "card_blank", "a blank card in the reader is no customer's card");
    f.take();
    assert_eq!(f.sell("6.00").await.code(), "card_not_issued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_foreign_cards_are_refused_and_keys_are_kept_like_vending_keys() {
    let f = Fixture::new().await;
    let meter_path = format!("/api/v1/meters/{}", f.meter);
    // A card personalised under another key set, claiming this meter: not ours.
    let mut forged = card(9);
    let other = RootKey::from_hex(Algorithm::Sm4, "FFEEDDCCBBAA99887766554433221100").unwrap();
    let header = Header {
        kind: CardKind::User,
        serial: CardSerial::default(),
        utility_code: 1,
        customer_no: "x".into(),
        meter_no: CARD_METER_NO.into(),
        generation: 0,
        replaces: None,
    };
    Terminal::new(&mut forged, &other, &mut StdRng::seed_from_u64(1)).issue(&header, None).unwrap();
    f.insert(forged);
    assert_eq!(f.read(CASHIER, 'a').await.code(), "card_not_ours");
    assert_eq!(f.send(CASHIER, 'a', &format!("{meter_path}/card"), json!({})).await.code(), "card_not_ours");
    assert_eq!(f.api.store.meter_card(f.meter.parse().unwrap()).await.unwrap(), None, "nothing issued");
    // No card at all.
    f.take();
    assert_eq!(f.read(CASHIER, 'a').await.code(), "card_absent");
    // Another building's counter (and so its reader) is not one to use.
    let point_b = f.api.estate.point_b.to_string();
    let r = f.send(CASHIER, 'a', "/api/v1/card-reader/read", json!({"vending_point_id": point_b})).await;
    assert_eq!(r.status.as_u16(), 404);

    // Card keys: only a group administrator imports them; never shown again; a bad key is refused.
    let body = json!({"key_no": 2, "algorithm": "3des", "key": "00112233445566778899AABBCCDDEEFF"});
    assert_eq!(
        f.send(BuiltinRole::Administrator, 'a', "/api/v1/card-keys", body.clone()).await.code(),
        "scope_too_narrow"
    );
    assert_eq!(f.send(BuiltinRole::Manager, 'a', "/api/v1/card-keys", body.clone()).await.status.as_u16(), 403);
    let bad = json!({"key_no": 3, "algorithm": "3des", "key": "0011"});
    assert_eq!(f.send(BuiltinRole::Administrator, 'g', "/api/v1/card-keys", bad).await.code(), "bad_card_key");
    let r = f.send(BuiltinRole::Administrator, 'g', "/api/v1/card-keys", body).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.json());
    let list = f.api.send(f.api.as_(BuiltinRole::Administrator, 'g', Method::GET, "/api/v1/card-keys")).await.ok();
    let text = list.to_string();
    assert!(
        text.contains("\"key_no\":2") && !text.to_uppercase().contains("00112233445566778899AABBCCDDEEFF"),
        "{text}"
    );
}
