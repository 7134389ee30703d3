-- Imports from files (`cuntu import ... --key FIELD`): the value of the chosen key field is
-- kept with the row, so importing the same file again updates the rows it made instead of
-- adding them a second time. Rows not made by an import have no key.
ALTER TABLE households ADD COLUMN import_key text;
CREATE UNIQUE INDEX households_import_key_idx ON households (import_key) WHERE import_key IS NOT NULL;
ALTER TABLE facilities ADD COLUMN import_key text;
CREATE UNIQUE INDEX facilities_import_key_idx ON facilities (import_key) WHERE import_key IS NOT NULL;
