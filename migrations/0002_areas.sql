-- The area tree: township → village → hamlet → grid → lane, one table for every level.
CREATE TABLE areas (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('township', 'village', 'hamlet', 'grid', 'lane')),
    parent_id   bigint REFERENCES areas (id) ON DELETE RESTRICT,
    code        text NOT NULL,
    name        text NOT NULL,
    source_name text,
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT areas_code_unique UNIQUE (code),
    CONSTRAINT areas_township_is_root CHECK ((kind = 'township') = (parent_id IS NULL))
);
CREATE INDEX areas_geom_idx ON areas USING gist (geom);
CREATE INDEX areas_parent_idx ON areas (parent_id);
CREATE INDEX areas_kind_idx ON areas (kind);

CREATE FUNCTION area_kind_rank(kind text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE kind
        WHEN 'township' THEN 0 WHEN 'village' THEN 1 WHEN 'hamlet' THEN 2
        WHEN 'grid' THEN 3 WHEN 'lane' THEN 4 END
$$;

-- The area in m² of a lon/lat geometry taken as drawn: straight edges in lon/lat, scaled by
-- the metres of a degree at its latitude. Slivers between areas are measured with it, not with
-- the geography type, whose geodesic edges bow away from the drawn ones and would turn a
-- shared edge split at a new vertex into a sliver of square metres.
CREATE FUNCTION planar_area_m2(geom geometry) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN ST_IsEmpty(geom) THEN 0.0
           ELSE ST_Area(geom) * 111319.49 * 111319.49 * cos(radians(ST_Y(ST_Centroid(ST_Envelope(geom)))))
           END
$$;

-- How far (m²) a child may stick out of its parent: clipping in floating point leaves slivers
-- of a fraction of a square metre along long boundaries, never more.
CREATE FUNCTION area_outside_tolerance(geom geometry) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT greatest(1.0, 1e-6 * planar_area_m2(geom))
$$;

-- Containment is a rule of the data, not of one client: every write of an area is checked
-- here, whoever makes it.
CREATE FUNCTION areas_enforce_tree() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    parent areas%ROWTYPE;
    outside double precision;
    stray record;
BEGIN
    IF NOT ST_IsValid(NEW.geom) THEN
        RAISE EXCEPTION 'area % (%) has an invalid geometry: %', NEW.name, NEW.kind, ST_IsValidReason(NEW.geom)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_valid_geometry';
    END IF;
    IF NEW.parent_id IS NOT NULL THEN
        SELECT * INTO parent FROM areas WHERE id = NEW.parent_id;
        IF area_kind_rank(parent.kind) >= area_kind_rank(NEW.kind) THEN
            RAISE EXCEPTION 'a % cannot lie under a %', NEW.kind, parent.kind
                USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_parent_rank';
        END IF;
        outside := planar_area_m2(ST_Difference(NEW.geom, parent.geom));
        IF outside > area_outside_tolerance(NEW.geom) THEN
            RAISE EXCEPTION 'area % (%) lies % m² outside its parent % (%)',
                NEW.name, NEW.kind, round(outside::numeric, 1), parent.name, parent.kind
                USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_within_parent';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NOT ST_Equals(NEW.geom, OLD.geom) THEN
        SELECT c.name, c.kind INTO stray FROM areas c
        WHERE c.parent_id = NEW.id
          AND planar_area_m2(ST_Difference(c.geom, NEW.geom)) > area_outside_tolerance(c.geom)
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'area % (%) would leave its child % (%) outside', NEW.name, NEW.kind, stray.name, stray.kind
                USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_within_parent';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER areas_enforce_tree BEFORE INSERT OR UPDATE ON areas
    FOR EACH ROW EXECUTE FUNCTION areas_enforce_tree();
