-- Households (户): a point each, with the roster fields that are personal information.
CREATE TABLE households (
    id            bigserial PRIMARY KEY,
    geom          geometry(Point, 4326) NOT NULL,
    house_number  text,
    address       text,
    head_name     text,
    members       smallint CHECK (members BETWEEN 0 AND 100),
    phone         text,
    id_card       text,
    tags          text[] NOT NULL DEFAULT '{}' CHECK (tags <@ ARRAY[
                      'elderly_alone', 'disabled', 'low_income', 'extreme_hardship',
                      'left_behind_child', 'child_in_difficulty']::text[]),
    party_central boolean NOT NULL DEFAULT false,
    grid_id       bigint REFERENCES areas (id) ON DELETE SET NULL,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX households_geom_idx ON households USING gist (geom);
CREATE INDEX households_grid_idx ON households (grid_id);

-- A household belongs to the grid its point lies in; the database decides, so no writer can
-- file a household under a grid it is not in. On a shared edge the older grid wins.
CREATE FUNCTION households_place_in_grid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.grid_id := (SELECT a.id FROM areas a
                    WHERE a.kind = 'grid' AND ST_Intersects(a.geom, NEW.geom)
                    ORDER BY a.id LIMIT 1);
    IF TG_OP = 'UPDATE' THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER households_place_in_grid BEFORE INSERT OR UPDATE ON households
    FOR EACH ROW EXECUTE FUNCTION households_place_in_grid();

-- Party-member central households (党员中心户) and the neighbours each links.
CREATE TABLE household_links (
    central_id bigint NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    linked_id  bigint NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    PRIMARY KEY (central_id, linked_id),
    CONSTRAINT household_links_not_self CHECK (central_id <> linked_id)
);
CREATE INDEX household_links_linked_idx ON household_links (linked_id);
