-- The language an operator chose for their pages (zh-CN or en); NULL until they choose.
ALTER TABLE operators ADD COLUMN language TEXT;
