-- The answer path writes a response row on every step; with room left in
-- each page, PostgreSQL updates it in place (a HOT update, none of its
-- indexes touched) instead of writing a new row and an entry in each.
ALTER TABLE responses SET (fillfactor = 70);
-- Written on every answer, needed by no query: the unique
-- (response_id, question_id) serves every lookup of a response's answers
-- (a response has a handful).
DROP INDEX answers_response_kind_idx;
