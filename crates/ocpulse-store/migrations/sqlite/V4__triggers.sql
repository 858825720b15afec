CREATE TABLE triggers (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    station_id TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX triggers_by_station ON triggers (station_id, seq);
