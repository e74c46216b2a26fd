-- The counter (issue "Counter…"): logins, sessions, API tokens and custom roles; the customer file; keys and
-- device secrets sealed under the master key; OpenPAYGO devices; refused payments; management tokens;
-- vending-point credit limits and per-meter hoarding limits.

ALTER TABLE operators ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operators ADD COLUMN locked_until_us INTEGER;
ALTER TABLE operators ADD COLUMN sessions_not_before_us INTEGER;

-- Custom roles; built-in roles are not stored. `permissions` lists permission codes separated by spaces.
CREATE TABLE roles (
    name            TEXT PRIMARY KEY NOT NULL,
    description     TEXT NOT NULL,
    permissions     TEXT NOT NULL,
    created_at_us   INTEGER NOT NULL
);

-- The customer file: person or company, an identity document, up to four phones (separated by ';').
ALTER TABLE customers ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';
ALTER TABLE customers ADD COLUMN id_doc_kind TEXT;
ALTER TABLE customers ADD COLUMN id_doc_number TEXT;
ALTER TABLE customers ADD COLUMN phones TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN email TEXT;
UPDATE customers SET phones = COALESCE(phone, '');
ALTER TABLE customers DROP COLUMN phone;
CREATE INDEX customers_premises ON customers(premises_id);

ALTER TABLE meters ADD COLUMN max_credit_minor INTEGER;
CREATE INDEX meters_premises ON meters(premises_id);

ALTER TABLE vending_points ADD COLUMN credit_limit_minor INTEGER;
ALTER TABLE vending_points ADD COLUMN outstanding_minor INTEGER NOT NULL DEFAULT 0;

-- Sealed secrets: `VVS1 ‖ master key id ‖ nonce ‖ AES-256-GCM ciphertext`, never the key itself.
CREATE TABLE vending_keys (
    sgc             INTEGER NOT NULL,
    krn             INTEGER NOT NULL,
    sealed          BLOB NOT NULL,
    created_at_us   INTEGER NOT NULL,
    PRIMARY KEY (sgc, krn)
);

CREATE TABLE opg_devices (
    meter_id                BLOB PRIMARY KEY NOT NULL REFERENCES meters(id),
    secret_sealed           BLOB NOT NULL,
    starting_code           INTEGER NOT NULL,
    last_count              INTEGER NOT NULL,
    extended                BOOLEAN NOT NULL,
    restricted              BOOLEAN NOT NULL,
    unit                    TEXT NOT NULL,
    price_minor_per_unit    INTEGER NOT NULL
);

-- Sessions by the SHA-256 of their token; API tokens by id, with the SHA-256 of their secret.
CREATE TABLE sessions (
    id_hash         BLOB PRIMARY KEY NOT NULL,
    operator_id     BLOB NOT NULL REFERENCES operators(id),
    created_at_us   INTEGER NOT NULL,
    expires_at_us   INTEGER NOT NULL,
    revoked_at_us   INTEGER,
    source          TEXT NOT NULL
);
CREATE INDEX sessions_operator ON sessions(operator_id);

CREATE TABLE api_tokens (
    id              BLOB PRIMARY KEY NOT NULL,
    operator_id     BLOB NOT NULL REFERENCES operators(id),
    name            TEXT NOT NULL,
    secret_hash     BLOB NOT NULL,
    created_at_us   INTEGER NOT NULL,
    expires_at_us   INTEGER,
    revoked_at_us   INTEGER,
    created_by      BLOB REFERENCES operators(id)
);
CREATE INDEX api_tokens_operator ON api_tokens(operator_id);

CREATE TABLE refused_payments (
    operation_id        BLOB PRIMARY KEY NOT NULL,
    at_us               INTEGER NOT NULL,
    vending_point_id    BLOB NOT NULL REFERENCES vending_points(id),
    shift_id            BLOB NOT NULL REFERENCES shifts(id),
    operator_id         BLOB NOT NULL REFERENCES operators(id),
    account_id          BLOB NOT NULL REFERENCES accounts(id),
    meter_id            BLOB NOT NULL REFERENCES meters(id),
    method              TEXT NOT NULL,
    reference           TEXT NOT NULL,
    paid_minor          INTEGER NOT NULL,
    reason_code         TEXT NOT NULL,
    reason              TEXT NOT NULL,
    transfer_id         BLOB NOT NULL REFERENCES transfers(id),
    refunded_by         BLOB,
    refunded_at_us      INTEGER
);
CREATE INDEX refused_payments_account ON refused_payments(account_id, at_us);
CREATE INDEX refused_payments_at ON refused_payments(at_us);

CREATE TABLE meter_tokens (
    seq             INTEGER PRIMARY KEY,
    operation_id    BLOB NOT NULL,
    meter_id        BLOB NOT NULL REFERENCES meters(id),
    at_us           INTEGER NOT NULL,
    operator_id     BLOB REFERENCES operators(id),
    kind            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    tokens          TEXT NOT NULL
);
CREATE INDEX meter_tokens_meter ON meter_tokens(meter_id, seq);

CREATE INDEX sales_at ON sales(at_us);
CREATE INDEX sales_meter ON sales(meter_id, at_us);
CREATE INDEX audit_operator ON audit_log(operator_id, seq);

CREATE TRIGGER meter_tokens_append_only_u BEFORE UPDATE ON meter_tokens BEGIN SELECT RAISE(ABORT, 'meter tokens are append-only'); END;
CREATE TRIGGER meter_tokens_append_only_d BEFORE DELETE ON meter_tokens BEGIN SELECT RAISE(ABORT, 'meter tokens are append-only'); END;
