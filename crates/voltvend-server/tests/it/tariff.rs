//! `voltvend tariff` end to end with the shipped example tariffs: known bills, import/export, and bad files.

use std::path::PathBuf;

use crate::support::{assert_one_line_error, run, stdout};

fn tariffs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tariffs")
}

fn quote(tariff: &str, csv: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let readings = dir.path().join("readings.csv");
    std::fs::write(&readings, csv).unwrap();
    let t = tariffs().join(tariff);
    let mut args =
        vec!["tariff", "quote", "--tariff", t.to_str().unwrap(), "--readings", readings.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = run(&args, "");
    assert!(o.status.success(), "{o:?}");
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn known_bills_from_the_shipped_tariffs() {
    // Zhejiang: 300 kWh peak + 150 kWh valley in tier 1 = 170.40 + 43.20.
    let v = quote(
        "cn-zhejiang-residential.toml",
        "time,peak,valley\n2026-05-01T00:00:00+08:00,0,0\n2026-06-01T00:00:00+08:00,300,150\n",
        &[],
    );
    assert_eq!(v["total"], "213.60");
    // A year of 2000 kWh peak + 1000 valley: tier 2 takes the last 240 kWh at +0.05 → 1136 + 288 + 12.
    let v = quote(
        "cn-zhejiang-residential.toml",
        "time,peak,valley\n2026-01-01T00:00:00+08:00,0,0\n2027-01-01T00:00:00+08:00,2000,1000\n",
        &[],
    );
    assert_eq!(v["total"], "1436.00");
    // Beijing water: 200 m³ in a year = 180 × 5 + 20 × 7.
    let v = quote(
        "cn-beijing-residential-water.toml",
        "time,total_m3\n2026-01-01T00:00:00+08:00,0\n2026-12-31T00:00:00+08:00,200\n",
        &[],
    );
    assert_eq!(v["total"], "1040.00");
    // South Africa, 400 kWh in May with 50 kWh FBE: 50 × 1.86 (free) + 300 × 2.39 + 50 × 3.43.
    let v = quote(
        "za-municipal-ibt-fbe.toml",
        "time,total_kwh\n2026-05-01T00:00:00+02:00,1000\n2026-05-31T00:00:00+02:00,1400\n",
        &[],
    );
    assert_eq!(v["total"], "888.50");
    // Times in the tariff's time zone, with its offset, as the readings were taken.
    assert_eq!(
        (v["intervals"][0]["from"].as_str(), v["intervals"][0]["to"].as_str()),
        (Some("2026-05-01T00:00:00+02:00"), Some("2026-05-31T00:00:00+02:00"))
    );
    // Commercial, 240 kWh over a July weekday: 2 h sharp, 7 h peak, 7 h flat, 8 h valley.
    let v = quote(
        "cn-commercial-tou-summer-sharp.toml",
        "time,total_kwh\n2026-07-15T00:00:00+08:00,5000\n2026-07-16T00:00:00+08:00,5240\n",
        &[],
    );
    assert_eq!(v["total"], "168.22");
    // Across a month start the service fee falls due once, and the reading is cut there.
    let v = quote(
        "cn-commercial-tou-summer-sharp.toml",
        "time,total_kwh\n2026-06-30T12:00:00+08:00,0\n2026-07-01T12:00:00+08:00,0\n",
        &[],
    );
    assert_eq!(v["total"], "30.00");
    assert_eq!(v["intervals"][0]["cuts"][0]["reason"], "month start");
}

/// Issue 9: the tariffs added as utilities publish them, each billed by hand.
#[test]
fn known_bills_from_published_price_tables_and_overlays() {
    // Shanghai, a year of 3000 kWh peak + 1000 kWh valley (a 3:1 mix), from the price table's rows:
    //   tier 1 (3120 kWh): 2340 × 0.617 + 780 × 0.307 = 1443.78 + 239.46
    //   tier 2 (880 kWh):   660 × 0.677 + 220 × 0.337 =  446.82 +  74.14        = 2204.20
    let v = quote(
        "cn-shanghai-residential-tou.toml",
        "time,peak,valley\n2026-01-01T00:00:00+08:00,0,0\n2027-01-01T00:00:00+08:00,3000,1000\n",
        &[],
    );
    assert_eq!(v["total"], "2204.20", "{v}");
    // Guangdong, 240 kWh spread evenly over 15 July: valley 8 h, flat 9 h, peak 4 h, sharp 3 h (the overlay
    // takes 11–12 and 15–17 out of peak): 80 × 0.247 + 90 × 0.65 + 40 × 1.105 + 30 × 1.38125
    //   = 19.76 + 58.50 + 44.20 + 41.4375 = 163.8975 → 163.89 (the rest carried).
    let v = quote(
        "cn-guangdong-commercial-tou-sharp.toml",
        "time,total_kwh\n2026-07-15T00:00:00+08:00,0\n2026-07-16T00:00:00+08:00,240\n",
        &[],
    );
    assert_eq!(v["total"], "163.89", "{v}");
    // The same day in October, after the overlay: peak 7 h: 19.76 + 58.50 + 70 × 1.105 = 155.61.
    let v = quote(
        "cn-guangdong-commercial-tou-sharp.toml",
        "time,total_kwh\n2026-10-15T00:00:00+08:00,0\n2026-10-16T00:00:00+08:00,240\n",
        &[],
    );
    assert_eq!(v["total"], "155.61", "{v}");
    // Nigeria Band A: 150 kWh × 206.80 = 31 020.00, VAT 7.5 % = 2 326.50.
    let v = quote(
        "ng-band-a-residential.toml",
        "time,total_kwh\n2026-03-01T00:00:00+01:00,1000\n2026-03-20T00:00:00+01:00,1150\n",
        &[],
    );
    assert_eq!(v["total"], "33346.50", "{v}");
    // `tariff show` reads the overlay and the price table back as published.
    let show = |f: &str| stdout(&run(&["tariff", "show", tariffs().join(f).to_str().unwrap()], ""));
    let text = show("cn-guangdong-commercial-tou-sharp.toml");
    assert!(
        text.contains("summer sharp peak from 07-01 to 09-30, every day: 11:00–12:00, 15:00–17:00 sharp"),
        "{text}"
    );
    let text = show("cn-shanghai-residential-tou.toml");
    assert!(text.contains("block 2 3120.000–4800.000 kWh: peak 0.677000 CNY/kWh, valley 0.337000 CNY/kWh"), "{text}");
}

#[test]
fn what_a_payment_buys() {
    let t = tariffs().join("za-municipal-ibt-fbe.toml");
    let o = run(
        &[
            "tariff",
            "quote",
            "--tariff",
            t.to_str().unwrap(),
            "--pay",
            "500",
            "--arrears",
            "100",
            "--recovery-percent",
            "25",
            "--at",
            "2026-05-10T10:00:00+02:00",
            "--block-position",
            "40",
            "--json",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // 40 kWh used this month used 40 of the 50 free kWh: the last 10 free kWh come first, then block 2 at
    // 2.39, floored as forward pricing floors it: 167.368 × 2.39 = 400.0095 → 400.00 (the rest carried),
    // while 167.369 kWh would cost 400.01.
    assert_eq!(
        (v["arrears"].as_str(), v["energy"].as_str(), v["quantity"].as_str(), v["free_quantity"].as_str()),
        (Some("100.00"), Some("400.00"), Some("177.368"), Some("10.000"))
    );
    assert_eq!(v["blocks"][0]["quantity"], "10.000", "the rest of block 1 first");
}

/// Issue 10: what `--pay` buys, priced as readings from the start of the same month, costs the payment; the
/// free basic units are in it and the VAT included in the prices is shown.
#[test]
fn what_a_payment_buys_costs_the_payment_as_readings() {
    let t = tariffs().join("za-municipal-ibt-fbe.toml");
    let t = t.to_str().unwrap();
    let pay = ["tariff", "quote", "--tariff", t, "--pay", "500", "--at", "2026-05-01T10:00:00+02:00"];
    let o = run(&[&pay[..], &["--json"]].concat(), "");
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let quantity = v["quantity"].as_str().unwrap().to_string();
    assert_eq!(v["free_quantity"], "50.000", "{v}");
    let included: f64 = v["tax_included"].as_str().unwrap().parse().unwrap();
    assert!(included > 60.0, "15 % VAT included in ZAR 500 is shown: {v}");
    let csv = format!("time,total_kwh\n2026-05-01T00:00:00+02:00,0\n2026-05-01T10:00:00+02:00,{quantity}\n");
    let forward = quote("za-municipal-ibt-fbe.toml", &csv, &[]);
    assert_eq!(forward["total"], v["energy"], "pay {v}\nreadings {forward}");
    assert!(v["energy"] == "500.00" || v["energy"] == "499.99", "{v}");
    let text = stdout(&run(&pay, ""));
    assert!(text.contains("free basic units") && text.contains("tax included     ZAR"), "{text}");
    assert!(!text.contains("ZAR 0.00)"), "{text}");
}

#[test]
fn import_export_show_list() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::migrated_sqlite(dir.path());
    for f in ["cn-zhejiang-residential.toml", "cn-beijing-residential-water.toml"] {
        let o = run(&["--database-url", &url, "tariff", "import", tariffs().join(f).to_str().unwrap()], "");
        assert!(stdout(&o).contains("revision 1"), "{o:?}");
    }
    let again = run(
        &["--database-url", &url, "tariff", "import", tariffs().join("cn-zhejiang-residential.toml").to_str().unwrap()],
        "",
    );
    assert!(stdout(&again).contains("revision 2"));
    let list = stdout(&run(&["--database-url", &url, "tariff", "list"], ""));
    assert!(
        list.contains("cn-beijing-residential-water\trevision 1")
            && list.contains("cn-zhejiang-residential-tou\trevision 2"),
        "{list}"
    );
    let exported = stdout(&run(&["--database-url", &url, "tariff", "export", "cn-zhejiang-residential-tou"], ""));
    assert_eq!(
        exported,
        std::fs::read_to_string(tariffs().join("cn-zhejiang-residential.toml")).unwrap(),
        "export returns the document as imported"
    );
    let json = stdout(&run(&["--database-url", &url, "tariff", "export", "cn-zhejiang-residential-tou", "--json"], ""));
    let reimport = dir.path().join("t.json");
    std::fs::write(&reimport, json).unwrap();
    assert!(
        run(&["--database-url", &url, "tariff", "import", reimport.to_str().unwrap()], "").status.success(),
        "JSON round trip"
    );
    assert!(
        stdout(&run(&["--database-url", &url, "tariff", "show", "cn-zhejiang-residential-tou"], ""))
            .contains("block 1 0.000–2760.000 kWh")
    );
    // A stored tariff can be quoted by code.
    let csv = dir.path().join("r.csv");
    std::fs::write(&csv, "time,total_m3\n2026-01-01T00:00:00+08:00,0\n2026-02-01T00:00:00+08:00,10\n").unwrap();
    let o = run(
        &[
            "--database-url",
            &url,
            "tariff",
            "quote",
            "--tariff",
            "cn-beijing-residential-water",
            "--readings",
            csv.to_str().unwrap(),
        ],
        "",
    );
    assert!(stdout(&o).contains("total CNY 50.00"), "{o:?}");
    assert_one_line_error(&run(&["--database-url", &url, "tariff", "export", "nope"], ""), "no tariff");
}

#[test]
fn bad_tariffs_and_readings_say_where() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(tariffs().join("cn-zhejiang-residential.toml")).unwrap();
    let cases = [
        (base.replace("up_to = \"4800\"", "up_to = \"2000\""), "versions[0].blocks[1].up_to"),
        (
            base.replace("{ start = \"08:00\", period = \"peak\" }", "{ start = \"08:00\", period = \"shoulder\" }"),
            "versions[0].tou.seasons[0].weekday[1].period",
        ),
        (
            base.replace("{ start = \"00:00\", period = \"valley\" },", ""),
            "versions[0].tou.seasons[0].weekday[0].start",
        ),
        (base.replace("{ start = \"22:00\"", "{ start = \"07:00\""), "versions[0].tou.seasons[0].weekday[2].start"),
        (base.replace("peak = \"0.568\"", "peak = \"-0.568\""), "versions[0].prices.peak"),
        (base.replace("periods = [\"peak\", \"valley\"]", "periods = []"), "versions[0].prices.peak"),
        (base.replace("[[versions]]", "[[versions]]\nbogus = 1"), "line 15 column 1: unknown field `bogus`"),
        (base.replace("time_zone = \"Asia/Shanghai\"", "time_zone = \"Asia/Beijing\""), "time_zone"),
        (
            "code = \"x\"\nname = \"x\"\ncurrency = \"CNY\"\ntime_zone = \"UTC\"\nversions = []\n".to_string(),
            "versions",
        ),
    ];
    for (text, field) in cases {
        let f = dir.path().join("bad.toml");
        std::fs::write(&f, &text).unwrap();
        let o = run(&["tariff", "show", f.to_str().unwrap()], "");
        assert_one_line_error(&o, field);
    }
    let t = tariffs().join("cn-zhejiang-residential.toml");
    for (csv, needle) in [
        ("time,peak,valley\n2026-05-01T00:00:00+08:00,0,0\n2026-05-02,1,1\n", "line 3"),
        ("time,peak,valley\n2026-05-01T00:00:00+08:00,0,0\n2026-05-02T00:00:00+08:00,1\n", "line 3"),
        ("time,peak,shoulder\n", "shoulder"),
        ("time,peak,valley\n2026-05-01T00:00:00+08:00,5,0\n2026-05-02T00:00:00+08:00,1,1\n", "went backwards"),
        ("time,peak,valley\n2026-05-01T00:00:00+08:00,0,0\n2026-05-02T00:00:00+08:00,1.2345,1\n", "line 3"),
    ] {
        let r = dir.path().join("r.csv");
        std::fs::write(&r, csv).unwrap();
        assert_one_line_error(
            &run(&["tariff", "quote", "--tariff", t.to_str().unwrap(), "--readings", r.to_str().unwrap()], ""),
            needle,
        );
    }
}

/// Issue 10: a readings file that could price wrong is refused, naming the column; a byte order mark is not.
#[test]
fn readings_that_would_price_wrong_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r.csv");
    let r = r.to_str().unwrap();
    let cases = [
        // Valley use would be priced as zero.
        (
            "cn-zhejiang-residential.toml",
            "time,peak\n2026-05-01T00:00:00+08:00,0\n2026-05-02T00:00:00+08:00,9\n",
            vec!["\"valley\"", "missing"],
        ),
        (
            "cn-zhejiang-residential.toml",
            "time,valley\n2026-05-01T00:00:00+08:00,0\n2026-05-02T00:00:00+08:00,9\n",
            vec!["\"peak\"", "missing"],
        ),
        (
            "cn-zhejiang-residential.toml",
            "time,peak,peak,valley\n2026-05-01T00:00:00+08:00,0,0,0\n2026-05-02T00:00:00+08:00,1,1,1\n",
            vec!["\"peak\"", "twice"],
        ),
        (
            "za-municipal-ibt-fbe.toml",
            "time,total_m3\n2026-05-01T00:00:00+02:00,0\n2026-05-02T00:00:00+02:00,9\n",
            vec!["\"total_m3\"", "electricity"],
        ),
        (
            "cn-beijing-residential-water.toml",
            "time,total_kwh\n2026-05-01T00:00:00+08:00,0\n2026-05-02T00:00:00+08:00,9\n",
            vec!["\"total_kwh\"", "water"],
        ),
        (
            "cn-zhejiang-residential.toml",
            "time,total_kwh,peak,valley\n2026-05-01T00:00:00+08:00,0,0,0\n2026-05-02T00:00:00+08:00,2,1,1\n",
            vec!["\"total_kwh\""],
        ),
    ];
    for (tariff, csv, needles) in cases {
        std::fs::write(r, csv).unwrap();
        let t = tariffs().join(tariff);
        let o = run(&["tariff", "quote", "--tariff", t.to_str().unwrap(), "--readings", r], "");
        for needle in needles {
            assert_one_line_error(&o, needle);
        }
    }
    // A spreadsheet's UTF-8 byte order mark before the header is accepted and prices the same.
    let plain = "time,peak,valley\n2026-05-01T00:00:00+08:00,0,0\n2026-06-01T00:00:00+08:00,300,150\n";
    let v = quote("cn-zhejiang-residential.toml", &format!("\u{feff}{plain}"), &[]);
    assert_eq!(v["total"], quote("cn-zhejiang-residential.toml", plain, &[])["total"]);
    assert_eq!(v["total"], "213.60");
}

/// Issue 10: `tariff show` reads as the tariff is published: prices per block (and per period, with the step
/// over block 1 where there are several periods), schedules for weekends and holidays, words instead of the
/// engine's names, times in the tariff's time zone with its offset; `tariff list` on an empty database says so.
#[test]
fn tariff_show_reads_as_published() {
    let show = |file: &std::path::Path| {
        let o = run(&["tariff", "show", file.to_str().unwrap()], "");
        assert!(o.status.success(), "{o:?}");
        stdout(&o)
    };
    let za = show(&tariffs().join("za-municipal-ibt-fbe.toml"));
    for needle in [
        "from 2024-07-01 00:00 +02:00",
        "blocks of the month's use, each unit at the price of the block it falls in",
        "block 1 0.000–50.000 kWh: 1.860000 ZAR/kWh",
        "block 4 above 600.000 kWh: 4.040000 ZAR/kWh",
        "free basic units: 50.000 kWh per month",
        "VAT 15% (included in prices)",
    ] {
        assert!(za.contains(needle), "{za} lacks {needle:?}");
    }
    let zj = show(&tariffs().join("cn-zhejiang-residential.toml"));
    for needle in [
        "block 2 2760.000–4800.000 kWh: peak 0.618000 CNY/kWh, valley 0.338000 CNY/kWh (+0.050000 over block 1)",
        "every day: 00:00 valley, 08:00 peak, 22:00 valley",
        "from 2012-07-01 00:00 +08:00",
    ] {
        assert!(zj.contains(needle), "{zj} lacks {needle:?}");
    }
    // A weekend and holiday schedule are listed, with the days they apply to.
    let dir = tempfile::tempdir().unwrap();
    let weekends = dir.path().join("weekends.toml");
    let text = std::fs::read_to_string(tariffs().join("cn-zhejiang-residential.toml")).unwrap();
    let text = text.replacen(
        "[[versions.tou.seasons]]",
        "weekend = [\"sat\", \"sun\"]\nholidays = [\"2026-10-01\"]\n[[versions.tou.seasons]]",
        1,
    );
    let text = text.replacen(
        "weekday = [",
        "weekend = [{ start = \"00:00\", period = \"valley\" }]\nholiday = [{ start = \"00:00\", period = \"valley\" }]\nweekday = [",
        1,
    );
    std::fs::write(&weekends, &text).unwrap();
    let w = show(&weekends);
    for needle in [
        "weekdays: 00:00 valley, 08:00 peak",
        "weekends: 00:00 valley",
        "holidays: 00:00 valley",
        "weekend days: saturday, sunday",
        "holidays: 2026-10-01",
    ] {
        assert!(w.contains(needle), "{w} lacks {needle:?}");
    }
    for all in [&za, &zj, &w] {
        for engine_name in ["Monthly", "Annual", "Incremental", "WholeVolume", "Daily", "Sat", "Sun"] {
            assert!(!all.contains(engine_name), "{all} shows {engine_name:?}");
        }
    }
    let db = tempfile::tempdir().unwrap();
    let url = crate::support::migrated_sqlite(db.path());
    let list = stdout(&run(&["--database-url", &url, "tariff", "list"], ""));
    assert!(list.contains("no tariffs are stored yet"), "{list:?}");
}

/// Issue 10: quotes speak of what the utility sells, in its unit: water in m³ is "water", not "energy all".
#[test]
fn quotes_say_water_and_m3_for_water() {
    let t = tariffs().join("cn-beijing-residential-water.toml");
    let t = t.to_str().unwrap();
    let o = run(&["tariff", "quote", "--tariff", t, "--pay", "100", "--at", "2026-05-10T10:00:00+08:00"], "");
    let pay = stdout(&o);
    assert!(o.status.success(), "{o:?}");
    // 5.00 per m³: 20 m³, and the litre whose half cent is carried to the next charge as readings carry it.
    assert!(pay.contains("water              CNY 100.00 for 20.001 m³"), "{pay}");
    assert!(pay.contains("carried remainder  0.005000"), "{pay}");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("r.csv");
    std::fs::write(&csv, "time,total_m3\n2026-01-01T00:00:00+08:00,0\n2026-02-01T00:00:00+08:00,10\n").unwrap();
    let o = run(&["tariff", "quote", "--tariff", t, "--readings", csv.to_str().unwrap()], "");
    let readings = stdout(&o);
    for text in [&pay, &readings] {
        assert!(!text.contains("energy") && !text.contains("kWh"), "{text}");
    }
    assert!(readings.contains("  water ") && readings.contains("10.000 m³"), "{readings}");
}
