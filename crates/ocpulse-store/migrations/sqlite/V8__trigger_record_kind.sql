-- A record is of a trigger or of another CSMS call (`POST /api/v1/stations/{id}/calls`,
-- the typed station operations, a job's call): one model, one table. Rows from before
-- are triggers. Listings filter on it like on `outcome` (no index: a listing walks `seq`).
ALTER TABLE triggers ADD COLUMN kind TEXT NOT NULL DEFAULT 'trigger';
