-- The sales ledger is read in time order a page at a time (a 1 000 000-row export): its pages are keyed on
-- (at_us, operation_id), so the time index carries the operation id too and each page is one index range.
DROP INDEX sales_at;
CREATE INDEX sales_at ON sales(at_us, operation_id);
-- A shift's settlement sums its sales: found by the shift, not by scanning every sale.
CREATE INDEX sales_shift ON sales(shift_id);
