-- 纠错 with maker-checker approval: a correction asked for by one operator, decided by another. Undecided rows
-- past expires_at_us have expired (derived when read, never written).
CREATE TABLE approvals (
    id                  UUID PRIMARY KEY,
    kind                TEXT NOT NULL,
    sale_id             UUID,
    account_id          UUID REFERENCES accounts(id),
    meter_id            UUID REFERENCES meters(id),
    shift_id            UUID REFERENCES shifts(id),
    amount_minor        BIGINT NOT NULL,
    premises_id         UUID NOT NULL REFERENCES premises(id),
    reason              TEXT NOT NULL,
    requested_by        UUID NOT NULL REFERENCES operators(id),
    requested_at_us     BIGINT NOT NULL,
    expires_at_us       BIGINT NOT NULL,
    decided_by          UUID REFERENCES operators(id),
    decided_at_us       BIGINT,
    approved            BOOLEAN,
    note                TEXT,
    decision_operation  UUID,
    transfer_id         UUID REFERENCES transfers(id),
    result_operation    UUID,
    void_tokens         TEXT NOT NULL
);
CREATE INDEX approvals_requested ON approvals(requested_at_us);
CREATE INDEX approvals_undecided ON approvals(decided_at_us, expires_at_us);

-- 交班结算: the cash count by denomination ("10000x3 500x2": face value in minor units × how many).
ALTER TABLE shifts ADD COLUMN denominations TEXT NOT NULL DEFAULT '';

-- STS key change campaigns: a meter's planned key change set waits on its STS record until its next sale (or a
-- field visit) delivers it. The change is kept as text: "kt=2;sgc=-;ti=-;krn=-;ken=-;rollover=1" ("-": kept).
CREATE TABLE key_campaigns (
    id              UUID PRIMARY KEY,
    name            TEXT NOT NULL,
    change          TEXT NOT NULL,
    created_at_us   BIGINT NOT NULL,
    created_by      UUID REFERENCES operators(id),
    planned         BIGINT NOT NULL,
    done            BIGINT NOT NULL
);
ALTER TABLE sts_meters ADD COLUMN pending_campaign UUID REFERENCES key_campaigns(id);
ALTER TABLE sts_meters ADD COLUMN pending_change TEXT;
ALTER TABLE sts_meters ADD COLUMN pending_tokens TEXT;
CREATE INDEX sts_meters_pending ON sts_meters(pending_campaign) WHERE pending_campaign IS NOT NULL;
