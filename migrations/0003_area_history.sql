-- Every earlier version of every area: who changed it, when, and what it was before.
-- The actor is what the writing transaction set with `SET LOCAL cuntu.actor = '...'`.
CREATE TABLE area_versions (
    area_id     bigint NOT NULL,
    version     integer NOT NULL,
    kind        text NOT NULL,
    parent_id   bigint,
    code        text NOT NULL,
    name        text NOT NULL,
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz NOT NULL DEFAULT now(),
    replaced_by text,
    operation   text NOT NULL CHECK (operation IN ('update', 'delete')),
    PRIMARY KEY (area_id, version)
);

CREATE FUNCTION areas_keep_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO area_versions (area_id, version, kind, parent_id, code, name, geom, valid_from, replaced_by, operation)
    VALUES (OLD.id, OLD.version, OLD.kind, OLD.parent_id, OLD.code, OLD.name, OLD.geom, OLD.updated_at,
            nullif(current_setting('cuntu.actor', true), ''), lower(TG_OP));
    RETURN NULL;
END
$$;
CREATE TRIGGER areas_keep_history AFTER UPDATE OR DELETE ON areas
    FOR EACH ROW EXECUTE FUNCTION areas_keep_history();
