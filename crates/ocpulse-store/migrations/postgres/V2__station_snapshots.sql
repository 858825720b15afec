-- Station rows become snapshots folded from the journal in the background: `seq` is the
-- last journal entry each reflects, meta's snapshot_seq the point every one reaches.
ALTER TABLE stations ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stations DROP COLUMN updated_at;
-- A state written before snapshots existed was written with every entry of its station.
UPDATE stations SET seq = (SELECT value FROM meta WHERE key = 'journal_seq');
INSERT INTO meta (key, value) SELECT 'snapshot_seq', value FROM meta WHERE key = 'journal_seq'
    ON CONFLICT (key) DO NOTHING;
