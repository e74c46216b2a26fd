-- Reconciliation (issue 16): providers' daily statements (对账单), imported and kept as the provider wrote them
-- (see voltvend_ops::PaymentStatement). A day may be imported again; the latest import is the day's statement.
CREATE TABLE payment_statements (
    id              UUID PRIMARY KEY NOT NULL,
    channel_id      UUID NOT NULL REFERENCES payment_channels(id),
    day             TEXT NOT NULL,
    digest          BYTEA NOT NULL,
    imported_at_us  BIGINT NOT NULL,
    imported_by     UUID,
    line_count      BIGINT NOT NULL
);
CREATE INDEX payment_statements_day ON payment_statements (channel_id, day, imported_at_us);

CREATE TABLE payment_statement_lines (
    statement_id    UUID NOT NULL REFERENCES payment_statements(id),
    line_no         BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    order_no        TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    at_us           BIGINT NOT NULL,
    PRIMARY KEY (statement_id, line_no)
);

-- A statement's refunds are matched to the refused payments they hand back, by the refunded payment's
-- transaction number (a refused online payment's reference).
CREATE INDEX refused_payments_reference ON refused_payments (shift_id, reference);
