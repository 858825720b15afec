-- No query ever used it: the listing's `?1 IS NULL OR station_id = ?1` is planned as a
-- walk of `seq` backwards (stopping at the page's limit) whatever is bound, and every
-- trigger paid one more random index page per commit for it (about 7% of the store's CPU
-- per trigger, `cargo bench -p ocpulse-store --bench trigger_writes`).
DROP INDEX IF EXISTS triggers_by_station;
