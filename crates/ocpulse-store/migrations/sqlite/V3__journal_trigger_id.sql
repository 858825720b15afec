ALTER TABLE journal ADD COLUMN trigger_id TEXT;
