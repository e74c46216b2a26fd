-- The operations spine (ADR 0002): what links accounts and meters to the ledger and the counter, the per-meter
-- token and reading state, and the append-only records every operation writes in its own transaction.

CREATE TABLE books (
    id                      BLOB PRIMARY KEY NOT NULL,
    premises_id             BLOB NOT NULL REFERENCES premises(id),
    currency                TEXT NOT NULL,
    energy_revenue_id       BLOB NOT NULL REFERENCES ledger_accounts(id),
    fixed_charge_revenue_id BLOB NOT NULL REFERENCES ledger_accounts(id),
    tax_id                  BLOB NOT NULL REFERENCES ledger_accounts(id),
    refunds_id              BLOB NOT NULL REFERENCES ledger_accounts(id),
    write_off_id            BLOB NOT NULL REFERENCES ledger_accounts(id),
    cash_variance_id        BLOB NOT NULL REFERENCES ledger_accounts(id),
    card_clearing_id        BLOB NOT NULL REFERENCES ledger_accounts(id),
    transfer_clearing_id    BLOB NOT NULL REFERENCES ledger_accounts(id),
    created_at_us           INTEGER NOT NULL,
    UNIQUE (premises_id, currency)
);

ALTER TABLE accounts ADD COLUMN wallet_id BLOB REFERENCES ledger_accounts(id);
ALTER TABLE accounts ADD COLUMN arrears_id BLOB REFERENCES ledger_accounts(id);
ALTER TABLE accounts ADD COLUMN books_id BLOB REFERENCES books(id);
-- `none`, `share:<ppm>` or `fixed:<minor>`.
ALTER TABLE accounts ADD COLUMN recovery TEXT NOT NULL DEFAULT 'none';
ALTER TABLE accounts ADD COLUMN min_purchase_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN max_balance_minor INTEGER;

ALTER TABLE meters ADD COLUMN tariff_code TEXT;
ALTER TABLE meters ADD COLUMN relay TEXT NOT NULL DEFAULT 'closed';


CREATE TABLE vending_points (
    id              BLOB PRIMARY KEY NOT NULL,
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    name            TEXT NOT NULL,
    currency        TEXT NOT NULL,
    books_id        BLOB NOT NULL REFERENCES books(id),
    active          BOOLEAN NOT NULL,
    last_receipt_no INTEGER NOT NULL CHECK (last_receipt_no >= 0),
    created_at_us   INTEGER NOT NULL
);

CREATE TABLE shifts (
    id                  BLOB PRIMARY KEY NOT NULL,
    vending_point_id    BLOB NOT NULL REFERENCES vending_points(id),
    operator_id         BLOB NOT NULL REFERENCES operators(id),
    drawer_id           BLOB NOT NULL REFERENCES ledger_accounts(id),
    opened_at_us        INTEGER NOT NULL,
    opening_float_minor INTEGER NOT NULL,
    status              TEXT NOT NULL,
    closed_at_us        INTEGER,
    expected_minor      INTEGER,
    counted_minor       INTEGER
);
CREATE INDEX shifts_operator ON shifts(operator_id, status);

CREATE TABLE sts_meters (
    meter_id    BLOB PRIMARY KEY NOT NULL REFERENCES meters(id),
    pan         TEXT NOT NULL,
    ea          TEXT NOT NULL,
    kt          INTEGER NOT NULL,
    sgc         INTEGER NOT NULL,
    ti          INTEGER NOT NULL,
    krn         INTEGER NOT NULL,
    ken         INTEGER NOT NULL,
    base        TEXT NOT NULL,
    last_tid    INTEGER
);

CREATE TABLE reading_states (
    meter_id    BLOB PRIMARY KEY NOT NULL REFERENCES meters(id),
    at_us       INTEGER NOT NULL,
    registers   TEXT NOT NULL
);

CREATE TABLE readings (
    seq          INTEGER PRIMARY KEY,
    meter_id     BLOB NOT NULL REFERENCES meters(id),
    at_us        INTEGER NOT NULL,
    registers    TEXT NOT NULL,
    status       TEXT NOT NULL,
    operation_id BLOB NOT NULL,
    note         TEXT NOT NULL
);
CREATE INDEX readings_meter ON readings(meter_id, at_us);

CREATE TABLE sales (
    operation_id        BLOB PRIMARY KEY NOT NULL,
    vending_point_id    BLOB NOT NULL REFERENCES vending_points(id),
    receipt_no          INTEGER NOT NULL,
    shift_id            BLOB NOT NULL REFERENCES shifts(id),
    operator_id         BLOB NOT NULL REFERENCES operators(id),
    account_id          BLOB NOT NULL REFERENCES accounts(id),
    meter_id            BLOB NOT NULL REFERENCES meters(id),
    at_us               INTEGER NOT NULL,
    method              TEXT NOT NULL,
    reference           TEXT NOT NULL,
    paid_minor          INTEGER NOT NULL,
    arrears_minor       INTEGER NOT NULL,
    fees_minor          INTEGER NOT NULL,
    tax_minor           INTEGER NOT NULL,
    energy_minor        INTEGER NOT NULL,
    credit_minor        INTEGER NOT NULL,
    quantity_milli      INTEGER NOT NULL,
    tokens              TEXT NOT NULL,
    transfer_id         BLOB NOT NULL REFERENCES transfers(id),
    balance_after_minor INTEGER NOT NULL,
    reallocated_from    BLOB REFERENCES transfers(id),
    UNIQUE (vending_point_id, receipt_no)
);
CREATE INDEX sales_account ON sales(account_id, at_us);

CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY,
    operation_id BLOB NOT NULL,
    idx          INTEGER NOT NULL,
    meter_id     BLOB NOT NULL REFERENCES meters(id),
    kind         TEXT NOT NULL,
    at_us        INTEGER NOT NULL,
    UNIQUE (operation_id, idx)
);

CREATE TABLE idempotency (
    operation_id BLOB PRIMARY KEY NOT NULL,
    fingerprint  BLOB NOT NULL,
    kind         TEXT NOT NULL,
    at_us        INTEGER NOT NULL,
    response     BLOB
);

CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY NOT NULL,
    at_us        INTEGER NOT NULL,
    operation_id BLOB NOT NULL,
    operator_id  BLOB,
    source       TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    before_text  TEXT NOT NULL,
    after_text   TEXT NOT NULL,
    prev_hash    BLOB NOT NULL,
    hash         BLOB NOT NULL
);

-- The head of the audit chain, kept apart from it so that records cut off the end show (one row).
CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    seq     INTEGER NOT NULL,
    hash    BLOB NOT NULL
);

-- Bumped by every batch a writer commits: a writer whose cache was filled at another generation drops it.
CREATE TABLE writer_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO writer_state (id, generation) VALUES (1, 0);

-- What this database is for: `bench` and `demo` databases say so, and `bench` refuses any other.
CREATE TABLE meta (
    key     TEXT PRIMARY KEY NOT NULL,
    value   TEXT NOT NULL
);

CREATE INDEX transfers_corrects ON transfers(corrects_id) WHERE corrects_id IS NOT NULL;

CREATE TRIGGER readings_append_only_u BEFORE UPDATE ON readings BEGIN SELECT RAISE(ABORT, 'readings are append-only'); END;
CREATE TRIGGER readings_append_only_d BEFORE DELETE ON readings BEGIN SELECT RAISE(ABORT, 'readings are append-only'); END;
CREATE TRIGGER sales_append_only_u BEFORE UPDATE ON sales BEGIN SELECT RAISE(ABORT, 'sales are append-only'); END;
CREATE TRIGGER sales_append_only_d BEFORE DELETE ON sales BEGIN SELECT RAISE(ABORT, 'sales are append-only'); END;
CREATE TRIGGER idempotency_append_only_u BEFORE UPDATE ON idempotency BEGIN SELECT RAISE(ABORT, 'idempotency records are append-only'); END;
CREATE TRIGGER audit_append_only_u BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_d BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
