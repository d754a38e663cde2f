-- The stat of a file as of the read (or verification) that gave its
-- checkpoint: modification and change time, in nanoseconds since the epoch.
-- A restart trusts a stat alone for a file whose identity, size (= off),
-- mtime and ctime all still match, instead of opening it and hashing its
-- fingerprints: ctime cannot be set by a user, and any write, truncate,
-- chmod, utimes or rename changes it. 0 = unknown (checkpoints written
-- before this migration, or a file changed too shortly before it was read
-- for its timestamps to tell a later change apart): verified by reading,
-- as before.
ALTER TABLE files ADD COLUMN mtime_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT 0;
