-- 公摊 (issue 18): common-area apportionment rules, and the months posted under them with each unit's share
-- (see voltvend_ops::ApportionmentRule, ApportionmentRun). A rule is never changed; runs and shares are
-- append-only. Readings of meters with no account are stored as 'measured' (no schema change: status is TEXT).
CREATE TABLE apportionment_rules (
    id              BLOB PRIMARY KEY NOT NULL,
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    name            TEXT NOT NULL,
    utility         TEXT NOT NULL,
    basis           TEXT NOT NULL,
    pool            TEXT NOT NULL,
    price_micro     INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    parent_meter_id BLOB REFERENCES meters(id),
    created_at_us   INTEGER NOT NULL
);
CREATE INDEX apportionment_rules_premises ON apportionment_rules (premises_id);

CREATE TABLE apportionment_rule_meters (
    rule_id         BLOB NOT NULL REFERENCES apportionment_rules(id),
    idx             INTEGER NOT NULL,
    meter_id        BLOB NOT NULL REFERENCES meters(id),
    PRIMARY KEY (rule_id, idx)
);

CREATE TABLE apportionment_rule_units (
    rule_id         BLOB NOT NULL REFERENCES apportionment_rules(id),
    idx             INTEGER NOT NULL,
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    floor_area_dm2  INTEGER NOT NULL CHECK (floor_area_dm2 >= 0),
    PRIMARY KEY (rule_id, idx)
);

CREATE TABLE apportionment_runs (
    operation_id    BLOB PRIMARY KEY NOT NULL,
    rule_id         BLOB NOT NULL REFERENCES apportionment_rules(id),
    period          INTEGER NOT NULL,
    from_us         INTEGER NOT NULL,
    to_us           INTEGER NOT NULL,
    parent_milli    INTEGER,
    units_milli     INTEGER NOT NULL,
    common_milli    INTEGER NOT NULL,
    loss_milli      INTEGER,
    pool_milli      INTEGER NOT NULL,
    price_micro     INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor >= 0),
    at_us           INTEGER NOT NULL,
    UNIQUE (rule_id, period)
);

CREATE TABLE apportionment_shares (
    run_id            BLOB NOT NULL REFERENCES apportionment_runs(operation_id),
    idx               INTEGER NOT NULL,
    premises_id       BLOB NOT NULL REFERENCES premises(id),
    account_id        BLOB REFERENCES accounts(id),
    weight            INTEGER NOT NULL,
    consumption_milli INTEGER NOT NULL,
    share_milli       INTEGER NOT NULL,
    amount_minor      INTEGER NOT NULL CHECK (amount_minor >= 0),
    transfer_id       BLOB REFERENCES transfers(id),
    PRIMARY KEY (run_id, idx)
);

CREATE TRIGGER apportionment_rules_append_only_u BEFORE UPDATE ON apportionment_rules
BEGIN SELECT RAISE(ABORT, 'apportionment rules are never changed'); END;
CREATE TRIGGER apportionment_rules_append_only_d BEFORE DELETE ON apportionment_rules
BEGIN SELECT RAISE(ABORT, 'apportionment rules are never changed'); END;
CREATE TRIGGER apportionment_runs_append_only_u BEFORE UPDATE ON apportionment_runs
BEGIN SELECT RAISE(ABORT, 'apportionment runs are append-only'); END;
CREATE TRIGGER apportionment_runs_append_only_d BEFORE DELETE ON apportionment_runs
BEGIN SELECT RAISE(ABORT, 'apportionment runs are append-only'); END;
CREATE TRIGGER apportionment_shares_append_only_u BEFORE UPDATE ON apportionment_shares
BEGIN SELECT RAISE(ABORT, 'apportionment shares are append-only'); END;
CREATE TRIGGER apportionment_shares_append_only_d BEFORE DELETE ON apportionment_shares
BEGIN SELECT RAISE(ABORT, 'apportionment shares are append-only'); END;
