-- Alert firings and their deliveries (SPEC §12). A firing is identified by its rule, KPI,
-- period, dimension value and kind, so recording it twice is impossible; each notification
-- target of the rule gets one delivery row, retried until delivered.

CREATE TABLE alert_firings (
    id         TEXT PRIMARY KEY,
    rule       TEXT NOT NULL,
    kpi        TEXT NOT NULL,
    period     TEXT NOT NULL,
    dim        TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('fire', 'recover')),
    status     TEXT NOT NULL,
    message    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (rule, kpi, period, dim, kind)
);

CREATE TABLE alert_deliveries (
    firing_id       TEXT NOT NULL REFERENCES alert_firings (id),
    channel         TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    target          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    delivered_at    BIGINT,
    PRIMARY KEY (firing_id, channel, target)
);

CREATE INDEX alert_deliveries_due ON alert_deliveries (state, next_attempt_at);
