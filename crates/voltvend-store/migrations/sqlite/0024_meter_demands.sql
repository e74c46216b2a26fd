-- 最大需量 (issue 18, part 4): what meters' maximum-demand registers said (DL/T 645-2007 0101xxxx), read with
-- their energy by the head end. One row per meter and time of the maximum: the same register read again is the
-- row already kept; after the meter clears it (a month's end) the next maximum is a new row.
CREATE TABLE meter_demands (
    meter_id      BLOB NOT NULL REFERENCES meters(id),
    demand_at_us  INTEGER NOT NULL,
    demand_w      INTEGER NOT NULL CHECK (demand_w > 0),
    read_at_us    INTEGER NOT NULL,
    PRIMARY KEY (meter_id, demand_at_us)
);
CREATE INDEX meter_demands_at ON meter_demands (demand_at_us);
CREATE TRIGGER meter_demands_append_only_u BEFORE UPDATE ON meter_demands BEGIN SELECT RAISE(ABORT, 'meter demands are append-only'); END;
CREATE TRIGGER meter_demands_append_only_d BEFORE DELETE ON meter_demands BEGIN SELECT RAISE(ABORT, 'meter demands are append-only'); END;
