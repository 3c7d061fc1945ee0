-- Touchpoint events, wave definitions and the delivery log; and what waves
-- need on invitations: not_before (when dispatch may send), attempts,
-- reminded_at and the dispatcher's lease (claimed_by, claim_until).

-- Events are read by touchpoint in seq order (a wave's due events, paged),
-- by touchpoint and time (where a wave's window starts), and per customer
-- by time (a segment's latest event).
CREATE TABLE events (
    seq              bigserial PRIMARY KEY,
    id               text NOT NULL,
    customer_id      bigint NOT NULL,
    touchpoint       text NOT NULL,
    occurred_at      timestamptz NOT NULL,
    telegram_chat_id text NOT NULL,
    wechat_openid    text NOT NULL,
    language         text NOT NULL,
    time_zone        text NOT NULL,
    attributes       text NOT NULL,
    received_at      timestamptz NOT NULL,
    CONSTRAINT fk_events_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX events_id_key ON events (id);
CREATE INDEX events_touchpoint_seq_idx ON events (touchpoint, seq);
CREATE INDEX events_touchpoint_occurred_idx ON events (touchpoint, occurred_at);
CREATE INDEX events_customer_occurred_idx ON events (customer_id, occurred_at);

CREATE TABLE waves (
    id         text PRIMARY KEY,
    definition text NOT NULL,
    source     text NOT NULL,
    paused     boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE delivery_attempts (
    id             bigserial PRIMARY KEY,
    invitation_id  bigint NOT NULL,
    at             timestamptz NOT NULL,
    outcome        text NOT NULL,
    error          text NOT NULL,
    retry_after_ms bigint NOT NULL,
    CONSTRAINT fk_delivery_attempts_invitation FOREIGN KEY (invitation_id) REFERENCES invitations (id) ON DELETE CASCADE
);
CREATE INDEX delivery_attempts_invitation_idx ON delivery_attempts (invitation_id);

-- Unlike step 1 these columns have DEFAULTs: they let a replica still
-- running the step 1 build keep inserting invitations during a rolling
-- upgrade. The store itself writes every column. Existing invitations
-- become due at their created_at.
ALTER TABLE invitations ADD COLUMN not_before timestamptz;
UPDATE invitations SET not_before = created_at;
ALTER TABLE invitations ALTER COLUMN not_before SET NOT NULL;
ALTER TABLE invitations ALTER COLUMN not_before SET DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE invitations ADD COLUMN attempts bigint NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN reminded_at timestamptz;
ALTER TABLE invitations ADD COLUMN claimed_by text NOT NULL DEFAULT '';
ALTER TABLE invitations ADD COLUMN claim_until timestamptz;

-- The dispatcher's claim query: planned rows by not_before. It serves
-- lookups by status alone too, so step 1's index on status goes: one index
-- less to maintain per planned invitation.
CREATE INDEX invitations_status_not_before_idx ON invitations (status, not_before);
DROP INDEX invitations_status_idx;
-- Wave counts, reminders and expiries.
CREATE INDEX invitations_wave_status_idx ON invitations (wave_id, status);
