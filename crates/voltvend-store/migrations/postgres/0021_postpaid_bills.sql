-- 后付费账单 (issue 18, part 1): a postpaid billing cycle is a fee schedule whose basis is `postpaid` (see
-- docs/adr/0006-postpaid-bills-are-fee-charges.md). Its rate is the monthly standing charge, which may be zero;
-- each month's bill is the unit's charge, with what it is made of: the usage billed (the account's arrears and
-- negative wallet, moved to the cycle's receivable), the wallet credit applied, and earlier bills still unpaid
-- when it was issued. A late fee by the schedule's rule is added to a charge once, when the month is dunned;
-- a cycle may disconnect the supplies of bills still unpaid a number of days after the dunning notice; a
-- counter payment's over-payment is credited to a postpaid account's wallet.
ALTER TABLE fee_schedules DROP CONSTRAINT fee_schedules_rate_minor_check;
ALTER TABLE fee_schedules ADD CONSTRAINT fee_schedules_rate_minor_check
    CHECK (rate_minor > 0 OR (basis = 'postpaid' AND rate_minor = 0));
ALTER TABLE fee_schedules ADD COLUMN late_fee_bp BIGINT NOT NULL DEFAULT 0 CHECK (late_fee_bp BETWEEN 0 AND 10000);
ALTER TABLE fee_schedules ADD COLUMN disconnect_after_days BIGINT NOT NULL DEFAULT 0
    CHECK (disconnect_after_days BETWEEN 0 AND 365);

ALTER TABLE fee_runs ADD COLUMN not_postpaid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fee_runs ADD COLUMN dunned_at_us BIGINT;
ALTER TABLE fee_runs ADD COLUMN dunned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fee_runs ADD COLUMN late_fees_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fee_runs ADD COLUMN disconnected_at_us BIGINT;
ALTER TABLE fee_runs ADD COLUMN disconnected BIGINT NOT NULL DEFAULT 0;

ALTER TABLE fee_charges ADD COLUMN usage_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fee_charges ADD COLUMN credit_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fee_charges ADD COLUMN carried_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fee_charges ADD COLUMN late_fee_minor BIGINT NOT NULL DEFAULT 0;

ALTER TABLE fee_payments ADD COLUMN credit_minor BIGINT NOT NULL DEFAULT 0;
