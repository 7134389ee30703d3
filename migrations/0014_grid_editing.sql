-- What the grid editor needs beyond the tree: the township's household rule, the staff of each
-- grid (and lane), and rule messages a cadre can read.

-- Households a grid should hold, per township (the seeds' default: 30-60).
CREATE TABLE grid_rules (
    township_id    bigint PRIMARY KEY REFERENCES areas (id) ON DELETE CASCADE,
    min_households integer NOT NULL CHECK (min_households >= 1),
    max_households integer NOT NULL,
    updated_by     text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT grid_rules_range CHECK (max_households >= min_households AND max_households <= 10000)
);

-- The duty of each person working in a grid (网格长 leader, 网格员 worker) or lane (街巷长).
-- Who works there is who holds the grid_worker role on the area (role_assignments, which
-- grants the access); a holder without a row here is a worker.
CREATE TABLE area_staff (
    area_id  bigint NOT NULL REFERENCES areas (id) ON DELETE CASCADE,
    user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    duty     text NOT NULL CHECK (duty IN ('leader', 'worker')),
    PRIMARY KEY (area_id, user_id)
);
CREATE INDEX area_staff_user_idx ON area_staff (user_id);
-- One leader a grid.
CREATE UNIQUE INDEX area_staff_one_leader ON area_staff (area_id) WHERE duty = 'leader';

CREATE FUNCTION area_kind_zh(kind text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE kind
        WHEN 'township' THEN '乡镇' WHEN 'village' THEN '村' WHEN 'hamlet' THEN '自然村'
        WHEN 'grid' THEN '网格' WHEN 'lane' THEN '街巷' ELSE kind END
$$;

-- The tree's rules again, now raising their message in Chinese with the English in DETAIL:
-- the server answers in the request's language without parsing English text.
CREATE OR REPLACE FUNCTION areas_enforce_tree() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    parent areas%ROWTYPE;
    outside double precision;
    stray record;
BEGIN
    IF NOT ST_IsValid(NEW.geom) THEN
        RAISE EXCEPTION '%的边界无效：%', NEW.name, ST_IsValidReason(NEW.geom)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_valid_geometry',
                  DETAIL = format('area %s (%s) has an invalid geometry: %s', NEW.name, NEW.kind, ST_IsValidReason(NEW.geom));
    END IF;
    IF NEW.parent_id IS NOT NULL THEN
        SELECT * INTO parent FROM areas WHERE id = NEW.parent_id;
        IF area_kind_rank(parent.kind) >= area_kind_rank(NEW.kind) THEN
            RAISE EXCEPTION '%不能位于%之下', area_kind_zh(NEW.kind), area_kind_zh(parent.kind)
                USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_parent_rank',
                      DETAIL = format('a %s cannot lie under a %s', NEW.kind, parent.kind);
        END IF;
        outside := planar_area_m2(ST_Difference(NEW.geom, parent.geom));
        IF outside > area_outside_tolerance(NEW.geom) THEN
            RAISE EXCEPTION '%有 % 平方米超出了%的边界', NEW.name, round(outside::numeric, 1), parent.name
                USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_within_parent',
                      DETAIL = format('area %s (%s) lies %s m² outside its parent %s (%s)',
                                      NEW.name, NEW.kind, round(outside::numeric, 1), parent.name, parent.kind);
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NOT ST_Equals(NEW.geom, OLD.geom) THEN
        SELECT c.name, c.kind INTO stray FROM areas c
        WHERE c.parent_id = NEW.id
          AND planar_area_m2(ST_Difference(c.geom, NEW.geom)) > area_outside_tolerance(c.geom)
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION '修改后%会把其下的%留在边界外', NEW.name, stray.name
                USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_within_parent',
                      DETAIL = format('area %s (%s) would leave its child %s (%s) outside',
                                      NEW.name, NEW.kind, stray.name, stray.kind);
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

-- The sibling rule moves to the end of the transaction: moving a shared vertex updates two
-- grids one after the other, and between the two updates they overlap. Checked at commit (or
-- when an edit says SET CONSTRAINTS ... IMMEDIATE), against each area as it is then.
DROP TRIGGER areas_siblings_disjoint ON areas;

CREATE OR REPLACE FUNCTION areas_forbid_sibling_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    current areas%ROWTYPE;
    clash record;
BEGIN
    SELECT * INTO current FROM areas WHERE id = NEW.id;
    IF NOT FOUND OR current.parent_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT s.name, planar_area_m2(ST_Intersection(s.geom, current.geom)) AS overlap INTO clash
    FROM areas s
    WHERE s.parent_id = current.parent_id AND s.kind = current.kind AND s.id <> current.id
      AND s.geom && current.geom AND ST_Intersects(s.geom, current.geom)
    ORDER BY 2 DESC
    LIMIT 1;
    IF FOUND AND clash.overlap > area_outside_tolerance(current.geom) THEN
        RAISE EXCEPTION '%与%重叠 % 平方米', current.name, clash.name, round(clash.overlap::numeric, 1)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_siblings_disjoint',
                  DETAIL = format('area %s (%s) overlaps its sibling %s by %s m²',
                                  current.name, current.kind, clash.name, round(clash.overlap::numeric, 1));
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER areas_siblings_disjoint AFTER INSERT OR UPDATE OF geom, parent_id ON areas
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION areas_forbid_sibling_overlap();
