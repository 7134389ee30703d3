-- Accounts: users, their roles on areas of the tree, sessions and API tokens.
CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    username       text NOT NULL,
    display_name   text NOT NULL,
    password_hash  text NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_unique UNIQUE (username),
    CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9_.-]{2,64}$')
);

-- A role on an area covers every area below it. `grants` widens what the role sees:
-- 'personal' (names for a leader), 'full_view' (unmasked phones and ID numbers).
CREATE TABLE role_assignments (
    id       bigserial PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     text NOT NULL CHECK (role IN ('township_admin', 'leader', 'village_cadre', 'grid_worker', 'department')),
    area_id  bigint NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    grants   text[] NOT NULL DEFAULT '{}' CHECK (grants <@ ARRAY['personal', 'full_view']::text[]),
    CONSTRAINT role_assignments_unique UNIQUE (user_id, role, area_id)
);
CREATE INDEX role_assignments_user_idx ON role_assignments (user_id);

-- Only hashes of session and API tokens are kept: a stolen database opens no session.
CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    remote_addr text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);
