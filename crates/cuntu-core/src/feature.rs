//! The kinds of things on the map besides areas, with their codes and Chinese labels, and
//! the rules that map OpenStreetMap tags onto them.

/// Declares a closed vocabulary with a stable code (stored in the database and sent to
/// clients) and a Chinese label, so the two can never drift apart.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:literal, $zh:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }
            pub fn from_code(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }
        }
    };
}

vocabulary! {
    /// Facilities named by the seeds' village maps (村情地图).
    FacilityKind {
        ServiceCentre => "service_centre", "党群服务中心";
        Clinic => "clinic", "卫生室";
        School => "school", "学校";
        Shelter => "shelter", "避难场所";
        FireStation => "fire_station", "消防站";
        Canteen => "canteen", "老年食堂";
        Toilet => "toilet", "公共厕所";
        Camera => "camera", "监控";
        Police => "police", "警务室";
    }
}

impl FacilityKind {
    /// Maps OSM `amenity=*` (and `man_made=surveillance`) onto the domain's facility kinds.
    /// Amenities the village map does not show (benches, parking, vending...) map to `None`.
    pub fn from_osm(amenity: Option<&str>, man_made: Option<&str>) -> Option<Self> {
        if man_made == Some("surveillance") {
            return Some(FacilityKind::Camera);
        }
        Some(match amenity? {
            "townhall" | "community_centre" | "social_centre" => FacilityKind::ServiceCentre,
            "clinic" | "doctors" | "hospital" | "pharmacy" | "dentist" => FacilityKind::Clinic,
            "school" | "kindergarten" | "college" | "childcare" => FacilityKind::School,
            "shelter" => FacilityKind::Shelter,
            "fire_station" => FacilityKind::FireStation,
            "social_facility" | "canteen" => FacilityKind::Canteen,
            "toilets" => FacilityKind::Toilet,
            "police" => FacilityKind::Police,
            _ => return None,
        })
    }
}

vocabulary! {
    /// Risks and hazards (风险隐患).
    HazardKind {
        Landslide => "landslide", "地质灾害隐患点";
        Flood => "flood", "洪涝风险区";
        DangerousHouse => "dangerous_house", "危房";
        Fire => "fire", "火灾隐患";
        Water => "water", "溺水危险点";
    }
}

vocabulary! {
    Severity {
        Low => "low", "一般";
        Medium => "medium", "较大";
        High => "high", "重大";
    }
}

vocabulary! {
    WaterwayKind {
        River => "river", "河流";
        Stream => "stream", "溪流";
        Canal => "canal", "水渠";
        Ditch => "ditch", "沟渠";
        Drain => "drain", "排水渠";
    }
}

vocabulary! {
    /// Key populations (重点人群) a household may be tagged with.
    KeyPopulation {
        ElderlyAlone => "elderly_alone", "独居老人";
        Disabled => "disabled", "残疾人";
        LowIncome => "low_income", "低保户";
        ExtremeHardship => "extreme_hardship", "特困人员";
        LeftBehindChild => "left_behind_child", "留守儿童";
        ChildInDifficulty => "child_in_difficulty", "困境儿童";
    }
}

/// Whether an OSM building is a dwelling: residential building types always, and any other
/// building that carries a house number (a farm, a "yes" with an address), since an address
/// is where a household is registered. Garages, sheds, churches without address are not.
pub fn is_dwelling(building: &str, has_house_number: bool) -> bool {
    const RESIDENTIAL: &[&str] = &[
        "house",
        "residential",
        "apartments",
        "detached",
        "semidetached_house",
        "terrace",
        "farm",
        "bungalow",
        "cabin",
        "dormitory",
    ];
    const NEVER: &[&str] = &[
        "garage",
        "garages",
        "shed",
        "carport",
        "roof",
        "hut",
        "barn",
        "stable",
        "cowshed",
        "church",
        "chapel",
        "transformer_tower",
        "service",
        "greenhouse",
        "ruins",
        "bunker",
    ];
    if RESIDENTIAL.contains(&building) {
        return true;
    }
    has_house_number && !NEVER.contains(&building)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for k in FacilityKind::ALL {
            assert_eq!(FacilityKind::from_code(k.code()), Some(*k));
        }
        for k in HazardKind::ALL {
            assert_eq!(HazardKind::from_code(k.code()), Some(*k));
        }
        assert_eq!(Severity::from_code("extreme"), None);
    }

    #[test]
    fn osm_amenities_map_to_facilities() {
        assert_eq!(
            FacilityKind::from_osm(Some("townhall"), None),
            Some(FacilityKind::ServiceCentre)
        );
        assert_eq!(
            FacilityKind::from_osm(None, Some("surveillance")),
            Some(FacilityKind::Camera)
        );
        assert_eq!(FacilityKind::from_osm(Some("bench"), None), None);
        assert_eq!(FacilityKind::from_osm(None, None), None);
    }

    #[test]
    fn dwellings_are_homes_or_addressed_buildings() {
        assert!(is_dwelling("house", false));
        assert!(is_dwelling("yes", true));
        assert!(!is_dwelling("yes", false));
        assert!(!is_dwelling("garage", true));
    }
}
