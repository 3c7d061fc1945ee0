-- The handoff desk: registered agents, each case's owner, place in the
-- agents' chat, resolution and recovery, the messages relayed both ways,
-- and the durable outbox of webhooks to the business's systems.
CREATE TABLE agents (
    id               bigserial PRIMARY KEY,
    telegram_user_id bigint NOT NULL,
    name             text NOT NULL,
    role             text NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX agents_telegram_user_key ON agents (telegram_user_id);

ALTER TABLE handoffs ADD COLUMN agent_chat_id text NOT NULL DEFAULT '';
ALTER TABLE handoffs ADD COLUMN notice_message_id bigint NOT NULL DEFAULT 0;
ALTER TABLE handoffs ADD COLUMN topic_id bigint NOT NULL DEFAULT 0;
ALTER TABLE handoffs ADD COLUMN claimed_by bigint;
ALTER TABLE handoffs ADD COLUMN claimed_by_name text NOT NULL DEFAULT '';
ALTER TABLE handoffs ADD COLUMN claimed_at timestamptz;
ALTER TABLE handoffs ADD COLUMN resolved_at timestamptz;
ALTER TABLE handoffs ADD COLUMN outcome text NOT NULL DEFAULT '';
ALTER TABLE handoffs ADD COLUMN resolution_note text NOT NULL DEFAULT '';
ALTER TABLE handoffs ADD COLUMN resolved_by text NOT NULL DEFAULT '';
ALTER TABLE handoffs ADD COLUMN reminded_at timestamptz;
ALTER TABLE handoffs ADD COLUMN escalated_at timestamptz;
ALTER TABLE handoffs ADD COLUMN follow_up_sent_at timestamptz;
ALTER TABLE handoffs ADD COLUMN recovery_score bigint;
ALTER TABLE handoffs ADD COLUMN recovered boolean;
ALTER TABLE handoffs ADD COLUMN reopened bigint NOT NULL DEFAULT 0;
-- A chat's live case is found by (channel, external_id); a thread by its
-- notice or topic in the agents' chat.
CREATE INDEX handoffs_chat_idx ON handoffs (channel, external_id, created_at);
CREATE INDEX handoffs_notice_idx ON handoffs (agent_chat_id, notice_message_id);

CREATE TABLE handoff_messages (
    id                    bigserial PRIMARY KEY,
    handoff_id            bigint NOT NULL,
    author                text NOT NULL,
    agent_id              bigint NOT NULL,
    agent_name            text NOT NULL,
    text                  text NOT NULL,
    photo_id              text NOT NULL,
    agent_chat_message_id bigint NOT NULL,
    customer_message_id   bigint NOT NULL,
    delivered             boolean NOT NULL,
    error                 text NOT NULL,
    created_at            timestamptz NOT NULL,
    CONSTRAINT fk_handoff_messages_handoff FOREIGN KEY (handoff_id) REFERENCES handoffs (id) ON DELETE CASCADE
);
CREATE INDEX handoff_messages_handoff_idx ON handoff_messages (handoff_id, id);
CREATE INDEX handoff_messages_agent_chat_idx ON handoff_messages (agent_chat_message_id);

CREATE TABLE webhook_outbox (
    id              bigserial PRIMARY KEY,
    event           text NOT NULL,
    subject_id      bigint NOT NULL,
    payload         text NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        bigint NOT NULL DEFAULT 0,
    last_status     bigint NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    failed_at       timestamptz
);
CREATE INDEX webhook_outbox_due_idx ON webhook_outbox (next_attempt_at);
