-- System alarms (a scheduled backup that failed) go through the notification outbox like a meter's
-- notifications, so they are delivered, in order and at least once, even when a sender is down: an outbox row
-- about no meter, with what went wrong.
ALTER TABLE outbox ALTER COLUMN meter_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN detail TEXT NOT NULL DEFAULT '';
