-- IC-card prepaid (issue 15): card key sets' root keys, sealed under the master key, and each IC-card meter's
-- user card with its purchase sequence (see voltvend_ops::MeterCard and docs/cards.md).
CREATE TABLE card_keys (
    key_no          BIGINT PRIMARY KEY NOT NULL,
    algorithm       TEXT NOT NULL,
    sealed          BYTEA NOT NULL,
    created_at_us   BIGINT NOT NULL
);

CREATE TABLE meter_cards (
    meter_id                UUID PRIMARY KEY NOT NULL REFERENCES meters(id),
    serial                  TEXT NOT NULL,
    status                  TEXT NOT NULL,
    generation              BIGINT NOT NULL,
    key_no                  BIGINT NOT NULL REFERENCES card_keys(key_no),
    -- Serials of the cards this one replaced, oldest first, separated by spaces.
    replaced                TEXT NOT NULL,
    sold_count              BIGINT NOT NULL,
    loaded_count            BIGINT NOT NULL,
    last_purchase_sale      UUID,
    last_purchase_milli     BIGINT NOT NULL,
    last_purchase_at_us     BIGINT,
    issued_at_us            BIGINT NOT NULL
);
CREATE INDEX meter_cards_serial ON meter_cards (serial);
