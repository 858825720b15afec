CREATE TABLE journal (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id TEXT NOT NULL,
    direction  TEXT NOT NULL,
    frame_type TEXT NOT NULL,
    message_id TEXT,
    action     TEXT,
    payload    TEXT NOT NULL,
    at         INTEGER NOT NULL,
    violation  TEXT
);
CREATE INDEX journal_by_station ON journal (station_id, seq);
CREATE INDEX journal_by_station_action ON journal (station_id, action, seq);
CREATE TABLE stations (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
