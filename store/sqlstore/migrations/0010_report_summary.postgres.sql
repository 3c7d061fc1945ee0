-- Reports read a narrow summary instead of joining answers, responses and
-- invitations and checking each answer is the first of its kind:
--
-- report_answers: one row per response and scale kind (nps, csat, ces), its
-- first answer of that kind that was not skipped (written with the answer,
-- in ApplyStep), with the dimensions reports group and filter on and the
-- invitation's context as jsonb. slot is the UTC hour of answered_at
-- (Unix seconds / 3600). rolled: counted in the roll-ups below.
--
-- report_hours and report_attribute_days: counts and score sums of rolled
-- rows by UTC hour, and by UTC day per event attribute. A report reads the
-- roll-ups for the whole hours (days) of its period and report_answers for
-- the partial ones at its edges and for the rows not rolled yet.
CREATE TABLE report_answers (
    response_id bigint NOT NULL,
    kind        text NOT NULL,
    answer_id   bigint NOT NULL,
    survey_id   text NOT NULL,
    wave_id     text NOT NULL,
    channel     text NOT NULL,
    language    text NOT NULL,
    class       text NOT NULL,
    score       bigint,
    answered_at timestamptz NOT NULL,
    slot        bigint NOT NULL,
    attributes  jsonb NOT NULL,
    rolled      boolean NOT NULL,
    PRIMARY KEY (response_id, kind),
    CONSTRAINT fk_report_answers_response FOREIGN KEY (response_id) REFERENCES responses (id) ON DELETE CASCADE
);
CREATE INDEX report_answers_kind_answered_idx ON report_answers (kind, answered_at);
CREATE INDEX report_answers_unrolled_idx ON report_answers (kind, slot) WHERE NOT rolled;

CREATE TABLE report_hours (
    survey_id text NOT NULL,
    kind      text NOT NULL,
    slot      bigint NOT NULL,
    wave_id   text NOT NULL,
    channel   text NOT NULL,
    language  text NOT NULL,
    class     text NOT NULL,
    n         bigint NOT NULL,
    score_sum bigint NOT NULL,
    PRIMARY KEY (survey_id, kind, slot, wave_id, channel, language, class)
);
CREATE INDEX report_hours_kind_slot_idx ON report_hours (kind, slot);

CREATE TABLE report_attribute_days (
    survey_id  text NOT NULL,
    kind       text NOT NULL,
    attr_key   text NOT NULL,
    day        bigint NOT NULL,
    wave_id    text NOT NULL,
    attr_value text NOT NULL,
    class      text NOT NULL,
    n          bigint NOT NULL,
    score_sum  bigint NOT NULL,
    PRIMARY KEY (survey_id, kind, attr_key, day, wave_id, attr_value, class)
);
CREATE INDEX report_attribute_days_kind_key_day_idx ON report_attribute_days (kind, attr_key, day);

-- Backfill: each response's first non-skipped answer of each scale kind
-- (the lowest id, as the reports counted before), already rolled up.
INSERT INTO report_answers (response_id, kind, answer_id, survey_id, wave_id, channel, language, class, score,
    answered_at, slot, attributes, rolled)
SELECT a.response_id, a.kind, a.id, r.survey_id, i.wave_id, r.channel, r.language, a.class, a.score,
    a.answered_at, floor(extract(epoch FROM a.answered_at) / 3600)::bigint,
    CAST(COALESCE(NULLIF(i.context, ''), '{}') AS jsonb), true
FROM (SELECT DISTINCT ON (response_id, kind) * FROM answers
      WHERE kind IN ('nps', 'csat', 'ces') AND NOT skipped
      ORDER BY response_id, kind, id) a
JOIN responses r ON r.id = a.response_id
JOIN invitations i ON i.id = r.invitation_id;

INSERT INTO report_hours (survey_id, kind, slot, wave_id, channel, language, class, n, score_sum)
SELECT survey_id, kind, slot, wave_id, channel, language, class, count(*), COALESCE(sum(score), 0)
FROM report_answers GROUP BY survey_id, kind, slot, wave_id, channel, language, class;

INSERT INTO report_attribute_days (survey_id, kind, attr_key, day, wave_id, attr_value, class, n, score_sum)
SELECT ra.survey_id, ra.kind, j.key, ra.slot / 24, ra.wave_id, j.value, ra.class, count(*), COALESCE(sum(ra.score), 0)
FROM report_answers ra,
    jsonb_each_text(CASE WHEN jsonb_typeof(ra.attributes) = 'object' THEN ra.attributes ELSE '{}' END) j
WHERE j.value <> ''
GROUP BY ra.survey_id, ra.kind, j.key, ra.slot / 24, ra.wave_id, j.value, ra.class;
