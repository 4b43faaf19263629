-- Receiving and sharing (issue 20). Expand-only: a node of the previous release keeps working
-- beside these columns (it counts downloads_left, which new links still fill in).

-- Locks first, in the order the previous release's transactions take them (an upload's
-- completion: file_uploads, then files; a delete: files, then its links by cascade), so that
-- this migration cannot deadlock with a node still serving: it waits for them, or they for it.
LOCK TABLE file_uploads, files, file_links IN ACCESS EXCLUSIVE MODE;

-- Links: an exact byte budget (max_downloads × size, see README "Download budget"), an
-- optional password (argon2id, PHC string), and a short id for URLs people read.
ALTER TABLE file_links
    ADD COLUMN max_downloads integer CHECK (max_downloads > 0),
    ADD COLUMN served_bytes  bigint NOT NULL DEFAULT 0 CHECK (served_bytes >= 0),
    ADD COLUMN password_hash text,
    ADD COLUMN short_id      text UNIQUE;
UPDATE file_links SET max_downloads = downloads_left WHERE downloads_left > 0;
DELETE FROM file_links WHERE downloads_left = 0; -- used up under the old rule
CREATE INDEX file_links_created ON file_links (created_at DESC, id DESC);

-- Retention, and the file request (with its uploader's name) a file arrived through.
ALTER TABLE files
    ADD COLUMN expires_at    timestamptz,
    ADD COLUMN request_id    uuid,
    ADD COLUMN uploader_name text;
CREATE INDEX files_expires ON files (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX files_request ON files (request_id, created_at DESC) WHERE request_id IS NOT NULL;

-- File requests: upload-only links into their owner's space. files_used and bytes_used count
-- reservations (uploads begun and files arrived), so limits hold under parallel uploads.
CREATE TABLE file_requests (
    id            uuid PRIMARY KEY,
    owner_id      text NOT NULL,
    short_id      text NOT NULL UNIQUE,
    title         text NOT NULL,
    message       text NOT NULL DEFAULT '',
    expires_at    timestamptz NOT NULL,
    max_files     integer CHECK (max_files > 0),
    max_bytes     bigint CHECK (max_bytes > 0),
    password_hash text,
    require_name  boolean NOT NULL DEFAULT false,
    files_used    integer NOT NULL DEFAULT 0 CHECK (files_used >= 0),
    bytes_used    bigint NOT NULL DEFAULT 0 CHECK (bytes_used >= 0),
    closed_at     timestamptz,
    created_at    timestamptz NOT NULL
);
CREATE INDEX file_requests_owner ON file_requests (owner_id, created_at DESC, id DESC);
ALTER TABLE file_uploads
    ADD COLUMN request_id    uuid,
    ADD COLUMN uploader_name text,
    ADD COLUMN file_expires_at timestamptz;

-- Failed password attempts per link or request (keyed by a hash of its public id, known or
-- not), so a password cannot be guessed faster than the window allows on any node.
CREATE TABLE link_password_failures (
    key         bytea PRIMARY KEY,
    failures    integer NOT NULL,
    window_ends timestamptz NOT NULL
);
