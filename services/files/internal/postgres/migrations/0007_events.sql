-- Events (issue 19). Expand-only: new tables, and new columns with defaults that keep the
-- previous release's inserts valid (its files are available at once, as they were).

-- The outbox: one row per state change, written in the change's own transaction. A job queue
-- (river, whose tables its own migrations create) fans each row out to the webhooks that want it.
CREATE TABLE file_events (
    id          uuid PRIMARY KEY,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    owner_id    text NOT NULL,
    file_id     uuid,
    data        jsonb NOT NULL
);
CREATE INDEX file_events_occurred ON file_events (occurred_at, id);

-- Webhook subscriptions, managed by admins. The secret signs deliveries (Standard Webhooks);
-- it is shown once, at creation. An empty event_types list means every type.
CREATE TABLE webhook_subscriptions (
    id          uuid PRIMARY KEY,
    url         text NOT NULL,
    secret      text NOT NULL,
    event_types text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL
);

-- Scanning: a file whose bytes await the virus scanner is pending_scan; a rejected file keeps
-- its row (the owner sees why) but not its bytes, and no longer counts against the quota.
ALTER TABLE files ADD COLUMN status text NOT NULL DEFAULT 'available'
    CHECK (status IN ('pending_scan', 'available', 'rejected'));
ALTER TABLE files ADD COLUMN status_reason text;
CREATE INDEX files_pending_scan ON files (created_at) WHERE status = 'pending_scan';

CREATE OR REPLACE FUNCTION files_track_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status <> 'rejected' THEN
        UPDATE file_usage SET used_bytes = used_bytes - OLD.size WHERE owner_id = OLD.owner_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status <> 'rejected' THEN
        INSERT INTO file_usage (owner_id, used_bytes) VALUES (NEW.owner_id, NEW.size)
        ON CONFLICT (owner_id) DO UPDATE SET used_bytes = file_usage.used_bytes + EXCLUDED.used_bytes;
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER files_usage ON files;
CREATE TRIGGER files_usage AFTER INSERT OR DELETE OR UPDATE OF size, owner_id, status ON files
    FOR EACH ROW EXECUTE FUNCTION files_track_usage();
