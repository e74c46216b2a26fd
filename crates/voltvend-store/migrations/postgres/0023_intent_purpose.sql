-- 房租物业费 paid online (issue 18, part 3): an online payment intent is for energy (a sale, as every intent
-- before this migration was) or for rent, property fees and bills alone, taken as the counter's fee payment.
ALTER TABLE payment_intents ADD COLUMN purpose TEXT NOT NULL DEFAULT 'energy';
