-- Customers, their chats, surveys, invitations, responses, answers and
-- handoffs. Index names are explicit because PostgreSQL needs them unique
-- per schema. Columns have no DEFAULT: the store writes every column.

CREATE TABLE customers (
    id             bigserial PRIMARY KEY,
    ref            text NOT NULL,
    language       text NOT NULL,
    time_zone      text NOT NULL,
    opted_out_at   timestamptz,
    unreachable_at timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX customers_ref_key ON customers (ref);

CREATE TABLE channel_identities (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL,
    channel     text NOT NULL,
    external_id text NOT NULL,
    username    text NOT NULL,
    language    text NOT NULL,
    linked_at   timestamptz NOT NULL,
    CONSTRAINT fk_channel_identities_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX channel_identities_external_key ON channel_identities (channel, external_id);
CREATE INDEX channel_identities_customer_idx ON channel_identities (customer_id);

CREATE TABLE surveys (
    survey_id   text,
    version     bigint,
    fingerprint text NOT NULL,
    definition  text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (survey_id, version)
);

CREATE TABLE invitations (
    id             bigserial PRIMARY KEY,
    wave_id        text NOT NULL,
    customer_id    bigint NOT NULL,
    event_id       text NOT NULL,
    survey_id      text NOT NULL,
    survey_version bigint NOT NULL,
    channel        text NOT NULL,
    external_id    text NOT NULL,
    language       text NOT NULL,
    context        text NOT NULL,
    status         text NOT NULL,
    error          text NOT NULL,
    sent_at        timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT fk_invitations_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
-- One invitation per wave × customer × event, whatever the replicas do.
CREATE UNIQUE INDEX invitations_wave_customer_event_key ON invitations (wave_id, customer_id, event_id);
CREATE INDEX invitations_customer_idx ON invitations (customer_id, created_at);
CREATE INDEX invitations_status_idx ON invitations (status);

CREATE TABLE responses (
    id             bigserial PRIMARY KEY,
    invitation_id  bigint NOT NULL,
    customer_id    bigint NOT NULL,
    survey_id      text NOT NULL,
    survey_version bigint NOT NULL,
    channel        text NOT NULL,
    external_id    text NOT NULL,
    language       text NOT NULL,
    status         text NOT NULL,
    started_at     timestamptz NOT NULL,
    completed_at   timestamptz,
    CONSTRAINT fk_responses_invitation FOREIGN KEY (invitation_id) REFERENCES invitations (id) ON DELETE CASCADE,
    CONSTRAINT fk_responses_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX responses_invitation_key ON responses (invitation_id);
CREATE INDEX responses_survey_idx ON responses (survey_id);
CREATE INDEX responses_chat_idx ON responses (channel, external_id, status);

CREATE TABLE answers (
    id          bigserial PRIMARY KEY,
    response_id bigint NOT NULL,
    question_id text NOT NULL,
    kind        text NOT NULL,
    score       bigint,
    choice      text NOT NULL,
    text        text NOT NULL,
    class       text NOT NULL,
    skipped     boolean NOT NULL,
    answered_at timestamptz NOT NULL,
    CONSTRAINT fk_answers_response FOREIGN KEY (response_id) REFERENCES responses (id) ON DELETE CASCADE
);
-- The first answer to a question stands (a redelivered update adds nothing).
CREATE UNIQUE INDEX answers_response_question_key ON answers (response_id, question_id);
CREATE INDEX answers_answered_idx ON answers (answered_at);

CREATE TABLE handoffs (
    id           bigserial PRIMARY KEY,
    response_id  bigint NOT NULL,
    customer_id  bigint NOT NULL,
    customer_ref text NOT NULL,
    survey_id    text NOT NULL,
    question_id  text NOT NULL,
    kind         text NOT NULL,
    score        bigint NOT NULL,
    class        text NOT NULL,
    comment      text NOT NULL,
    channel      text NOT NULL,
    external_id  text NOT NULL,
    context      text NOT NULL,
    status       text NOT NULL,
    notified_at  timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT fk_handoffs_response FOREIGN KEY (response_id) REFERENCES responses (id) ON DELETE CASCADE,
    CONSTRAINT fk_handoffs_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX handoffs_response_key ON handoffs (response_id);
CREATE INDEX handoffs_status_idx ON handoffs (status, created_at);
