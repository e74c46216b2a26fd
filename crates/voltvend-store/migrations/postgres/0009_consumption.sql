-- Consumption by premises and building: what billing counted for the interval each reading ends (rollovers
-- and rebases resolved), so that reports sum what was billed rather than re-deriving it from registers.
-- Readings stored before this migration count zero (their consumption was billed but not kept per reading).
ALTER TABLE readings ADD COLUMN consumption_milli BIGINT NOT NULL DEFAULT 0;
