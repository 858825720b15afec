-- Station rows become snapshots folded from the journal in the background: `seq` is the
-- last journal entry each reflects, meta's snapshot_seq the point every one reaches.
ALTER TABLE stations ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stations DROP COLUMN updated_at;
-- A state written before snapshots existed was written with every entry of its station.
UPDATE stations SET seq = (SELECT COALESCE(MAX(seq), 0) FROM journal);
INSERT INTO meta (key, value) SELECT 'snapshot_seq', COALESCE(MAX(seq), 0) FROM journal WHERE true
    ON CONFLICT(key) DO NOTHING;
