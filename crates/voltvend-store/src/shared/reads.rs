// The reads behind the API's lists: filters, the premises scope, cursor pages. Part of the SQL body both
// backends include (see `shared/mod.rs`). Lists are ordered by a time-ordered key (ids built from the clock,
// or sequence numbers), so a cursor is the last key of the previous page and a page is one index range.

/// A `LIKE` pattern matching `text` anywhere, case-insensitively (used with `ESCAPE '\'` on `lower(column)`).
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn uuid_cursor(after: &Option<String>) -> Result<Option<Uuid>, StoreError> {
    after
        .as_deref()
        .map(|a| Uuid::parse_str(a).map_err(|_| StoreError::BadQuery(format!("cursor {a:?} is not one this list gave"))))
        .transpose()
}

fn seq_cursor(after: &Option<String>) -> Result<Option<i64>, StoreError> {
    after
        .as_deref()
        .map(|a| a.parse::<i64>().map_err(|_| StoreError::BadQuery(format!("cursor {a:?} is not one this list gave"))))
        .transpose()
}

fn limit_of(q: &ListQuery) -> i64 {
    i64::from(q.limit.clamp(1, ListQuery::LIMIT_MAX))
}

/// Pushes `AND <column> IN (premises of the subtree whose path is `key`)`.
/// 集团财务: the property (or group) a premises path's prefix names — its last node. A path is its nodes' ids
/// (36 characters each) joined by '/': its first 73 characters name the property, its first 36 the group.
fn property_of_path(prefix: &str) -> Result<PremisesId, StoreError> {
    let id = prefix.rsplit('/').next().unwrap_or_default();
    Ok(Uuid::parse_str(id).map_err(|e| corrupt("premises path", e))?.into())
}

fn push_scope(b: &mut QueryBuilder<'_, Db>, column: &str, key: &str) {
    b.push(" AND ");
    b.push(column);
    b.push(" IN (SELECT id FROM premises WHERE path = ");
    b.push_bind(key.to_string());
    b.push(" OR path LIKE ");
    b.push_bind(format!("{key}/%"));
    b.push(")");
}

impl SqlStore {
    /// The path key of the scope's premises; `Ok(None)` for no scope; an error if it does not exist.
    async fn scope_key(&self, scope: Option<PremisesId>) -> Result<Option<String>, StoreError> {
        match scope {
            None => Ok(None),
            Some(id) => Ok(Some(path_key(&self.premises(id).await?.path))),
        }
    }

    async fn fetch<T>(&self, mut b: QueryBuilder<'_, Db>, map: fn(&DbRow) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(map).collect()
    }

    /// Reads the lines of fee payments read by [`fee_payment_from_row`], in their order, and whether each was
    /// taken back.
    async fn complete_fee_payments(&self, payments: &mut [voltvend_ops::FeePayment]) -> Result<(), StoreError> {
        let keys: Vec<Uuid> = payments.iter().map(|p| p.operation_id.as_uuid()).collect();
        let mut conn = self.pool.acquire().await?;
        let lines =
            select_in(&mut conn, "SELECT * FROM fee_allocations WHERE operation_id", &keys, fee_allocation_from_row).await?;
        // A payment taken back by a correction: its transfer has been corrected.
        let transfers: Vec<Uuid> = payments.iter().map(|p| p.transfer_id.as_uuid()).collect();
        let reversed: Vec<voltvend_domain::TransferId> =
            select_in(&mut conn, "SELECT corrects_id FROM transfers WHERE corrects_id", &transfers, |r| {
                uuid_of(r, "corrects_id")
            })
            .await?;
        for p in payments.iter_mut() {
            let mut mine: Vec<_> = lines.iter().filter(|l| l.operation_id == p.operation_id).cloned().collect();
            mine.sort_by_key(|l| l.idx);
            p.lines = mine;
            p.reversed = reversed.contains(&p.transfer_id);
        }
        Ok(())
    }

    async fn list_premises_impl(&self, q: &ListQuery, f: &PremisesFilter) -> Result<Vec<Premises>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM premises p WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "p.id", key);
        }
        if let Some(parent) = f.parent {
            b.push(" AND p.parent_id = ").push_bind(parent.as_uuid());
        }
        if let Some(level) = &f.level {
            b.push(" AND p.level = ").push_bind(level.clone());
        }
        if let Some(text) = &f.q {
            b.push(" AND lower(p.name) LIKE ").push_bind(contains_pattern(text)).push(" ESCAPE '\\'");
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND p.id > ").push_bind(after);
        }
        b.push(" ORDER BY p.id LIMIT ").push_bind(limit_of(q));
        self.fetch(b, premises_from_row).await
    }

    async fn list_customers_impl(&self, q: &ListQuery, f: &CustomerFilter) -> Result<Vec<Customer>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM customers c WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "c.premises_id", key);
        }
        if let Some(p) = f.premises {
            b.push(" AND c.premises_id = ").push_bind(p.as_uuid());
        }
        if let Some(text) = f.q.as_deref().filter(|t| !t.trim().is_empty()) {
            let pattern = contains_pattern(text);
            b.push(" AND (lower(c.name) LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
            b.push(" OR lower(c.phones) LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
            b.push(" OR EXISTS (SELECT 1 FROM premises u WHERE u.id = c.premises_id AND lower(u.name) LIKE ");
            b.push_bind(pattern.clone()).push(" ESCAPE '\\')");
            b.push(" OR EXISTS (SELECT 1 FROM accounts a JOIN meters m ON m.account_id = a.id WHERE a.customer_id = c.id");
            b.push(" AND (lower(m.serial) LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
            b.push(" OR lower(m.address) LIKE ").push_bind(pattern).push(" ESCAPE '\\')))");
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND c.id > ").push_bind(after);
        }
        b.push(" ORDER BY c.id LIMIT ").push_bind(limit_of(q));
        self.fetch(b, customer_from_row).await
    }

    async fn list_accounts_impl(&self, q: &ListQuery, f: &AccountFilter) -> Result<Vec<AccountRecord>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM accounts a WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "a.premises_id", key);
        }
        if let Some(c) = f.customer {
            b.push(" AND a.customer_id = ").push_bind(c.as_uuid());
        }
        if let Some(s) = &f.status {
            b.push(" AND a.status = ").push_bind(s.clone());
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND a.id > ").push_bind(after);
        }
        b.push(" ORDER BY a.id LIMIT ").push_bind(limit_of(q));
        self.fetch(b, account_from_row).await
    }

    async fn list_meters_impl(&self, q: &ListQuery, f: &MeterFilter) -> Result<Vec<MeterRecord>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let within = self.scope_key(f.premises).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM meters m WHERE 1 = 1");
        for key in [&scope, &within].into_iter().flatten() {
            push_scope(&mut b, "m.premises_id", key);
        }
        if f.holds_credit {
            b.push(" AND m.control_mode = 'local' AND (m.sold_milli > 0 OR m.return_at_us IS NOT NULL)");
        }
        if let Some(a) = f.account {
            b.push(" AND m.account_id = ").push_bind(a.as_uuid());
        }
        for (column, value) in
            [("m.state", &f.state), ("m.protocol", &f.protocol), ("m.utility", &f.utility), ("m.relay", &f.relay)]
        {
            if let Some(v) = value {
                b.push(" AND ").push(column).push(" = ").push_bind(v.clone());
            }
        }
        if let Some(text) = f.q.as_deref().filter(|t| !t.trim().is_empty()) {
            let pattern = contains_pattern(text);
            b.push(" AND (lower(m.serial) LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
            b.push(" OR lower(m.address) LIKE ").push_bind(pattern).push(" ESCAPE '\\')");
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND m.id > ").push_bind(after);
        }
        b.push(" ORDER BY m.id LIMIT ").push_bind(limit_of(q));
        self.fetch(b, meter_from_row).await
    }

    async fn list_readings_impl(&self, q: &ListQuery, f: &ReadingFilter) -> Result<Vec<ListedReading>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let within = self.scope_key(f.premises).await?;
        let mut b = QueryBuilder::<Db>::new(
            "SELECT r.*, m.utility AS meter_utility FROM readings r JOIN meters m ON m.id = r.meter_id WHERE 1 = 1",
        );
        for key in [&scope, &within].into_iter().flatten() {
            push_scope(&mut b, "m.premises_id", key);
        }
        if let Some(m) = f.meter {
            b.push(" AND r.meter_id = ").push_bind(m.as_uuid());
        }
        if let Some(status) = &f.status {
            b.push(" AND r.status = ").push_bind(status.clone());
        }
        if let Some(from) = f.from_us {
            b.push(" AND r.at_us >= ").push_bind(from);
        }
        if let Some(to) = f.to_us {
            b.push(" AND r.at_us < ").push_bind(to);
        }
        if let Some(after) = q.after.as_deref() {
            let bad = || StoreError::BadQuery(format!("cursor {after:?} is not one this list gave"));
            let (at, seq) = after.split_once('.').ok_or_else(bad)?;
            let (at, seq): (i64, i64) = (at.parse().map_err(|_| bad())?, seq.parse().map_err(|_| bad())?);
            b.push(" AND (r.at_us > ").push_bind(at);
            b.push(" OR (r.at_us = ").push_bind(at).push(" AND r.seq > ").push_bind(seq).push("))");
        }
        b.push(" ORDER BY r.at_us, r.seq LIMIT ").push_bind(limit_of(q));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let at: i64 = row.try_get("at_us")?;
                let seq: i64 = row.try_get("seq")?;
                Ok(ListedReading {
                    cursor: format!("{at}.{seq}"),
                    utility: row.try_get("meter_utility")?,
                    row: reading_from_row(row)?,
                })
            })
            .collect()
    }

    /// ` AND …` for a sales filter within a scope (sales `s`).
    async fn push_sale_filter(&self, b: &mut QueryBuilder<'_, Db>, scope: Option<PremisesId>, f: &SaleFilter) -> Result<(), StoreError> {
        self.push_sale_filter_driven(b, scope, f, true).await
    }

    /// The filter; with `by_accounts` false, SQLite is kept from driving the query by the subtree's accounts
    /// (`+` hides the column from its index): for a page of a long period in time order, gathering every sale of
    /// every account and sorting them costs seconds a page, where the time index reads just the page.
    async fn push_sale_filter_driven(
        &self,
        b: &mut QueryBuilder<'_, Db>,
        scope: Option<PremisesId>,
        f: &SaleFilter,
        by_accounts: bool,
    ) -> Result<(), StoreError> {
        for subtree in [scope, f.premises].into_iter().flatten() {
            let key = path_key(&self.premises(subtree).await?.path);
            let hidden = !by_accounts && BACKEND == Backend::Sqlite;
            b.push(if hidden { " AND +s.account_id IN" } else { " AND s.account_id IN" });
            b.push(" (SELECT a.id FROM accounts a WHERE 1 = 1");
            push_scope(b, "a.premises_id", &key);
            b.push(")");
        }
        for (column, value) in [
            ("s.account_id", f.account.map(|x| x.as_uuid())),
            ("s.meter_id", f.meter.map(|x| x.as_uuid())),
            ("s.vending_point_id", f.vending_point.map(|x| x.as_uuid())),
            ("s.shift_id", f.shift.map(|x| x.as_uuid())),
            ("s.operator_id", f.operator.map(|x| x.as_uuid())),
        ] {
            if let Some(v) = value {
                b.push(" AND ").push(column).push(" = ").push_bind(v);
            }
        }
        if let Some(from) = f.from_us {
            b.push(" AND s.at_us >= ").push_bind(from);
        }
        if let Some(to) = f.to_us {
            b.push(" AND s.at_us < ").push_bind(to);
        }
        // A sale reversed or re-allocated (纠错) has a correction of its transfer.
        if let Some(reversed) = f.reversed {
            b.push(if reversed { " AND EXISTS" } else { " AND NOT EXISTS" });
            b.push(" (SELECT 1 FROM transfers t WHERE t.corrects_id = s.transfer_id)");
        }
        Ok(())
    }

    async fn list_sales_impl(&self, q: &ListQuery, f: &SaleFilter) -> Result<Vec<SaleRecord>, StoreError> {
        let mut b = QueryBuilder::<Db>::new("SELECT s.* FROM sales s WHERE 1 = 1");
        self.push_sale_filter(&mut b, q.scope, f).await?;
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND s.operation_id < ").push_bind(after);
        }
        b.push(" ORDER BY s.operation_id DESC LIMIT ").push_bind(limit_of(q));
        self.fetch(b, sale_from_row).await
    }

    async fn sales_ledger_page_impl(
        &self,
        scope: Option<PremisesId>,
        f: &SaleFilter,
        after: Option<(Timestamp, OperationId)>,
        limit: u32,
    ) -> Result<Vec<SaleRecord>, StoreError> {
        let mut b = QueryBuilder::<Db>::new("SELECT s.* FROM sales s WHERE 1 = 1");
        self.push_sale_filter_driven(&mut b, scope, f, false).await?;
        if let Some((at, id)) = after {
            // Each page starts where the last one ended in the (at_us, operation_id) index. PostgreSQL seeks to a
            // row-value bound; SQLite would scan from the period's start to it (70 ms a page at the end of a
            // million rows), but seeks with the comparison spelled out.
            let at = timestamp_us(at);
            if BACKEND == Backend::Postgres {
                b.push(" AND (s.at_us, s.operation_id) > (").push_bind(at).push(", ").push_bind(id.as_uuid()).push(")");
            } else {
                b.push(" AND (s.at_us > ").push_bind(at).push(" OR (s.at_us = ").push_bind(at);
                b.push(" AND s.operation_id > ").push_bind(id.as_uuid()).push("))");
            }
        }
        b.push(" ORDER BY s.at_us, s.operation_id LIMIT ").push_bind(i64::from(limit.clamp(1, ListQuery::LIMIT_MAX)));
        self.fetch(b, sale_from_row).await
    }

    async fn sales_summary_impl(
        &self,
        scope: Option<PremisesId>,
        f: &SaleFilter,
        grouping: SalesGrouping,
    ) -> Result<Vec<SalesGroup>, StoreError> {
        // The key and its label, per grouping; 15-minute buckets let the caller fold them into local days or
        // months in any time zone (every UTC offset in use is a multiple of 15 minutes).
        let (key, label, join) = match grouping {
            SalesGrouping::Operator => ("s.operator_id", "o.username", " LEFT JOIN operators o ON o.id = s.operator_id"),
            SalesGrouping::VendingPoint => ("s.vending_point_id", "v.name", " LEFT JOIN vending_points v ON v.id = s.vending_point_id"),
            SalesGrouping::Method => ("s.method", "s.method", ""),
            SalesGrouping::Tariff => ("COALESCE(m.tariff_code, '')", "COALESCE(m.tariff_code, '')", " LEFT JOIN meters m ON m.id = s.meter_id"),
            SalesGrouping::Quarter => ("s.at_us / 900000000", "s.at_us / 900000000", ""),
            // A path is its nodes' ids (36 characters) joined by '/': the first 73 name the property.
            SalesGrouping::Property => ("SUBSTR(pp.path, 1, 73)", "SUBSTR(pp.path, 1, 73)", " JOIN premises pp ON pp.id = ac.premises_id"),
        };
        let mut b = QueryBuilder::<Db>::new(format!(
            "SELECT {key} AS k, MIN({label}) AS label, ac.currency AS currency, COUNT(*) AS n, \
             CAST(SUM(s.paid_minor) AS BIGINT) AS paid, CAST(SUM(s.arrears_minor) AS BIGINT) AS arrears, \
             CAST(SUM(s.fees_minor) AS BIGINT) AS fees, CAST(SUM(s.tax_minor) AS BIGINT) AS tax, \
             CAST(SUM(s.energy_minor) AS BIGINT) AS energy, CAST(SUM(s.credit_minor) AS BIGINT) AS credit, \
             CAST(SUM(s.property_fees_minor) AS BIGINT) AS property_fees \
             FROM sales s JOIN accounts ac ON ac.id = s.account_id{join} WHERE 1 = 1"
        ));
        self.push_sale_filter(&mut b, scope, f).await?;
        b.push(format!(" GROUP BY {key}, ac.currency ORDER BY ac.currency, {key}"));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let key = match grouping {
                    SalesGrouping::Operator | SalesGrouping::VendingPoint => r.try_get::<Uuid, _>("k")?.to_string(),
                    SalesGrouping::Quarter => r.try_get::<i64, _>("k")?.to_string(),
                    SalesGrouping::Method | SalesGrouping::Tariff => r.try_get::<String, _>("k")?,
                    SalesGrouping::Property => {
                        let path: String = r.try_get("k")?;
                        path.rsplit('/').next().unwrap_or_default().to_string()
                    }
                };
                let label = match grouping {
                    SalesGrouping::Quarter | SalesGrouping::Property => key.clone(),
                    _ => r.try_get::<Option<String>, _>("label")?.unwrap_or_default(),
                };
                Ok(SalesGroup {
                    key,
                    label,
                    currency: r.try_get("currency")?,
                    sales: r.try_get("n")?,
                    paid_minor: r.try_get::<i64, _>("paid")?,
                    arrears_minor: r.try_get::<i64, _>("arrears")?,
                    fees_minor: r.try_get::<i64, _>("fees")?,
                    tax_minor: r.try_get::<i64, _>("tax")?,
                    energy_minor: r.try_get::<i64, _>("energy")?,
                    credit_minor: r.try_get::<i64, _>("credit")?,
                    property_fees_minor: r.try_get::<i64, _>("property_fees")?,
                })
            })
            .collect()
    }

    async fn consumption_summary_impl(
        &self,
        scope: Option<PremisesId>,
        premises: Option<PremisesId>,
        from_us: i64,
        to_us: i64,
        grouping: ConsumptionGrouping,
    ) -> Result<Vec<ConsumptionGroup>, StoreError> {
        if grouping == ConsumptionGrouping::TouPeriod {
            return self.consumption_by_tou_period(scope, premises, from_us, to_us).await;
        }
        let scope_key = self.scope_key(scope).await?;
        let within = self.scope_key(premises).await?;
        // The children are those of the report's premises, or else of the caller's scope, or else the roots.
        let root = premises.or(scope);
        let (key, label) = match grouping {
            ConsumptionGrouping::Meter => ("m.id", "m.serial"),
            ConsumptionGrouping::Premises => ("p.id", "p.name"),
            ConsumptionGrouping::Child => ("c.id", "c.name"),
            ConsumptionGrouping::Category => ("COALESCE(mc.category, '')", "COALESCE(mc.category, '')"),
            ConsumptionGrouping::SubItem => (
                "COALESCE(mc.category, '') || '/' || COALESCE(mc.sub_item, '')",
                "COALESCE(mc.sub_item, '')",
            ),
            ConsumptionGrouping::TouPeriod => ("''", "''"),
        };
        let text_key = matches!(grouping, ConsumptionGrouping::Category | ConsumptionGrouping::SubItem);
        let mut b = QueryBuilder::<Db>::new(format!(
            "SELECT {key} AS k, MIN({label}) AS label, m.utility AS utility, COUNT(DISTINCT m.id) AS meters, \
             COUNT(*) AS n, CAST(SUM(r.consumption_milli) AS BIGINT) AS used \
             FROM readings r JOIN meters m ON m.id = r.meter_id JOIN premises p ON p.id = m.premises_id \
             LEFT JOIN meter_categories mc ON mc.meter_id = m.id"
        ));
        if grouping == ConsumptionGrouping::Child {
            // The child whose subtree holds the meter's premises (none: the meter is at the root itself).
            b.push(" LEFT JOIN premises c ON c.parent_id");
            match root {
                Some(root) => b.push(" = ").push_bind(root.as_uuid()),
                None => b.push(" IS NULL"),
            };
            b.push(" AND (p.path = c.path OR p.path LIKE c.path || '/%')");
        }
        // A rule's parent meter (总表) measures its units and common areas again: it is left out, or a building's
        // total would count them twice (its figure is the line-loss report's).
        b.push(
            " WHERE r.status <> 'flagged' AND m.id NOT IN \
             (SELECT parent_meter_id FROM apportionment_rules WHERE parent_meter_id IS NOT NULL) AND r.at_us >= ",
        );
        b.push_bind(from_us).push(" AND r.at_us < ").push_bind(to_us);
        for k in [&scope_key, &within].into_iter().flatten() {
            push_scope(&mut b, "m.premises_id", k);
        }
        b.push(format!(" GROUP BY {key}, m.utility ORDER BY m.utility, MIN({label}), {key}"));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let key = if text_key {
                    r.try_get::<Option<String>, _>("k")?.unwrap_or_default()
                } else {
                    r.try_get::<Option<Uuid>, _>("k")?.map(|u| u.to_string()).unwrap_or_default()
                };
                Ok(ConsumptionGroup {
                    key,
                    label: r.try_get::<Option<String>, _>("label")?.unwrap_or_default(),
                    utility: r.try_get("utility")?,
                    meters: r.try_get("meters")?,
                    readings: r.try_get("n")?,
                    consumption_milli: r.try_get::<Option<i64>, _>("used")?.unwrap_or(0),
                })
            })
            .collect()
    }

    /// See [`ConsumptionGrouping::TouPeriod`]: the readings of the span in time order, each meter's from its last
    /// good reading before the span.
    async fn consumption_by_tou_period(
        &self,
        scope: Option<PremisesId>,
        premises: Option<PremisesId>,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<ConsumptionGroup>, StoreError> {
        let scope_key = self.scope_key(scope).await?;
        let within = self.scope_key(premises).await?;
        let mut b = QueryBuilder::<Db>::new(
            "SELECT r.meter_id AS meter_id, m.utility AS utility, r.registers AS registers, \
             r.consumption_milli AS used, \
             (SELECT p.registers FROM readings p WHERE p.meter_id = r.meter_id AND p.status <> 'flagged' \
              AND p.at_us < r.at_us ORDER BY p.at_us DESC LIMIT 1) AS before \
             FROM readings r JOIN meters m ON m.id = r.meter_id \
             WHERE r.status <> 'flagged' AND m.id NOT IN \
             (SELECT parent_meter_id FROM apportionment_rules WHERE parent_meter_id IS NOT NULL) AND r.at_us >= ",
        );
        b.push_bind(from_us).push(" AND r.at_us < ").push_bind(to_us);
        for k in [&scope_key, &within].into_iter().flatten() {
            push_scope(&mut b, "m.premises_id", k);
        }
        let rows = b.build().fetch_all(&self.pool).await?;
        // (utility, period) → (meters, readings, consumption)
        let mut groups: std::collections::BTreeMap<(String, String), (std::collections::BTreeSet<Uuid>, i64, i64)> =
            std::collections::BTreeMap::new();
        for r in &rows {
            let meter: Uuid = r.try_get("meter_id")?;
            let utility: String = r.try_get("utility")?;
            let used: i64 = r.try_get("used")?;
            let now = registers_from(&r.try_get::<String, _>("registers")?)?;
            let before = r.try_get::<Option<String>, _>("before")?.map(|t| registers_from(&t)).transpose()?;
            for (period, milli) in tou_split(before.as_ref(), &now, used) {
                let g = groups.entry((utility.clone(), period)).or_default();
                g.0.insert(meter);
                g.1 += 1;
                g.2 += milli;
            }
        }
        Ok(groups
            .into_iter()
            .map(|((utility, period), (meters, readings, used))| ConsumptionGroup {
                key: period.clone(),
                label: period,
                utility,
                meters: i64::try_from(meters.len()).unwrap_or(i64::MAX),
                readings,
                consumption_milli: used,
            })
            .collect())
    }

    async fn vend_totals_impl(&self, from_us: i64, to_us: i64) -> Result<Vec<LedgerTotal>, StoreError> {
        // What the ledger booked as sales: the debit side (money taken) of every vend transfer posted in the period,
        // without the inter-property lines that balance a sale between properties in each one's books (ADR 0007).
        let mut b = QueryBuilder::<Db>::new(
            "SELECT t.currency AS currency, COUNT(DISTINCT t.seq) AS n, CAST(SUM(e.amount_minor) AS BIGINT) AS amount \
             FROM transfers t JOIN entries e ON e.transfer_seq = t.seq JOIN ledger_accounts la ON la.id = e.account_id \
             WHERE t.kind = 'vend' AND e.amount_minor > 0 AND la.kind <> 'inter_property' AND t.posted_at_us >= ",
        );
        b.push_bind(from_us).push(" AND t.posted_at_us < ").push_bind(to_us);
        b.push(" GROUP BY t.currency ORDER BY t.currency");
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok(LedgerTotal { currency: r.try_get("currency")?, transfers: r.try_get("n")?, amount_minor: r.try_get::<i64, _>("amount")? }))
            .collect()
    }

    async fn vend_totals_by_property_impl(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(PremisesId, LedgerTotal)>, StoreError> {
        // Each vend transfer is the sale of one account: it belongs to the property of the account its sale row
        // names (as the sales are summed by property), or — for a transfer with no sale row, which the whole
        // reconciliation shows as a difference too — to the property of the customer's accounts it credits
        // (wallet, arrears, a fee schedule's receivable), else of any account it credits. What it took is its
        // debits outside the inter-property lines. A path's first 73 characters name the property.
        let mut b = QueryBuilder::<Db>::new(
            "SELECT x.prop AS prop, x.currency AS currency, COUNT(*) AS n, CAST(SUM(x.amount) AS BIGINT) AS amount \
             FROM (SELECT t.seq AS seq, t.currency AS currency, \
                     COALESCE(MIN(SUBSTR(sp.path, 1, 73)), \
                              MIN(CASE WHEN e.amount_minor < 0 AND la.kind IN \
                                       ('customer_wallet', 'customer_arrears', 'fees_receivable') \
                                  THEN SUBSTR(p.path, 1, 73) END), \
                              MIN(CASE WHEN e.amount_minor < 0 AND la.kind <> 'inter_property' \
                                  THEN SUBSTR(p.path, 1, 73) END)) AS prop, \
                     SUM(CASE WHEN e.amount_minor > 0 AND la.kind <> 'inter_property' THEN e.amount_minor ELSE 0 END) \
                       AS amount \
                   FROM transfers t JOIN entries e ON e.transfer_seq = t.seq \
                   JOIN ledger_accounts la ON la.id = e.account_id JOIN premises p ON p.id = la.premises_id \
                   LEFT JOIN sales s ON s.transfer_id = t.id LEFT JOIN accounts a ON a.id = s.account_id \
                   LEFT JOIN premises sp ON sp.id = a.premises_id \
                   WHERE t.kind = 'vend' AND t.posted_at_us >= ",
        );
        b.push_bind(from_us).push(" AND t.posted_at_us < ").push_bind(to_us);
        b.push(" GROUP BY t.seq, t.currency) x GROUP BY x.prop, x.currency ORDER BY 1, 2");
        let rows = b.build().fetch_all(&self.pool).await?;
        let mut totals = Vec::with_capacity(rows.len());
        for r in &rows {
            let property = property_of_path(&r.try_get::<String, _>("prop")?)?;
            totals.push((
                property,
                LedgerTotal {
                    currency: r.try_get("currency")?,
                    transfers: r.try_get("n")?,
                    amount_minor: r.try_get::<Option<i64>, _>("amount")?.unwrap_or(0),
                },
            ));
        }
        Ok(totals)
    }

    async fn list_approvals_impl(&self, q: &ListQuery, f: &ApprovalFilter) -> Result<Vec<ApprovalRecord>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT x.* FROM approvals x WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "x.premises_id", key);
        }
        if let Some(kind) = f.kind {
            b.push(" AND x.kind = ").push_bind(kind.as_str());
        }
        if let Some(who) = f.requested_by {
            b.push(" AND x.requested_by = ").push_bind(who.as_uuid());
        }
        match f.status {
            Some(voltvend_ops::ApprovalStatus::Pending) => {
                b.push(" AND x.decided_at_us IS NULL AND x.expires_at_us > ").push_bind(f.now_us);
            }
            Some(voltvend_ops::ApprovalStatus::Expired) => {
                b.push(" AND x.decided_at_us IS NULL AND x.expires_at_us <= ").push_bind(f.now_us);
            }
            Some(voltvend_ops::ApprovalStatus::Approved) => {
                b.push(" AND x.decided_at_us IS NOT NULL AND x.approved = ").push_bind(true);
            }
            Some(voltvend_ops::ApprovalStatus::Rejected) => {
                b.push(" AND x.decided_at_us IS NOT NULL AND x.approved = ").push_bind(false);
            }
            None => {}
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND x.id < ").push_bind(after);
        }
        b.push(" ORDER BY x.id DESC LIMIT ").push_bind(limit_of(q));
        self.fetch(b, approval_from_row).await
    }

    async fn list_refused_impl(&self, q: &ListQuery, f: &RefusedFilter) -> Result<Vec<RefusedPayment>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT r.* FROM refused_payments r WHERE 1 = 1");
        if let Some(key) = &scope {
            b.push(" AND r.account_id IN (SELECT a.id FROM accounts a WHERE 1 = 1");
            push_scope(&mut b, "a.premises_id", key);
            b.push(")");
        }
        if let Some(a) = f.account {
            b.push(" AND r.account_id = ").push_bind(a.as_uuid());
        }
        match f.refunded {
            Some(true) => {
                b.push(" AND r.refunded_by IS NOT NULL");
            }
            Some(false) => {
                b.push(" AND r.refunded_by IS NULL");
            }
            None => {}
        }
        if let Some(from) = f.from_us {
            b.push(" AND r.at_us >= ").push_bind(from);
        }
        if let Some(to) = f.to_us {
            b.push(" AND r.at_us < ").push_bind(to);
        }
        if let Some(shift) = f.shift {
            b.push(" AND r.shift_id = ").push_bind(shift.as_uuid());
        }
        if let Some((from, to)) = f.refunded_between_us {
            b.push(" AND r.refunded_at_us >= ").push_bind(from).push(" AND r.refunded_at_us < ").push_bind(to);
        }
        if let Some(reference) = &f.reference {
            b.push(" AND r.reference = ").push_bind(reference.clone());
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND r.operation_id < ").push_bind(after);
        }
        b.push(" ORDER BY r.operation_id DESC LIMIT ").push_bind(limit_of(q));
        self.fetch(b, refused_payment_from_row).await
    }

    /// The latest import of a channel's statement for `day`, with its lines in the file's order.
    async fn payment_statement_impl(
        &self,
        channel: voltvend_domain::PaymentChannelId,
        day: jiff::civil::Date,
    ) -> Result<Option<PaymentStatement>, StoreError> {
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM payment_statements WHERE channel_id = ");
        b.push_bind(channel.as_uuid()).push(" AND day = ").push_bind(day.to_string());
        b.push(" ORDER BY imported_at_us DESC, id DESC LIMIT 1");
        let Some(mut statement) = self.fetch(b, payment_statement_from_row).await?.pop() else { return Ok(None) };
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM payment_statement_lines WHERE statement_id = ");
        b.push_bind(statement.id.as_uuid()).push(" ORDER BY line_no");
        statement.lines = self.fetch(b, statement_entry_from_row).await?;
        Ok(Some(statement))
    }

    async fn list_payment_channels_impl(&self, q: &ListQuery) -> Result<Vec<PaymentChannel>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT c.* FROM payment_channels c WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "c.premises_id", key);
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND c.id < ").push_bind(after);
        }
        b.push(" ORDER BY c.id DESC LIMIT ").push_bind(limit_of(q));
        self.fetch(b, payment_channel_from_row).await
    }

    async fn list_payment_intents_impl(&self, q: &ListQuery, f: &IntentFilter) -> Result<Vec<PaymentIntent>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT i.* FROM payment_intents i WHERE 1 = 1");
        if let Some(key) = &scope {
            b.push(" AND i.account_id IN (SELECT a.id FROM accounts a WHERE 1 = 1");
            push_scope(&mut b, "a.premises_id", key);
            b.push(")");
        }
        if let Some(c) = f.channel {
            b.push(" AND i.channel_id = ").push_bind(c.as_uuid());
        }
        if let Some(a) = f.account {
            b.push(" AND i.account_id = ").push_bind(a.as_uuid());
        }
        if let Some(s) = f.status {
            b.push(" AND i.status = ").push_bind(s.as_str());
        }
        if let Some((from, to)) = f.paid_between_us {
            b.push(" AND i.paid_at_us >= ").push_bind(from).push(" AND i.paid_at_us < ").push_bind(to);
        }
        if let Some(r) = &f.provider_ref {
            b.push(" AND i.provider_ref = ").push_bind(r.clone());
        }
        if f.expiring_first {
            b.push(" ORDER BY i.expires_at_us, i.id LIMIT ").push_bind(limit_of(q));
            return self.fetch(b, payment_intent_from_row).await;
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND i.id < ").push_bind(after);
        }
        b.push(" ORDER BY i.id DESC LIMIT ").push_bind(limit_of(q));
        self.fetch(b, payment_intent_from_row).await
    }

    async fn list_shifts_impl(&self, q: &ListQuery, f: &ShiftFilter) -> Result<Vec<Shift>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT s.* FROM shifts s WHERE 1 = 1");
        if let Some(key) = &scope {
            b.push(" AND s.vending_point_id IN (SELECT v.id FROM vending_points v WHERE 1 = 1");
            push_scope(&mut b, "v.premises_id", key);
            b.push(")");
        }
        if let Some(o) = f.operator {
            b.push(" AND s.operator_id = ").push_bind(o.as_uuid());
        }
        if let Some(v) = f.vending_point {
            b.push(" AND s.vending_point_id = ").push_bind(v.as_uuid());
        }
        if let Some(st) = &f.status {
            b.push(" AND s.status = ").push_bind(st.clone());
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND s.id < ").push_bind(after);
        }
        b.push(" ORDER BY s.id DESC LIMIT ").push_bind(limit_of(q));
        self.fetch(b, shift_from_row).await
    }

    async fn list_vending_points_impl(&self, q: &ListQuery) -> Result<Vec<VendingPoint>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM vending_points v WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "v.premises_id", key);
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND v.id > ").push_bind(after);
        }
        b.push(" ORDER BY v.id LIMIT ").push_bind(limit_of(q));
        self.fetch(b, vending_point_from_row).await
    }

    async fn list_operators_impl(&self, q: &ListQuery) -> Result<Vec<Operator>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT * FROM operators o WHERE 1 = 1");
        if let Some(key) = &scope {
            push_scope(&mut b, "o.scope_id", key);
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND o.id > ").push_bind(after);
        }
        b.push(" ORDER BY o.id LIMIT ").push_bind(limit_of(q));
        self.fetch(b, operator_from_row).await
    }

    async fn list_api_tokens_impl(&self, q: &ListQuery, operator: Option<OperatorId>) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT t.* FROM api_tokens t WHERE 1 = 1");
        if let Some(key) = &scope {
            b.push(" AND t.operator_id IN (SELECT o.id FROM operators o WHERE 1 = 1");
            push_scope(&mut b, "o.scope_id", key);
            b.push(")");
        }
        if let Some(o) = operator {
            b.push(" AND t.operator_id = ").push_bind(o.as_uuid());
        }
        if let Some(after) = uuid_cursor(&q.after)? {
            b.push(" AND t.id > ").push_bind(after);
        }
        b.push(" ORDER BY t.id LIMIT ").push_bind(limit_of(q));
        self.fetch(b, api_token_from_row).await
    }

    async fn list_audit_impl(&self, q: &ListQuery, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let scope = self.scope_key(q.scope).await?;
        let mut b = QueryBuilder::<Db>::new("SELECT l.* FROM audit_log l WHERE 1 = 1");
        if let Some(key) = &scope {
            b.push(" AND l.operator_id IN (SELECT o.id FROM operators o WHERE 1 = 1");
            push_scope(&mut b, "o.scope_id", key);
            b.push(")");
        }
        if let Some(a) = &f.action {
            b.push(" AND l.action = ").push_bind(a.clone());
        }
        if let Some(o) = f.operator {
            b.push(" AND l.operator_id = ").push_bind(o.as_uuid());
        }
        if let Some(s) = &f.subject {
            b.push(" AND l.subject = ").push_bind(s.clone());
        }
        if let Some(from) = f.from_us {
            b.push(" AND l.at_us >= ").push_bind(from);
        }
        if let Some(to) = f.to_us {
            b.push(" AND l.at_us < ").push_bind(to);
        }
        if let Some(after) = seq_cursor(&q.after)? {
            b.push(" AND l.seq < ").push_bind(after);
        }
        b.push(" ORDER BY l.seq DESC LIMIT ").push_bind(limit_of(q));
        self.fetch(b, audit_from_row).await
    }
}
