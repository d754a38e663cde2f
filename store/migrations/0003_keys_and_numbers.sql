-- 1. Event keys become unambiguous. Keys were <kind>/<parts joined by '/'>
-- with the parts written as they came, so sessionId "x/y" + entry id "z" and
-- sessionId "x" + entry id "y/z" made the same key and one real call was
-- dropped as a duplicate. Now each part has '%' written %25 and '/' %2F, and
-- a Clawdbot entry id that starts with '@' has it written %40 (a bare
-- "@<offset>" marks a line without an entry id); see monitor/keys.go. A key
-- without those characters is unchanged. An old key splits unambiguously
-- because its row holds the agent (or generic source name) and sessionId:
--   cb/<agent>/<sessionId>/<rest>   rest = entry id, or "@<digits>" (offset)
--   jl/<source>/<rest>              rest = "id:<id>", or "<hex>@<offset>"
-- An old rest of "@<digits>" is taken as an offset: an entry id of that
-- shape (never written by Clawdbot) was indistinguishable from it.
CREATE TEMP TABLE rekey (id INTEGER PRIMARY KEY, key TEXT NOT NULL);

INSERT INTO rekey (id, key)
WITH split AS (
    SELECT id, key, agent, session_id,
        CASE
            WHEN substr(key, 1, length('cb/' || agent || '/' || session_id || '/')) = 'cb/' || agent || '/' || session_id || '/'
                THEN substr(key, length('cb/' || agent || '/' || session_id || '/') + 1)
        END AS cb_rest,
        CASE
            WHEN substr(key, 1, length('jl/' || agent || '/')) = 'jl/' || agent || '/'
                THEN substr(key, length('jl/' || agent || '/') + 1)
        END AS jl_rest
    FROM events
    -- Only keys with a '%', a '@' or a '/' beyond their separators (three
    -- in cb/ keys, two in jl/ keys) can change; the others are skipped
    -- without string surgery.
    WHERE instr(key, '%') > 0 OR instr(key, '@') > 0
       OR length(key) - length(replace(key, '/', '')) > CASE substr(key, 1, 3) WHEN 'jl/' THEN 2 ELSE 3 END
), fresh AS (
    SELECT id, key,
        CASE
            WHEN substr(key, 1, 3) = 'cb/' AND cb_rest IS NOT NULL THEN
                'cb/' || replace(replace(agent, '%', '%25'), '/', '%2F')
                || '/' || replace(replace(session_id, '%', '%25'), '/', '%2F')
                || '/' || CASE
                    WHEN cb_rest GLOB '@[0-9]*' AND NOT cb_rest GLOB '@*[^0-9]*' THEN cb_rest
                    WHEN substr(cb_rest, 1, 1) = '@' THEN '%40' || replace(replace(substr(cb_rest, 2), '%', '%25'), '/', '%2F')
                    ELSE replace(replace(cb_rest, '%', '%25'), '/', '%2F')
                END
            WHEN substr(key, 1, 3) = 'jl/' AND jl_rest IS NOT NULL THEN
                'jl/' || replace(replace(agent, '%', '%25'), '/', '%2F')
                || '/' || CASE
                    WHEN substr(jl_rest, 1, 3) = 'id:' THEN 'id:' || replace(replace(substr(jl_rest, 4), '%', '%25'), '/', '%2F')
                    ELSE jl_rest
                END
        END AS new_key
    FROM split
)
SELECT id, new_key FROM fresh WHERE new_key IS NOT NULL AND new_key <> key;

-- Two steps, so that a new key equal to another row's old key (the old
-- "x%2Fy" is the new form of "x/y") never meets it in the unique index.
UPDATE events SET key = 'qw-0003-rekey/' || id WHERE id IN (SELECT id FROM rekey);
UPDATE events SET key = rekey.key FROM rekey WHERE rekey.id = events.id;
DROP TABLE rekey;

-- 2. Events with numbers no bill can hold, which earlier versions accepted
-- (a cost of +Inf from "1e309", token counts of -2^63 from "NaN"), are
-- moved out of the events table into events_refused, and the totals of
-- their months are rebuilt without them: such a cost made the month's
-- usage unprintable and a later move of the session Inf - Inf = NaN, which
-- stopped all ingest. The bounds are store.Commit's (store/ingest.go):
-- cost 0..1e12 USD, each token count 0..1e15. They are bad lines by
-- today's rules; the rows are kept here, not lost.
CREATE TABLE events_refused (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    period      TEXT    NOT NULL,
    customer    TEXT    NOT NULL,
    provider    TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    input       INTEGER NOT NULL,
    output      INTEGER NOT NULL,
    cache_read  INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    cost        REAL,
    failed      INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    refused_ms  INTEGER NOT NULL
);

INSERT INTO events_refused
SELECT id, key, agent, session_id, ts, period, customer, provider, model, input, output, cache_read, cache_write, cost, failed,
    CASE
        WHEN cost > 1.7976931348623157e308 OR cost < -1.7976931348623157e308 THEN 'migration 0003: cost is not a finite number'
        WHEN cost < 0 THEN 'migration 0003: cost is negative'
        WHEN cost > 1e12 THEN 'migration 0003: cost is above 1e12 USD'
        WHEN min(input, output, cache_read, cache_write) < 0 THEN 'migration 0003: a token count is negative'
        ELSE 'migration 0003: a token count is above 1e15'
    END,
    CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM events
WHERE cost < 0 OR cost > 1e12
   OR min(input, output, cache_read, cache_write) < 0
   OR max(input, output, cache_read, cache_write) > 1000000000000000;

DELETE FROM events WHERE id IN (SELECT id FROM events_refused);

DELETE FROM rollup WHERE (customer, period) IN (SELECT customer, period FROM events_refused);

INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost, unpriced)
SELECT customer, period, SUM(failed = 0), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
    TOTAL(cost), SUM(cost IS NULL)
FROM events
WHERE (customer, period) IN (SELECT customer, period FROM events_refused)
GROUP BY customer, period;
