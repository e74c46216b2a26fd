-- M-Pesa (issue 16): the provider's own reference for an intent's order (Daraja's CheckoutRequestID). Its
-- callbacks name the order only by it, so the intent a callback is about is found by it (see
-- voltvend_ops::RecordPaymentOrder). NULL for providers that name orders by our order number.
ALTER TABLE payment_intents ADD COLUMN provider_ref TEXT;
CREATE UNIQUE INDEX payment_intents_provider_ref ON payment_intents (channel_id, provider_ref);

-- A refused payment credited to its account after review (复核入账) rather than handed back: `refunded_by` is then
-- the crediting sale (see voltvend_ops::CreditRefusedPayment).
ALTER TABLE refused_payments ADD COLUMN credited BOOLEAN NOT NULL DEFAULT FALSE;

-- The day's position (GET /api/v1/payment-position) reads a channel's payments by the provider's time of payment,
-- and what its shift kept and refunded by time.
CREATE INDEX payment_intents_paid ON payment_intents (channel_id, paid_at_us);
CREATE INDEX refused_payments_shift ON refused_payments (shift_id, at_us);
CREATE INDEX refused_payments_refunded ON refused_payments (shift_id, refunded_at_us);
