-- Spatial types and functions. Everything else stands on this.
CREATE EXTENSION IF NOT EXISTS postgis;
