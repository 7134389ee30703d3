-- Sibling areas (the grids of one village, the villages of one township) never overlap.
-- Slivers below the containment tolerance (floating-point clipping) are not overlaps.
CREATE FUNCTION areas_forbid_sibling_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    clash record;
BEGIN
    IF NEW.parent_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT s.name, planar_area_m2(ST_Intersection(s.geom, NEW.geom)) AS overlap INTO clash
    FROM areas s
    WHERE s.parent_id = NEW.parent_id AND s.kind = NEW.kind AND s.id <> NEW.id
      AND s.geom && NEW.geom AND ST_Intersects(s.geom, NEW.geom)
    ORDER BY 2 DESC
    LIMIT 1;
    IF FOUND AND clash.overlap > area_outside_tolerance(NEW.geom) THEN
        RAISE EXCEPTION 'area % (%) overlaps its sibling % by % m²',
            NEW.name, NEW.kind, clash.name, round(clash.overlap::numeric, 1)
            USING ERRCODE = 'check_violation', CONSTRAINT = 'areas_siblings_disjoint';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER areas_siblings_disjoint BEFORE INSERT OR UPDATE OF geom, parent_id ON areas
    FOR EACH ROW EXECUTE FUNCTION areas_forbid_sibling_overlap();
