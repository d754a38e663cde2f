-- Alert outbox: one row per (customer, period, threshold, limit in force),
-- committed before any delivery is attempted. The unique key is what makes
-- a warning go out once per threshold per month across crashes and
-- restarts; limit_key carries the tier's limits so a customer who changes
-- tier mid-month is warned again against the new limit, never twice against
-- the same one.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    customer        TEXT    NOT NULL,
    period          TEXT    NOT NULL,            -- YYYY-MM in the customer's timezone
    threshold       REAL    NOT NULL,            -- percent, e.g. 80
    limit_key       TEXT    NOT NULL,            -- e.g. "requests=3000"
    recipient_kind  TEXT    NOT NULL CHECK (recipient_kind IN ('customer', 'operator')),
    recipient       TEXT    NOT NULL DEFAULT '', -- E.164 phone (or '' for the log channel)
    channel         TEXT    NOT NULL,            -- log | whatsapp | clawdbot | webhook
    language        TEXT    NOT NULL,
    percent         REAL    NOT NULL,            -- usage percent when decided
    used            REAL    NOT NULL,            -- in unit
    lim             REAL    NOT NULL,            -- in unit
    unit            TEXT    NOT NULL,            -- requests | tokens | cost_usd
    flag            INTEGER NOT NULL DEFAULT 0,
    message         TEXT    NOT NULL,            -- rendered once, so a retry sends the same text
    params          TEXT    NOT NULL DEFAULT '{}', -- JSON: template variables (WhatsApp template fallback, webhook)
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    provider_id     TEXT    NOT NULL DEFAULT '', -- WhatsApp wamid, or the channel's id
    created_ms      INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,  -- when a pending row may be (re)tried; also the claim lease
    sent_ms         INTEGER NOT NULL DEFAULT 0,
    updated_ms      INTEGER NOT NULL,
    UNIQUE (customer, period, threshold, limit_key)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_ms);
CREATE INDEX outbox_period ON outbox (period, customer);
