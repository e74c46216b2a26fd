-- Online payments (issue 16): payment channels (a merchant account at a provider, selling for one property's
-- books through its own vending point and standing shift) and customers' payment intents (see
-- voltvend_ops::PaymentChannel, voltvend_ops::PaymentIntent and docs/adr/0005-online-payment-channels.md).
CREATE TABLE payment_channels (
    id                  BLOB PRIMARY KEY NOT NULL,
    provider            TEXT NOT NULL,
    name                TEXT NOT NULL,
    premises_id         BLOB NOT NULL REFERENCES premises(id),
    books_id            BLOB NOT NULL REFERENCES books(id),
    currency            TEXT NOT NULL,
    vending_point_id    BLOB NOT NULL REFERENCES vending_points(id),
    shift_id            BLOB NOT NULL REFERENCES shifts(id),
    operator_id         BLOB NOT NULL REFERENCES operators(id),
    clearing            BLOB NOT NULL REFERENCES ledger_accounts(id),
    active              BOOLEAN NOT NULL,
    created_at_us       INTEGER NOT NULL
);

CREATE TABLE payment_intents (
    id                  BLOB PRIMARY KEY NOT NULL,
    channel_id          BLOB NOT NULL REFERENCES payment_channels(id),
    account_id          BLOB NOT NULL REFERENCES accounts(id),
    meter_id            BLOB NOT NULL REFERENCES meters(id),
    amount_minor        INTEGER NOT NULL,
    currency            TEXT NOT NULL,
    created_at_us       INTEGER NOT NULL,
    expires_at_us       INTEGER NOT NULL,
    status              TEXT NOT NULL,
    provider_txn        TEXT,
    paid_minor          INTEGER,
    paid_currency       TEXT,
    paid_at_us          INTEGER,
    settled_by          BLOB,
    reason_code         TEXT NOT NULL
);
CREATE INDEX payment_intents_channel ON payment_intents (channel_id, created_at_us);
CREATE INDEX payment_intents_open ON payment_intents (status, expires_at_us);
