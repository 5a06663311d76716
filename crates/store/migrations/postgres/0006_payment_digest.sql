-- What was paid under a settlement's identity: a digest of the whole payment (payload and
-- requirements). Another payment reusing the identity (the same payer and nonce, other terms)
-- is told apart from a retry of this one. Rows from before this column hold NULL.
ALTER TABLE settlements ADD COLUMN payment_digest TEXT;
