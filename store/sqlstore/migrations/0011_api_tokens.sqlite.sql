-- API tokens with a role (admin, marketer, agent; flows/access.go), made
-- with `cxbot tokens create` or POST /api/v1/tokens. Only the SHA-256 of a
-- token is kept, so a copy of the database grants nothing. An agent token
-- may be bound to one agent (by Telegram user, as agents are registered).
-- last_used_at is written at most once a minute per token; a revoked token
-- keeps its row (revoked_at), so the list shows what existed and when.
CREATE TABLE api_tokens (
    id                     integer PRIMARY KEY AUTOINCREMENT,
    token_hash             text NOT NULL,
    name                   text NOT NULL,
    role                   text NOT NULL,
    agent_telegram_user_id integer,
    created_at             datetime NOT NULL,
    created_by             text NOT NULL,
    last_used_at           datetime,
    revoked_at             datetime
);
CREATE UNIQUE INDEX api_tokens_hash_idx ON api_tokens (token_hash);
