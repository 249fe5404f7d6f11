-- The scheduler asks every few seconds which models are due; this keeps that question cheap
-- however many models exist (only scheduled ones are indexed).
CREATE INDEX models_due ON models (next_sync_at) WHERE next_sync_at IS NOT NULL;

-- Claiming reads one entry of one of these, in claim order, however long the queue is (the
-- (status, run_after) index made Postgres sort every runnable sync on each claim).
CREATE INDEX syncs_runnable ON syncs (run_after, id) WHERE status IN ('queued', 'pending_retry');
CREATE INDEX syncs_lease_expiry ON syncs (locked_until) WHERE status = 'running';
DROP INDEX syncs_claim;
