-- jobdeck PostgreSQL schema, version 6: revocations are records of the change feed
-- (docs/feed.md, "Revocations").
--
-- revoked_seq: the feed number the revoking transaction took under the feed lock
-- (queries.sql, feed_lock), like every feed write. A follower reads the revocation in
-- sequence order, so the API closes the token's sockets before it delivers any record
-- written after it. Tokens revoked before this version have none.

ALTER TABLE jobdeck_tokens ADD COLUMN revoked_seq bigint;
CREATE INDEX jobdeck_tokens_revoked_seq ON jobdeck_tokens (revoked_seq)
    WHERE revoked_seq IS NOT NULL;
