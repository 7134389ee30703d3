//! Chinese administrative division names and codes (National Bureau of Statistics), as in
//! `data/seed-county-130111.csv`: columns `code,name,level,parent_code`.

use std::path::Path;

use cuntu_core::demo::DivisionName;

use crate::GdalError;

#[derive(Debug, Clone, serde::Deserialize)]
pub struct DivisionRow {
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent_code: String,
}

pub fn read_divisions(path: &Path) -> Result<Vec<DivisionRow>, GdalError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| GdalError::Csv {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    reader
        .deserialize()
        .map(|row| {
            row.map_err(|e| GdalError::Csv {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// The named townships' villages, in code order, with the committee suffix dropped
/// ("冶河村民委员会" → "冶河村", "北关社区居民委员会" → "北关社区").
pub fn villages_of(
    rows: &[DivisionRow],
    township_code: &str,
) -> Option<(DivisionName, Vec<DivisionName>)> {
    let township = rows
        .iter()
        .find(|r| r.code == township_code && r.level == "township")?;
    let mut villages: Vec<DivisionName> = rows
        .iter()
        .filter(|r| r.parent_code == township_code && r.level == "village")
        .map(|r| DivisionName {
            code: r.code.clone(),
            name: short_village_name(&r.name),
        })
        .collect();
    villages.sort_by(|a, b| a.code.cmp(&b.code));
    Some((
        DivisionName {
            code: township.code.clone(),
            name: township.name.clone(),
        },
        villages,
    ))
}

fn short_village_name(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("村民委员会") {
        format!("{stem}村")
    } else if let Some(stem) = name.strip_suffix("居民委员会") {
        stem.to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committee_suffixes_are_dropped() {
        assert_eq!(short_village_name("冶河村民委员会"), "冶河村");
        assert_eq!(short_village_name("北关社区居民委员会"), "北关社区");
        assert_eq!(short_village_name("西营"), "西营");
    }
}
