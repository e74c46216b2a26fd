-- Online payments (issue 16): payment channels (a merchant account at a provider, selling for one property's
-- books through its own vending point and standing shift) and customers' payment intents (see
-- voltvend_ops::PaymentChannel, voltvend_ops::PaymentIntent and docs/adr/0005-online-payment-channels.md).
CREATE TABLE payment_channels (
    id                  UUID PRIMARY KEY NOT NULL,
    provider            TEXT NOT NULL,
    name                TEXT NOT NULL,
    premises_id         UUID NOT NULL REFERENCES premises(id),
    books_id            UUID NOT NULL REFERENCES books(id),
    currency            TEXT NOT NULL,
    vending_point_id    UUID NOT NULL REFERENCES vending_points(id),
    shift_id            UUID NOT NULL REFERENCES shifts(id),
    operator_id         UUID NOT NULL REFERENCES operators(id),
    clearing            UUID NOT NULL REFERENCES ledger_accounts(id),
    active              BOOLEAN NOT NULL,
    created_at_us       BIGINT NOT NULL
);

CREATE TABLE payment_intents (
    id                  UUID PRIMARY KEY NOT NULL,
    channel_id          UUID NOT NULL REFERENCES payment_channels(id),
    account_id          UUID NOT NULL REFERENCES accounts(id),
    meter_id            UUID NOT NULL REFERENCES meters(id),
    amount_minor        BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    created_at_us       BIGINT NOT NULL,
    expires_at_us       BIGINT NOT NULL,
    status              TEXT NOT NULL,
    provider_txn        TEXT,
    paid_minor          BIGINT,
    paid_currency       TEXT,
    paid_at_us          BIGINT,
    settled_by          UUID,
    reason_code         TEXT NOT NULL
);
CREATE INDEX payment_intents_channel ON payment_intents (channel_id, created_at_us);
CREATE INDEX payment_intents_open ON payment_intents (status, expires_at_us);
