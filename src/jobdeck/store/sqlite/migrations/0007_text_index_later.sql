-- jobdeck SQLite schema, version 7: the trigram text index (version 4) is filled by
-- maintenance passes after the insert instead of by a trigger at the insert. The
-- trigger took a third of a bulk enqueue's time; searches stay exact without it,
-- since rows past `up_to` are tested one by one (listing.py, docs/ui.md).

DROP TRIGGER jobs_text_insert;
DROP TRIGGER jobs_text_delete;
DROP TRIGGER jobs_text_update;

-- Every job with id <= up_to is in jobs_text. Ids grow in commit order (one writer),
-- so no job can appear below up_to later.
CREATE TABLE jobs_text_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    up_to INTEGER NOT NULL
);
INSERT INTO jobs_text_state (id, up_to) VALUES (1, (SELECT coalesce(max(id), 0) FROM jobs));

-- Removing or changing an indexed job keeps the index true (external content needs
-- the old values to remove them).
CREATE TRIGGER jobs_text_delete AFTER DELETE ON jobs
WHEN old.id <= (SELECT up_to FROM jobs_text_state) BEGIN
    INSERT INTO jobs_text (jobs_text, rowid, name, description, type)
    VALUES ('delete', old.id, old.name, old.description, old.type);
END;

CREATE TRIGGER jobs_text_update AFTER UPDATE OF name, description, type ON jobs
WHEN old.id <= (SELECT up_to FROM jobs_text_state) BEGIN
    INSERT INTO jobs_text (jobs_text, rowid, name, description, type)
    VALUES ('delete', old.id, old.name, old.description, old.type);
    INSERT INTO jobs_text (rowid, name, description, type)
    VALUES (new.id, new.name, new.description, new.type);
END;
