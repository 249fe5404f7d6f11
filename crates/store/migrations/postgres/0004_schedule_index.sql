-- The scheduler asks every few seconds which models are due; this keeps that question cheap
-- however many models exist (only scheduled ones are indexed).
CREATE INDEX models_due ON models (next_sync_at) WHERE next_sync_at IS NOT NULL;
