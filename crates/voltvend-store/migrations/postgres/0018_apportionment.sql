-- 公摊 (issue 18): common-area apportionment rules, and the months posted under them with each unit's share
-- (see voltvend_ops::ApportionmentRule, ApportionmentRun). A rule is never changed; runs and shares are
-- append-only. Readings of meters with no account are stored as 'measured' (no schema change: status is TEXT).
CREATE TABLE apportionment_rules (
    id              UUID PRIMARY KEY NOT NULL,
    premises_id     UUID NOT NULL REFERENCES premises(id),
    name            TEXT NOT NULL,
    utility         TEXT NOT NULL,
    basis           TEXT NOT NULL,
    pool            TEXT NOT NULL,
    price_micro     BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    parent_meter_id UUID REFERENCES meters(id),
    created_at_us   BIGINT NOT NULL
);
CREATE INDEX apportionment_rules_premises ON apportionment_rules (premises_id);

CREATE TABLE apportionment_rule_meters (
    rule_id         UUID NOT NULL REFERENCES apportionment_rules(id),
    idx             BIGINT NOT NULL,
    meter_id        UUID NOT NULL REFERENCES meters(id),
    PRIMARY KEY (rule_id, idx)
);

CREATE TABLE apportionment_rule_units (
    rule_id         UUID NOT NULL REFERENCES apportionment_rules(id),
    idx             BIGINT NOT NULL,
    premises_id     UUID NOT NULL REFERENCES premises(id),
    floor_area_dm2  BIGINT NOT NULL CHECK (floor_area_dm2 >= 0),
    PRIMARY KEY (rule_id, idx)
);

CREATE TABLE apportionment_runs (
    operation_id    UUID PRIMARY KEY NOT NULL,
    rule_id         UUID NOT NULL REFERENCES apportionment_rules(id),
    period          BIGINT NOT NULL,
    from_us         BIGINT NOT NULL,
    to_us           BIGINT NOT NULL,
    parent_milli    BIGINT,
    units_milli     BIGINT NOT NULL,
    common_milli    BIGINT NOT NULL,
    loss_milli      BIGINT,
    pool_milli      BIGINT NOT NULL,
    price_micro     BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor >= 0),
    at_us           BIGINT NOT NULL,
    UNIQUE (rule_id, period)
);

CREATE TABLE apportionment_shares (
    run_id            UUID NOT NULL REFERENCES apportionment_runs(operation_id),
    idx               BIGINT NOT NULL,
    premises_id       UUID NOT NULL REFERENCES premises(id),
    account_id        UUID REFERENCES accounts(id),
    weight            BIGINT NOT NULL,
    consumption_milli BIGINT NOT NULL,
    share_milli       BIGINT NOT NULL,
    amount_minor      BIGINT NOT NULL CHECK (amount_minor >= 0),
    transfer_id       UUID REFERENCES transfers(id),
    PRIMARY KEY (run_id, idx)
);

CREATE TRIGGER apportionment_rules_append_only BEFORE UPDATE OR DELETE ON apportionment_rules
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
CREATE TRIGGER apportionment_runs_append_only BEFORE UPDATE OR DELETE ON apportionment_runs
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
CREATE TRIGGER apportionment_shares_append_only BEFORE UPDATE OR DELETE ON apportionment_shares
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
