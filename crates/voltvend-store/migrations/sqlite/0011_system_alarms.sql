-- System alarms (a scheduled backup that failed) go through the notification outbox like a meter's
-- notifications, so they are delivered, in order and at least once, even when a sender is down: an outbox row
-- about no meter, with what went wrong. SQLite cannot drop a NOT NULL constraint: the table is rebuilt (its
-- sequence numbers, which senders keep their position by, are kept).
CREATE TABLE outbox_new (
    seq          INTEGER PRIMARY KEY,
    operation_id BLOB NOT NULL,
    idx          INTEGER NOT NULL,
    meter_id     BLOB REFERENCES meters(id),
    kind         TEXT NOT NULL,
    at_us        INTEGER NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    UNIQUE (operation_id, idx)
);
INSERT INTO outbox_new (seq, operation_id, idx, meter_id, kind, at_us)
    SELECT seq, operation_id, idx, meter_id, kind, at_us FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
