-- Per-user storage accounting. used_bytes follows the files table through a trigger, so it is
-- right whichever code path inserts or deletes rows; in-flight uploads hold reservations.
CREATE TABLE file_usage (
    owner_id   text PRIMARY KEY,
    used_bytes bigint NOT NULL DEFAULT 0
);
INSERT INTO file_usage (owner_id, used_bytes)
    SELECT owner_id, sum(size) FROM files GROUP BY owner_id;

CREATE FUNCTION files_track_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE file_usage SET used_bytes = used_bytes - OLD.size WHERE owner_id = OLD.owner_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO file_usage (owner_id, used_bytes) VALUES (NEW.owner_id, NEW.size)
        ON CONFLICT (owner_id) DO UPDATE SET used_bytes = file_usage.used_bytes + EXCLUDED.used_bytes;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER files_usage AFTER INSERT OR DELETE OR UPDATE OF size, owner_id ON files
    FOR EACH ROW EXECUTE FUNCTION files_track_usage();

-- Bytes held by uploads in flight. A crashed node's reservations lapse at expires_at.
CREATE TABLE file_quota_reservations (
    id         uuid PRIMARY KEY,
    owner_id   text NOT NULL,
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    expires_at timestamptz NOT NULL
);
CREATE INDEX file_quota_reservations_owner ON file_quota_reservations (owner_id);
