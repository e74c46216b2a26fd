-- 累计结余: the credit sold onto a local meter (STS keypad, IC card) over its life, net of reversals and
-- buy-backs, and the return data (回抄数据) it last reported: credit paid for and not yet used.
ALTER TABLE meters ADD COLUMN sold_milli BIGINT NOT NULL DEFAULT 0;
ALTER TABLE meters ADD COLUMN sold_value_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE meters ADD COLUMN sold_tax_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE meters ADD COLUMN last_sale_at_us BIGINT;
ALTER TABLE meters ADD COLUMN return_at_us BIGINT;
ALTER TABLE meters ADD COLUMN return_source TEXT;
ALTER TABLE meters ADD COLUMN return_remaining_milli BIGINT;
