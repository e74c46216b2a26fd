-- 后付费账单 (issue 18, part 1): a postpaid billing cycle is a fee schedule whose basis is `postpaid` (see
-- docs/adr/0006-postpaid-bills-are-fee-charges.md). Its rate is the monthly standing charge, which may be zero;
-- each month's bill is the unit's charge, with what it is made of: the usage billed (the account's arrears and
-- negative wallet, moved to the cycle's receivable), the wallet credit applied, and earlier bills still unpaid
-- when it was issued. A late fee by the schedule's rule is added to a charge once, when the month is dunned;
-- a cycle may disconnect the supplies of bills still unpaid a number of days after the dunning notice; a
-- counter payment's over-payment is credited to a postpaid account's wallet.
--
-- SQLite cannot alter a CHECK constraint: fee_schedules is rebuilt. Other tables reference it, so their
-- foreign-key checks are deferred to the commit, by which the rows are back under the same name.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE fee_schedules_copy AS SELECT * FROM fee_schedules;
DROP TABLE fee_schedules;
CREATE TABLE fee_schedules (
    id              BLOB PRIMARY KEY NOT NULL,
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    name            TEXT NOT NULL,
    basis           TEXT NOT NULL,
    rate_minor      INTEGER NOT NULL CHECK (rate_minor > 0 OR (basis = 'postpaid' AND rate_minor = 0)),
    currency        TEXT NOT NULL,
    due_day         INTEGER NOT NULL CHECK (due_day BETWEEN 1 AND 28),
    receivable_id   BLOB NOT NULL REFERENCES ledger_accounts(id),
    revenue_id      BLOB NOT NULL REFERENCES ledger_accounts(id),
    created_at_us   INTEGER NOT NULL,
    late_fee_bp     INTEGER NOT NULL DEFAULT 0 CHECK (late_fee_bp BETWEEN 0 AND 10000),
    disconnect_after_days INTEGER NOT NULL DEFAULT 0 CHECK (disconnect_after_days BETWEEN 0 AND 365)
);
INSERT INTO fee_schedules (id, premises_id, name, basis, rate_minor, currency, due_day, receivable_id, revenue_id,
                           created_at_us)
    SELECT id, premises_id, name, basis, rate_minor, currency, due_day, receivable_id, revenue_id, created_at_us
    FROM fee_schedules_copy;
DROP TABLE fee_schedules_copy;
CREATE INDEX fee_schedules_premises ON fee_schedules (premises_id);

ALTER TABLE fee_runs ADD COLUMN not_postpaid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_runs ADD COLUMN dunned_at_us INTEGER;
ALTER TABLE fee_runs ADD COLUMN dunned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_runs ADD COLUMN late_fees_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_runs ADD COLUMN disconnected_at_us INTEGER;
ALTER TABLE fee_runs ADD COLUMN disconnected INTEGER NOT NULL DEFAULT 0;

ALTER TABLE fee_charges ADD COLUMN usage_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_charges ADD COLUMN credit_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_charges ADD COLUMN carried_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fee_charges ADD COLUMN late_fee_minor INTEGER NOT NULL DEFAULT 0;

ALTER TABLE fee_payments ADD COLUMN credit_minor INTEGER NOT NULL DEFAULT 0;
