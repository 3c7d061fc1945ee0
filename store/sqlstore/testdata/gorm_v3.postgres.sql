-- A version-3 cxbot database on PostgreSQL, as the GORM-built migrations left it
-- (commit 4fee7e4: gorm v1.31.2, gorm.io/driver/postgres v1.6.3, frozen row
-- structs and tx.Migrator().CreateTable): steps 1-3, with rows in every
-- table written through that build's repository methods.
-- Dumped with pg_dump 15 --schema fix_v3 --no-owner --no-privileges --column-inserts;
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
    linked_at timestamp with time zone NOT NULL,
    opted_out_at timestamp with time zone,
    unreachable_at timestamp with time zone
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

CREATE TABLE delivery_attempts (
    id bigint NOT NULL,
    invitation_id bigint NOT NULL,
    at timestamp with time zone NOT NULL,
    outcome text NOT NULL,
    error text NOT NULL,
    retry_after_ms bigint NOT NULL
);

CREATE SEQUENCE delivery_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE delivery_attempts_id_seq OWNED BY delivery_attempts.id;

CREATE TABLE events (
    seq bigint NOT NULL,
    id text NOT NULL,
    customer_id bigint NOT NULL,
    touchpoint text NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    telegram_chat_id text NOT NULL,
    wechat_openid text NOT NULL,
    language text NOT NULL,
    time_zone text NOT NULL,
    attributes text NOT NULL,
    received_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE events_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE events_seq_seq OWNED BY events.seq;

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
    updated_at timestamp with time zone NOT NULL,
    not_before timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    attempts bigint DEFAULT 0 NOT NULL,
    reminded_at timestamp with time zone,
    claimed_by text DEFAULT ''::text NOT NULL,
    claim_until timestamp with time zone
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

CREATE TABLE waves (
    id text NOT NULL,
    definition text NOT NULL,
    source text NOT NULL,
    paused boolean NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

ALTER TABLE ONLY answers ALTER COLUMN id SET DEFAULT nextval('answers_id_seq'::regclass);

ALTER TABLE ONLY channel_identities ALTER COLUMN id SET DEFAULT nextval('channel_identities_id_seq'::regclass);

ALTER TABLE ONLY customers ALTER COLUMN id SET DEFAULT nextval('customers_id_seq'::regclass);

ALTER TABLE ONLY delivery_attempts ALTER COLUMN id SET DEFAULT nextval('delivery_attempts_id_seq'::regclass);

ALTER TABLE ONLY events ALTER COLUMN seq SET DEFAULT nextval('events_seq_seq'::regclass);

ALTER TABLE ONLY handoffs ALTER COLUMN id SET DEFAULT nextval('handoffs_id_seq'::regclass);

ALTER TABLE ONLY invitations ALTER COLUMN id SET DEFAULT nextval('invitations_id_seq'::regclass);

ALTER TABLE ONLY responses ALTER COLUMN id SET DEFAULT nextval('responses_id_seq'::regclass);

INSERT INTO answers (id, response_id, question_id, kind, score, choice, text, class, skipped, answered_at) VALUES (1, 1, 'nps', 'nps', 3, '', '', 'detractor', false, '2025-03-01 12:02:00+00');
INSERT INTO answers (id, response_id, question_id, kind, score, choice, text, class, skipped, answered_at) VALUES (2, 1, 'why', 'text', NULL, '', 'late and cold', '', false, '2025-03-01 12:03:00+00');

INSERT INTO channel_identities (id, customer_id, channel, external_id, username, language, linked_at, opted_out_at, unreachable_at) VALUES (1, 1, 'telegram', '42', '', '', '2025-03-01 12:00:00+00', NULL, NULL);
INSERT INTO channel_identities (id, customer_id, channel, external_id, username, language, linked_at, opted_out_at, unreachable_at) VALUES (3, 1, 'wechat', 'oAbC', '', '', '2025-03-01 12:00:00+00', NULL, NULL);
INSERT INTO channel_identities (id, customer_id, channel, external_id, username, language, linked_at, opted_out_at, unreachable_at) VALUES (2, 2, 'telegram', '43', '', '', '2025-03-01 12:00:00+00', '2025-03-01 12:05:00+00', NULL);

INSERT INTO customers (id, ref, language, time_zone, opted_out_at, unreachable_at, created_at, updated_at) VALUES (1, 'C-1', 'zh-CN', 'Asia/Shanghai', NULL, NULL, '2025-03-01 12:00:00+00', '2025-03-01 12:00:00+00');
INSERT INTO customers (id, ref, language, time_zone, opted_out_at, unreachable_at, created_at, updated_at) VALUES (2, 'C-2', 'en', 'Europe/Berlin', '2025-03-01 12:05:00+00', NULL, '2025-03-01 12:00:00+00', '2025-03-01 12:00:00+00');

INSERT INTO delivery_attempts (id, invitation_id, at, outcome, error, retry_after_ms) VALUES (1, 1, '2025-03-01 12:00:00+00', 'sent', '', 0);
INSERT INTO delivery_attempts (id, invitation_id, at, outcome, error, retry_after_ms) VALUES (2, 2, '2025-03-01 12:00:00+00', 'rate_limited', '429 Too Many Requests', 30000);

INSERT INTO events (seq, id, customer_id, touchpoint, occurred_at, telegram_chat_id, wechat_openid, language, time_zone, attributes, received_at) VALUES (1, 'ord-1001-delivered', 1, 'purchase', '2025-03-01 10:00:00+00', '42', 'oAbC', 'zh-CN', 'Asia/Shanghai', '{"order_id":"1001","store":"SH-01"}', '2025-03-01 12:00:00+00');
INSERT INTO events (seq, id, customer_id, touchpoint, occurred_at, telegram_chat_id, wechat_openid, language, time_zone, attributes, received_at) VALUES (2, 'ord-1002-delivered', 2, 'purchase', '2025-03-01 11:00:00+00', '43', '', 'en', 'Europe/Berlin', '{}', '2025-03-01 12:00:00+00');

INSERT INTO handoffs (id, response_id, customer_id, customer_ref, survey_id, question_id, kind, score, class, comment, channel, external_id, context, status, notified_at, created_at, updated_at) VALUES (1, 1, 1, 'C-1', 'delivery', 'nps', 'nps', 3, 'detractor', 'late and cold', 'telegram', '42', '{"order_id":"1001"}', 'open', '2025-03-01 12:04:00+00', '2025-03-01 12:02:00+00', '2025-03-01 12:04:00+00');

INSERT INTO invitations (id, wave_id, customer_id, event_id, survey_id, survey_version, channel, external_id, language, context, status, error, sent_at, created_at, updated_at, not_before, attempts, reminded_at, claimed_by, claim_until) VALUES (2, 'w-delivery', 2, 'ord-1002-delivered', 'delivery', 1, 'telegram', '43', 'en', '{}', 'planned', '429 Too Many Requests', NULL, '2025-03-01 12:00:00+00', '2025-03-01 12:00:00+00', '2025-03-01 12:00:30+00', 1, NULL, '', NULL);
INSERT INTO invitations (id, wave_id, customer_id, event_id, survey_id, survey_version, channel, external_id, language, context, status, error, sent_at, created_at, updated_at, not_before, attempts, reminded_at, claimed_by, claim_until) VALUES (3, 'api', 2, 'api-1', 'delivery', 1, 'telegram', '43', 'en', '{}', 'sent', '', '2025-03-01 12:00:00+00', '2025-03-01 12:00:00+00', '2025-03-01 12:00:00+00', '2025-03-01 12:00:00+00', 0, NULL, '', NULL);
INSERT INTO invitations (id, wave_id, customer_id, event_id, survey_id, survey_version, channel, external_id, language, context, status, error, sent_at, created_at, updated_at, not_before, attempts, reminded_at, claimed_by, claim_until) VALUES (1, 'w-delivery', 1, 'ord-1001-delivered', 'delivery', 1, 'telegram', '42', 'zh-CN', '{"order_id":"1001"}', 'completed', '', '2025-03-01 12:00:00+00', '2025-03-01 12:00:00+00', '2025-03-01 12:03:00+00', '2025-03-01 11:59:00+00', 1, NULL, '', NULL);

INSERT INTO responses (id, invitation_id, customer_id, survey_id, survey_version, channel, external_id, language, status, started_at, completed_at) VALUES (1, 1, 1, 'delivery', 1, 'telegram', '42', 'zh-CN', 'completed', '2025-03-01 12:01:00+00', '2025-03-01 12:03:00+00');

INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'initial schema', '2025-03-01 12:00:00+00');
INSERT INTO schema_migrations (version, name, applied_at) VALUES (2, 'waves and events', '2025-03-01 12:00:00+00');
INSERT INTO schema_migrations (version, name, applied_at) VALUES (3, 'consent per chat', '2025-03-01 12:00:00+00');

INSERT INTO surveys (survey_id, version, fingerprint, definition, created_at) VALUES ('delivery', 1, '45d16f532b80808c9b4066f54abd3ffcf784bfff737fc3c7aefd17e0939a6ce6', '{"ID":"delivery","Version":1,"Title":{"en":"How did we do?","zh-CN":"我们做得怎么样？"},"DefaultLanguage":"en","Questions":[{"ID":"nps","Kind":"nps","Prompt":{"en":"Recommend us?"},"Options":null,"Next":"why","Branches":[{"When":"detractor","Goto":"why"}],"Optional":false},{"ID":"why","Kind":"text","Prompt":{"en":"Why?"},"Options":null,"Next":"","Branches":null,"Optional":true}],"Thresholds":{"NPSDetractorMax":0,"NPSPromoterMin":0,"CSATDetractorMax":0,"CSATSatisfiedMin":0,"CESDetractorMin":0,"CESEasyMax":0},"Messages":{"Intro":null,"Thanks":null,"Handoff":null,"Expired":null,"Reprompt":null},"WeChatTemplate":null,"Source":"configs/surveys/delivery.yaml"}', '2025-03-01 12:00:00+00');

INSERT INTO waves (id, definition, source, paused, created_at, updated_at) VALUES ('w-delivery', 'id: w-delivery
survey: delivery
', 'file', false, '2025-03-01 12:00:00+00', '2025-03-01 12:00:00+00');

SELECT pg_catalog.setval('answers_id_seq', 2, true);

SELECT pg_catalog.setval('channel_identities_id_seq', 3, true);

SELECT pg_catalog.setval('customers_id_seq', 2, true);

SELECT pg_catalog.setval('delivery_attempts_id_seq', 2, true);

SELECT pg_catalog.setval('events_seq_seq', 2, true);

SELECT pg_catalog.setval('handoffs_id_seq', 1, true);

SELECT pg_catalog.setval('invitations_id_seq', 3, true);

SELECT pg_catalog.setval('responses_id_seq', 1, true);

ALTER TABLE ONLY answers
    ADD CONSTRAINT answers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY channel_identities
    ADD CONSTRAINT channel_identities_pkey PRIMARY KEY (id);

ALTER TABLE ONLY customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY delivery_attempts
    ADD CONSTRAINT delivery_attempts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY events
    ADD CONSTRAINT events_pkey PRIMARY KEY (seq);

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

ALTER TABLE ONLY waves
    ADD CONSTRAINT waves_pkey PRIMARY KEY (id);

CREATE INDEX answers_answered_idx ON answers USING btree (answered_at);

CREATE UNIQUE INDEX answers_response_question_key ON answers USING btree (response_id, question_id);

CREATE INDEX channel_identities_customer_idx ON channel_identities USING btree (customer_id);

CREATE UNIQUE INDEX channel_identities_external_key ON channel_identities USING btree (channel, external_id);

CREATE UNIQUE INDEX customers_ref_key ON customers USING btree (ref);

CREATE INDEX delivery_attempts_invitation_idx ON delivery_attempts USING btree (invitation_id);

CREATE INDEX events_customer_occurred_idx ON events USING btree (customer_id, occurred_at);

CREATE UNIQUE INDEX events_id_key ON events USING btree (id);

CREATE INDEX events_touchpoint_occurred_idx ON events USING btree (touchpoint, occurred_at);

CREATE INDEX events_touchpoint_seq_idx ON events USING btree (touchpoint, seq);

CREATE UNIQUE INDEX handoffs_response_key ON handoffs USING btree (response_id);

CREATE INDEX handoffs_status_idx ON handoffs USING btree (status, created_at);

CREATE INDEX invitations_customer_idx ON invitations USING btree (customer_id, created_at);

CREATE INDEX invitations_status_not_before_idx ON invitations USING btree (status, not_before);

CREATE UNIQUE INDEX invitations_wave_customer_event_key ON invitations USING btree (wave_id, customer_id, event_id);

CREATE INDEX invitations_wave_status_idx ON invitations USING btree (wave_id, status);

CREATE INDEX responses_chat_idx ON responses USING btree (channel, external_id, status);

CREATE UNIQUE INDEX responses_invitation_key ON responses USING btree (invitation_id);

CREATE INDEX responses_survey_idx ON responses USING btree (survey_id);

ALTER TABLE ONLY answers
    ADD CONSTRAINT fk_answers_response FOREIGN KEY (response_id) REFERENCES responses(id) ON DELETE CASCADE;

ALTER TABLE ONLY channel_identities
    ADD CONSTRAINT fk_channel_identities_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE;

ALTER TABLE ONLY delivery_attempts
    ADD CONSTRAINT fk_delivery_attempts_invitation FOREIGN KEY (invitation_id) REFERENCES invitations(id) ON DELETE CASCADE;

ALTER TABLE ONLY events
    ADD CONSTRAINT fk_events_customer FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE;

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

