-- Privacy actions (a customer erased, the text retention run): who, when,
-- what, and how many rows of each table changed (a JSON object).
CREATE TABLE privacy_audit (
    id         integer PRIMARY KEY AUTOINCREMENT,
    actor      text NOT NULL,
    action     text NOT NULL,
    subject    text NOT NULL,
    row_counts text NOT NULL,
    created_at datetime NOT NULL
);
CREATE INDEX privacy_audit_created_idx ON privacy_audit (created_at);
