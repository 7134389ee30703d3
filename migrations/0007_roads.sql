-- The road network: OSM highway classes kept as they are.
CREATE TABLE roads (
    id    bigserial PRIMARY KEY,
    class text NOT NULL,
    name  text,
    geom  geometry(LineString, 4326) NOT NULL
);
CREATE INDEX roads_geom_idx ON roads USING gist (geom);
