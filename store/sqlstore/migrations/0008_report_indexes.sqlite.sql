-- Reports read the answers of one kind in a period (answers by kind and
-- answered_at), then each one's response and invitation by primary key;
-- "is this the response's first answer of the kind" is answered by
-- (response_id, kind). The funnel reads invitations by created_at.
CREATE INDEX answers_kind_answered_idx ON answers (kind, answered_at);
CREATE INDEX answers_response_kind_idx ON answers (response_id, kind);
CREATE INDEX invitations_created_idx ON invitations (created_at);
