-- The admin role: a user who holds it gets the "admin" role claim in tokens of clients that
-- may carry it (Coffer's own login client, and clients registered with --admin-role).
ALTER TABLE users ADD COLUMN admin boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN admin_role boolean NOT NULL DEFAULT false;
