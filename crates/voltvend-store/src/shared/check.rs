// Checking the database's invariants (`voltvend check`). Part of the SQL body both backends include.

/// Audit records verified per page when walking the whole chain.
const AUDIT_PAGE: i64 = 10_000;
/// Problems listed per kind of check, so that a badly damaged database still gets a readable report.
const PROBLEMS_PER_CHECK_MAX: i64 = 20;

async fn check_database(pool: &Pool<Db>, scope: CheckScope) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport::default();
    if scope == CheckScope::Full {
        check_counts(pool, &mut report).await?;
    }
    check_sums_and_counters(pool, &mut report).await?;
    let head = stored_audit_head(pool).await?;
    let audit_from = match scope {
        CheckScope::Full => 0,
        CheckScope::Bounded { audit_tail } => (head.seq - audit_tail.max(1)).max(0),
    };
    check_audit(pool, audit_from, head, None, &mut report).await?;
    if scope == CheckScope::Full {
        check_entries(pool, &mut report).await?;
        check_receipts_gapless(pool, &mut report).await?;
        check_property_books(pool, &mut report).await?;
    }
    Ok(report)
}

/// 集团财务: each property's books balance on their own (ADR 0007: a transfer between properties goes through
/// their inter-property accounts). A warning, not a problem: a database from before those accounts may hold
/// transfers between properties, which this lists for the operator to settle (`voltvend check
/// --settle-properties`), while it keeps serving and backing up.
async fn check_property_books(pool: &Pool<Db>, report: &mut CheckReport) -> Result<(), StoreError> {
    for x in property_imbalances(pool).await?.into_iter().take(usize::try_from(PROBLEMS_PER_CHECK_MAX).unwrap_or(20)) {
        report.warnings.push(format!(
            "the books of {} in {} do not balance: debits {}, credits {} (minor units)",
            x.property, x.currency, x.debits_minor, x.credits_minor
        ));
    }
    Ok(())
}

/// Every set of books (a property's, or the group's with the properties that keep none) whose ledger accounts
/// do not balance, with the id of the books kept there when there are any. A path's first 73 characters name
/// the property (as in the books report), its first 36 the group.
async fn property_imbalances(pool: &Pool<Db>) -> Result<Vec<crate::PropertyImbalance>, StoreError> {
    let rows = sqlx::query(
        "SELECT x.prop AS prop, x.currency AS currency, CAST(SUM(x.d) AS BIGINT) AS d, CAST(SUM(x.c) AS BIGINT) AS c, \
                (SELECT b.id FROM books b JOIN premises bp ON bp.id = b.premises_id \
                 WHERE bp.path = x.prop AND b.currency = x.currency) AS books_id \
         FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM books b JOIN premises bp ON bp.id = b.premises_id \
                                        WHERE SUBSTR(bp.path, 1, 73) = SUBSTR(p.path, 1, 73) \
                                        AND b.currency = la.currency) \
                           THEN SUBSTR(p.path, 1, 73) ELSE SUBSTR(p.path, 1, 36) END AS prop, \
                      la.currency AS currency, la.debits_posted_minor AS d, la.credits_posted_minor AS c \
               FROM ledger_accounts la JOIN premises p ON p.id = la.premises_id) x \
         GROUP BY x.prop, x.currency HAVING SUM(x.d) <> SUM(x.c) ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let property = property_of_path(&r.try_get::<String, _>("prop")?)?;
        out.push(crate::PropertyImbalance {
            property,
            currency: r.try_get("currency")?,
            debits_minor: r.try_get("d")?,
            credits_minor: r.try_get("c")?,
            books: r.try_get::<Option<Uuid>, _>("books_id")?.map(Into::into),
        });
    }
    Ok(out)
}

/// Row counts, and the transfer sequence without gaps (counting every row: not for start-up).
async fn check_counts(pool: &Pool<Db>, report: &mut CheckReport) -> Result<(), StoreError> {
    let counts = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM ledger_accounts) AS a, (SELECT COUNT(*) FROM transfers) AS t, \
         (SELECT COUNT(*) FROM entries) AS e, (SELECT COALESCE(MAX(seq), 0) FROM transfers) AS max_seq, \
         (SELECT COUNT(*) FROM sales) AS s, (SELECT COUNT(*) FROM audit_log) AS au",
    )
    .fetch_one(pool)
    .await?;
    report.accounts = counts.try_get("a")?;
    report.transfers = counts.try_get("t")?;
    report.entries = counts.try_get("e")?;
    report.sales = counts.try_get("s")?;
    report.audit_records = counts.try_get("au")?;
    let max_seq: i64 = counts.try_get("max_seq")?;
    if max_seq != report.transfers {
        report.problems.push(format!("transfer sequence has gaps: {} transfers, last seq {max_seq}", report.transfers));
    }
    Ok(())
}

/// The ledger sums to zero (cached totals), and each vending point's receipt counter is its last receipt:
/// one row per ledger account and per vending point, cheap enough for every start.
async fn check_sums_and_counters(pool: &Pool<Db>, report: &mut CheckReport) -> Result<(), StoreError> {
    let totals = sqlx::query(
        "SELECT CAST(COALESCE(SUM(debits_posted_minor), 0) AS BIGINT) AS d, \
                CAST(COALESCE(SUM(credits_posted_minor), 0) AS BIGINT) AS c FROM ledger_accounts",
    )
    .fetch_one(pool)
    .await?;
    let (d, c): (i64, i64) = (totals.try_get("d")?, totals.try_get("c")?);
    if d != c {
        report.problems.push(format!("ledger does not sum to zero: debits {d}, credits {c}"));
    }

    // Receipt numbers: each vending point's counter is its last receipt.
    let receipts = sqlx::query(
        "SELECT v.id, v.name, v.last_receipt_no, \
                (SELECT COALESCE(MAX(r.receipt_no), 0) FROM (SELECT vending_point_id, receipt_no FROM sales \
                 UNION ALL SELECT vending_point_id, receipt_no FROM fee_payments) r \
                 WHERE r.vending_point_id = v.id) AS max_no \
         FROM vending_points v",
    )
    .fetch_all(pool)
    .await?;
    for r in receipts {
        let (id, name, last, max_no): (Uuid, String, i64, i64) =
            (r.try_get("id")?, r.try_get("name")?, r.try_get("last_receipt_no")?, r.try_get("max_no")?);
        if last != max_no {
            report.problems.push(format!(
                "vending point {name} ({id}) has issued receipts up to {last}, but the last receipt stored is {max_no}"
            ));
        }
    }

    // Rent and fees: each schedule's receivable is what its charges still owe (the charges are its sub-ledger).
    let fees = sqlx::query(
        "SELECT f.id, f.name, la.debits_posted_minor - la.credits_posted_minor AS balance, \
                (SELECT CAST(COALESCE(SUM(c.amount_minor - c.paid_minor), 0) AS BIGINT) FROM fee_charges c \
                 WHERE c.schedule_id = f.id) AS unpaid \
         FROM fee_schedules f JOIN ledger_accounts la ON la.id = f.receivable_id",
    )
    .fetch_all(pool)
    .await?;
    for r in fees {
        let (id, name, balance, unpaid): (Uuid, String, i64, i64) =
            (r.try_get("id")?, r.try_get("name")?, r.try_get("balance")?, r.try_get("unpaid")?);
        if balance != unpaid {
            report.problems.push(format!(
                "fee schedule {name} ({id}): its receivable holds {balance}, its charges owe {unpaid} (minor units)"
            ));
        }
    }

    Ok(())
}

/// Verifies the audit chain from record `after + 1` to the end, and the end against the stored head; with
/// `expect`, also that the chain still holds that record (a head recorded earlier, outside the database).
/// Returns the head the chain reached.
async fn check_audit(
    pool: &Pool<Db>,
    after: i64,
    head: AuditHead,
    expect: Option<AuditHead>,
    report: &mut CheckReport,
) -> Result<AuditHead, StoreError> {
    let mut reached: Option<AuditHead> = None;
    let mut seen_expected = false;
    let mut next = after;
    loop {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(next)
            .bind(AUDIT_PAGE)
            .fetch_all(pool)
            .await?;
        let records = rows.iter().map(audit_from_row).collect::<Result<Vec<_>, _>>()?;
        let Some(first) = records.first() else { break };
        if let Some(e) = expect
            && let Some(r) = records.iter().find(|r| r.seq == e.seq)
        {
            seen_expected = true;
            if r.hash != e.hash {
                report.problems.push(format!("audit record {} is not the one recorded earlier: history was rewritten", e.seq));
            }
        }
        // The whole chain starts from zero; a tail starts from the link its first record claims.
        let from = reached.unwrap_or(if after == 0 {
            AuditHead::default()
        } else {
            AuditHead { seq: first.seq - 1, hash: first.prev_hash }
        });
        let (problems, end) = voltvend_ops::audit::verify(from, &records);
        report.problems.extend(problems.into_iter().take(PROBLEMS_PER_CHECK_MAX as usize));
        reached = Some(end);
        next = end.seq;
        if (records.len() as i64) < AUDIT_PAGE {
            break;
        }
    }
    let end = reached.unwrap_or(AuditHead { seq: after, hash: head.hash });
    if reached.is_none() && head.seq > after {
        report.problems.push(format!("the audit head says {} records, but records after {after} are missing", head.seq));
    } else if end != head {
        report.problems.push(format!(
            "the audit chain ends at record {} but its head says {}: records were removed or added outside Voltvend",
            end.seq, head.seq
        ));
    }
    if let Some(e) = expect
        && !seen_expected
    {
        report.problems.push(format!("audit record {}, recorded earlier, is no longer in the chain", e.seq));
    }
    Ok(end)
}

/// The whole audit chain (see [`Store::verify_audit`]).
async fn verify_audit_chain(pool: &Pool<Db>, expect: Option<AuditHead>) -> Result<(Vec<String>, AuditHead), StoreError> {
    let head = stored_audit_head(pool).await?;
    let mut report = CheckReport::default();
    let end = check_audit(pool, 0, head, expect, &mut report).await?;
    Ok((report.problems, end))
}

async fn stored_audit_head(pool: &Pool<Db>) -> Result<AuditHead, StoreError> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_optional(pool).await?;
    match row {
        Some(r) => Ok(AuditHead { seq: r.try_get("seq")?, hash: hash_of(&r, "hash")? }),
        None => Ok(AuditHead::default()),
    }
}

/// Every transfer balances, has entries, each cached balance equals its entries, no line is reversed beyond
/// the original.
async fn check_entries(pool: &Pool<Db>, report: &mut CheckReport) -> Result<(), StoreError> {
    let unbalanced: Vec<i64> = sqlx::query_scalar(
        "SELECT transfer_seq FROM entries GROUP BY transfer_seq \
         HAVING SUM(amount_minor) <> 0 OR COUNT(*) < 2 ORDER BY transfer_seq LIMIT $1",
    )
    .bind(PROBLEMS_PER_CHECK_MAX)
    .fetch_all(pool)
    .await?;
    for seq in unbalanced {
        report.problems.push(format!("transfer #{seq} does not balance"));
    }
    let empty: Vec<i64> = sqlx::query_scalar(
        "SELECT seq FROM transfers t WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.transfer_seq = t.seq) LIMIT $1",
    )
    .bind(PROBLEMS_PER_CHECK_MAX)
    .fetch_all(pool)
    .await?;
    for seq in empty {
        report.problems.push(format!("transfer #{seq} has no entries"));
    }
    let drifted = sqlx::query(
        "SELECT a.id, a.debits_posted_minor, a.credits_posted_minor, \
                CAST(COALESCE(s.d, 0) AS BIGINT) AS d, CAST(COALESCE(s.c, 0) AS BIGINT) AS c \
         FROM ledger_accounts a LEFT JOIN ( \
             SELECT account_id, \
                    SUM(CASE WHEN amount_minor > 0 THEN amount_minor ELSE 0 END) AS d, \
                    SUM(CASE WHEN amount_minor < 0 THEN -amount_minor ELSE 0 END) AS c \
             FROM entries GROUP BY account_id) s ON s.account_id = a.id \
         WHERE a.debits_posted_minor <> COALESCE(s.d, 0) OR a.credits_posted_minor <> COALESCE(s.c, 0) LIMIT $1",
    )
    .bind(PROBLEMS_PER_CHECK_MAX)
    .fetch_all(pool)
    .await?;
    for row in drifted {
        let id: Uuid = row.try_get("id")?;
        let (cd, cc, d, c): (i64, i64, i64, i64) =
            (row.try_get(1)?, row.try_get(2)?, row.try_get("d")?, row.try_get("c")?);
        report
            .problems
            .push(format!("ledger account {id} caches debits {cd} / credits {cc} but its entries sum to {d} / {c}"));
    }
    let over = sqlx::query(
        "SELECT c.target, c.account_id FROM ( \
             SELECT t.corrects_id AS target, e.account_id, CAST(SUM(ABS(e.amount_minor)) AS BIGINT) AS reversed \
             FROM transfers t JOIN entries e ON e.transfer_seq = t.seq WHERE t.corrects_id IS NOT NULL \
             GROUP BY t.corrects_id, e.account_id) c \
         JOIN transfers ot ON ot.id = c.target \
         LEFT JOIN entries o ON o.transfer_seq = ot.seq AND o.account_id = c.account_id \
         WHERE o.amount_minor IS NULL OR c.reversed > ABS(o.amount_minor) LIMIT $1",
    )
    .bind(PROBLEMS_PER_CHECK_MAX)
    .fetch_all(pool)
    .await?;
    for row in over {
        let (target, account): (Uuid, Uuid) = (row.try_get("target")?, row.try_get("account_id")?);
        report.problems.push(format!("transfer {target} is reversed beyond the original on ledger account {account}"));
    }
    Ok(())
}

/// Receipt numbers run 1, 2, 3… without gaps per vending point.
async fn check_receipts_gapless(pool: &Pool<Db>, report: &mut CheckReport) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT s.vending_point_id, v.name, COUNT(*) AS n, MIN(s.receipt_no) AS lo, MAX(s.receipt_no) AS hi \
         FROM (SELECT vending_point_id, receipt_no FROM sales UNION ALL \
               SELECT vending_point_id, receipt_no FROM fee_payments) s \
         JOIN vending_points v ON v.id = s.vending_point_id GROUP BY s.vending_point_id, v.name \
         HAVING COUNT(*) <> MAX(s.receipt_no) OR MIN(s.receipt_no) <> 1 LIMIT $1",
    )
    .bind(PROBLEMS_PER_CHECK_MAX)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let (vp, name, n, lo, hi): (Uuid, String, i64, i64, i64) =
            (r.try_get("vending_point_id")?, r.try_get("name")?, r.try_get("n")?, r.try_get("lo")?, r.try_get("hi")?);
        report
            .problems
            .push(format!("receipts of vending point {name} ({vp}) have gaps: {n} receipts numbered {lo}–{hi}"));
    }
    Ok(())
}
