-- Voltvend schema, SQLite dialect. UUIDs are 16-byte BLOBs, instants are microseconds since the Unix epoch,
-- money is INTEGER minor units. Hot tables are keyed by time-ordered values (seq, UUIDv7).

CREATE TABLE premises (
    id              BLOB PRIMARY KEY NOT NULL,
    parent_id       BLOB REFERENCES premises(id),
    level           TEXT NOT NULL,
    name            TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    path            TEXT NOT NULL,
    created_at_us   INTEGER NOT NULL
);
CREATE INDEX premises_parent ON premises(parent_id);
CREATE INDEX premises_path ON premises(path);

CREATE TABLE customers (
    id              BLOB PRIMARY KEY NOT NULL,
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    name            TEXT NOT NULL,
    phone           TEXT,
    created_at_us   INTEGER NOT NULL
);

CREATE TABLE accounts (
    id              BLOB PRIMARY KEY NOT NULL,
    customer_id     BLOB NOT NULL REFERENCES customers(id),
    premises_id     BLOB NOT NULL REFERENCES premises(id),
    billing_mode    TEXT NOT NULL,
    status          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    created_at_us   INTEGER NOT NULL
);
CREATE INDEX accounts_customer ON accounts(customer_id);

CREATE TABLE meters (
    id              BLOB PRIMARY KEY NOT NULL,
    serial          TEXT NOT NULL UNIQUE,
    utility         TEXT NOT NULL,
    control_mode    TEXT NOT NULL,
    protocol        TEXT NOT NULL,
    address         TEXT NOT NULL,
    ct_ratio        INTEGER NOT NULL,
    vt_ratio        INTEGER NOT NULL,
    state           TEXT NOT NULL,
    premises_id     BLOB REFERENCES premises(id),
    account_id      BLOB REFERENCES accounts(id),
    created_at_us   INTEGER NOT NULL
);
CREATE INDEX meters_account ON meters(account_id);

CREATE TABLE operators (
    id              BLOB PRIMARY KEY NOT NULL,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL,
    scope_id        BLOB NOT NULL REFERENCES premises(id),
    password_hash   TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    created_at_us   INTEGER NOT NULL
);

CREATE TABLE ledger_accounts (
    id                    BLOB PRIMARY KEY NOT NULL,
    kind                  TEXT NOT NULL,
    owner                 TEXT NOT NULL,
    premises_id           BLOB NOT NULL REFERENCES premises(id),
    currency              TEXT NOT NULL,
    overdraft_limit_minor INTEGER,
    debits_posted_minor   INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted_minor >= 0),
    credits_posted_minor  INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted_minor >= 0),
    created_at_us         INTEGER NOT NULL,
    UNIQUE (kind, owner, premises_id, currency)
);

-- Append-only: rows are never updated or deleted (enforced by the triggers below).
CREATE TABLE transfers (
    seq             INTEGER PRIMARY KEY NOT NULL,
    id              BLOB NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    currency        TEXT NOT NULL,
    corrects_id     BLOB REFERENCES transfers(id),
    memo            TEXT NOT NULL,
    posted_at_us    INTEGER NOT NULL
);

-- One row per posting; amount_minor is signed: debit > 0, credit < 0, so a transfer's rows sum to zero.
CREATE TABLE entries (
    transfer_seq    INTEGER NOT NULL REFERENCES transfers(seq),
    idx             INTEGER NOT NULL,
    account_id      BLOB NOT NULL REFERENCES ledger_accounts(id),
    amount_minor    INTEGER NOT NULL CHECK (amount_minor <> 0),
    PRIMARY KEY (transfer_seq, idx)
) WITHOUT ROWID;
CREATE INDEX entries_account ON entries(account_id, transfer_seq);

CREATE TRIGGER transfers_append_only_u BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
CREATE TRIGGER transfers_append_only_d BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
CREATE TRIGGER entries_append_only_u BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
CREATE TRIGGER entries_append_only_d BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;
