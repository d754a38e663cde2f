-- A general cursor for sources whose position is not a byte offset in a
-- file (an OpenClaw agent database: its identity and, per session, the last
-- seq read). Files keep their checkpoints in `files`. source names the
-- source kind and item the thing read (e.g. a database path); state is the
-- kind's own JSON. A cursor is written in the same transaction as the
-- events it accounts for, like a file checkpoint.
CREATE TABLE cursors (
    source     TEXT    NOT NULL,
    item       TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (json_valid(state)),
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (source, item)
) WITHOUT ROWID;
