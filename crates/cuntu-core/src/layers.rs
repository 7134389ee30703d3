//! The catalogue of map layers: what each holds, from which zoom, with which properties.
//! The store builds its tile queries from it and the server its TileJSON, so both agree.

/// A property a layer's tiles carry, as TileJSON `vector_layers[].fields` declares it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Layer {
    pub id: &'static str,
    pub title_zh: &'static str,
    pub title_en: &'static str,
    /// Below this zoom the layer sends nothing: too many small features to draw usefully.
    pub minzoom: u32,
    pub fields: &'static [Field],
}

/// The deepest zoom TileJSON announces. At z16 a tile unit is about 15 cm at these
/// latitudes, finer than any boundary is surveyed, so clients overzoom z16 tiles instead of
/// asking for z17-z22 ones (which are still served to clients that ask).
pub const ANNOUNCED_MAXZOOM: u32 = 16;

const fn f(name: &'static str, description: &'static str) -> Field {
    Field { name, description }
}

/// Every layer served as vector tiles. Tiles carry no personal data: no names, phones,
/// ID numbers or key-population tags of people.
pub const LAYERS: &[Layer] = &[
    Layer {
        id: "areas",
        title_zh: "行政区与网格",
        title_en: "Areas and grids",
        minzoom: 0,
        fields: &[
            f("id", "Number"),
            f("kind", "township | village | hamlet | grid | lane"),
            f("code", "String: statistics or grid code"),
            f("name", "String"),
            f("parent_id", "Number"),
            f("households", "Number: households inside (grids and lanes)"),
        ],
    },
    Layer {
        id: "households",
        title_zh: "户",
        title_en: "Households",
        minzoom: 10,
        fields: &[
            f("id", "Number"),
            f("grid_id", "Number"),
            f("house_number", "String"),
            f(
                "count",
                "Number: households of the grid, on the one point per grid sent below z14",
            ),
        ],
    },
    Layer {
        id: "facilities",
        title_zh: "设施",
        title_en: "Facilities",
        minzoom: 8,
        fields: &[f("id", "Number"), f("kind", "String"), f("name", "String")],
    },
    Layer {
        id: "hazards",
        title_zh: "风险隐患",
        title_en: "Hazards",
        minzoom: 8,
        fields: &[
            f("id", "Number"),
            f("kind", "landslide | flood | dangerous_house | fire | water"),
            f("severity", "low | medium | high"),
            f("name", "String"),
        ],
    },
    Layer {
        id: "roads",
        title_zh: "道路",
        title_en: "Roads",
        minzoom: 10,
        fields: &[
            f("id", "Number"),
            f("class", "String: OSM highway class"),
            f("name", "String"),
        ],
    },
    Layer {
        id: "waterways",
        title_zh: "河流水系",
        title_en: "Rivers and streams",
        minzoom: 8,
        fields: &[
            f("id", "Number"),
            f("kind", "river | stream | canal | ditch | drain"),
            f("name", "String"),
        ],
    },
];

pub fn layer(id: &str) -> Option<&'static Layer> {
    LAYERS.iter().find(|l| l.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_personal_field_in_any_tile_layer() {
        for l in LAYERS {
            for field in l.fields {
                assert!(
                    !["head_name", "phone", "id_card", "tags", "members"].contains(&field.name),
                    "{} carries {}",
                    l.id,
                    field.name
                );
            }
        }
        assert!(layer("households").is_some());
        assert!(layer("people").is_none());
    }
}
