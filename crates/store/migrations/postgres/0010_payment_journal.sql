-- The customer payment journal a connection's payment writes follow (its code); picked by setup
-- when the company has one, else chosen by the user with PATCH.
ALTER TABLE connections ADD COLUMN payment_journal TEXT;
