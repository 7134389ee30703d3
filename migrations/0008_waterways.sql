-- Rivers, streams and canals.
CREATE TABLE waterways (
    id   bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('river', 'stream', 'canal', 'ditch', 'drain')),
    name text,
    geom geometry(LineString, 4326) NOT NULL
);
CREATE INDEX waterways_geom_idx ON waterways USING gist (geom);
