-- 纠错 of rent, fees and bills (issue 18): a fee payment taken back, and a charge or bill adjusted (减免), each
-- asked for by one operator and approved by another like every correction. A request names the fee payment, or
-- the charge's schedule and month (the account names its unit); a charge keeps what corrections changed its
-- amount by, so that a bill's lines still add up to its amount. Whether a payment was taken back is read from
-- the ledger (its transfer's correction), not stored twice. Money owed back remembers what it was paid for
-- (energy, or rent, fees and bills), so that crediting it after review pays the same.
ALTER TABLE approvals ADD COLUMN fee_payment_id BLOB;
ALTER TABLE approvals ADD COLUMN schedule_id BLOB REFERENCES fee_schedules(id);
ALTER TABLE approvals ADD COLUMN period INTEGER;
ALTER TABLE fee_charges ADD COLUMN adjusted_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refused_payments ADD COLUMN purpose TEXT NOT NULL DEFAULT 'energy';
-- Online payments of rent and fees refused since 0023: the intent they settled names them.
UPDATE refused_payments SET purpose = 'fees'
    WHERE operation_id IN (SELECT settled_by FROM payment_intents WHERE purpose = 'fees' AND settled_by IS NOT NULL);
