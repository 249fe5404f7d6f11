-- API keys get a name, the time of their last use (stamped at most about once a minute), and a
-- revocation time: a key stops working at `revoked_at` (a later instant when rotated with a grace
-- period, so the old key keeps working until clients have the new one).
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN revoked_at TEXT;
CREATE INDEX api_keys_by_org ON api_keys (org_id, created_at);
