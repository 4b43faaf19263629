-- The username a share's recipient was named by when the owner shared the file by username
-- (issue 20: the page's sharing dialog lists recipients by name). Expand-only: NULL for
-- shares by user_id and for shares made by a previous release's nodes.
ALTER TABLE file_shares ADD COLUMN username text;
