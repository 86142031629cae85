-- Accounts, their owners, API tokens and browser sessions (SPEC §13, §14).
-- Written in the SQL that SQLite and PostgreSQL share: TEXT and BIGINT columns, instants as
-- Unix seconds, no generated keys.

CREATE TABLE accounts (
    email         TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);

-- The owners whose KPIs an account sees (and, for an editor, edits). No row: every owner.
CREATE TABLE account_owners (
    email TEXT NOT NULL REFERENCES accounts (email),
    owner TEXT NOT NULL,
    PRIMARY KEY (email, owner)
);

-- Only the SHA-256 of a token's secret is kept; the token is shown once, when created.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL REFERENCES accounts (email),
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- Browser sessions, keyed by the SHA-256 of the cookie's id; `email` once signed in.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    email      TEXT,
    data       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_by_email ON sessions (email);
CREATE INDEX tokens_by_email ON tokens (email);
