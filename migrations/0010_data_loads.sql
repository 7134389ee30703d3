-- Which demo or import loads have run, so a second `make run` loads nothing twice.
CREATE TABLE data_loads (
    name      text PRIMARY KEY,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    source    text NOT NULL,
    summary   jsonb NOT NULL DEFAULT '{}'
);
