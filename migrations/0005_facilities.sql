-- Facilities of the village map (党群服务中心, clinics, schools, shelters...).
CREATE TABLE facilities (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('service_centre', 'clinic', 'school', 'shelter',
                   'fire_station', 'canteen', 'toilet', 'camera', 'police')),
    name       text,
    capacity   integer CHECK (capacity >= 0),
    geom       geometry(Point, 4326) NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX facilities_geom_idx ON facilities USING gist (geom);
