-- Tariff documents as imported (TOML or JSON), one row per revision, and per-account pricing state
-- (block position, free units used, month energy, the carried sub-minor remainder). i128 values are text.
CREATE TABLE tariff_documents (
    code            TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    document        TEXT NOT NULL,
    imported_at_us  INTEGER NOT NULL,
    PRIMARY KEY (code, revision)
);

CREATE TABLE pricing_states (
    account_id            BLOB NOT NULL REFERENCES accounts(id),
    tariff_code           TEXT NOT NULL,
    block_key             INTEGER,
    block_position_milli  INTEGER NOT NULL,
    free_key              INTEGER,
    free_used_milli       INTEGER NOT NULL,
    month_key             INTEGER,
    month_energy_femto    TEXT NOT NULL,
    carry_femto           TEXT NOT NULL,
    updated_at_us         INTEGER NOT NULL,
    PRIMARY KEY (account_id, tariff_code)
);
