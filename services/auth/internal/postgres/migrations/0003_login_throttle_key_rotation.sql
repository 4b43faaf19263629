-- Login attempts per key (account or client address) in a fixed window, shared by replicas.
CREATE TABLE login_throttle (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL
);

-- A next key becomes active at activate_at; at most one key waits in the next state.
ALTER TABLE signing_keys ADD COLUMN activate_at timestamptz;
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys ((true)) WHERE state = 'next';
