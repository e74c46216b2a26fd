-- Voltvend schema, PostgreSQL dialect. Instants are microseconds since the Unix epoch (BIGINT) so that both
-- backends share one row format; money is BIGINT minor units. Hot tables are keyed by time-ordered values.

CREATE TABLE premises (
    id              UUID PRIMARY KEY,
    parent_id       UUID REFERENCES premises(id),
    level           TEXT NOT NULL,
    name            TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    path            TEXT NOT NULL,
    created_at_us   BIGINT NOT NULL
);
CREATE INDEX premises_parent ON premises(parent_id);
CREATE INDEX premises_path ON premises(path text_pattern_ops);

CREATE TABLE customers (
    id              UUID PRIMARY KEY,
    premises_id     UUID NOT NULL REFERENCES premises(id),
    name            TEXT NOT NULL,
    phone           TEXT,
    created_at_us   BIGINT NOT NULL
);

CREATE TABLE accounts (
    id              UUID PRIMARY KEY,
    customer_id     UUID NOT NULL REFERENCES customers(id),
    premises_id     UUID NOT NULL REFERENCES premises(id),
    billing_mode    TEXT NOT NULL,
    status          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    created_at_us   BIGINT NOT NULL
);
CREATE INDEX accounts_customer ON accounts(customer_id);

CREATE TABLE meters (
    id              UUID PRIMARY KEY,
    serial          TEXT NOT NULL UNIQUE,
    utility         TEXT NOT NULL,
    control_mode    TEXT NOT NULL,
    protocol        TEXT NOT NULL,
    address         TEXT NOT NULL,
    ct_ratio        BIGINT NOT NULL,
    vt_ratio        BIGINT NOT NULL,
    state           TEXT NOT NULL,
    premises_id     UUID REFERENCES premises(id),
    account_id      UUID REFERENCES accounts(id),
    created_at_us   BIGINT NOT NULL
);
CREATE INDEX meters_account ON meters(account_id);

CREATE TABLE operators (
    id              UUID PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL,
    scope_id        UUID NOT NULL REFERENCES premises(id),
    password_hash   TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    created_at_us   BIGINT NOT NULL
);

CREATE TABLE ledger_accounts (
    id                    UUID PRIMARY KEY,
    kind                  TEXT NOT NULL,
    owner                 TEXT NOT NULL,
    premises_id           UUID NOT NULL REFERENCES premises(id),
    currency              TEXT NOT NULL,
    overdraft_limit_minor BIGINT,
    debits_posted_minor   BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted_minor >= 0),
    credits_posted_minor  BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted_minor >= 0),
    created_at_us         BIGINT NOT NULL,
    UNIQUE (kind, owner, premises_id, currency)
);

CREATE TABLE transfers (
    seq             BIGINT PRIMARY KEY,
    id              UUID NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    currency        TEXT NOT NULL,
    corrects_id     UUID REFERENCES transfers(id),
    memo            TEXT NOT NULL,
    posted_at_us    BIGINT NOT NULL
);

CREATE TABLE entries (
    transfer_seq    BIGINT NOT NULL REFERENCES transfers(seq),
    idx             BIGINT NOT NULL,
    account_id      UUID NOT NULL REFERENCES ledger_accounts(id),
    amount_minor    BIGINT NOT NULL CHECK (amount_minor <> 0),
    PRIMARY KEY (transfer_seq, idx)
);
CREATE INDEX entries_account ON entries(account_id, transfer_seq);

-- The ledger is append-only.
CREATE FUNCTION voltvend_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION voltvend_append_only();
