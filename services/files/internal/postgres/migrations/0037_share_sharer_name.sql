-- The owner's username when they shared a file, from their access token's
-- preferred_username (issue 22: "Shared with me" says who shared, by name). Expand-only:
-- NULL for older shares, for owners whose token names no user (client tokens) and for shares
-- made by a previous release's nodes; lists then show the owner's id.
ALTER TABLE file_shares ADD COLUMN sharer_name text;
