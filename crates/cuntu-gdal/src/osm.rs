//! OpenStreetMap extracts (`.osm.pbf`, `.osm`) through GDAL's OSM driver.
//!
//! The driver decides which tags become fields from an `osmconf.ini`; the demo ships its own
//! (`data/osmconf.ini`) so that `building`, `addr:*`, `amenity` and `natural` arrive as fields
//! (GDAL spells `addr:street` as `addr_street`).

use std::path::Path;

use gdal::vector::{Feature, LayerAccess};
use gdal::Dataset;
use geo::{Geometry, InteriorPoint, MultiPolygon};

use cuntu_core::demo::{Address, AddressPoint, Boundary, Building, Line, MapExtract, Poi};

use crate::GdalError;

/// Reads what the demo needs from an OSM file. `osmconf` is the driver's tag configuration.
pub fn read_extract(path: &Path, osmconf: &Path) -> Result<MapExtract, GdalError> {
    gdal::config::set_config_option("OSM_CONFIG_FILE", &osmconf.to_string_lossy()).map_err(
        |source| GdalError::Open {
            path: osmconf.to_path_buf(),
            source,
        },
    )?;
    let dataset = Dataset::open(path).map_err(|source| GdalError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut extract = MapExtract::default();
    // The OSM driver streams the file; reading one layer after the other is supported and
    // simplest for files of this size.
    for_each_feature(&dataset, path, "points", |f| {
        let Some(Geometry::Point(point)) = geometry(f) else {
            return;
        };
        if let Some(address) = address(f) {
            extract.address_points.push(AddressPoint { point, address });
        }
        let amenity = field(f, "amenity");
        let man_made = field(f, "man_made");
        if amenity.is_some() || man_made.is_some() {
            extract.pois.push(Poi {
                point,
                amenity,
                man_made,
                name: field(f, "name"),
            });
        }
    })?;
    for_each_feature(&dataset, path, "lines", |f| {
        let Some(Geometry::LineString(line)) = geometry(f) else {
            return;
        };
        let highway = field(f, "highway");
        let waterway = field(f, "waterway");
        let natural = field(f, "natural");
        if highway.is_some() || waterway.is_some() || natural.is_some() {
            extract.lines.push(Line {
                geometry: line,
                highway,
                waterway,
                natural,
                name: field(f, "name"),
            });
        }
    })?;
    for_each_feature(&dataset, path, "multipolygons", |f| {
        let Some(geometry) = multipolygon(f) else {
            return;
        };
        let boundary = field(f, "boundary");
        if boundary.as_deref() == Some("administrative") {
            if let (Some(name), Some(level)) = (
                field(f, "name"),
                field(f, "admin_level").and_then(|l| l.parse::<u8>().ok()),
            ) {
                extract.boundaries.push(Boundary {
                    name,
                    admin_level: level,
                    geometry: geometry.clone(),
                });
            }
        }
        let amenity = field(f, "amenity");
        if amenity.is_some() {
            if let Some(point) = geometry.interior_point() {
                extract.pois.push(Poi {
                    point,
                    amenity,
                    man_made: field(f, "man_made"),
                    name: field(f, "name"),
                });
            }
        }
        if let Some(building) = field(f, "building") {
            extract.buildings.push(Building {
                geometry,
                building,
                address: address(f),
            });
        } else if field(f, "natural").as_deref() == Some("water")
            && !matches!(
                field(f, "water").as_deref(),
                Some("river" | "canal" | "stream")
            )
        {
            extract.water_bodies.push(geometry);
        } else if field(f, "natural").as_deref() == Some("scree") {
            // Scree slopes are landslide candidates like cliffs: keep their outline.
            for polygon in &geometry.0 {
                extract.lines.push(Line {
                    geometry: polygon.exterior().clone(),
                    highway: None,
                    waterway: None,
                    natural: Some("cliff".into()),
                    name: field(f, "name"),
                });
            }
        }
    })?;
    Ok(extract)
}

fn for_each_feature(
    dataset: &Dataset,
    path: &Path,
    layer: &str,
    mut visit: impl FnMut(&Feature),
) -> Result<(), GdalError> {
    let mut layer_handle = dataset
        .layer_by_name(layer)
        .map_err(|_| GdalError::MissingLayer {
            path: path.to_path_buf(),
            layer: layer.to_string(),
        })?;
    for feature in layer_handle.features() {
        visit(&feature);
    }
    Ok(())
}

fn field(f: &Feature, name: &str) -> Option<String> {
    let index = f.field_index(name).ok()?;
    f.field_as_string(index)
        .ok()
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn address(f: &Feature) -> Option<Address> {
    Some(Address {
        house_number: field(f, "addr_housenumber")?,
        street: field(f, "addr_street"),
    })
}

fn geometry(f: &Feature) -> Option<Geometry<f64>> {
    f.geometry()?.to_geo().ok()
}

fn multipolygon(f: &Feature) -> Option<MultiPolygon<f64>> {
    match geometry(f)? {
        Geometry::MultiPolygon(mp) => Some(mp),
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        _ => None,
    }
}
