-- Visits (走访) of grid workers to households. The product records visits, not people's
-- whereabouts: the location is where the visit was recorded, kept to check it against the
-- household, and nothing tracks a worker between visits.
CREATE TABLE visits (
    id           bigserial PRIMARY KEY,
    household_id bigint NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    -- Made by the client: a visit recorded offline and sent twice is stored once.
    client_id    text NOT NULL CHECK (length(client_id) BETWEEN 8 AND 64),
    visited_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    geom         geometry(Point, 4326),
    -- The coordinates as sent when they were not WGS84 (GCJ-02 from a phone's map).
    source_crs   text CHECK (source_crs IN ('wgs84', 'gcj02', 'bd09')),
    far_m        double precision,
    flagged      boolean NOT NULL DEFAULT false,
    found        text NOT NULL DEFAULT '' CHECK (length(found) <= 4000),
    follow_up    boolean NOT NULL DEFAULT false,
    CONSTRAINT visits_client_unique UNIQUE (user_id, client_id)
);
CREATE INDEX visits_household_idx ON visits (household_id, visited_at DESC);

CREATE TABLE visit_photos (
    visit_id     bigint PRIMARY KEY REFERENCES visits (id) ON DELETE CASCADE,
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes        bytea NOT NULL CHECK (length(bytes) <= 4194304)
);

-- A township's own visit cadence per key-population tag (NULL: every household); where it
-- sets none, the defaults in cuntu-core apply.
CREATE TABLE visit_rules (
    township_id bigint NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    tag         text,
    days        integer NOT NULL CHECK (days BETWEEN 1 AND 366),
    CONSTRAINT visit_rules_unique UNIQUE NULLS NOT DISTINCT (township_id, tag)
);
