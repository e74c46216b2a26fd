-- The operations spine (ADR 0002): what links accounts and meters to the ledger and the counter, the per-meter
-- token and reading state, and the append-only records every operation writes in its own transaction.

CREATE TABLE books (
    id                      UUID PRIMARY KEY,
    premises_id             UUID NOT NULL REFERENCES premises(id),
    currency                TEXT NOT NULL,
    energy_revenue_id       UUID NOT NULL REFERENCES ledger_accounts(id),
    fixed_charge_revenue_id UUID NOT NULL REFERENCES ledger_accounts(id),
    tax_id                  UUID NOT NULL REFERENCES ledger_accounts(id),
    refunds_id              UUID NOT NULL REFERENCES ledger_accounts(id),
    write_off_id            UUID NOT NULL REFERENCES ledger_accounts(id),
    cash_variance_id        UUID NOT NULL REFERENCES ledger_accounts(id),
    card_clearing_id        UUID NOT NULL REFERENCES ledger_accounts(id),
    transfer_clearing_id    UUID NOT NULL REFERENCES ledger_accounts(id),
    created_at_us           BIGINT NOT NULL,
    UNIQUE (premises_id, currency)
);

ALTER TABLE accounts ADD COLUMN wallet_id UUID REFERENCES ledger_accounts(id);
ALTER TABLE accounts ADD COLUMN arrears_id UUID REFERENCES ledger_accounts(id);
ALTER TABLE accounts ADD COLUMN books_id UUID REFERENCES books(id);
-- `none`, `share:<ppm>` or `fixed:<minor>`.
ALTER TABLE accounts ADD COLUMN recovery TEXT NOT NULL DEFAULT 'none';
ALTER TABLE accounts ADD COLUMN min_purchase_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN max_balance_minor BIGINT;

ALTER TABLE meters ADD COLUMN tariff_code TEXT;
ALTER TABLE meters ADD COLUMN relay TEXT NOT NULL DEFAULT 'closed';

CREATE TABLE vending_points (
    id              UUID PRIMARY KEY,
    premises_id     UUID NOT NULL REFERENCES premises(id),
    name            TEXT NOT NULL,
    currency        TEXT NOT NULL,
    books_id        UUID NOT NULL REFERENCES books(id),
    active          BOOLEAN NOT NULL,
    last_receipt_no BIGINT NOT NULL CHECK (last_receipt_no >= 0),
    created_at_us   BIGINT NOT NULL
);

CREATE TABLE shifts (
    id                  UUID PRIMARY KEY,
    vending_point_id    UUID NOT NULL REFERENCES vending_points(id),
    operator_id         UUID NOT NULL REFERENCES operators(id),
    drawer_id           UUID NOT NULL REFERENCES ledger_accounts(id),
    opened_at_us        BIGINT NOT NULL,
    opening_float_minor BIGINT NOT NULL,
    status              TEXT NOT NULL,
    closed_at_us        BIGINT,
    expected_minor      BIGINT,
    counted_minor       BIGINT
);
CREATE INDEX shifts_operator ON shifts(operator_id, status);

CREATE TABLE sts_meters (
    meter_id    UUID PRIMARY KEY REFERENCES meters(id),
    pan         TEXT NOT NULL,
    ea          TEXT NOT NULL,
    kt          BIGINT NOT NULL,
    sgc         BIGINT NOT NULL,
    ti          BIGINT NOT NULL,
    krn         BIGINT NOT NULL,
    ken         BIGINT NOT NULL,
    base        TEXT NOT NULL,
    last_tid    BIGINT
);

CREATE TABLE reading_states (
    meter_id    UUID PRIMARY KEY REFERENCES meters(id),
    at_us       BIGINT NOT NULL,
    registers   TEXT NOT NULL
);

CREATE TABLE readings (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id     UUID NOT NULL REFERENCES meters(id),
    at_us        BIGINT NOT NULL,
    registers    TEXT NOT NULL,
    status       TEXT NOT NULL,
    operation_id UUID NOT NULL,
    note         TEXT NOT NULL
);
CREATE INDEX readings_meter ON readings(meter_id, at_us);

CREATE TABLE sales (
    operation_id        UUID PRIMARY KEY,
    vending_point_id    UUID NOT NULL REFERENCES vending_points(id),
    receipt_no          BIGINT NOT NULL,
    shift_id            UUID NOT NULL REFERENCES shifts(id),
    operator_id         UUID NOT NULL REFERENCES operators(id),
    account_id          UUID NOT NULL REFERENCES accounts(id),
    meter_id            UUID NOT NULL REFERENCES meters(id),
    at_us               BIGINT NOT NULL,
    method              TEXT NOT NULL,
    reference           TEXT NOT NULL,
    paid_minor          BIGINT NOT NULL,
    arrears_minor       BIGINT NOT NULL,
    fees_minor          BIGINT NOT NULL,
    tax_minor           BIGINT NOT NULL,
    energy_minor        BIGINT NOT NULL,
    credit_minor        BIGINT NOT NULL,
    quantity_milli      BIGINT NOT NULL,
    tokens              TEXT NOT NULL,
    transfer_id         UUID NOT NULL REFERENCES transfers(id),
    balance_after_minor BIGINT NOT NULL,
    reallocated_from    UUID REFERENCES transfers(id),
    UNIQUE (vending_point_id, receipt_no)
);
CREATE INDEX sales_account ON sales(account_id, at_us);

CREATE TABLE outbox (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operation_id UUID NOT NULL,
    idx          BIGINT NOT NULL,
    meter_id     UUID NOT NULL REFERENCES meters(id),
    kind         TEXT NOT NULL,
    at_us        BIGINT NOT NULL,
    UNIQUE (operation_id, idx)
);

CREATE TABLE idempotency (
    operation_id UUID PRIMARY KEY,
    fingerprint  BYTEA NOT NULL,
    kind         TEXT NOT NULL,
    at_us        BIGINT NOT NULL,
    response     BYTEA
);

CREATE TABLE audit_log (
    seq          BIGINT PRIMARY KEY,
    at_us        BIGINT NOT NULL,
    operation_id UUID NOT NULL,
    operator_id  UUID,
    source       TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    before_text  TEXT NOT NULL,
    after_text   TEXT NOT NULL,
    prev_hash    BYTEA NOT NULL,
    hash         BYTEA NOT NULL
);

-- The head of the audit chain, kept apart from it so that records cut off the end show (one row).
CREATE TABLE audit_head (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    seq     BIGINT NOT NULL,
    hash    BYTEA NOT NULL
);

-- Bumped by every batch a writer commits: a writer whose cache was filled at another generation drops it.
CREATE TABLE writer_state (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL
);
INSERT INTO writer_state (id, generation) VALUES (1, 0);

-- What this database is for: `bench` and `demo` databases say so, and `bench` refuses any other.
CREATE TABLE meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

CREATE INDEX transfers_corrects ON transfers(corrects_id) WHERE corrects_id IS NOT NULL;

CREATE TRIGGER readings_append_only BEFORE UPDATE OR DELETE ON readings
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
CREATE TRIGGER sales_append_only BEFORE UPDATE OR DELETE ON sales
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
CREATE TRIGGER idempotency_append_only BEFORE UPDATE ON idempotency
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
