-- Scheduled reports (reports/*.yaml): one row per report, scheduled moment and recipient,
-- holding the message as it was made, so a retry sends the same e-mail and a restart neither
-- repeats nor loses one.

CREATE TABLE report_sends (
    report          TEXT NOT NULL,
    moment          BIGINT NOT NULL,
    recipient       TEXT NOT NULL,
    message         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    PRIMARY KEY (report, moment, recipient)
);

CREATE INDEX report_sends_due ON report_sends (state, next_attempt_at);
