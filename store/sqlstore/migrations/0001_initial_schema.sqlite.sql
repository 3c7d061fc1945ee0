-- Customers, their chats, surveys, invitations, responses, answers and
-- handoffs: the same tables as on PostgreSQL, in SQLite's types (integer
-- keys are rowids; AUTOINCREMENT so an id is never reused; datetime text,
-- booleans numeric). Columns have no DEFAULT: the store writes every column.

CREATE TABLE customers (
    id             integer PRIMARY KEY AUTOINCREMENT,
    ref            text NOT NULL,
    language       text NOT NULL,
    time_zone      text NOT NULL,
    opted_out_at   datetime,
    unreachable_at datetime,
    created_at     datetime NOT NULL,
    updated_at     datetime NOT NULL
);
CREATE UNIQUE INDEX customers_ref_key ON customers (ref);

CREATE TABLE channel_identities (
    id          integer PRIMARY KEY AUTOINCREMENT,
    customer_id integer NOT NULL,
    channel     text NOT NULL,
    external_id text NOT NULL,
    username    text NOT NULL,
    language    text NOT NULL,
    linked_at   datetime NOT NULL,
    CONSTRAINT fk_channel_identities_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX channel_identities_external_key ON channel_identities (channel, external_id);
CREATE INDEX channel_identities_customer_idx ON channel_identities (customer_id);

-- The key columns lack NOT NULL, as step 1 first shipped; SQLite then lets
-- them hold NULL, which the store never writes.
CREATE TABLE surveys (
    survey_id   text,
    version     integer,
    fingerprint text NOT NULL,
    definition  text NOT NULL,
    created_at  datetime NOT NULL,
    PRIMARY KEY (survey_id, version)
);

CREATE TABLE invitations (
    id             integer PRIMARY KEY AUTOINCREMENT,
    wave_id        text NOT NULL,
    customer_id    integer NOT NULL,
    event_id       text NOT NULL,
    survey_id      text NOT NULL,
    survey_version integer NOT NULL,
    channel        text NOT NULL,
    external_id    text NOT NULL,
    language       text NOT NULL,
    context        text NOT NULL,
    status         text NOT NULL,
    error          text NOT NULL,
    sent_at        datetime,
    created_at     datetime NOT NULL,
    updated_at     datetime NOT NULL,
    CONSTRAINT fk_invitations_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
-- One invitation per wave × customer × event, whatever the replicas do.
CREATE UNIQUE INDEX invitations_wave_customer_event_key ON invitations (wave_id, customer_id, event_id);
CREATE INDEX invitations_customer_idx ON invitations (customer_id, created_at);
CREATE INDEX invitations_status_idx ON invitations (status);

CREATE TABLE responses (
    id             integer PRIMARY KEY AUTOINCREMENT,
    invitation_id  integer NOT NULL,
    customer_id    integer NOT NULL,
    survey_id      text NOT NULL,
    survey_version integer NOT NULL,
    channel        text NOT NULL,
    external_id    text NOT NULL,
    language       text NOT NULL,
    status         text NOT NULL,
    started_at     datetime NOT NULL,
    completed_at   datetime,
    CONSTRAINT fk_responses_invitation FOREIGN KEY (invitation_id) REFERENCES invitations (id) ON DELETE CASCADE,
    CONSTRAINT fk_responses_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX responses_invitation_key ON responses (invitation_id);
CREATE INDEX responses_survey_idx ON responses (survey_id);
CREATE INDEX responses_chat_idx ON responses (channel, external_id, status);

CREATE TABLE answers (
    id          integer PRIMARY KEY AUTOINCREMENT,
    response_id integer NOT NULL,
    question_id text NOT NULL,
    kind        text NOT NULL,
    score       integer,
    choice      text NOT NULL,
    text        text NOT NULL,
    class       text NOT NULL,
    skipped     numeric NOT NULL,
    answered_at datetime NOT NULL,
    CONSTRAINT fk_answers_response FOREIGN KEY (response_id) REFERENCES responses (id) ON DELETE CASCADE
);
-- The first answer to a question stands (a redelivered update adds nothing).
CREATE UNIQUE INDEX answers_response_question_key ON answers (response_id, question_id);
CREATE INDEX answers_answered_idx ON answers (answered_at);

CREATE TABLE handoffs (
    id           integer PRIMARY KEY AUTOINCREMENT,
    response_id  integer NOT NULL,
    customer_id  integer NOT NULL,
    customer_ref text NOT NULL,
    survey_id    text NOT NULL,
    question_id  text NOT NULL,
    kind         text NOT NULL,
    score        integer NOT NULL,
    class        text NOT NULL,
    comment      text NOT NULL,
    channel      text NOT NULL,
    external_id  text NOT NULL,
    context      text NOT NULL,
    status       text NOT NULL,
    notified_at  datetime,
    created_at   datetime NOT NULL,
    updated_at   datetime NOT NULL,
    CONSTRAINT fk_handoffs_response FOREIGN KEY (response_id) REFERENCES responses (id) ON DELETE CASCADE,
    CONSTRAINT fk_handoffs_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX handoffs_response_key ON handoffs (response_id);
CREATE INDEX handoffs_status_idx ON handoffs (status, created_at);
