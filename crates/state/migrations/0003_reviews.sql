-- Reviews of a KPI's period with their agreed actions, and annotations on the charts
-- (SPEC §12). Their `created_at` is in Unix microseconds, so reviews written within the same
-- second still list newest first.

CREATE TABLE reviews (
    id         TEXT PRIMARY KEY,
    kpi        TEXT NOT NULL,
    period     TEXT NOT NULL,
    comment    TEXT NOT NULL,
    cause      TEXT,
    author     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX reviews_by_kpi ON reviews (kpi, created_at);

CREATE TABLE review_actions (
    review_id TEXT NOT NULL REFERENCES reviews (id),
    position  BIGINT NOT NULL,
    what      TEXT NOT NULL,
    who       TEXT NOT NULL,
    due       TEXT NOT NULL,
    state     TEXT NOT NULL CHECK (state IN ('open', 'done')),
    PRIMARY KEY (review_id, position)
);

CREATE INDEX review_actions_open ON review_actions (state, due);

-- `day` is an ISO date; a chart marks the period that contains it.
CREATE TABLE annotations (
    id         TEXT PRIMARY KEY,
    kpi        TEXT,
    day        TEXT NOT NULL,
    text       TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX annotations_by_day ON annotations (day);
