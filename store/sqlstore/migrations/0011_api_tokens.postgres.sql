-- API tokens with a role (admin, marketer, agent; flows/access.go), made
-- with `cxbot tokens create` or POST /api/v1/tokens. Only the SHA-256 of a
-- token is kept, so a copy of the database grants nothing. An agent token
-- may be bound to one agent (by Telegram user, as agents are registered).
-- last_used_at is written at most once a minute per token; a revoked token
-- keeps its row (revoked_at), so the list shows what existed and when.
CREATE TABLE api_tokens (
    id                     bigserial PRIMARY KEY,
    token_hash             text NOT NULL,
    name                   text NOT NULL,
    role                   text NOT NULL,
    agent_telegram_user_id bigint,
    created_at             timestamptz NOT NULL,
    created_by             text NOT NULL,
    last_used_at           timestamptz,
    revoked_at             timestamptz
);
CREATE UNIQUE INDEX api_tokens_hash_idx ON api_tokens (token_hash);
