-- 1. Money in integer nano-dollars (1e-9 USD). Costs were REAL and every
-- total a float sum, so a month of 0.1 + 0.00131 printed 0.10131000000000001
-- and the days of a month did not add up to the month. Now each event's
-- cost is rounded once, to the nearest nano-dollar, and every total adds
-- integers.
--
-- The store's per-event bound drops from 1e12 to 1e6 USD, so that no
-- event's nanos (at most 1e15) can overflow int64 and a month would need
-- about 9,000 such calls to reach it (the parsers' own bound is 1e5). Events
-- an earlier version accepted above it are moved to events_refused, like
-- 0003 did with the numbers of its day.
INSERT INTO events_refused
SELECT id, key, agent, session_id, ts, period, customer, provider, model, input, output, cache_read, cache_write, cost, failed,
    'migration 0005: cost is above 1e6 USD', CAST(unixepoch('subsec') * 1000 AS INTEGER)
FROM events
WHERE cost > 1e6;

DELETE FROM events WHERE cost > 1e6;

-- NULL stays "unpriced", never $0. The rounding is math.Round's (half away
-- from zero), written without round(): SQLite's round(x) computes
-- (int)(x + 0.5), and x + 0.5 rounds up to the next integer in floating
-- point for x = 0.49999999999999994, where math.Round gives 0. Every cost
-- here is finite and 0 <= cost <= 1e6 (0003 and the DELETE above), so
-- x = cost * 1e9 <= 1e15 < 2^53 and x - trunc(x) is exact.
ALTER TABLE events ADD COLUMN cost_nanos INTEGER;
UPDATE events SET cost_nanos = CAST(cost * 1e9 AS INTEGER) + (cost * 1e9 - CAST(cost * 1e9 AS INTEGER) >= 0.5)
WHERE cost IS NOT NULL;
ALTER TABLE events DROP COLUMN cost;

-- 2. The day of the month of each event, in the customer's timezone (the
-- one that gave its period): its day is period || '-' || mday, so the day's
-- month is its period by construction. One byte a row instead of ten. 0 =
-- not known yet: SQL cannot know the customers' timezones, so the events
-- stored before this migration get their day from the first re-attribution
-- (store.Reattribute, which every writer runs right after opening), which
-- the 'daily_pending' mark below requests.
ALTER TABLE events ADD COLUMN mday INTEGER NOT NULL DEFAULT 0;

-- The monthly totals, rebuilt from the events in integers.
DROP TABLE rollup;
CREATE TABLE rollup (
    customer    TEXT    NOT NULL,
    period      TEXT    NOT NULL,           -- YYYY-MM in the customer's timezone
    requests    INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    input       INTEGER NOT NULL DEFAULT 0,
    output      INTEGER NOT NULL DEFAULT 0,
    cache_read  INTEGER NOT NULL DEFAULT 0,
    cache_write INTEGER NOT NULL DEFAULT 0,
    cost_nanos  INTEGER NOT NULL DEFAULT 0, -- priced calls only
    unpriced    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer, period)
) WITHOUT ROWID;

INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced)
SELECT customer, period, SUM(failed = 0), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
    COALESCE(SUM(cost_nanos), 0), SUM(cost_nanos IS NULL)
FROM events
GROUP BY customer, period;

-- 3. Daily totals per customer, day, provider and model, kept in the same
-- transaction as the events exactly like rollup, so a history over
-- millions of events (usage --daily, --by model, --from/--to) reads a few
-- thousand rows. day is YYYY-MM-DD in the customer's timezone and
-- substr(day, 1, 7) is the period of every event it counts.
CREATE TABLE rollup_daily (
    customer    TEXT    NOT NULL,
    day         TEXT    NOT NULL,
    provider    TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    requests    INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    input       INTEGER NOT NULL DEFAULT 0,
    output      INTEGER NOT NULL DEFAULT 0,
    cache_read  INTEGER NOT NULL DEFAULT 0,
    cache_write INTEGER NOT NULL DEFAULT 0,
    cost_nanos  INTEGER NOT NULL DEFAULT 0,
    unpriced    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer, day, provider, model)
) WITHOUT ROWID;

INSERT INTO meta (key, value)
SELECT 'daily_pending', 'events stored before schema 5 have no day yet'
WHERE EXISTS (SELECT 1 FROM events);
