-- Tariff documents as imported (TOML or JSON), one row per revision, and per-account pricing state
-- (block position, free units used, month energy, the carried sub-minor remainder). i128 values are text.
CREATE TABLE tariff_documents (
    code            TEXT NOT NULL,
    revision        BIGINT NOT NULL,
    name            TEXT NOT NULL,
    document        TEXT NOT NULL,
    imported_at_us  BIGINT NOT NULL,
    PRIMARY KEY (code, revision)
);

CREATE TABLE pricing_states (
    account_id            UUID NOT NULL REFERENCES accounts(id),
    tariff_code           TEXT NOT NULL,
    block_key             BIGINT,
    block_position_milli  BIGINT NOT NULL,
    free_key              BIGINT,
    free_used_milli       BIGINT NOT NULL,
    month_key             BIGINT,
    month_energy_femto    TEXT NOT NULL,
    carry_femto           TEXT NOT NULL,
    updated_at_us         BIGINT NOT NULL,
    PRIMARY KEY (account_id, tariff_code)
);
