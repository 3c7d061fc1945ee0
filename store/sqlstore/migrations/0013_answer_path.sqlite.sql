-- Written on every answer, needed by no query: the unique
-- (response_id, question_id) serves every lookup of a response's answers
-- (a response has a handful). (PostgreSQL also leaves room in responses'
-- pages for updates in place; SQLite has no such setting.)
DROP INDEX answers_response_kind_idx;
