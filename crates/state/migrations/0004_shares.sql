-- Share links (issue: seeing and sharing): a read-only view of one dashboard (its scorecard
-- or its wall-screen page) for whoever holds the link, until it expires or is revoked. Only the
-- SHA-256 of the link's secret is kept; it shows what its creator may see.

CREATE TABLE shares (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    dashboard   TEXT NOT NULL,
    view        TEXT NOT NULL CHECK (view IN ('board', 'tv')),
    created_by  TEXT NOT NULL REFERENCES accounts (email),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX shares_by_creator ON shares (created_by, created_at);
