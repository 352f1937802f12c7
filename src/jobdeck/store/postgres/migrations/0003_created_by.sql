-- jobdeck PostgreSQL schema, version 3: who created each job (docs/security.md), set by the
-- server only: `token:{id}:{name}`, `plugin:{name}` or `local`.
--
-- Rows written before this version have no known creator: `unknown`, which no
-- identity lookup accepts (an `api_call` job of such a row fails instead of acting as
-- someone; docs/builtin-types.md, "Identity"). A constant default adds the column
-- without rewriting the table.

ALTER TABLE jobdeck_jobs ADD COLUMN created_by text NOT NULL DEFAULT 'unknown';
