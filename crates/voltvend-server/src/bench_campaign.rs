//! `voltvend bench campaign`: an STS key change campaign (a supply group's move to a new key revision)
//! planned over N meters — every meter's key change set generated and recorded, in operations of 5 000
//! through the operations spine, as `POST /api/v1/key-campaigns` plans it — beside the baseline of inserting
//! the same meters and key records raw into the same database. The goal: 1 000 000 meters in ≤ 60 s.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use voltvend_domain::{CampaignId, Clock, MeterId, OperationId, Premises, PremisesLevel};
use voltvend_ops::secrets::vending_key_aad;
use voltvend_ops::{Actor, Command, MasterKeys, Operation, PlanKeyCampaign, VendingKeyRecord};
use voltvend_store::CampaignSelection;
use voltvend_sts::keys::{KeyParams, KeyType};
use voltvend_sts::{BaseDate, Ea};

use crate::bench_vend::BenchDb;
use crate::clock::IdGenerator;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// STS meters in the campaign.
    #[arg(long, default_value_t = 1_000_000)]
    meters: usize,
    #[command(flatten)]
    out: crate::bench::JsonOut,
}

const METERS_MAX: usize = 10_000_000;

pub async fn run(settings: &Settings, clock: Arc<dyn Clock>, args: CampaignArgs) -> anyhow::Result<()> {
    if !(1..=METERS_MAX).contains(&args.meters) {
        bail!("--meters must be 1–{METERS_MAX}");
    }
    let ids = IdGenerator::new(clock.clone());
    let keys = crate::bench_vend::bench_master_keys(&ids);
    let db = BenchDb::open(settings, clock.clone(), keys.clone()).await?;
    let result = bench(&db, &ids, &keys, args.meters, &args.out).await;
    db.close().await;
    result
}

async fn bench(
    db: &BenchDb,
    ids: &IdGenerator,
    keys: &MasterKeys,
    meters: usize,
    out: &crate::bench::JsonOut,
) -> anyhow::Result<()> {
    let store = &db.store;
    let system = |command| Operation::new(ids.id::<OperationId>(), Actor::system("bench"), command);
    let group = Premises::new_root(ids.id(), "Bench campaign group", "Asia/Shanghai")?;
    let site = group.new_child(ids.id(), PremisesLevel::Property, "Bench campaign site")?;
    for command in [Command::CreatePremises(group.clone()), Command::CreatePremises(site.clone())] {
        store.submit(system(command)).await.context("bench set-up")?;
    }
    // A supply group of its own, with key revisions 1 (the meters') and 2 (the campaign's).
    let sgc = crate::bench_vend::own_supply_group(store.as_ref(), ids).await?;
    let mut random = [0_u8; 8];
    let master = keys.current().context("the bench has a master key")?;
    for krn in [1_u8, 2] {
        ids.fill(&mut random);
        let hex: String = random.iter().map(|b| format!("{b:02X}")).collect();
        let mut nonce = [0_u8; 12];
        ids.fill(&mut nonce);
        let sealed = master.seal(&vending_key_aad(sgc, krn), nonce, hex.as_bytes())?;
        store
            .submit(system(Command::ImportVendingKey(VendingKeyRecord { sgc, krn, sealed })))
            .await
            .context("bench set-up: vending key")?;
    }
    let params =
        KeyParams { kt: KeyType::new(2)?, sgc, ti: 1, krn: 1, ken: 255, base: BaseDate::from_code("14")?, ea: Ea::Sta };
    // Meter ids of this run's own (time-ordered) range, so a database used before is not in the way.
    let first = ids.id::<MeterId>().as_uuid().as_u128() & !0xFFFF_FFFF;

    println!("bench campaign: {meters} STS meters on {}", db.shown);
    let started = Instant::now();
    store.seed_sts_meters(site.id, &params, first, meters, 10_000).await?;
    let seeded = started.elapsed().as_secs_f64();
    let base_rate = meters as f64 / seeded;
    println!(
        "baseline   {meters:>9} meters and key records inserted raw:  {seeded:>7.1} s  {base_rate:>10.0} meters/s"
    );

    let campaign_id: CampaignId = ids.id();
    let change = voltvend_sts::KeyChange { krn: Some(2), ..Default::default() };
    let selection = CampaignSelection { scope: None, base: None, sgc: Some(sgc), krn: Some(1) };
    let started = Instant::now();
    let mut after: Option<MeterId> = None;
    loop {
        let chunk = store.campaign_candidates(&selection, after, PlanKeyCampaign::METERS_MAX as u32).await?;
        let Some(last) = chunk.last().copied() else { break };
        let n = chunk.len();
        let command = Command::PlanKeyCampaign(PlanKeyCampaign {
            campaign_id,
            name: "bench: supply group key revision 1 → 2".into(),
            change,
            meters: chunk,
        });
        store.submit(system(command)).await.context("planning a chunk")?;
        if n < PlanKeyCampaign::METERS_MAX {
            break;
        }
        after = Some(last);
    }
    let took = started.elapsed().as_secs_f64();
    let planned = store.campaign(campaign_id).await?.map_or(0, |c| c.planned);
    if planned != i64::try_from(meters).unwrap_or(i64::MAX) {
        bail!("the campaign planned {planned} of {meters} meters");
    }
    let rate = meters as f64 / took;
    println!("measured   {meters:>9} key change sets generated and recorded: {took:>7.1} s  {rate:>10.0} meters/s");
    println!("ratio      {:.2} of the raw insert rate (goal: 1 000 000 meters in ≤ 60 s)", rate / base_rate);
    let report = store.check(voltvend_store::CheckScope::Full).await?;
    if !report.is_ok() {
        bail!("the database fails its checks after the bench: {}", report.problems.join("; "));
    }
    println!("check      every invariant holds");
    out.write(crate::bench::Figures {
        bench: "campaign",
        backend: Some(store.backend().to_string()),
        scenario: serde_json::json!({ "meters": meters, "chunk": PlanKeyCampaign::METERS_MAX }),
        figures: serde_json::json!({ "seconds": took, "meters_per_s": rate }),
        baseline: serde_json::json!({ "raw_insert_seconds": seeded, "raw_insert_meters_per_s": base_rate }),
        ratios: serde_json::json!({ "per_raw_insert": rate / base_rate, "goal_seconds_at_1000000": 60 }),
    })
    .await
}
