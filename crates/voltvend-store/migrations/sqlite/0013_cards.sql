-- IC-card prepaid (issue 15): card key sets' root keys, sealed under the master key, and each IC-card meter's
-- user card with its purchase sequence (see voltvend_ops::MeterCard and docs/cards.md).
CREATE TABLE card_keys (
    key_no          INTEGER PRIMARY KEY NOT NULL,
    algorithm       TEXT NOT NULL,
    sealed          BLOB NOT NULL,
    created_at_us   INTEGER NOT NULL
);

CREATE TABLE meter_cards (
    meter_id                BLOB PRIMARY KEY NOT NULL REFERENCES meters(id),
    serial                  TEXT NOT NULL,
    status                  TEXT NOT NULL,
    generation              INTEGER NOT NULL,
    key_no                  INTEGER NOT NULL REFERENCES card_keys(key_no),
    -- Serials of the cards this one replaced, oldest first, separated by spaces.
    replaced                TEXT NOT NULL,
    sold_count              INTEGER NOT NULL,
    loaded_count            INTEGER NOT NULL,
    last_purchase_sale      BLOB,
    last_purchase_milli     INTEGER NOT NULL,
    last_purchase_at_us     INTEGER,
    issued_at_us            INTEGER NOT NULL
);
CREATE INDEX meter_cards_serial ON meter_cards (serial);
