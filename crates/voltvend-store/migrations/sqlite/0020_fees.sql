-- 房租 / 物业费 (issue 18): units' floor areas, fee schedules and the months issued under them, each unit's
-- charge and what was paid towards it, counter payments of fees with their receipts, and the overdue-fee policy
-- per premises (see voltvend_ops::FeeSchedule, FeeRun, FeeCharge, FeePayment, FeeAllocation, FeePolicy).
-- Schedules, runs, payments and allocations are append-only; a charge's paid amount grows as it is paid.
CREATE TABLE floor_areas (
    premises_id     BLOB PRIMARY KEY NOT NULL REFERENCES premises(id),
    floor_area_dm2  INTEGER NOT NULL CHECK (floor_area_dm2 > 0)
);

CREATE TABLE fee_policies (
    premises_id     BLOB PRIMARY KEY NOT NULL REFERENCES premises(id),
    policy          TEXT NOT NULL,
    share_bp        INTEGER NOT NULL CHECK (share_bp BETWEEN 0 AND 10000)
);

CREATE TABLE fee_schedules (
    id              BLOB PRIMARY KEY NOT NULL,
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    name            TEXT NOT NULL,
    basis           TEXT NOT NULL,
    rate_minor      INTEGER NOT NULL CHECK (rate_minor > 0),
    currency        TEXT NOT NULL,
    due_day         INTEGER NOT NULL CHECK (due_day BETWEEN 1 AND 28),
    receivable_id   BLOB NOT NULL REFERENCES ledger_accounts(id),
    revenue_id      BLOB NOT NULL REFERENCES ledger_accounts(id),
    created_at_us   INTEGER NOT NULL
);
CREATE INDEX fee_schedules_premises ON fee_schedules (premises_id);

CREATE TABLE fee_runs (
    operation_id    BLOB PRIMARY KEY NOT NULL,
    schedule_id     BLOB NOT NULL REFERENCES fee_schedules(id),
    period          INTEGER NOT NULL,
    due_on          TEXT NOT NULL,
    charged         INTEGER NOT NULL,
    total_minor     INTEGER NOT NULL,
    vacant          INTEGER NOT NULL,
    transfer_id     BLOB,
    at_us           INTEGER NOT NULL,
    UNIQUE (schedule_id, period)
);

CREATE TABLE fee_charges (
    schedule_id     BLOB NOT NULL REFERENCES fee_schedules(id),
    period          INTEGER NOT NULL,
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    account_id      BLOB NOT NULL REFERENCES accounts(id),
    amount_minor    INTEGER NOT NULL CHECK (amount_minor >= 0),
    paid_minor      INTEGER NOT NULL CHECK (paid_minor >= 0 AND paid_minor <= amount_minor),
    due_on          TEXT NOT NULL,
    issued_at_us    INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, period, premises_id)
);
-- The loader asks for every loaded account's unpaid charges: a partial index keeps that to the few unpaid.
CREATE INDEX fee_charges_unpaid ON fee_charges (account_id) WHERE paid_minor < amount_minor;
CREATE INDEX fee_charges_account ON fee_charges (account_id, due_on);

CREATE TABLE fee_payments (
    operation_id     BLOB PRIMARY KEY NOT NULL,
    vending_point_id BLOB NOT NULL REFERENCES vending_points(id),
    receipt_no       INTEGER NOT NULL,
    shift_id         BLOB NOT NULL REFERENCES shifts(id),
    operator_id      BLOB NOT NULL REFERENCES operators(id),
    account_id       BLOB NOT NULL REFERENCES accounts(id),
    at_us            INTEGER NOT NULL,
    method           TEXT NOT NULL,
    reference        TEXT NOT NULL,
    paid_minor       INTEGER NOT NULL,
    transfer_id      BLOB NOT NULL,
    UNIQUE (vending_point_id, receipt_no)
);
CREATE INDEX fee_payments_account ON fee_payments (account_id, at_us);

CREATE TABLE fee_allocations (
    operation_id    BLOB NOT NULL,
    idx             INTEGER NOT NULL,
    schedule_id     BLOB NOT NULL REFERENCES fee_schedules(id),
    period          INTEGER NOT NULL,
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    at_us           INTEGER NOT NULL,
    PRIMARY KEY (operation_id, idx)
);
CREATE INDEX fee_allocations_charge ON fee_allocations (schedule_id, period, premises_id);

-- A sale's share paid towards overdue rent and fees.
ALTER TABLE sales ADD COLUMN property_fees_minor INTEGER NOT NULL DEFAULT 0;
