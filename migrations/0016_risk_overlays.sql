-- The township leader's risk map: how far each hazard reaches, hazards kept up to date with
-- their history and inspections, evacuations with each household's state, and the phone of
-- each account for the grid noticeboard (公示牌).

-- The influence zone of a hazard, in metres around its geometry, by kind and severity.
-- Defaults after common practice for rural hazard points; a township admin may change them.
CREATE TABLE hazard_buffers (
    kind      text NOT NULL CHECK (kind IN ('landslide', 'flood', 'dangerous_house', 'fire', 'water')),
    severity  text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    buffer_m  double precision NOT NULL CHECK (buffer_m >= 0 AND buffer_m <= 5000),
    PRIMARY KEY (kind, severity)
);
INSERT INTO hazard_buffers (kind, severity, buffer_m) VALUES
    ('landslide', 'low', 100), ('landslide', 'medium', 200), ('landslide', 'high', 300),
    ('flood', 'low', 0), ('flood', 'medium', 50), ('flood', 'high', 100),
    ('dangerous_house', 'low', 10), ('dangerous_house', 'medium', 20), ('dangerous_house', 'high', 30),
    ('fire', 'low', 30), ('fire', 'medium', 50), ('fire', 'high', 100),
    ('water', 'low', 0), ('water', 'medium', 20), ('water', 'high', 50);

ALTER TABLE hazards
    ADD COLUMN status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    ADD COLUMN updated_by bigint REFERENCES users(id) ON DELETE SET NULL;

-- Every version of a hazard, written by the database so that no path forgets it.
CREATE TABLE hazard_history (
    hazard_id  bigint NOT NULL,
    version    integer NOT NULL,
    kind       text NOT NULL,
    severity   text NOT NULL,
    name       text,
    status     text NOT NULL,
    geom       geometry(Geometry, 4326) NOT NULL,
    changed_by bigint REFERENCES users(id) ON DELETE SET NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hazard_id, version)
);

CREATE FUNCTION hazards_keep_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hazard_history (hazard_id, version, kind, severity, name, status, geom, changed_by)
    VALUES (NEW.id, NEW.version, NEW.kind, NEW.severity, NEW.name, NEW.status, NEW.geom, NEW.updated_by)
    ON CONFLICT (hazard_id, version) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER hazards_history AFTER INSERT OR UPDATE ON hazards
    FOR EACH ROW EXECUTE FUNCTION hazards_keep_history();
INSERT INTO hazard_history (hazard_id, version, kind, severity, name, status, geom)
    SELECT id, version, kind, severity, name, status, geom FROM hazards;

CREATE TABLE hazard_inspections (
    id         bigserial PRIMARY KEY,
    hazard_id  bigint NOT NULL REFERENCES hazards(id) ON DELETE CASCADE,
    user_id    bigint REFERENCES users(id) ON DELETE SET NULL,
    note       text NOT NULL CHECK (length(note) BETWEEN 1 AND 2000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hazard_inspections_hazard_idx ON hazard_inspections (hazard_id);

-- An evacuation (转移) of the households exposed to some hazards, each sent to a shelter.
CREATE TABLE evacuations (
    id          bigserial PRIMARY KEY,
    township_id bigint NOT NULL REFERENCES areas(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    hazard_ids  bigint[] NOT NULL,
    created_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE evacuation_households (
    evacuation_id bigint NOT NULL REFERENCES evacuations(id) ON DELETE CASCADE,
    household_id  bigint NOT NULL REFERENCES households(id) ON DELETE CASCADE,
    shelter_id    bigint REFERENCES facilities(id) ON DELETE SET NULL,
    distance_m    double precision,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'moved', 'refused', 'away', 'needs_help')),
    note          text CHECK (length(note) <= 500),
    updated_by    bigint REFERENCES users(id) ON DELETE SET NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (evacuation_id, household_id)
);

ALTER TABLE users ADD COLUMN phone text CHECK (phone ~ '^[0-9+ -]{3,20}$');
