-- Each response keeps its conversation state as of its last step, written in
-- the same transaction as that step's answer, and the platform update the
-- step applied. Redis holds the state for speed; whatever Redis forgets
-- (a restart without persistence, a flush, an eviction) is rebuilt from
-- here, and a redelivered update is recognised here too. A chat's latest
-- response is found by (channel, external_id, started_at).
ALTER TABLE responses ADD COLUMN state text NOT NULL DEFAULT '';
ALTER TABLE responses ADD COLUMN last_update_id text NOT NULL DEFAULT '';
CREATE INDEX responses_chat_started_idx ON responses (channel, external_id, started_at);
