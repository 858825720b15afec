-- The journal, partitioned by day of `at` (milliseconds since the epoch) so retention can
-- drop whole partitions. The writer creates the coming days' partitions ahead
-- (journal_pYYYYMMDD); anything outside them lands in journal_default.
-- `seq` is assigned by the writer from meta's journal_seq, in the same transaction.
-- Keys that are listed in order (station and document ids) sort by bytes (COLLATE "C"),
-- as SQLite does, whatever the database's locale.
CREATE TABLE journal (
    seq        BIGINT NOT NULL,
    station_id TEXT COLLATE "C" NOT NULL,
    direction  TEXT NOT NULL,
    frame_type TEXT NOT NULL,
    message_id TEXT,
    action     TEXT,
    payload    TEXT NOT NULL,
    at         BIGINT NOT NULL,
    violation  TEXT,
    trigger_id TEXT,
    PRIMARY KEY (seq, at)
) PARTITION BY RANGE (at);
CREATE INDEX journal_by_station ON journal (station_id, seq);
CREATE TABLE journal_default PARTITION OF journal DEFAULT;

CREATE TABLE stations (
    id         TEXT COLLATE "C" PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- journal_seq: the highest seq handed out (= committed); last_transaction_id: the highest
-- 1.6 transaction id a committed batch handed out.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('journal_seq', 0);

CREATE TABLE triggers (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    station_id TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    record     TEXT NOT NULL
);

CREATE TABLE docs (
    kind TEXT COLLATE "C" NOT NULL,
    id   TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
