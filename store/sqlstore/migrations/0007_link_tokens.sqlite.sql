-- Deep-link tokens (POST /api/v1/links): opaque, stored by their SHA-256 so
-- a copy of the database links no chat, with an expiry, and the first chat
-- that used each one (a single-use token links that chat only). In SQL, not
-- Redis, so issued links survive a Redis that restarts empty.
CREATE TABLE link_tokens (
    token_hash   text PRIMARY KEY,
    customer_ref text NOT NULL,
    reusable     numeric NOT NULL,
    created_at   datetime NOT NULL,
    expires_at   datetime NOT NULL,
    used_at      datetime,
    used_channel text NOT NULL DEFAULT '',
    used_chat_id text NOT NULL DEFAULT ''
);
CREATE INDEX link_tokens_expires_idx ON link_tokens (expires_at);
