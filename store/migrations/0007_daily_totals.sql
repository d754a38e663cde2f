-- Each customer's totals per day, summed over providers and models: what a
-- forecast's pace window reads after every commit (the dashboard), a third
-- of rollup_daily's rows at three models a customer. It is kept from
-- rollup_daily by the triggers below, so every write of rollup_daily (a
-- commit, a move, a prune, a rebuild) changes it in the same statement and
-- transaction, and a row exists exactly while the customer has a
-- rollup_daily row that day. No Go code writes it.
CREATE TABLE daily_totals (
    customer    TEXT    NOT NULL,
    day         TEXT    NOT NULL,           -- YYYY-MM-DD in the customer's timezone
    requests    INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    input       INTEGER NOT NULL DEFAULT 0,
    output      INTEGER NOT NULL DEFAULT 0,
    cache_read  INTEGER NOT NULL DEFAULT 0,
    cache_write INTEGER NOT NULL DEFAULT 0,
    cost_nanos  INTEGER NOT NULL DEFAULT 0,
    unpriced    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer, day)
) WITHOUT ROWID;

INSERT INTO daily_totals (customer, day, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced)
SELECT customer, day, SUM(requests), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
    SUM(cost_nanos), SUM(unpriced)
FROM rollup_daily
GROUP BY customer, day;

CREATE TRIGGER daily_totals_insert AFTER INSERT ON rollup_daily BEGIN
    INSERT INTO daily_totals (customer, day, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced)
    VALUES (NEW.customer, NEW.day, NEW.requests, NEW.failed, NEW.input, NEW.output, NEW.cache_read, NEW.cache_write,
        NEW.cost_nanos, NEW.unpriced)
    ON CONFLICT(customer, day) DO UPDATE SET requests = requests + excluded.requests, failed = failed + excluded.failed,
        input = input + excluded.input, output = output + excluded.output, cache_read = cache_read + excluded.cache_read,
        cache_write = cache_write + excluded.cache_write, cost_nanos = cost_nanos + excluded.cost_nanos,
        unpriced = unpriced + excluded.unpriced;
END;

-- An update adds the difference to its day: one statement, as every
-- update the store makes (an upsert) keeps the row's customer and day.
CREATE TRIGGER daily_totals_update AFTER UPDATE ON rollup_daily
WHEN NEW.customer = OLD.customer AND NEW.day = OLD.day BEGIN
    UPDATE daily_totals SET requests = requests + NEW.requests - OLD.requests, failed = failed + NEW.failed - OLD.failed,
        input = input + NEW.input - OLD.input, output = output + NEW.output - OLD.output,
        cache_read = cache_read + NEW.cache_read - OLD.cache_read, cache_write = cache_write + NEW.cache_write - OLD.cache_write,
        cost_nanos = cost_nanos + NEW.cost_nanos - OLD.cost_nanos, unpriced = unpriced + NEW.unpriced - OLD.unpriced
    WHERE customer = NEW.customer AND day = NEW.day;
END;

-- An update that moves a row to another customer or day (none does
-- today) takes its numbers from the old day and adds them to the new one.
CREATE TRIGGER daily_totals_rekey AFTER UPDATE ON rollup_daily
WHEN NEW.customer <> OLD.customer OR NEW.day <> OLD.day BEGIN
    UPDATE daily_totals SET requests = requests - OLD.requests, failed = failed - OLD.failed, input = input - OLD.input,
        output = output - OLD.output, cache_read = cache_read - OLD.cache_read, cache_write = cache_write - OLD.cache_write,
        cost_nanos = cost_nanos - OLD.cost_nanos, unpriced = unpriced - OLD.unpriced
    WHERE customer = OLD.customer AND day = OLD.day;
    DELETE FROM daily_totals WHERE customer = OLD.customer AND day = OLD.day
        AND NOT EXISTS (SELECT 1 FROM rollup_daily WHERE customer = OLD.customer AND day = OLD.day);
    INSERT INTO daily_totals (customer, day, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced)
    VALUES (NEW.customer, NEW.day, NEW.requests, NEW.failed, NEW.input, NEW.output, NEW.cache_read, NEW.cache_write,
        NEW.cost_nanos, NEW.unpriced)
    ON CONFLICT(customer, day) DO UPDATE SET requests = requests + excluded.requests, failed = failed + excluded.failed,
        input = input + excluded.input, output = output + excluded.output, cache_read = cache_read + excluded.cache_read,
        cache_write = cache_write + excluded.cache_write, cost_nanos = cost_nanos + excluded.cost_nanos,
        unpriced = unpriced + excluded.unpriced;
END;

CREATE TRIGGER daily_totals_delete AFTER DELETE ON rollup_daily BEGIN
    UPDATE daily_totals SET requests = requests - OLD.requests, failed = failed - OLD.failed, input = input - OLD.input,
        output = output - OLD.output, cache_read = cache_read - OLD.cache_read, cache_write = cache_write - OLD.cache_write,
        cost_nanos = cost_nanos - OLD.cost_nanos, unpriced = unpriced - OLD.unpriced
    WHERE customer = OLD.customer AND day = OLD.day;
    DELETE FROM daily_totals WHERE customer = OLD.customer AND day = OLD.day
        AND NOT EXISTS (SELECT 1 FROM rollup_daily WHERE customer = OLD.customer AND day = OLD.day);
END;
