-- Read access granted by a file's owner to another user (the recipient's token sub).
CREATE TABLE file_shares (
    file_id    uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    user_id    text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (file_id, user_id)
);
CREATE INDEX file_shares_user ON file_shares (user_id);
