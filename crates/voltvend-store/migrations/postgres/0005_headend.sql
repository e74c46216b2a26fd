-- The head end (DESIGN.md §2.5): how each meter is reached, its supply as wanted and as reported, and the
-- command outbox — commands with their retries, expiry and supersession.

CREATE TABLE meter_controls (
    meter_id            UUID PRIMARY KEY REFERENCES meters(id),
    channel             TEXT,
    keep_power          BOOLEAN NOT NULL,
    held_open           BOOLEAN NOT NULL,
    reported_at_us      BIGINT,
    reported_relay      TEXT,
    reported_keep_power BOOLEAN,
    -- The ids of the commands not yet done, oldest first, space-separated.
    pending             TEXT NOT NULL
);
CREATE INDEX meter_controls_channel ON meter_controls(channel) WHERE channel IS NOT NULL;

CREATE TABLE meter_commands (
    id              UUID PRIMARY KEY,
    meter_id        UUID NOT NULL REFERENCES meters(id),
    kind            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    operation_id    UUID NOT NULL,
    created_at_us   BIGINT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_us BIGINT NOT NULL,
    expires_at_us   BIGINT NOT NULL,
    last_error      TEXT NOT NULL,
    finished_at_us  BIGINT
);
-- What the head end works on next, and each meter's history.
CREATE INDEX meter_commands_due ON meter_commands(next_attempt_us) WHERE status = 'pending';
CREATE INDEX meter_commands_meter ON meter_commands(meter_id, created_at_us);
