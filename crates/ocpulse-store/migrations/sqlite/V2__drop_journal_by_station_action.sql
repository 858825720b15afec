-- Every index is one more page written per commit; filtering one station's entries by
-- action walks (station_id, seq) backwards just as well.
DROP INDEX IF EXISTS journal_by_station_action;
