-- A wave is retired, not deleted: its file disappeared or DELETE
-- /api/v1/waves/{id} was called. A retired wave plans, reminds and sends
-- nothing more; its invitations, answers and counts stay.
ALTER TABLE waves ADD COLUMN retired_at datetime NULL;
