-- What a write command writes (a balance for the meter's display, its four rate prices); empty for the others.
ALTER TABLE meter_commands ADD COLUMN value TEXT NOT NULL DEFAULT '';
-- The meter shows the balance and prices the master station writes to it.
ALTER TABLE meter_controls ADD COLUMN shows_credit BOOLEAN NOT NULL DEFAULT FALSE;
