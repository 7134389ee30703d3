//! OpenStreetMap extracts (`.osm.pbf`, `.osm`) through GDAL's OSM driver.
//!
//! The driver decides which tags become fields from an `osmconf.ini`; the demo ships its own
//! (`data/osmconf.ini`) so that `building`, `addr:*`, `amenity` and `natural` arrive as fields
//! (GDAL spells `addr:street` as `addr_street`).

use std::collections::BTreeMap;
use std::path::Path;

use gdal::vector::{Feature, LayerAccess};
use gdal::Dataset;
use geo::{Geometry, InteriorPoint, MultiPolygon};

use cuntu_core::demo::{Address, AddressPoint, Boundary, Building, Line, MapExtract, Poi};
use cuntu_core::import::{normalise_facility_kind, ImportLayer, SourceCrs};

use crate::import::{err, ReadError, SourceFeature, SourceTable};
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

// ---- OSM extracts as import sources ------------------------------------------------------

/// The tag configuration an import reads OSM with: the demo's, built in, so an upload needs
/// no file beside the binary.
const IMPORT_OSMCONF: &str = include_str!("../../../data/osmconf.ini");

/// `.osm.pbf`, `.pbf` and `.osm` files are read by GDAL's OSM driver.
pub fn is_osm(path: &Path) -> bool {
    let name = path.to_string_lossy().to_lowercase();
    name.ends_with(".pbf") || name.ends_with(".osm")
}

/// Writes the built-in configuration once per process and content, and points GDAL at it.
fn use_import_osmconf() -> Result<(), ReadError> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    IMPORT_OSMCONF.hash(&mut hasher);
    let path = std::env::temp_dir().join(format!("cuntu-osmconf-{:016x}.ini", hasher.finish()));
    if !path.exists() {
        // Written beside and renamed, so a concurrent reader never sees half a file.
        let partial = path.with_extension(format!("{}.part", std::process::id()));
        std::fs::write(&partial, IMPORT_OSMCONF)
            .and_then(|_| std::fs::rename(&partial, &path))
            .map_err(|e| err("无法写入 OSM 读取配置", e.to_string()))?;
    }
    gdal::config::set_config_option("OSM_CONFIG_FILE", &path.to_string_lossy())
        .map_err(|e| err("无法设置 OSM 读取配置", e.to_string()))
}

/// What a target layer takes from an OSM extract, as the import report names it.
struct OsmSelection {
    /// GDAL OSM layers read, in order.
    layers: &'static [&'static str],
    what_zh: &'static str,
    what_en: &'static str,
}

fn selection(layer: ImportLayer) -> Result<OsmSelection, ReadError> {
    Ok(match layer {
        ImportLayer::Households => OsmSelection {
            layers: &["multipolygons"],
            what_zh: "建筑（building=*，每栋一户，取建筑内一点）",
            what_en: "buildings (building=*, one household each, at a point inside)",
        },
        ImportLayer::Roads => OsmSelection {
            layers: &["lines"],
            what_zh: "道路（highway=*）",
            what_en: "roads (highway=*)",
        },
        ImportLayer::Facilities => OsmSelection {
            layers: &["points", "multipolygons"],
            what_zh: "设施（amenity=* 中本系统认识的类型：学校、诊所、医院、消防站、警察、厕所、避难所等）",
            what_en: "facilities (amenity=* of the kinds cuntu knows: school, clinic, hospital, fire station, police, toilets, shelter...)",
        },
        ImportLayer::Areas => OsmSelection {
            layers: &["multipolygons"],
            what_zh: "行政边界（boundary=administrative）",
            what_en: "administrative boundaries (boundary=administrative)",
        },
        ImportLayer::Hazards => {
            return Err(err(
                "OSM 文件中没有隐患：可导入 households（建筑）、roads（道路）、facilities（设施）、areas（行政边界）",
                "an OSM file holds no hazards: import it as households (buildings), roads, facilities or areas (administrative boundaries)",
            ))
        }
    })
}

/// The source fields an OSM import offers, per target layer; the mapping proposal finds
/// `addr_housenumber`, `highway`, `name`...
fn import_fields(layer: ImportLayer) -> &'static [&'static str] {
    match layer {
        // A building's name is not its household head's, so it is not offered as `name`.
        ImportLayer::Households => &[
            "osm_id",
            "building",
            "building_name",
            "addr_housenumber",
            "address",
        ],
        ImportLayer::Roads => &["osm_id", "highway", "name"],
        ImportLayer::Facilities => &["osm_id", "amenity", "name"],
        ImportLayer::Areas | ImportLayer::Hazards => &["osm_id", "name", "admin_level", "ref"],
    }
}

/// The stable id of an OSM object across extracts: `n123` (node), `w123` (way), `r123`
/// (relation): the key a re-import of a newer extract updates by.
fn osm_key(f: &Feature, gdal_layer: &str) -> Option<String> {
    match gdal_layer {
        "points" => field(f, "osm_id").map(|id| format!("n{id}")),
        "lines" => field(f, "osm_id").map(|id| format!("w{id}")),
        _ => field(f, "osm_id")
            .map(|id| format!("r{id}"))
            .or_else(|| field(f, "osm_way_id").map(|id| format!("w{id}"))),
    }
}

/// Reads the features of an OSM extract that `layer` takes (see [`selection`]); the rest is
/// counted in the report's notes. OSM is WGS84 by definition, so no other CRS is accepted.
pub fn read_for_import(
    path: &Path,
    layer: ImportLayer,
    crs: Option<SourceCrs>,
    progress: &mut dyn FnMut(usize),
) -> Result<SourceTable, ReadError> {
    if let Some(c) = crs {
        if c != SourceCrs::Epsg(4326) {
            return Err(err(
                "OpenStreetMap 数据总是 WGS84（EPSG:4326），不能另指定坐标系",
                "OpenStreetMap data is always WGS84 (EPSG:4326): no other CRS can be given",
            ));
        }
    }
    let chosen = selection(layer)?;
    use_import_osmconf()?;
    let dataset = Dataset::open(path).map_err(|e| {
        err(
            format!("无法打开 {}：OSM 文件损坏或不完整（{e}）", path.display()),
            format!(
                "cannot open {}: the OSM file is damaged or incomplete ({e})",
                path.display()
            ),
        )
    })?;
    let mut rows = Vec::new();
    let mut read = 0usize;
    for gdal_layer in chosen.layers {
        let mut handle = dataset.layer_by_name(gdal_layer).map_err(|e| {
            err(
                format!("{} 中没有 OSM 图层 {gdal_layer}", path.display()),
                format!("{} has no OSM layer {gdal_layer} ({e})", path.display()),
            )
        })?;
        for f in handle.features() {
            read += 1;
            if read.is_multiple_of(10_000) {
                progress(read);
            }
            let Some(row) = import_row(&f, gdal_layer, layer) else {
                continue;
            };
            rows.push(row);
        }
    }
    progress(read);
    if rows.is_empty() {
        return Err(err(
            format!("{} 中没有可导入的{}", path.display(), chosen.what_zh),
            format!("{} holds no {}", path.display(), chosen.what_en),
        ));
    }
    let skipped = read - rows.len();
    let notes = vec![(
        format!(
            "OSM：读取 {read} 个要素，取其中 {} 个{}，其余 {skipped} 个不属于此图层，未导入",
            rows.len(),
            chosen.what_zh
        ),
        format!(
            "OSM: {read} features read, {} {} taken; the other {skipped} are not of this layer and were left out",
            rows.len(),
            chosen.what_en
        ),
    )];
    Ok(SourceTable {
        driver: "OSM".into(),
        layer: chosen.layers.join("+"),
        fields: import_fields(layer).iter().map(|s| s.to_string()).collect(),
        rows,
        crs: "EPSG:4326 WGS 84 (OpenStreetMap)".into(),
        notes,
    })
}

/// One OSM feature as an import row, or None when the target layer does not take it.
fn import_row(f: &Feature, gdal_layer: &str, layer: ImportLayer) -> Option<SourceFeature> {
    let mut values = BTreeMap::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            values.insert(name.to_string(), v);
        }
    };
    put("osm_id", osm_key(f, gdal_layer));
    let name_field = if layer == ImportLayer::Households {
        "building_name"
    } else {
        "name"
    };
    put(name_field, field(f, "name"));
    let geometry = match layer {
        ImportLayer::Households => {
            let building = field(f, "building").filter(|b| b != "no")?;
            put("building", Some(building));
            let number = field(f, "addr_housenumber");
            let street = field(f, "addr_street");
            put(
                "address",
                match (&street, &number) {
                    (Some(s), Some(n)) => Some(format!("{s} {n}")),
                    (Some(s), None) => Some(s.clone()),
                    _ => None,
                },
            );
            put("addr_housenumber", number);
            multipolygon(f)?.interior_point().map(Geometry::Point)
        }
        ImportLayer::Roads => {
            put("highway", Some(field(f, "highway")?));
            geometry(f)
        }
        ImportLayer::Facilities => {
            let amenity = field(f, "amenity")?;
            // OSM's amenity=shelter is mostly a bus stop roof or a hikers' hut, not the
            // emergency shelter cuntu's `shelter` means.
            if amenity == "shelter" {
                return None;
            }
            normalise_facility_kind(&amenity)?;
            put("amenity", Some(amenity));
            match geometry(f)? {
                Geometry::Point(p) => Some(Geometry::Point(p)),
                other => other.interior_point().map(Geometry::Point),
            }
        }
        ImportLayer::Areas | ImportLayer::Hazards => {
            if field(f, "boundary").as_deref() != Some("administrative") {
                return None;
            }
            put("admin_level", field(f, "admin_level"));
            put("ref", field(f, "ref"));
            multipolygon(f).map(Geometry::MultiPolygon)
        }
    };
    Some(SourceFeature {
        values,
        geometry_error: geometry
            .is_none()
            .then(|| "OSM 几何不完整 / incomplete OSM geometry".to_string()),
        geometry,
    })
}
