-- PostgreSQL dialect of sqlite/0004_counter.sql. The counter (issue "Counter…"): logins, sessions, API tokens and custom roles; the customer file; keys and
-- device secrets sealed under the master key; OpenPAYGO devices; refused payments; management tokens;
-- vending-point credit limits and per-meter hoarding limits.

ALTER TABLE operators ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operators ADD COLUMN locked_until_us BIGINT;
ALTER TABLE operators ADD COLUMN sessions_not_before_us BIGINT;

-- Custom roles; built-in roles are not stored. `permissions` lists permission codes separated by spaces.
CREATE TABLE roles (
    name            TEXT PRIMARY KEY NOT NULL,
    description     TEXT NOT NULL,
    permissions     TEXT NOT NULL,
    created_at_us   BIGINT NOT NULL
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

ALTER TABLE meters ADD COLUMN max_credit_minor BIGINT;
CREATE INDEX meters_premises ON meters(premises_id);

ALTER TABLE vending_points ADD COLUMN credit_limit_minor BIGINT;
ALTER TABLE vending_points ADD COLUMN outstanding_minor BIGINT NOT NULL DEFAULT 0;

-- Sealed secrets: `VVS1 ‖ master key id ‖ nonce ‖ AES-256-GCM ciphertext`, never the key itself.
CREATE TABLE vending_keys (
    sgc             BIGINT NOT NULL,
    krn             BIGINT NOT NULL,
    sealed          BYTEA NOT NULL,
    created_at_us   BIGINT NOT NULL,
    PRIMARY KEY (sgc, krn)
);

CREATE TABLE opg_devices (
    meter_id                UUID PRIMARY KEY REFERENCES meters(id),
    secret_sealed           BYTEA NOT NULL,
    starting_code           BIGINT NOT NULL,
    last_count              BIGINT NOT NULL,
    extended                BOOLEAN NOT NULL,
    restricted              BOOLEAN NOT NULL,
    unit                    TEXT NOT NULL,
    price_minor_per_unit    BIGINT NOT NULL
);

-- Sessions by the SHA-256 of their token; API tokens by id, with the SHA-256 of their secret.
CREATE TABLE sessions (
    id_hash         BYTEA PRIMARY KEY,
    operator_id     UUID NOT NULL REFERENCES operators(id),
    created_at_us   BIGINT NOT NULL,
    expires_at_us   BIGINT NOT NULL,
    revoked_at_us   BIGINT,
    source          TEXT NOT NULL
);
CREATE INDEX sessions_operator ON sessions(operator_id);

CREATE TABLE api_tokens (
    id              UUID PRIMARY KEY,
    operator_id     UUID NOT NULL REFERENCES operators(id),
    name            TEXT NOT NULL,
    secret_hash     BYTEA NOT NULL,
    created_at_us   BIGINT NOT NULL,
    expires_at_us   BIGINT,
    revoked_at_us   BIGINT,
    created_by      UUID REFERENCES operators(id)
);
CREATE INDEX api_tokens_operator ON api_tokens(operator_id);

CREATE TABLE refused_payments (
    operation_id        UUID PRIMARY KEY,
    at_us               BIGINT NOT NULL,
    vending_point_id    UUID NOT NULL REFERENCES vending_points(id),
    shift_id            UUID NOT NULL REFERENCES shifts(id),
    operator_id         UUID NOT NULL REFERENCES operators(id),
    account_id          UUID NOT NULL REFERENCES accounts(id),
    meter_id            UUID NOT NULL REFERENCES meters(id),
    method              TEXT NOT NULL,
    reference           TEXT NOT NULL,
    paid_minor          BIGINT NOT NULL,
    reason_code         TEXT NOT NULL,
    reason              TEXT NOT NULL,
    transfer_id         UUID NOT NULL REFERENCES transfers(id),
    refunded_by         UUID,
    refunded_at_us      BIGINT
);
CREATE INDEX refused_payments_account ON refused_payments(account_id, at_us);
CREATE INDEX refused_payments_at ON refused_payments(at_us);

CREATE TABLE meter_tokens (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operation_id    UUID NOT NULL,
    meter_id        UUID NOT NULL REFERENCES meters(id),
    at_us           BIGINT NOT NULL,
    operator_id     UUID REFERENCES operators(id),
    kind            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    tokens          TEXT NOT NULL
);
CREATE INDEX meter_tokens_meter ON meter_tokens(meter_id, seq);

CREATE INDEX sales_at ON sales(at_us);
CREATE INDEX sales_meter ON sales(meter_id, at_us);
CREATE INDEX audit_operator ON audit_log(operator_id, seq);

CREATE TRIGGER meter_tokens_append_only BEFORE UPDATE OR DELETE ON meter_tokens
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
