//! The demo data in `data/` read through GDAL and planned as a township.

use std::path::PathBuf;

use cuntu_core::area::AreaKind;
use cuntu_core::demo::{plan, DemoNaming};
use cuntu_core::gridding::GridRule;
use cuntu_gdal::{divisions, osm};

fn data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(file)
}

#[test]
fn liechtenstein_reads_as_two_townships_of_eleven_villages() {
    let extract = osm::read_extract(
        &data("liechtenstein-2022-07-24.osm.pbf"),
        &data("osmconf.ini"),
    )
    .expect("demo extract reads");
    assert_eq!(
        extract
            .boundaries
            .iter()
            .filter(|b| b.admin_level == 8)
            .count(),
        11
    );
    assert!(
        extract.buildings.len() > 15_000,
        "{} buildings",
        extract.buildings.len()
    );
    let addressed = extract
        .buildings
        .iter()
        .filter(|b| b.address.is_some())
        .count();
    assert!(addressed > 12_000, "{addressed} addressed buildings");
    assert!(extract.address_points.len() > 200);

    let rows = divisions::read_divisions(&data("seed-county-130111.csv")).expect("csv reads");
    let naming = DemoNaming {
        township_admin_level: 6,
        village_admin_level: 8,
        townships: vec![
            divisions::villages_of(&rows, "130111103").expect("冶河镇"),
            divisions::villages_of(&rows, "130111104").expect("窦妪镇"),
        ],
    };
    let p = plan(&extract, &naming, &GridRule::default(), 2022);
    let count = |k: AreaKind| p.areas.iter().filter(|a| a.kind == k).count();
    assert_eq!(count(AreaKind::Township), 2);
    assert_eq!(count(AreaKind::Village), 11);
    eprintln!(
        "grids {} households {} facilities {} roads {} waterways {} cliffs {} ponds {} fuel {} warnings {:?}",
        count(AreaKind::Grid),
        p.households.len(),
        p.facilities.len(),
        p.roads.len(),
        p.waterways.len(),
        p.cliffs.len(),
        p.water_bodies.len(),
        p.fuel_stations.len(),
        p.warnings
    );
    assert!(p.households.len() > 5_000);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}
