-- jobdeck SQLite schema, version 6: revocations are records of the change feed
-- (docs/feed.md, "Revocations").
--
-- revoked_seq: the feed number the revoking transaction took. A follower reads the
-- revocation in sequence order, so the API closes the token's sockets before it
-- delivers any record written after it. Tokens revoked before this version have none
-- (their sockets closed long ago, or authenticate no more).

ALTER TABLE tokens ADD COLUMN revoked_seq INTEGER;
CREATE INDEX tokens_revoked_seq ON tokens (revoked_seq) WHERE revoked_seq IS NOT NULL;
