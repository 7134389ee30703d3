-- What reaches someone: an incident in their inbox, or overdue there. Written in the same
-- transaction as the step that causes it, so none is lost; read in the app.
CREATE TABLE notifications (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    incident_id bigint REFERENCES incidents(id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('inbox', 'overdue', 'escalated', 'resolved')),
    message_zh  text NOT NULL,
    message_en  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, read_at, created_at DESC);

-- Outside systems of a township hear the same events on a webhook. Deliveries are an outbox
-- written with the event and sent (and retried) by the server.
CREATE TABLE webhooks (
    township_id bigint PRIMARY KEY REFERENCES areas(id) ON DELETE CASCADE,
    url         text NOT NULL CHECK (url ~ '^https?://[^ ]+$' AND length(url) <= 500),
    secret      text NOT NULL CHECK (length(secret) BETWEEN 16 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    township_id     bigint NOT NULL REFERENCES webhooks(township_id) ON DELETE CASCADE,
    payload         jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;

-- The deadline an overdue notice was last sent for, so that each missed deadline is told once.
ALTER TABLE incidents ADD COLUMN overdue_noticed_due timestamptz;
