-- A session's context policy (docs/long-sessions.md): the JSON of `rhone.context`, or '' for
-- the default.
ALTER TABLE sessions ADD COLUMN context_policy TEXT NOT NULL DEFAULT ''
