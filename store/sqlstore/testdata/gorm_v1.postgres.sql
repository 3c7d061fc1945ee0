-- A version-1 cxbot database on PostgreSQL, as the GORM-built migrations left it
-- (commit 4fee7e4: gorm v1.31.2, gorm.io/driver/postgres v1.6.3, frozen row
-- structs and tx.Migrator().CreateTable): step 1 only, with rows in every
-- table written through GORM with the step-1 row structs, as that build did.
-- Dumped with pg_dump 15 --schema fix_v1 --no-owner --no-privileges --column-inserts;
-- comments, SET lines, psql meta-commands, CREATE SCHEMA and the schema prefix removed.
-- The code that produced it is gone: do not regenerate, this is what
-- installations in the field have. TestSQLUpgradeFromGORMBuild loads it.

CREATE TABLE answers (
    id bigint NOT NULL,
    response_id bigint NOT NULL,
    question_id text NOT NULL,
    kind text NOT NULL,
    score bigint,
    choice text NOT NULL,
    text text NOT NULL,
    class text NOT NULL,
    skipped boolean NOT NULL,
    answered_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE answers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE answers_id_seq OWNED BY answers.id;

CREATE TABLE channel_identities (
    id bigint NOT NULL,
    customer_id bigint NOT NULL,
    channel text NOT NULL,
    external_id text NOT NULL,
    username text NOT NULL,
    language text NOT NULL,
    linked_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE channel_identities_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE channel_identities_id_seq OWNED BY channel_identities.id;

CREATE TABLE customers (
    id bigint NOT NULL,
    ref text NOT NULL,
    language text NOT NULL,
    time_zone text NOT NULL,
    opted_out_at timestamp with time zone,
    unreachable_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE customers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE customers_id_seq OWNED BY customers.id;

CREATE TABLE handoffs (
    id bigint NOT NULL,
    response_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    customer_ref text NOT NULL,
    survey_id text NOT NULL,
    question_id text NOT NULL,
    kind text NOT NULL,
    score bigint NOT NULL,
    class text NOT NULL,
    comment text NOT NULL,
    channel text NOT NULL,
    external_id text NOT NULL,
    context text NOT NULL,
    status text NOT NULL,
    notified_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE handoffs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE handoffs_id_seq OWNED BY handoffs.id;

CREATE TABLE invitations (
    id bigint NOT NULL,
    wave_id text NOT NULL,
    customer_id bigint NOT NULL,
    event_id text NOT NULL,
    survey_id text NOT NULL,
    survey_version bigint NOT NULL,
    channel text NOT NULL,
    external_id text NOT NULL,
    language text NOT NULL,
    context text NOT NULL,
    status text NOT NULL,
    error text NOT NULL,
    sent_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE invitations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE invitations_id_seq OWNED BY invitations.id;

CREATE TABLE responses (
    id bigint NOT NULL,
    invitation_id bigint NOT NULL,
    customer_id bigint NOT NULL,
    survey_id text NOT NULL,
    survey_version bigint NOT NULL,
    channel text NOT NULL,
    external_id text NOT NULL,
    language text NOT NULL,
    status text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    completed_at timestamp with time zone
);

CREATE SEQUENCE responses_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE responses_id_seq OWNED BY responses.id;

CREATE TABLE schema_migrations (
    version bigint NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone NOT NULL
);

CREATE TABLE surveys (
    survey_id text NOT NULL,
    version bigint NOT NULL,
    fingerprint text NOT NULL,
    definition text NOT NULL,
    created_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY answers ALTER COLUMN id SET DEFAULT nextval('answers_id_seq'::regclass);

ALTER TABLE ONLY channel_identities ALTER COLUMN id SET DEFAULT nextval('channel_identities_id_seq'::regclass);

ALTER TABLE ONLY customers ALTER COLUMN id SET DEFAULT nextval('customers_id_seq'::regclass);

ALTER TABLE ONLY handoffs ALTER COLUMN id SET DEFAULT nextval('handoffs_id_seq'::regclass);

ALTER TABLE ONLY invitations ALTER COLUMN id SET DEFAULT nextval('invitations_id_seq'::regclass);

ALTER TABLE ONLY responses ALTER COLUMN id SET DEFAULT nextval('responses_id_seq'::regclass);

INSERT INTO answers (id, response_id, question_id, kind, score, choice, text, class, skipped, answered_at) VALUES (1, 1, 'nps', 'nps', 2, '', '', 'detractor', false, '2025-03-01 11:02:00+00');
INSERT INTO answers (id, response_id, question_id, kind, score, choice, text, class, skipped, answered_at) VALUES (2, 1, 'why', 'text', NULL, '', 'slow', '', false, '2025-03-01 11:03:00+00');

INSERT INTO channel_identities (id, customer_id, channel, external_id, username, language, linked_at) VALUES (1, 1, 'telegram', '7', 'anna', 'en', '2025-03-01 11:00:00+00');
INSERT INTO channel_identities (id, customer_id, channel, external_id, username, language, linked_at) VALUES (2, 2, 'wechat', 'oXyZ', '', 'zh-CN', '2025-03-01 11:00:00+00');

INSERT INTO customers (id, ref, language, time_zone, opted_out_at, unreachable_at, created_at, updated_at) VALUES (1, 'old-1', 'en', 'Europe/Berlin', NULL, NULL, '2025-03-01 11:00:00+00', '2025-03-01 11:00:00+00');
INSERT INTO customers (id, ref, language, time_zone, opted_out_at, unreachable_at, created_at, updated_at) VALUES (2, 'old-2', 'zh-CN', '', '2025-03-01 11:30:00+00', NULL, '2025-03-01 11:00:00+00', '2025-03-01 11:30:00+00');

INSERT INTO handoffs (id, response_id, customer_id, customer_ref, survey_id, question_id, kind, score, class, comment, channel, external_id, context, status, notified_at, created_at, updated_at) VALUES (1, 1, 1, 'old-1', 'delivery', 'nps', 'nps', 2, 'detractor', 'slow', 'telegram', '7', '{"order":"A-1"}', 'open', '2025-03-01 11:03:00+00', '2025-03-01 11:02:00+00', '2025-03-01 11:03:00+00');

INSERT INTO invitations (id, wave_id, customer_id, event_id, survey_id, survey_version, channel, external_id, language, context, status, error, sent_at, created_at, updated_at) VALUES (1, 'api', 1, 'e1', 'delivery', 1, 'telegram', '7', 'en', '{"order":"A-1"}', 'completed', '', '2025-03-01 11:01:00+00', '2025-03-01 11:00:00+00', '2025-03-01 11:01:00+00');
INSERT INTO invitations (id, wave_id, customer_id, event_id, survey_id, survey_version, channel, external_id, language, context, status, error, sent_at, created_at, updated_at) VALUES (2, 'w_old', 1, 'e2', 'delivery', 1, 'telegram', '7', 'en', '{}', 'planned', '', NULL, '2025-03-01 11:00:01+00', '2025-03-01 11:00:00+00');

INSERT INTO responses (id, invitation_id, customer_id, survey_id, survey_version, channel, external_id, language, status, started_at, completed_at) VALUES (1, 1, 1, 'delivery', 1, 'telegram', '7', 'en', 'completed', '2025-03-01 11:01:00+00', '2025-03-01 11:03:00+00');

INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'initial schema', '2025-03-01 10:00:00+00');

INSERT INTO surveys (survey_id, version, fingerprint, definition, created_at) VALUES ('delivery', 1, 'f1', '{"id":"delivery"}', '2025-03-01 11:00:00+00');

SELECT pg_catalog.setval('answers_id_seq', 2, true);

SELECT pg_catalog.setval('channel_identities_id_seq', 2, true);

SELECT pg_catalog.setval('customers_id_seq', 2, true);

SELECT pg_catalog.setval('handoffs_id_seq', 1, true);

SELECT pg_catalog.setval('invitations_id_seq', 2, true);

SELECT pg_catalog.setval('responses_id_seq', 1, true);

ALTER TABLE ONLY answers
    ADD CONSTRAINT answers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY channel_identities
    ADD CONSTRAINT channel_identities_pkey PRIMARY KEY (id);

ALTER TABLE ONLY customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY handoffs
    ADD CONSTRAINT handoffs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY invitations
    ADD CONSTRAINT invitations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY responses
    ADD CONSTRAINT responses_pkey PRIMARY KEY (id);

ALTER TABLE ONLY schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY surveys
    ADD CONSTRAINT surveys_pkey PRIMARY KEY (survey_id, version);

CREATE INDEX answers_answered_idx ON answers USING btree (answered_at);

CREATE UNIQUE INDEX answers_response_question_key ON answers USING btree (response_id, question_id);

CREATE INDEX channel_identities_customer_idx ON channel_identities USING btree (customer_id);

CREATE UNIQUE INDEX channel_identities_external_key ON channel_identities USING btree (channel, external_id);

CREATE UNIQUE INDEX customers_ref_key ON customers USING btree (ref);

CREATE UNIQUE INDEX handoffs_response_key ON handoffs USING btree (response_id);

CREATE INDEX handoffs_status_idx ON handoffs USING btree (status, created_at);

CREATE INDEX invitations_customer_idx ON invitations USING btree (customer_id, created_at);

CREATE INDEX invitations_status_idx ON invitations USING btree (status);

CREATE UNIQUE INDEX invitations_wave_customer_event_key ON invitations USING btree (wave_id, customer_id, event_id);

CREATE INDEX responses_chat_idx ON responses USING btree (channel, external_id, status);

CREATE UNIQUE INDEX responses_invitation_key ON responses USING btree (invitation_id);

CREATE INDEX responses_survey_idx ON responses USING btree (survey_id);

ALTER TABLE ONLY answers
    ADD CONSTRAINT fk_answers_response FOREIGN KEY (response_id) REFERENCES responses(id) ON DELETE CASCADE;

ALTER TABLE ONLY channel_identities
    ADD CONSTRAINT fk_channel_identities_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE;

ALTER TABLE ONLY handoffs
    ADD CONSTRAINT fk_handoffs_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE;

ALTER TABLE ONLY handoffs
    ADD CONSTRAINT fk_handoffs_response FOREIGN KEY (response_id) REFERENCES responses(id) ON DELETE CASCADE;

ALTER TABLE ONLY invitations
    ADD CONSTRAINT fk_invitations_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE;

ALTER TABLE ONLY responses
    ADD CONSTRAINT fk_responses_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE;

ALTER TABLE ONLY responses
    ADD CONSTRAINT fk_responses_invitation FOREIGN KEY (invitation_id) REFERENCES invitations(id) ON DELETE CASCADE;

