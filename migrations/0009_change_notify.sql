-- Every committed change of a map layer is announced on channel `cuntu_changes`, so that
-- each server process refreshes its in-memory R-tree, whoever wrote the change.
CREATE FUNCTION notify_layer_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cuntu_changes', json_build_object(
        'layer', TG_TABLE_NAME,
        'op', lower(TG_OP),
        'id', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER areas_notify AFTER INSERT OR UPDATE OR DELETE ON areas
    FOR EACH ROW EXECUTE FUNCTION notify_layer_change();
CREATE TRIGGER households_notify AFTER INSERT OR UPDATE OR DELETE ON households
    FOR EACH ROW EXECUTE FUNCTION notify_layer_change();
CREATE TRIGGER facilities_notify AFTER INSERT OR UPDATE OR DELETE ON facilities
    FOR EACH ROW EXECUTE FUNCTION notify_layer_change();
CREATE TRIGGER hazards_notify AFTER INSERT OR UPDATE OR DELETE ON hazards
    FOR EACH ROW EXECUTE FUNCTION notify_layer_change();
CREATE TRIGGER roads_notify AFTER INSERT OR UPDATE OR DELETE ON roads
    FOR EACH ROW EXECUTE FUNCTION notify_layer_change();
CREATE TRIGGER waterways_notify AFTER INSERT OR UPDATE OR DELETE ON waterways
    FOR EACH ROW EXECUTE FUNCTION notify_layer_change();
