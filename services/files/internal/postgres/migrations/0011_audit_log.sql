-- The audit log (pkg/auditlog): append-only, hash-chained rows. The application never
-- changes or deletes a row: the trigger below refuses UPDATE, DELETE and TRUNCATE even to the
-- table's owner, and a deployment that migrates with a separate owner role grants the
-- application role only SELECT and INSERT here (docs/SECURITY.md). Retention deletes the
-- oldest rows only through file_audit_log_prune, which refuses rows younger than a day.
CREATE TABLE file_audit_log (
    seq       bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    target    text NOT NULL,
    client_id text NOT NULL,
    address   text NOT NULL,
    details   text NOT NULL,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL
);
CREATE INDEX file_audit_log_at ON file_audit_log (at);
CREATE INDEX file_audit_log_target ON file_audit_log (target, seq);
CREATE INDEX file_audit_log_actor ON file_audit_log (actor, seq);

CREATE FUNCTION file_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('coffer.audit_prune', true) = 'on' THEN
        IF OLD.at < now() - interval '1 day' THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'file_audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER file_audit_log_no_change BEFORE UPDATE OR DELETE ON file_audit_log
    FOR EACH ROW EXECUTE FUNCTION file_audit_log_append_only();
CREATE TRIGGER file_audit_log_no_truncate BEFORE TRUNCATE ON file_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION file_audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON file_audit_log FROM PUBLIC;

-- Deletes the chain's oldest rows, those before the given time (at most up to a day ago),
-- as the owner: the application role may call it without holding DELETE.
CREATE FUNCTION file_audit_log_prune(before timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    last bigint;
    n bigint;
BEGIN
    before := least(before, now() - interval '1 day');
    SELECT max(seq) INTO last FROM file_audit_log WHERE at < before;
    IF last IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM set_config('coffer.audit_prune', 'on', true);
    DELETE FROM file_audit_log WHERE seq <= last;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('coffer.audit_prune', 'off', true);
    RETURN n;
END
$$;

-- A per-user quota set by an admin (POST /v1/admin/users/{id}/quota), overriding
-- COFFER_FILES_USER_QUOTA for that user; NULL takes the configured default.
ALTER TABLE file_usage ADD COLUMN quota_bytes bigint CHECK (quota_bytes >= 0);
