-- Touchpoint events, wave definitions and the delivery log; and what waves
-- need on invitations: not_before (when dispatch may send), attempts,
-- reminded_at and the dispatcher's lease (claimed_by, claim_until).

-- Events are read by touchpoint in seq order (a wave's due events, paged),
-- by touchpoint and time (where a wave's window starts), and per customer
-- by time (a segment's latest event).
CREATE TABLE events (
    seq              integer PRIMARY KEY AUTOINCREMENT,
    id               text NOT NULL,
    customer_id      integer NOT NULL,
    touchpoint       text NOT NULL,
    occurred_at      datetime NOT NULL,
    telegram_chat_id text NOT NULL,
    wechat_openid    text NOT NULL,
    language         text NOT NULL,
    time_zone        text NOT NULL,
    attributes       text NOT NULL,
    received_at      datetime NOT NULL,
    CONSTRAINT fk_events_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX events_id_key ON events (id);
CREATE INDEX events_touchpoint_seq_idx ON events (touchpoint, seq);
CREATE INDEX events_touchpoint_occurred_idx ON events (touchpoint, occurred_at);
CREATE INDEX events_customer_occurred_idx ON events (customer_id, occurred_at);

-- The key lacks NOT NULL, as step 2 first shipped (see surveys in step 1).
CREATE TABLE waves (
    id         text,
    definition text NOT NULL,
    source     text NOT NULL,
    paused     numeric NOT NULL,
    created_at datetime NOT NULL,
    updated_at datetime NOT NULL,
    PRIMARY KEY (id)
);

CREATE TABLE delivery_attempts (
    id             integer PRIMARY KEY AUTOINCREMENT,
    invitation_id  integer NOT NULL,
    at             datetime NOT NULL,
    outcome        text NOT NULL,
    error          text NOT NULL,
    retry_after_ms integer NOT NULL,
    CONSTRAINT fk_delivery_attempts_invitation FOREIGN KEY (invitation_id) REFERENCES invitations (id) ON DELETE CASCADE
);
CREATE INDEX delivery_attempts_invitation_idx ON delivery_attempts (invitation_id);

-- Unlike step 1 these columns have DEFAULTs: SQLite cannot add a NOT NULL
-- column without one, and only accepts a constant, so existing invitations
-- get their created_at right after. The default's text format is the
-- driver's, so timestamps keep comparing as strings. The store itself
-- writes every column.
ALTER TABLE invitations ADD COLUMN not_before datetime NOT NULL DEFAULT '0001-01-01 00:00:00+00:00';
UPDATE invitations SET not_before = created_at;
ALTER TABLE invitations ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN reminded_at datetime;
ALTER TABLE invitations ADD COLUMN claimed_by text NOT NULL DEFAULT '';
ALTER TABLE invitations ADD COLUMN claim_until datetime;

-- The dispatcher's claim query: planned rows by not_before. It serves
-- lookups by status alone too, so step 1's index on status goes: one index
-- less to maintain per planned invitation.
CREATE INDEX invitations_status_not_before_idx ON invitations (status, not_before);
DROP INDEX invitations_status_idx;
-- Wave counts, reminders and expiries.
CREATE INDEX invitations_wave_status_idx ON invitations (wave_id, status);
