//! The demo township: real OpenStreetMap geometry, organised as a Chinese township.
//!
//! `plan` turns a map extract (read from a file by `cuntu-gdal`) into the area tree and
//! layers the store loads: districts become townships, municipalities villages, dwellings
//! households, amenities facilities. It is pure, so the rules are tested without a database.
//! Rules that need metric buffers over stored data (flood zones, landslide distances) run in
//! PostGIS after the load; see `cuntu_store::demo`.

pub mod people;

use std::collections::HashMap;

use geo::{
    BoundingRect, Centroid, Geometry, InteriorPoint, Intersects, LineString, MultiPolygon, Point,
};

use crate::area::AreaKind;
use crate::feature::{is_dwelling, FacilityKind, WaterwayKind};
use crate::gridding::{bisect_into_grids, GridRule};
use crate::index::{Indexed, LayerIndex};

/// An administrative boundary of the extract.
#[derive(Debug, Clone)]
pub struct Boundary {
    pub name: String,
    pub admin_level: u8,
    pub geometry: MultiPolygon<f64>,
}

#[derive(Debug, Clone)]
pub struct Building {
    pub geometry: MultiPolygon<f64>,
    pub building: String,
    pub address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    pub street: Option<String>,
    pub house_number: String,
}

impl Address {
    pub fn display(&self) -> String {
        match &self.street {
            Some(s) => format!("{s} {}", self.house_number),
            None => self.house_number.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AddressPoint {
    pub point: Point<f64>,
    pub address: Address,
}

/// A point of interest: an amenity node, or an amenity area reduced to an interior point.
#[derive(Debug, Clone)]
pub struct Poi {
    pub point: Point<f64>,
    pub amenity: Option<String>,
    pub man_made: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub geometry: LineString<f64>,
    pub highway: Option<String>,
    pub waterway: Option<String>,
    pub natural: Option<String>,
    pub name: Option<String>,
}

/// Everything the demo needs from a map file.
#[derive(Debug, Clone, Default)]
pub struct MapExtract {
    pub boundaries: Vec<Boundary>,
    pub buildings: Vec<Building>,
    pub address_points: Vec<AddressPoint>,
    pub pois: Vec<Poi>,
    pub lines: Vec<Line>,
    /// Standing water (ponds, lakes): candidates for water danger spots.
    pub water_bodies: Vec<MultiPolygon<f64>>,
}

/// A Chinese name and statistics code to give an area of the extract.
#[derive(Debug, Clone, PartialEq)]
pub struct DivisionName {
    pub code: String,
    pub name: String,
}

/// How the extract's administrative levels and names map onto the Chinese hierarchy.
#[derive(Debug, Clone)]
pub struct DemoNaming {
    pub township_admin_level: u8,
    pub village_admin_level: u8,
    /// For each township (extract names sorted), its name and its villages' names in order.
    pub townships: Vec<(DivisionName, Vec<DivisionName>)>,
}

#[derive(Debug, Clone)]
pub struct PlannedArea {
    pub kind: AreaKind,
    /// Index of the parent in `DemoPlan::areas`; parents always come first.
    pub parent: Option<usize>,
    pub code: String,
    pub name: String,
    /// The name in the source map, kept for provenance.
    pub source_name: Option<String>,
    pub geometry: MultiPolygon<f64>,
}

#[derive(Debug, Clone)]
pub struct PlannedHousehold {
    pub point: Point<f64>,
    pub address: Option<Address>,
    /// Index of its grid in `DemoPlan::areas`.
    pub grid: usize,
    pub roster: people::SyntheticHousehold,
    pub party_central: bool,
}

#[derive(Debug, Clone)]
pub struct PlannedFacility {
    pub point: Point<f64>,
    pub kind: FacilityKind,
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PlannedLine {
    pub geometry: LineString<f64>,
    pub class: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DemoPlan {
    pub areas: Vec<PlannedArea>,
    pub households: Vec<PlannedHousehold>,
    /// `(central, linked)` indices into `households`: party-member central household links.
    pub party_links: Vec<(usize, usize)>,
    pub facilities: Vec<PlannedFacility>,
    pub roads: Vec<PlannedLine>,
    pub waterways: Vec<PlannedLine>,
    /// Cliffs and scree: landslide candidates, judged against households in PostGIS.
    pub cliffs: Vec<LineString<f64>>,
    pub water_bodies: Vec<MultiPolygon<f64>>,
    /// Fuel stations: fire-risk points.
    pub fuel_stations: Vec<(Point<f64>, Option<String>)>,
    /// Villages whose household count could not meet the grid rule, with the reason.
    pub warnings: Vec<String>,
}

/// A dwelling's location and, when known, its address.
type Dwelling = (Point<f64>, Option<Address>);

/// Links of each party-member central household: about ten neighbours (seed 000: 1.4万
/// central households linked 15.5万 households).
pub const HOUSEHOLDS_PER_PARTY_CENTRAL: usize = 10;

/// Builds the demo township from a map extract.
pub fn plan(extract: &MapExtract, naming: &DemoNaming, rule: &GridRule, seed: u64) -> DemoPlan {
    let mut plan = DemoPlan::default();

    let mut townships: Vec<&Boundary> = extract
        .boundaries
        .iter()
        .filter(|b| b.admin_level == naming.township_admin_level)
        .collect();
    townships.sort_by(|a, b| a.name.cmp(&b.name));
    let municipalities: Vec<&Boundary> = extract
        .boundaries
        .iter()
        .filter(|b| b.admin_level == naming.village_admin_level)
        .collect();

    let mut village_slots: Vec<usize> = Vec::new();
    for (t_index, district) in townships.iter().enumerate() {
        let Some((t_name, v_names)) = naming.townships.get(t_index) else {
            continue;
        };
        let mut members: Vec<&Boundary> = municipalities
            .iter()
            .copied()
            .filter(|m| {
                m.geometry
                    .interior_point()
                    .is_some_and(|p| district.geometry.intersects(&p))
            })
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let township = plan.areas.len();
        plan.areas.push(PlannedArea {
            kind: AreaKind::Township,
            parent: None,
            code: t_name.code.clone(),
            name: t_name.name.clone(),
            source_name: Some(district.name.clone()),
            // The district's own boundary: OSM draws the municipalities exactly inside it.
            geometry: district.geometry.clone(),
        });
        for (m, v_name) in members.iter().zip(v_names) {
            village_slots.push(plan.areas.len());
            plan.areas.push(PlannedArea {
                kind: AreaKind::Village,
                parent: Some(township),
                code: v_name.code.clone(),
                name: v_name.name.clone(),
                source_name: Some(m.name.clone()),
                geometry: m.geometry.clone(),
            });
        }
    }

    let villages = LayerIndex::bulk_load(
        village_slots
            .iter()
            .map(|&slot| Indexed {
                id: slot as i64,
                geometry: Geometry::MultiPolygon(plan.areas[slot].geometry.clone()),
                data: (),
            })
            .collect(),
    );
    let village_of = |p: Point<f64>| villages.at_point(p).map(|f| f.id as usize).min();

    // Dwellings, each with its address: its own, or that of an address point inside it.
    let buildings = LayerIndex::bulk_load(
        extract
            .buildings
            .iter()
            .enumerate()
            .map(|(i, b)| Indexed {
                id: i as i64,
                geometry: Geometry::MultiPolygon(b.geometry.clone()),
                data: (),
            })
            .collect(),
    );
    let mut address_of: HashMap<usize, Address> = HashMap::new();
    for a in &extract.address_points {
        if let Some(b) = buildings.at_point(a.point).map(|f| f.id as usize).min() {
            address_of.entry(b).or_insert_with(|| a.address.clone());
        }
    }
    let mut dwellings_by_village: HashMap<usize, Vec<Dwelling>> = HashMap::new();
    for (i, b) in extract.buildings.iter().enumerate() {
        let address = b.address.clone().or_else(|| address_of.get(&i).cloned());
        if !is_dwelling(&b.building, address.is_some()) {
            continue;
        }
        let Some(point) = b.geometry.interior_point() else {
            continue;
        };
        if let Some(v) = village_of(point) {
            dwellings_by_village
                .entry(v)
                .or_default()
                .push((point, address));
        }
    }

    // Grids per village, numbered in the bisection's spatial order.
    for &v in &village_slots {
        let dwellings = dwellings_by_village.remove(&v).unwrap_or_default();
        let points: Vec<Point<f64>> = dwellings.iter().map(|d| d.0).collect();
        let pieces = bisect_into_grids(&plan.areas[v].geometry, &points, rule);
        for (g_index, piece) in pieces.into_iter().enumerate() {
            if !rule.admits(piece.members.len()) {
                plan.warnings.push(format!(
                    "{} {}: {} households, outside the rule {}-{} (the village has {} in all)",
                    plan.areas[v].name,
                    format_args!("网格{:02}", g_index + 1),
                    piece.members.len(),
                    rule.min_households,
                    rule.max_households,
                    points.len()
                ));
            }
            let grid = plan.areas.len();
            plan.areas.push(PlannedArea {
                kind: AreaKind::Grid,
                parent: Some(v),
                code: format!("{}-{:02}", plan.areas[v].code, g_index + 1),
                name: format!("网格{:02}", g_index + 1),
                source_name: None,
                geometry: piece.geometry,
            });
            let grid_points: Vec<Point<f64>> = piece.members.iter().map(|&i| points[i]).collect();
            let (centrals, links) =
                people::party_member_links(&grid_points, HOUSEHOLDS_PER_PARTY_CENTRAL);
            let first = plan.households.len();
            for (k, &i) in piece.members.iter().enumerate() {
                let number = (plan.households.len()) as u64;
                plan.households.push(PlannedHousehold {
                    point: points[i],
                    address: dwellings[i].1.clone(),
                    grid,
                    roster: people::synthetic_household(seed, number),
                    party_central: centrals.contains(&k),
                });
            }
            plan.party_links
                .extend(links.into_iter().map(|(c, l)| (first + c, first + l)));
        }
    }

    let inside_any_village = |g: &Geometry<f64>| {
        g.bounding_rect()
            .is_some_and(|r| villages.in_rect(r).any(|v| v.geometry.intersects(g)))
    };

    for poi in &extract.pois {
        let Some(kind) = FacilityKind::from_osm(poi.amenity.as_deref(), poi.man_made.as_deref())
        else {
            if poi.amenity.as_deref() == Some("fuel") && village_of(poi.point).is_some() {
                plan.fuel_stations.push((poi.point, poi.name.clone()));
            }
            continue;
        };
        if village_of(poi.point).is_some() {
            plan.facilities.push(PlannedFacility {
                point: poi.point,
                kind,
                name: poi.name.clone(),
            });
        }
    }

    for line in &extract.lines {
        let g = Geometry::LineString(line.geometry.clone());
        if !inside_any_village(&g) {
            continue;
        }
        if let Some(class) = &line.highway {
            plan.roads.push(PlannedLine {
                geometry: line.geometry.clone(),
                class: class.clone(),
                name: line.name.clone(),
            });
        } else if let Some(kind) = line.waterway.as_deref().and_then(WaterwayKind::from_code) {
            plan.waterways.push(PlannedLine {
                geometry: line.geometry.clone(),
                class: kind.code().to_string(),
                name: line.name.clone(),
            });
        } else if matches!(line.natural.as_deref(), Some("cliff")) {
            plan.cliffs.push(line.geometry.clone());
        }
    }
    for w in &extract.water_bodies {
        let inside = w.centroid().is_some_and(|c| village_of(c).is_some());
        if inside {
            plan.water_bodies.push(w.clone());
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, polygon};

    fn square(x0: f64, y0: f64, size: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![polygon![
            (x: x0, y: y0), (x: x0 + size, y: y0),
            (x: x0 + size, y: y0 + size), (x: x0, y: y0 + size),
        ]])
    }

    fn house(x: f64, y: f64, building: &str) -> Building {
        Building {
            geometry: square(x, y, 0.0001),
            building: building.into(),
            address: None,
        }
    }

    fn naming() -> DemoNaming {
        let n = |code: &str, name: &str| DivisionName {
            code: code.into(),
            name: name.into(),
        };
        DemoNaming {
            township_admin_level: 6,
            village_admin_level: 8,
            townships: vec![(n("1", "冶河镇"), vec![n("11", "冶河村"), n("12", "大营村")])],
        }
    }

    fn extract() -> MapExtract {
        let mut buildings = Vec::new();
        // 70 houses in village A (west), 20 garages, 40 addressed "yes" buildings in village B.
        for i in 0..70 {
            buildings.push(house(
                0.001 + 0.0002 * f64::from(i % 10),
                0.001 + 0.0003 * f64::from(i / 10),
                "house",
            ));
        }
        for i in 0..20 {
            buildings.push(house(0.005 + 0.0002 * f64::from(i), 0.008, "garage"));
        }
        let mut address_points = Vec::new();
        for i in 0..40 {
            let (x, y) = (
                0.0105 + 0.0002 * f64::from(i % 10),
                0.001 + 0.0003 * f64::from(i / 10),
            );
            buildings.push(house(x, y, "yes"));
            address_points.push(AddressPoint {
                point: Point::new(x + 0.00005, y + 0.00005),
                address: Address {
                    street: Some("Dorfstrasse".into()),
                    house_number: format!("{i}"),
                },
            });
        }
        MapExtract {
            boundaries: vec![
                Boundary {
                    name: "District".into(),
                    admin_level: 6,
                    geometry: square(0.0, 0.0, 0.02),
                },
                Boundary {
                    name: "Alpha".into(),
                    admin_level: 8,
                    geometry: square(0.0, 0.0, 0.01),
                },
                Boundary {
                    name: "Beta".into(),
                    admin_level: 8,
                    geometry: square(0.01, 0.0, 0.01),
                },
            ],
            buildings,
            address_points,
            pois: vec![
                Poi {
                    point: Point::new(0.002, 0.002),
                    amenity: Some("townhall".into()),
                    man_made: None,
                    name: Some("Rathaus".into()),
                },
                Poi {
                    point: Point::new(0.003, 0.002),
                    amenity: Some("bench".into()),
                    man_made: None,
                    name: None,
                },
                Poi {
                    point: Point::new(0.5, 0.5),
                    amenity: Some("school".into()),
                    man_made: None,
                    name: None,
                },
            ],
            lines: vec![
                Line {
                    geometry: line_string![(x: 0.0, y: 0.005), (x: 0.02, y: 0.005)],
                    highway: Some("residential".into()),
                    waterway: None,
                    natural: None,
                    name: None,
                },
                Line {
                    geometry: line_string![(x: 1.0, y: 1.0), (x: 1.1, y: 1.0)],
                    highway: Some("primary".into()),
                    waterway: None,
                    natural: None,
                    name: None,
                },
                Line {
                    geometry: line_string![(x: 0.0, y: 0.009), (x: 0.02, y: 0.009)],
                    highway: None,
                    waterway: Some("river".into()),
                    natural: None,
                    name: Some("Rhein".into()),
                },
            ],
            water_bodies: vec![],
        }
    }

    #[test]
    fn districts_become_townships_and_municipalities_villages() {
        let p = plan(&extract(), &naming(), &GridRule::default(), 1);
        let kinds: Vec<(AreaKind, &str)> =
            p.areas.iter().map(|a| (a.kind, a.name.as_str())).collect();
        assert_eq!(kinds[0], (AreaKind::Township, "冶河镇"));
        assert_eq!(kinds[1], (AreaKind::Village, "冶河村"));
        assert_eq!(p.areas[1].source_name.as_deref(), Some("Alpha"));
        assert_eq!(kinds[2], (AreaKind::Village, "大营村"));
    }

    #[test]
    fn dwellings_become_households_in_grids() {
        let p = plan(&extract(), &naming(), &GridRule::default(), 1);
        // 70 houses + 40 addressed buildings; garages are not homes.
        assert_eq!(p.households.len(), 110);
        let grids: Vec<&PlannedArea> = p
            .areas
            .iter()
            .filter(|a| a.kind == AreaKind::Grid)
            .collect();
        assert_eq!(grids.len(), 3, "70 → two grids of 35, 40 → one grid");
        for h in &p.households {
            assert!(p.areas[h.grid].geometry.intersects(&h.point));
        }
        let addressed = p.households.iter().filter(|h| h.address.is_some()).count();
        assert_eq!(
            addressed, 40,
            "address points inside buildings give them their address"
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn layers_keep_what_lies_in_the_villages() {
        let p = plan(&extract(), &naming(), &GridRule::default(), 1);
        assert_eq!(
            p.facilities.len(),
            1,
            "the bench is no facility, the far school is outside"
        );
        assert_eq!(p.facilities[0].kind, FacilityKind::ServiceCentre);
        assert_eq!(p.roads.len(), 1);
        assert_eq!(p.waterways.len(), 1);
        assert!(!p.party_links.is_empty());
    }
}
