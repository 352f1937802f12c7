-- jobdeck PostgreSQL schema, version 10: history rows without a primary key index.
--
-- Every job writes at least three history rows (created, started, completed), and each
-- row paid for an entry in the primary key index, which no statement reads: history is
-- always reached through its job (jobdeck_history_job, (job_pk, id)) or by age (the
-- BRIN index). Ids still come from the sequence, so they stay unique and ordered.
ALTER TABLE jobdeck_history DROP CONSTRAINT jobdeck_history_pkey;
