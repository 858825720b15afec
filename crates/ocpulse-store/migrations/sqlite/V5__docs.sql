CREATE TABLE docs (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
