-- Risks and hazards (风险隐患): points, lines or zones; `rule` says how each was found.
CREATE TABLE hazards (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('landslide', 'flood', 'dangerous_house', 'fire', 'water')),
    severity   text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    name       text,
    rule       text,
    geom       geometry(Geometry, 4326) NOT NULL CHECK (NOT ST_IsEmpty(geom)),
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hazards_geom_idx ON hazards USING gist (geom);
