//! The pure half of importing a file: which source field feeds which stored field, and
//! whether one source row can be stored, with every problem named by its row number.
//!
//! Reading the file (GDAL) and writing the rows (PostGIS) live elsewhere; what is here is
//! what a dry run shows a cadre before anything is written.

use std::collections::BTreeMap;

use geo::{Coord, Geometry, Point, Validation};
use serde::{Deserialize, Serialize};

use crate::coords;

/// The layers a file may be imported into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportLayer {
    Households,
    Facilities,
    Hazards,
    Roads,
    Areas,
}

impl ImportLayer {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "households" => Self::Households,
            "facilities" => Self::Facilities,
            "hazards" => Self::Hazards,
            "roads" => Self::Roads,
            "areas" => Self::Areas,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Households => "households",
            Self::Facilities => "facilities",
            Self::Hazards => "hazards",
            Self::Roads => "roads",
            Self::Areas => "areas",
        }
    }

    /// The stored fields a source field can feed, each with the names (Chinese and English,
    /// compared without case, spaces, `_` or `-`) that propose it. Shapefile cuts names to
    /// ten characters, so the cut forms are listed too (`house_numb`).
    pub fn targets(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Self::Households => &[
                (
                    "head_name",
                    &[
                        "head_name",
                        "headname",
                        "head",
                        "name",
                        "户主",
                        "户主姓名",
                        "姓名",
                        "户主名",
                        "householder",
                    ],
                ),
                (
                    "house_number",
                    &[
                        "house_number",
                        "house_numb",
                        "housenumber",
                        "houseno",
                        "number",
                        "门牌号",
                        "门牌",
                        "门牌号码",
                        "addr_housenumber",
                    ],
                ),
                (
                    "members",
                    &[
                        "members",
                        "member",
                        "persons",
                        "population",
                        "people",
                        "人口",
                        "人数",
                        "家庭人口",
                        "户人口",
                    ],
                ),
                (
                    "phone",
                    &[
                        "phone",
                        "tel",
                        "telephone",
                        "mobile",
                        "电话",
                        "手机",
                        "联系电话",
                        "手机号",
                    ],
                ),
                (
                    "id_card",
                    &[
                        "id_card",
                        "idcard",
                        "id_number",
                        "身份证",
                        "身份证号",
                        "身份证号码",
                    ],
                ),
                ("address", &["address", "addr", "地址", "住址", "家庭住址"]),
                (
                    "tags",
                    &["tags", "tag", "标签", "人群标签", "类别", "重点人群"],
                ),
                ("lon", &["lon", "lng", "long", "longitude", "x", "经度"]),
                ("lat", &["lat", "latitude", "y", "纬度"]),
            ],
            Self::Facilities => &[
                (
                    "kind",
                    &[
                        "kind",
                        "type",
                        "category",
                        "amenity",
                        "类型",
                        "设施类型",
                        "类别",
                    ],
                ),
                ("name", &["name", "名称", "设施名称"]),
                ("capacity", &["capacity", "容量", "容纳人数"]),
                ("lon", &["lon", "lng", "long", "longitude", "x", "经度"]),
                ("lat", &["lat", "latitude", "y", "纬度"]),
            ],
            Self::Hazards => &[
                ("kind", &["kind", "type", "类型", "隐患类型"]),
                ("severity", &["severity", "level", "等级", "风险等级"]),
                ("name", &["name", "名称"]),
            ],
            Self::Roads => &[
                ("class", &["class", "highway", "type", "等级", "道路等级"]),
                ("name", &["name", "名称", "路名"]),
            ],
            Self::Areas => &[
                (
                    "code",
                    &[
                        "code",
                        "区划代码",
                        "行政区划代码",
                        "代码",
                        "编码",
                        "网格编码",
                        "网格代码",
                        "村代码",
                        "ref",
                    ],
                ),
                (
                    "name",
                    &[
                        "name",
                        "名称",
                        "网格名称",
                        "网格名",
                        "村名",
                        "村名称",
                        "行政村",
                        "自然村",
                    ],
                ),
            ],
        }
    }
}

/// Target field → source field. Saved as JSON by `--mapping` so the real run uses exactly
/// what the dry run showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub layer: Option<ImportLayer>,
    pub fields: BTreeMap<String, String>,
}

fn normalise_name(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-' && *c != ':')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Proposes a mapping from the source's field names: each stored field takes the first
/// source field whose name is one of its known names; a source field feeds one target.
pub fn propose_mapping(layer: ImportLayer, source_fields: &[String]) -> Mapping {
    let mut fields = BTreeMap::new();
    let mut used = vec![false; source_fields.len()];
    for (target, names) in layer.targets() {
        let wanted: Vec<String> = names.iter().map(|n| normalise_name(n)).collect();
        // The order of the known names is their preference: `户主` before `姓名`.
        let found = wanted.iter().find_map(|w| {
            source_fields
                .iter()
                .enumerate()
                .find(|(i, f)| !used[*i] && normalise_name(f) == *w)
                .map(|(i, _)| i)
        });
        if let Some(i) = found {
            used[i] = true;
            fields.insert((*target).to_string(), source_fields[i].clone());
        }
    }
    Mapping {
        layer: Some(layer),
        fields,
    }
}

/// Checks a mapping against the layer and the source's fields.
pub fn check_mapping(
    layer: ImportLayer,
    mapping: &Mapping,
    source_fields: &[String],
) -> Result<(), Problem> {
    for (target, source) in &mapping.fields {
        if !layer.targets().iter().any(|(t, _)| t == target) {
            return Err(Problem::file(
                format!("映射中的字段 {target} 不属于图层 {}", layer.as_str()),
                format!(
                    "the mapping names {target}, which layer {} does not have",
                    layer.as_str()
                ),
            ));
        }
        if !source_fields.iter().any(|f| f == source) {
            return Err(Problem::file(
                format!("文件中没有映射所指的字段“{source}”（{target}）"),
                format!("the file has no field '{source}' that the mapping names for {target}"),
            ));
        }
    }
    Ok(())
}

/// How the coordinates of the source are offset from WGS84, when they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Offset {
    /// GCJ-02 (火星坐标, Amap/Tencent/most phone apps).
    Gcj02,
    /// BD-09 (Baidu).
    Bd09,
}

impl Offset {
    /// The conversion as the import report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Gcj02 => "GCJ-02 → WGS84 (EPSG:4326), inverse GCJ-02 offset, 3 fixed-point iterations (< 1e-5 m)",
            Self::Bd09 => "BD-09 → GCJ-02 → WGS84 (EPSG:4326), Baidu inverse then GCJ-02 inverse",
        }
    }

    fn to_wgs84(self, c: Coord<f64>) -> Coord<f64> {
        match self {
            Self::Gcj02 => coords::gcj02_to_wgs84(c),
            Self::Bd09 => coords::bd09_to_wgs84(c),
        }
    }
}

/// The `--crs` of the command: an EPSG code for GDAL, or an offset China uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceCrs {
    Epsg(u32),
    Offset(Offset),
}

impl SourceCrs {
    /// `EPSG:4547`, `4547`, `gcj02`, `GCJ-02`, `bd09`.
    pub fn parse(s: &str) -> Option<Self> {
        let n = normalise_name(s);
        match n.as_str() {
            "gcj02" | "gcj" | "火星坐标" => return Some(Self::Offset(Offset::Gcj02)),
            "bd09" | "bd09ll" | "baidu" | "百度坐标" => {
                return Some(Self::Offset(Offset::Bd09))
            }
            _ => {}
        }
        let digits = n.strip_prefix("epsg").unwrap_or(&n);
        digits.parse().ok().map(Self::Epsg)
    }
}

/// Converts a geometry from an offset CRS to WGS84, vertex by vertex.
pub fn from_offset(geometry: &Geometry<f64>, offset: Offset) -> Geometry<f64> {
    use geo::MapCoords;
    geometry.map_coords(|c| offset.to_wgs84(c))
}

/// One problem of the source, with its 1-based row number (0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub row: usize,
    pub field: Option<String>,
    pub zh: String,
    pub en: String,
}

impl Problem {
    pub fn file(zh: String, en: String) -> Self {
        Problem {
            row: 0,
            field: None,
            zh,
            en,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.row > 0 {
            write!(f, "第 {} 行 / row {}", self.row, self.row)?;
        } else {
            write!(f, "文件 / file")?;
        }
        if let Some(field) = &self.field {
            write!(f, " [{field}]")?;
        }
        write!(f, ": {} / {}", self.zh, self.en)
    }
}

/// A household as it would be stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdRow {
    pub lon: f64,
    pub lat: f64,
    pub house_number: Option<String>,
    pub address: Option<String>,
    pub head_name: Option<String>,
    pub members: Option<i16>,
    pub phone: Option<String>,
    pub id_card: Option<String>,
    pub tags: Vec<String>,
    pub key: Option<String>,
}

/// A facility as it would be stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacilityRow {
    pub lon: f64,
    pub lat: f64,
    pub kind: String,
    pub name: Option<String>,
    pub capacity: Option<i32>,
    pub key: Option<String>,
}

/// A hazard (风险隐患) as it would be stored: a point, a line or a zone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HazardRow {
    pub kind: String,
    pub severity: String,
    pub name: Option<String>,
    /// Where the hazard is, in WGS84; the preview shows its type and a point of it.
    #[serde(skip)]
    pub geometry: Geometry<f64>,
    pub geometry_type: &'static str,
    pub lon: f64,
    pub lat: f64,
}

/// A road as it would be stored: one row per line (a multi-part line becomes several roads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoadRow {
    pub class: String,
    pub name: Option<String>,
    #[serde(skip)]
    pub lines: Vec<geo::LineString<f64>>,
    pub parts: usize,
    pub lon: f64,
    pub lat: f64,
}

/// An area (a grid, village, hamlet or lane) as it would be stored; its container is found
/// by the store (the area of the kind above it that the polygon overlaps most).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaRow {
    pub code: Option<String>,
    pub name: Option<String>,
    #[serde(skip)]
    pub geometry: geo::MultiPolygon<f64>,
    pub parts: usize,
    /// A point inside the polygon: where the row is for scope checks and the preview.
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StagedRow {
    Household(HouseholdRow),
    Facility(FacilityRow),
    Hazard(HazardRow),
    Road(RoadRow),
    Area(AreaRow),
}

/// The key-population tags the households table accepts, with the words rosters use.
const TAGS: &[(&str, &[&str])] = &[
    (
        "elderly_alone",
        &["独居老人", "独居", "空巢老人", "elderly alone"],
    ),
    ("disabled", &["残疾", "残疾人", "残障"]),
    ("low_income", &["低保", "低保户", "low income"]),
    (
        "extreme_hardship",
        &["特困", "特困户", "特困人员", "五保", "五保户"],
    ),
    (
        "left_behind_child",
        &["留守儿童", "留守", "left behind child"],
    ),
    ("child_in_difficulty", &["困境儿童", "child in difficulty"]),
];

/// `低保` → `low_income`; the stored names pass through; anything else is unknown.
pub fn normalise_tag(s: &str) -> Option<&'static str> {
    let t = s.trim();
    TAGS.iter()
        .find(|(code, words)| *code == t || words.iter().any(|w| w.eq_ignore_ascii_case(t)))
        .map(|(code, _)| *code)
}

const FACILITY_KINDS: &[(&str, &[&str])] = &[
    (
        "service_centre",
        &["党群服务中心", "便民服务中心", "服务中心"],
    ),
    (
        "clinic",
        &["卫生室", "卫生院", "诊所", "医院", "hospital", "doctors"],
    ),
    (
        "school",
        &["学校", "小学", "中学", "幼儿园", "kindergarten"],
    ),
    ("shelter", &["避难场所", "避难所", "安置点", "应急避难场所"]),
    ("fire_station", &["消防站", "微型消防站"]),
    ("canteen", &["食堂", "老年食堂", "幸福食堂"]),
    ("toilet", &["厕所", "公厕", "toilets"]),
    ("camera", &["摄像头", "监控", "雪亮工程"]),
    ("police", &["警务室", "派出所"]),
];

/// `卫生室`, `doctors`, `clinic` → `clinic`: the stored code of a facility kind, if known.
pub fn normalise_facility_kind(s: &str) -> Option<&'static str> {
    let t = s.trim();
    FACILITY_KINDS
        .iter()
        .find(|(code, words)| *code == t || words.iter().any(|w| w.eq_ignore_ascii_case(t)))
        .map(|(code, _)| *code)
}

/// One source row: its field values (by source field name) and its geometry, already in
/// WGS84 lon/lat unless `offset` says it is GCJ-02/BD-09.
pub struct SourceRow<'a> {
    /// 1-based, as a spreadsheet shows it.
    pub row: usize,
    pub values: &'a BTreeMap<String, String>,
    pub geometry: Option<&'a Geometry<f64>>,
}

/// Turns one source row into the row that would be stored, or every problem it has.
pub fn stage_row(
    layer: ImportLayer,
    mapping: &Mapping,
    source: &SourceRow<'_>,
    offset: Option<Offset>,
    key_field: Option<&str>,
) -> Result<StagedRow, Vec<Problem>> {
    let mut problems = Vec::new();
    let row = source.row;
    let problem = |field: &str, zh: String, en: String| Problem {
        row,
        field: Some(field.to_string()),
        zh,
        en,
    };
    let value = |target: &str| -> Option<String> {
        let source_field = mapping.fields.get(target)?;
        let v = source.values.get(source_field)?.trim();
        (!v.is_empty()).then(|| v.to_string())
    };
    let key = match key_field {
        Some(k) => match source
            .values
            .get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            Some(v) => Some(v.to_string()),
            None => {
                problems.push(problem(
                    k,
                    format!("键字段“{k}”为空，无法按键更新"),
                    format!("the key field '{k}' is empty, so the row cannot be matched"),
                ));
                None
            }
        },
        None => None,
    };
    let point = match point_of(source.geometry, value("lon"), value("lat")) {
        Ok(p) => {
            let p = match offset {
                Some(o) => Point(o.to_wgs84(p.0)),
                None => p,
            };
            if let Err(e) = check_lon_lat(p.0) {
                problems.push(Problem { row, ..e });
                None
            } else {
                Some(p)
            }
        }
        Err((zh, en)) => {
            problems.push(problem("geometry", zh, en));
            None
        }
    };
    let staged = match layer {
        ImportLayer::Households => {
            let (members, tags) = household_values(&value, &problem, &mut problems);
            point.map(|p| {
                StagedRow::Household(HouseholdRow {
                    lon: p.x(),
                    lat: p.y(),
                    house_number: value("house_number"),
                    address: value("address"),
                    head_name: value("head_name"),
                    members,
                    phone: value("phone"),
                    id_card: value("id_card"),
                    tags,
                    key: key.clone(),
                })
            })
        }
        ImportLayer::Facilities => {
            let kind = match value("kind") {
                Some(k) => match normalise_facility_kind(&k) {
                    Some(code) => Some(code.to_string()),
                    None => {
                        problems.push(problem(
                            "kind",
                            format!("未知设施类型“{k}”"),
                            format!("unknown facility kind '{k}' (known: service_centre, clinic, school, shelter, fire_station, canteen, toilet, camera, police)"),
                        ));
                        None
                    }
                },
                None => {
                    problems.push(problem(
                        "kind",
                        "缺少设施类型".to_string(),
                        "the facility kind is missing".to_string(),
                    ));
                    None
                }
            };
            let capacity = value("capacity").and_then(|c| match parse_count(&c) {
                Some(n) if n >= 0 => i32::try_from(n).ok(),
                _ => {
                    problems.push(problem(
                        "capacity",
                        format!("容量“{c}”不是非负整数"),
                        format!("capacity '{c}' is not a whole number of 0 or more"),
                    ));
                    None
                }
            });
            match (point, kind) {
                (Some(p), Some(kind)) => Some(StagedRow::Facility(FacilityRow {
                    lon: p.x(),
                    lat: p.y(),
                    kind,
                    name: value("name"),
                    capacity,
                    key: key.clone(),
                })),
                _ => None,
            }
        }
        ImportLayer::Areas => {
            problems.retain(|p| p.field.as_deref() != Some("geometry"));
            stage_area(source, offset, &value, &problem, &mut problems)
        }
        ImportLayer::Hazards | ImportLayer::Roads => {
            // Lines and zones: the point found above does not apply.
            problems.retain(|p| p.field.as_deref() != Some("geometry"));
            stage_shape(layer, source, offset, &value, &problem, &mut problems)
        }
    };
    match staged {
        Some(s) if problems.is_empty() => Ok(s),
        _ => Err(problems),
    }
}

/// The members and tags of a household row, each bad value a problem of its field.
fn household_values(
    value: &dyn Fn(&str) -> Option<String>,
    problem: &dyn Fn(&str, String, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> (Option<i16>, Vec<String>) {
    let members = value("members").and_then(|m| match parse_count(&m) {
        Some(n) if (0..=100).contains(&n) => Some(n as i16),
        _ => {
            problems.push(problem(
                "members",
                format!("人口“{m}”不是 0 到 100 之间的整数"),
                format!("members '{m}' is not a whole number from 0 to 100"),
            ));
            None
        }
    });
    let mut tags: Vec<String> = Vec::new();
    for t in value("tags")
        .unwrap_or_default()
        .split([',', '，', ';', '；', '、', '|', ' '])
        .filter(|t| !t.trim().is_empty())
    {
        match normalise_tag(t) {
            Some(code) if !tags.iter().any(|x| x == code) => tags.push(code.to_string()),
            Some(_) => {}
            None => problems.push(problem(
                "tags",
                format!("未知标签“{t}”（可用：独居老人、残疾、低保、特困、留守儿童、困境儿童）"),
                format!("unknown tag '{t}' (known: elderly_alone, disabled, low_income, extreme_hardship, left_behind_child, child_in_difficulty)"),
            )),
        }
    }
    (members, tags)
}

/// `滑坡` → `landslide`: the stored codes, their Chinese labels and the words files use.
fn normalise_hazard_kind(s: &str) -> Option<&'static str> {
    use crate::feature::HazardKind;
    let t = s.trim();
    if let Some(k) = HazardKind::ALL
        .iter()
        .find(|k| k.code().eq_ignore_ascii_case(t) || k.label_zh() == t)
    {
        return Some(k.code());
    }
    const WORDS: &[(&str, &[&str])] = &[
        ("landslide", &["滑坡", "崩塌", "泥石流", "地质灾害", "地灾"]),
        ("flood", &["洪水", "洪涝", "内涝", "山洪", "积水"]),
        ("dangerous_house", &["危房", "危旧房", "dangerous house"]),
        ("fire", &["火灾", "火险", "森林火险"]),
        ("water", &["溺水", "水塘", "池塘", "深水"]),
    ];
    WORDS
        .iter()
        .find(|(_, words)| words.iter().any(|w| t.contains(w)))
        .map(|(code, _)| *code)
}

/// `重大`/`高`/`high` → `high`, and so on.
fn normalise_severity(s: &str) -> Option<&'static str> {
    use crate::feature::Severity;
    let t = s.trim();
    if let Some(k) = Severity::ALL
        .iter()
        .find(|k| k.code().eq_ignore_ascii_case(t) || k.label_zh() == t)
    {
        return Some(k.code());
    }
    Some(match t {
        "低" | "一般隐患" | "1" | "Ⅳ" | "IV" | "Ⅲ" | "III" => "low",
        "中" | "较大隐患" | "2" | "Ⅱ" | "II" => "medium",
        "高" | "重大隐患" | "特大" | "3" | "Ⅰ" | "I" => "high",
        _ => return None,
    })
}

/// A hazard or a road: its attributes and its geometry (lines for roads; any for hazards).
fn stage_shape(
    layer: ImportLayer,
    source: &SourceRow<'_>,
    offset: Option<Offset>,
    value: &dyn Fn(&str) -> Option<String>,
    problem: &dyn Fn(&str, String, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> Option<StagedRow> {
    use geo::Centroid;
    let g = row_geometry(source, offset, problem, problems)?;
    let before = problems.len();
    problems.extend(geometry_problems(source.row, &g));
    let point = g.centroid().map(|p| (p.x(), p.y())).unwrap_or_default();
    match layer {
        ImportLayer::Hazards => {
            let kind = match value("kind") {
                Some(k) => normalise_hazard_kind(&k).or_else(|| {
                    problems.push(problem(
                        "kind",
                        format!("未知隐患类型“{k}”（可用：滑坡、洪涝、危房、火灾、溺水）"),
                        format!("unknown hazard kind '{k}' (known: landslide, flood, dangerous_house, fire, water)"),
                    ));
                    None
                }),
                None => {
                    problems.push(problem(
                        "kind",
                        "缺少隐患类型".to_string(),
                        "the hazard kind is missing".to_string(),
                    ));
                    None
                }
            };
            let severity = match value("severity") {
                Some(v) => normalise_severity(&v).or_else(|| {
                    problems.push(problem(
                        "severity",
                        format!("未知风险等级“{v}”（可用：一般、较大、重大）"),
                        format!("unknown severity '{v}' (known: low, medium, high)"),
                    ));
                    None
                }),
                // A hazard without a stated severity is stored as medium, and the preview says so.
                None => Some("medium"),
            };
            if problems.len() > before {
                return None;
            }
            Some(StagedRow::Hazard(HazardRow {
                kind: kind?.to_string(),
                severity: severity?.to_string(),
                name: value("name"),
                geometry_type: geometry_name(&g),
                geometry: g,
                lon: point.0,
                lat: point.1,
            }))
        }
        _ => {
            let lines: Vec<geo::LineString<f64>> = match g {
                Geometry::LineString(l) => vec![l],
                Geometry::Line(l) => vec![l.into()],
                Geometry::MultiLineString(m) => m.0,
                ref other => {
                    problems.push(problem(
                        "geometry",
                        format!("道路应为线，实为{}", geometry_name(other)),
                        format!("a road should be a line, not a {}", geometry_name(other)),
                    ));
                    return None;
                }
            };
            if lines.iter().any(|l| l.0.len() < 2) {
                problems.push(problem(
                    "geometry",
                    "线少于两个点".to_string(),
                    "a line has fewer than two points".to_string(),
                ));
            }
            if problems.len() > before {
                return None;
            }
            Some(StagedRow::Road(RoadRow {
                // Roads without a class are stored as OSM's `unclassified`.
                class: value("class").unwrap_or_else(|| "unclassified".to_string()),
                name: value("name"),
                parts: lines.len(),
                lines,
                lon: point.0,
                lat: point.1,
            }))
        }
    }
}

/// The row's geometry in WGS84 (moved back from GCJ-02/BD-09 when `offset` says so), or
/// `None` with the problem that it has none.
fn row_geometry(
    source: &SourceRow<'_>,
    offset: Option<Offset>,
    problem: &dyn Fn(&str, String, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> Option<Geometry<f64>> {
    let Some(g) = source.geometry else {
        problems.push(problem(
            "geometry",
            "没有几何".to_string(),
            "the row has no geometry".to_string(),
        ));
        return None;
    };
    Some(match offset {
        Some(o) => from_offset(g, o),
        None => g.clone(),
    })
}

/// A polygon row of the areas layer: polygons only, valid, at most 64 characters of name.
fn stage_area(
    source: &SourceRow<'_>,
    offset: Option<Offset>,
    value: &dyn Fn(&str) -> Option<String>,
    problem: &dyn Fn(&str, String, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> Option<StagedRow> {
    use geo::InteriorPoint;
    let g = row_geometry(source, offset, problem, problems)?;
    let before = problems.len();
    let polygons = match &g {
        Geometry::Polygon(p) => geo::MultiPolygon(vec![p.clone()]),
        Geometry::MultiPolygon(m) if !m.0.is_empty() => m.clone(),
        other => {
            problems.push(problem(
                "geometry",
                format!("区域应为面（多边形），实为{}", geometry_name(other)),
                format!(
                    "an area should be a polygon, not a {}",
                    geometry_name(other)
                ),
            ));
            return None;
        }
    };
    problems.extend(geometry_problems(source.row, &g));
    let name = value("name");
    if let Some(n) = &name {
        if n.chars().count() > 64 {
            problems.push(problem(
                "name",
                format!("名称“{n}”超过 64 个字"),
                format!("the name '{n}' is longer than 64 characters"),
            ));
        }
    }
    if problems.len() > before {
        return None;
    }
    let point = polygons
        .interior_point()
        .map(|p| (p.x(), p.y()))
        .unwrap_or_default();
    Some(StagedRow::Area(AreaRow {
        code: value("code"),
        name,
        parts: polygons.0.len(),
        geometry: polygons,
        lon: point.0,
        lat: point.1,
    }))
}

/// `3`, `3.0`, `3人` → 3.
fn parse_count(s: &str) -> Option<i64> {
    let t = s.trim().trim_end_matches(['人', '口', '户']);
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    let f: f64 = t.parse().ok()?;
    (f.fract() == 0.0 && f.abs() < 1e9).then_some(f as i64)
}

fn point_of(
    geometry: Option<&Geometry<f64>>,
    lon: Option<String>,
    lat: Option<String>,
) -> Result<Point<f64>, (String, String)> {
    match geometry {
        Some(Geometry::Point(p)) => Ok(*p),
        Some(Geometry::MultiPoint(mp)) if mp.0.len() == 1 => Ok(mp.0[0]),
        Some(other) => Err((
            format!("几何应为点，实为{}", geometry_name(other)),
            format!(
                "the geometry should be a point, not a {}",
                geometry_name(other)
            ),
        )),
        None => match (lon, lat) {
            (Some(x), Some(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => Ok(Point::new(x, y)),
                _ => Err((
                    format!("经纬度“{x}, {y}”不是数字"),
                    format!("longitude/latitude '{x}, {y}' are not numbers"),
                )),
            },
            _ => Err((
                "没有几何，也没有经度/纬度".to_string(),
                "no geometry and no longitude/latitude".to_string(),
            )),
        },
    }
}

fn geometry_name(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::Line(_) | Geometry::LineString(_) => "LineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
        Geometry::Rect(_) => "Rect",
        Geometry::Triangle(_) => "Triangle",
    }
}

fn check_lon_lat(c: Coord<f64>) -> Result<(), Problem> {
    let inside = c.x.is_finite()
        && c.y.is_finite()
        && (-180.0..=180.0).contains(&c.x)
        && (-90.0..=90.0).contains(&c.y);
    if !inside {
        return Err(Problem {
            row: 0,
            field: Some("geometry".into()),
            zh: format!(
                "坐标 ({}, {}) 超出经纬度范围：是否用错了坐标系（--crs）？",
                c.x, c.y
            ),
            en: format!(
                "coordinate ({}, {}) is outside longitude/latitude: is the CRS (--crs) right?",
                c.x, c.y
            ),
        });
    }
    Ok(())
}

/// Problems of a geometry that PostGIS would store but the map cannot use: out-of-range
/// coordinates and invalid polygons (self-intersection, rings crossing).
/// The most points one row's geometry may have: the API's limit for a hazard zone drawn by
/// hand, and ten times the outline of the demo's largest township.
pub const MAX_POINTS_PER_ROW: usize = 20_000;

pub fn geometry_problems(row: usize, g: &Geometry<f64>) -> Vec<Problem> {
    use geo::CoordsIter;
    let mut out = Vec::new();
    // Counted first: checking a polygon of millions of points would hold the import for long.
    let points = g.coords_count();
    if points > MAX_POINTS_PER_ROW {
        out.push(Problem {
            row,
            field: Some("geometry".into()),
            zh: format!(
                "几何有 {points} 个点，超过每行上限 {MAX_POINTS_PER_ROW}：请先在 GIS 软件中简化（如 QGIS 的“简化”，容差 0.5 米）"
            ),
            en: format!(
                "the geometry has {points} points, more than the limit of {MAX_POINTS_PER_ROW} a row: simplify it first in a GIS (e.g. QGIS Simplify, tolerance 0.5 m)"
            ),
        });
        return out;
    }
    if let Some(c) = g.coords_iter().find(|c| check_lon_lat(*c).is_err()) {
        if let Err(p) = check_lon_lat(c) {
            out.push(Problem { row, ..p });
        }
    }
    if matches!(g, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) && !g.is_valid() {
        let why = g
            .check_validation()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        out.push(Problem {
            row,
            field: Some("geometry".into()),
            zh: format!("多边形无效（自相交或环交叉）：{why}"),
            en: format!("invalid polygon (self-intersecting or crossing rings): {why}"),
        });
    }
    out
}

/// Whether a row of a file of several kinds of area (cuntu's own export of the areas layer
/// has a `kind` column) is of another kind than the one imported: such rows are left out.
pub fn other_area_kind(values: &BTreeMap<String, String>, kind: crate::area::AreaKind) -> bool {
    values
        .get("kind")
        .and_then(|k| k.trim().parse::<crate::area::AreaKind>().ok())
        .is_some_and(|k| k != kind)
}

/// Rows whose key another row already used: a key names one household.
pub fn duplicate_keys<'a>(keys: impl Iterator<Item = (usize, &'a str)>) -> Vec<Problem> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (row, key) in keys {
        if let Some(first) = seen.insert(key, row) {
            out.push(Problem {
                row,
                field: Some("key".into()),
                zh: format!("键“{key}”与第 {first} 行重复"),
                en: format!("key '{key}' repeats row {first}"),
            });
        }
    }
    out
}

/// One source row as a reader hands it over: values, geometry, and why the geometry could
/// not be read when it could not.
pub struct InputRow<'a> {
    pub values: &'a BTreeMap<String, String>,
    pub geometry: Option<&'a Geometry<f64>>,
    pub geometry_error: Option<&'a str>,
}

/// Every row staged or refused: what the dry run shows and the real run stores.
#[derive(Debug, Clone, Default)]
pub struct Staging {
    /// (1-based row, the row as it would be stored).
    pub staged: Vec<(usize, StagedRow)>,
    /// Every problem, by row; any problem stops the real run.
    pub problems: Vec<Problem>,
}

/// Stages every row of a source (rows numbered from 1), then checks the keys repeat
/// nowhere. The one code path of `cuntu import` and the web upload.
pub fn stage_all<'a>(
    layer: ImportLayer,
    mapping: &Mapping,
    rows: impl IntoIterator<Item = InputRow<'a>>,
    offset: Option<Offset>,
    key_field: Option<&str>,
) -> Staging {
    let mut out = Staging::default();
    for (i, r) in rows.into_iter().enumerate() {
        let row = i + 1;
        if let Some(e) = r.geometry_error {
            out.problems.push(Problem {
                row,
                field: Some("geometry".into()),
                zh: format!("几何无法读取：{e}"),
                en: format!("the geometry cannot be read: {e}"),
            });
            continue;
        }
        let source = SourceRow {
            row,
            values: r.values,
            geometry: r.geometry,
        };
        match stage_row(layer, mapping, &source, offset, key_field) {
            Ok(s) => out.staged.push((row, s)),
            Err(mut p) => out.problems.append(&mut p),
        }
    }
    let keys: Vec<(usize, String)> = out
        .staged
        .iter()
        .filter_map(|(row, s)| s.key().map(|k| (*row, k.to_string())))
        .collect();
    out.problems
        .extend(duplicate_keys(keys.iter().map(|(r, k)| (*r, k.as_str()))));
    out.problems.sort_by_key(|p| p.row);
    out
}

impl StagedRow {
    pub fn key(&self) -> Option<&str> {
        match self {
            StagedRow::Household(h) => h.key.as_deref(),
            StagedRow::Facility(f) => f.key.as_deref(),
            // An area's code is its key: a re-import reshapes the area of that code.
            StagedRow::Area(a) => a.code.as_deref(),
            StagedRow::Hazard(_) | StagedRow::Road(_) => None,
        }
    }

    /// The point of the row (for a line or a zone: a point on it), for scope and map links.
    pub fn lon_lat(&self) -> (f64, f64) {
        match self {
            StagedRow::Household(h) => (h.lon, h.lat),
            StagedRow::Facility(f) => (f.lon, f.lat),
            StagedRow::Hazard(h) => (h.lon, h.lat),
            StagedRow::Road(r) => (r.lon, r.lat),
            StagedRow::Area(a) => (a.lon, a.lat),
        }
    }
}

// ---- rosters without coordinates: joined to the households already stored ----------------

/// How a roster row without coordinates finds its household: by house number (门牌号) when
/// the mapping has one, else by address. The rule, as the import report states it: the
/// trimmed value must equal exactly one household's within the uploader's scope; a value
/// that matches none, or several, skips the row with that reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinField {
    HouseNumber,
    Address,
}

impl JoinField {
    /// The field a roster joins on, or None when the mapping has neither.
    pub fn of(mapping: &Mapping) -> Option<Self> {
        if mapping.fields.contains_key("house_number") {
            Some(Self::HouseNumber)
        } else if mapping.fields.contains_key("address") {
            Some(Self::Address)
        } else {
            None
        }
    }
}

/// Whether a households source is a roster to join by address: no geometry in the file and
/// no longitude/latitude in the mapping.
pub fn is_join(layer: ImportLayer, mapping: &Mapping, any_geometry: bool) -> bool {
    layer == ImportLayer::Households
        && !any_geometry
        && !(mapping.fields.contains_key("lon") && mapping.fields.contains_key("lat"))
}

/// The attributes a roster row brings to an existing household. `None` leaves the stored
/// value as it is (an empty cell never erases).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdUpdate {
    pub join_value: String,
    pub house_number: Option<String>,
    pub address: Option<String>,
    pub head_name: Option<String>,
    pub members: Option<i16>,
    pub phone: Option<String>,
    pub id_card: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// A stored household a roster may join: id, house number, address.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinCandidate {
    pub id: i64,
    pub house_number: Option<String>,
    pub address: Option<String>,
}

/// The joined roster: rows to update (household id, values), rows with problems (stop the
/// run) and rows skipped because they match no household in scope, or several.
#[derive(Debug, Clone, Default)]
pub struct Join {
    pub updates: Vec<(usize, i64, HouseholdUpdate)>,
    pub problems: Vec<Problem>,
    pub skipped: Vec<Problem>,
}

/// Stages a roster without coordinates and joins it to `candidates` (the households in the
/// uploader's scope) by `field`.
pub fn join_roster<'a>(
    mapping: &Mapping,
    field: JoinField,
    rows: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
    candidates: &[JoinCandidate],
) -> Join {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut by_value: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for c in candidates {
        let v = match field {
            JoinField::HouseNumber => c.house_number.as_deref(),
            JoinField::Address => c.address.as_deref(),
        };
        if let Some(v) = v.map(norm).filter(|v| !v.is_empty()) {
            by_value.entry(v).or_default().push(c.id);
        }
    }
    let (target, zh_name) = match field {
        JoinField::HouseNumber => ("house_number", "门牌号"),
        JoinField::Address => ("address", "地址"),
    };
    let mut out = Join::default();
    let mut used: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, values) in rows.into_iter().enumerate() {
        let row = i + 1;
        let problem = |f: &str, zh: String, en: String| Problem {
            row,
            field: Some(f.to_string()),
            zh,
            en,
        };
        let value = |t: &str| -> Option<String> {
            let source_field = mapping.fields.get(t)?;
            let v = values.get(source_field)?.trim();
            (!v.is_empty()).then(|| v.to_string())
        };
        let mut problems = Vec::new();
        let (members, tags) = household_values(&value, &problem, &mut problems);
        let Some(join_value) = value(target).map(|v| norm(&v)) else {
            out.skipped.push(problem(
                target,
                format!("{zh_name}为空，无法对应到已有住户"),
                format!("the {target} is empty: the row matches no household"),
            ));
            continue;
        };
        if !problems.is_empty() {
            out.problems.append(&mut problems);
            continue;
        }
        let id = match by_value.get(&join_value).map(Vec::as_slice) {
            Some([id]) => *id,
            Some(ids) => {
                out.skipped.push(problem(
                    target,
                    format!("{zh_name}“{join_value}”在您的范围内对应 {} 户，无法确定是哪一户", ids.len()),
                    format!("{target} '{join_value}' matches {} households in your scope: which one is unclear", ids.len()),
                ));
                continue;
            }
            None => {
                out.skipped.push(problem(
                    target,
                    format!("您的范围内没有{zh_name}为“{join_value}”的住户"),
                    format!("no household in your scope has {target} '{join_value}'"),
                ));
                continue;
            }
        };
        if let Some(first) = used.insert(id, row) {
            out.problems.push(problem(
                target,
                format!("与第 {first} 行对应同一户（{zh_name}“{join_value}”）"),
                format!("matches the same household as row {first} ({target} '{join_value}')"),
            ));
            continue;
        }
        let has_tags = value("tags").is_some();
        out.updates.push((
            row,
            id,
            HouseholdUpdate {
                join_value,
                house_number: value("house_number"),
                address: value("address"),
                head_name: value("head_name"),
                members,
                phone: value("phone"),
                id_card: value("id_card"),
                tags: has_tags.then_some(tags),
            },
        ));
    }
    out.problems.sort_by_key(|p| p.row);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn chinese_and_english_names_are_proposed() {
        let m = propose_mapping(
            ImportLayer::Households,
            &names(&[
                "户主",
                "门牌号",
                "人口",
                "联系电话",
                "身份证号",
                "经度",
                "纬度",
                "地址",
                "标签",
            ]),
        );
        assert_eq!(m.fields["head_name"], "户主");
        assert_eq!(m.fields["house_number"], "门牌号");
        assert_eq!(m.fields["members"], "人口");
        assert_eq!(m.fields["phone"], "联系电话");
        assert_eq!(m.fields["id_card"], "身份证号");
        assert_eq!(m.fields["lon"], "经度");
        assert_eq!(m.fields["lat"], "纬度");
        assert_eq!(m.fields["address"], "地址");
        assert_eq!(m.fields["tags"], "标签");
        let m = propose_mapping(
            ImportLayer::Households,
            &names(&["Head_Name", "house_numb", "Members", "PHONE", "other"]),
        );
        assert_eq!(m.fields["head_name"], "Head_Name");
        assert_eq!(m.fields["house_number"], "house_numb");
        assert_eq!(m.fields["members"], "Members");
        assert_eq!(m.fields["phone"], "PHONE");
        assert_eq!(m.fields.len(), 4);
    }

    #[test]
    fn a_mapping_naming_a_missing_field_is_refused() {
        let mut m = Mapping::default();
        m.fields.insert("phone".into(), "手机".into());
        let e = check_mapping(ImportLayer::Households, &m, &names(&["电话"])).unwrap_err();
        assert!(e.zh.contains("手机") && e.en.contains("no field"));
    }

    #[test]
    fn crs_options_parse() {
        assert_eq!(SourceCrs::parse("EPSG:4547"), Some(SourceCrs::Epsg(4547)));
        assert_eq!(SourceCrs::parse("4490"), Some(SourceCrs::Epsg(4490)));
        assert_eq!(
            SourceCrs::parse("GCJ-02"),
            Some(SourceCrs::Offset(Offset::Gcj02))
        );
        assert_eq!(
            SourceCrs::parse("bd09"),
            Some(SourceCrs::Offset(Offset::Bd09))
        );
        assert_eq!(SourceCrs::parse("mars"), None);
    }

    fn row(values: &[(&str, &str)]) -> BTreeMap<String, String> {
        values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_roster_row_is_staged_with_its_tags_normalised() {
        let fields = names(&["户主", "人口", "标签", "经度", "纬度", "编号"]);
        let m = propose_mapping(ImportLayer::Households, &fields);
        let v = row(&[
            ("户主", "王建国"),
            ("人口", "3"),
            ("标签", "低保、独居老人"),
            ("经度", "114.5"),
            ("纬度", "37.9"),
            ("编号", "H-1"),
        ]);
        let s = stage_row(
            ImportLayer::Households,
            &m,
            &SourceRow {
                row: 2,
                values: &v,
                geometry: None,
            },
            None,
            Some("编号"),
        )
        .unwrap();
        let StagedRow::Household(h) = s else {
            panic!("a household")
        };
        assert_eq!(h.head_name.as_deref(), Some("王建国"));
        assert_eq!(h.members, Some(3));
        assert_eq!(h.tags, vec!["low_income", "elderly_alone"]);
        assert_eq!((h.lon, h.lat), (114.5, 37.9));
        assert_eq!(h.key.as_deref(), Some("H-1"));
    }

    #[test]
    fn every_problem_of_a_row_is_named_with_the_row() {
        let fields = names(&["户主", "人口", "标签", "经度", "纬度"]);
        let m = propose_mapping(ImportLayer::Households, &fields);
        let v = row(&[
            ("人口", "many"),
            ("标签", "贫困"),
            ("经度", "514.5"),
            ("纬度", "37.9"),
        ]);
        let problems = stage_row(
            ImportLayer::Households,
            &m,
            &SourceRow {
                row: 7,
                values: &v,
                geometry: None,
            },
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().all(|p| p.row == 7));
        assert!(problems.iter().any(|p| p.zh.contains("未知标签")));
        assert!(problems.iter().any(|p| p.en.contains("outside longitude")));
        assert!(problems[0].to_string().starts_with("第 7 行 / row 7"));
    }

    #[test]
    fn gcj02_points_are_moved_back_to_wgs84() {
        let wgs = Coord { x: 114.5, y: 37.9 };
        let gcj = coords::wgs84_to_gcj02(wgs);
        let fields = names(&["lon", "lat"]);
        let m = propose_mapping(ImportLayer::Households, &fields);
        let v = row(&[("lon", &gcj.x.to_string()), ("lat", &gcj.y.to_string())]);
        let StagedRow::Household(h) = stage_row(
            ImportLayer::Households,
            &m,
            &SourceRow {
                row: 1,
                values: &v,
                geometry: None,
            },
            Some(Offset::Gcj02),
            None,
        )
        .unwrap() else {
            panic!()
        };
        assert!((h.lon - wgs.x).abs() < 1e-7 && (h.lat - wgs.y).abs() < 1e-7);
    }

    #[test]
    fn a_geometry_of_too_many_points_is_a_problem_of_its_row() {
        let ring: Vec<(f64, f64)> = (0..=MAX_POINTS_PER_ROW)
            .map(|i| {
                let a = i as f64 / MAX_POINTS_PER_ROW as f64 * std::f64::consts::TAU;
                (9.5 + 0.01 * a.cos(), 47.1 + 0.01 * a.sin())
            })
            .collect();
        let big = Geometry::LineString(ring.clone().into());
        let problems = geometry_problems(7, &big);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].row, 7);
        assert!(
            problems[0].en.contains("20001 points"),
            "{}",
            problems[0].en
        );
        let fine = Geometry::LineString(ring[..MAX_POINTS_PER_ROW].to_vec().into());
        assert!(geometry_problems(7, &fine).is_empty());
    }

    #[test]
    fn self_intersecting_polygons_and_repeated_keys_are_problems() {
        let bow: Geometry<f64> = polygon![(x: 0., y: 0.), (x: 1., y: 1.), (x: 1., y: 0.), (x: 0., y: 1.), (x: 0., y: 0.)].into();
        let p = geometry_problems(4, &bow);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].row, 4);
        let ok: Geometry<f64> =
            polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.), (x: 0., y: 0.)].into();
        assert!(geometry_problems(1, &ok).is_empty());
        let d = duplicate_keys([(1, "a"), (2, "b"), (3, "a")].into_iter());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].row, 3);
        assert!(d[0].zh.contains("第 1 行"));
    }

    #[test]
    fn tags_and_kinds_accept_roster_words() {
        assert_eq!(normalise_tag("五保户"), Some("extreme_hardship"));
        assert_eq!(normalise_tag("disabled"), Some("disabled"));
        assert_eq!(normalise_tag("贫困"), None);
        assert_eq!(normalise_facility_kind("卫生室"), Some("clinic"));
        assert_eq!(parse_count("4人"), Some(4));
        assert_eq!(parse_count("4.0"), Some(4));
    }

    #[test]
    fn a_roster_joins_by_house_number_and_names_what_it_cannot_join() {
        let fields = names(&["门牌号", "户主", "人口", "标签"]);
        let m = propose_mapping(ImportLayer::Households, &fields);
        assert!(is_join(ImportLayer::Households, &m, false));
        assert_eq!(JoinField::of(&m), Some(JoinField::HouseNumber));
        let cand = |id, hn: &str| JoinCandidate {
            id,
            house_number: Some(hn.into()),
            address: None,
        };
        let candidates = [
            cand(10, "冶河村 1号"),
            cand(11, "2号"),
            cand(12, "3号"),
            cand(13, "3号"),
        ];
        let rows = [
            row(&[
                ("门牌号", " 冶河村  1号"),
                ("户主", "甲"),
                ("人口", "4"),
                ("标签", "低保"),
            ]),
            row(&[("门牌号", "9号"), ("户主", "乙")]),
            row(&[("门牌号", "3号"), ("户主", "丙")]),
            row(&[("门牌号", "2号"), ("人口", "many")]),
            row(&[("户主", "丁")]),
        ];
        let j = join_roster(&m, JoinField::HouseNumber, rows.iter(), &candidates);
        assert_eq!(j.updates.len(), 1);
        let (r, id, u) = &j.updates[0];
        assert_eq!((*r, *id), (1, 10));
        assert_eq!(u.members, Some(4));
        assert_eq!(u.tags.as_deref(), Some(&["low_income".to_string()][..]));
        assert_eq!(
            j.skipped.iter().map(|p| p.row).collect::<Vec<_>>(),
            vec![2, 3, 5]
        );
        assert!(j.skipped[1].en.contains("matches 2 households"));
        assert_eq!(j.problems.len(), 1);
        assert_eq!(j.problems[0].row, 4);
    }

    #[test]
    fn stage_all_numbers_rows_and_finds_repeated_keys() {
        let fields = names(&["户主", "经度", "纬度", "编号"]);
        let m = propose_mapping(ImportLayer::Households, &fields);
        let rows = [
            row(&[
                ("户主", "甲"),
                ("经度", "9.5"),
                ("纬度", "47.1"),
                ("编号", "a"),
            ]),
            row(&[
                ("户主", "乙"),
                ("经度", "x"),
                ("纬度", "47.1"),
                ("编号", "b"),
            ]),
            row(&[
                ("户主", "丙"),
                ("经度", "9.5"),
                ("纬度", "47.1"),
                ("编号", "a"),
            ]),
        ];
        let s = stage_all(
            ImportLayer::Households,
            &m,
            rows.iter().map(|v| InputRow {
                values: v,
                geometry: None,
                geometry_error: None,
            }),
            None,
            Some("编号"),
        );
        assert_eq!(s.staged.len(), 2);
        assert_eq!(
            s.problems.iter().map(|p| p.row).collect::<Vec<_>>(),
            vec![2, 3]
        );
    }

    #[test]
    fn hazards_and_roads_take_their_words_and_shapes() {
        use geo::line_string;
        let fields = names(&["类型", "风险等级", "名称"]);
        let m = propose_mapping(ImportLayer::Hazards, &fields);
        let zone: Geometry<f64> =
            polygon![(x: 9.5, y: 47.1), (x: 9.51, y: 47.1), (x: 9.51, y: 47.11), (x: 9.5, y: 47.1)]
                .into();
        let v = row(&[("类型", "山体滑坡"), ("风险等级", "重大"), ("名称", "后山")]);
        let s = stage_row(
            ImportLayer::Hazards,
            &m,
            &SourceRow {
                row: 1,
                values: &v,
                geometry: Some(&zone),
            },
            None,
            None,
        )
        .unwrap();
        let StagedRow::Hazard(h) = s else {
            panic!("a hazard")
        };
        assert_eq!(
            (h.kind.as_str(), h.severity.as_str()),
            ("landslide", "high")
        );
        assert_eq!(h.geometry_type, "Polygon");
        let bad = row(&[("类型", "地震"), ("风险等级", "很高")]);
        let p = stage_row(
            ImportLayer::Hazards,
            &m,
            &SourceRow {
                row: 2,
                values: &bad,
                geometry: Some(&zone),
            },
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(p.len(), 2, "{p:?}");

        let m = propose_mapping(ImportLayer::Roads, &names(&["highway", "name"]));
        let two: Geometry<f64> = geo::MultiLineString(vec![
            line_string![(x: 9.5, y: 47.1), (x: 9.51, y: 47.1)],
            line_string![(x: 9.51, y: 47.1), (x: 9.52, y: 47.11)],
        ])
        .into();
        let v = row(&[("highway", "track")]);
        let StagedRow::Road(r) = stage_row(
            ImportLayer::Roads,
            &m,
            &SourceRow {
                row: 1,
                values: &v,
                geometry: Some(&two),
            },
            None,
            None,
        )
        .unwrap() else {
            panic!("a road")
        };
        assert_eq!((r.class.as_str(), r.parts), ("track", 2));
        let p = stage_row(
            ImportLayer::Roads,
            &m,
            &SourceRow {
                row: 3,
                values: &v,
                geometry: Some(&zone),
            },
            None,
            None,
        )
        .unwrap_err();
        assert!(p[0].en.contains("should be a line"), "{p:?}");
    }

    #[test]
    fn area_rows_take_polygons_with_code_and_name_and_name_every_other_row() {
        let fields = names(&["网格编码", "网格名称"]);
        let m = propose_mapping(ImportLayer::Areas, &fields);
        assert_eq!(m.fields.get("code").map(String::as_str), Some("网格编码"));
        assert_eq!(m.fields.get("name").map(String::as_str), Some("网格名称"));
        let v = row(&[("网格编码", " 130111103201-01 "), ("网格名称", "一组")]);
        let square: Geometry<f64> =
            polygon![(x: 9.5, y: 47.1), (x: 9.51, y: 47.1), (x: 9.51, y: 47.11), (x: 9.5, y: 47.11), (x: 9.5, y: 47.1)].into();
        let stage = |row: usize, g: &Geometry<f64>| {
            stage_row(
                ImportLayer::Areas,
                &m,
                &SourceRow {
                    row,
                    values: &v,
                    geometry: Some(g),
                },
                None,
                None,
            )
        };
        match stage(1, &square) {
            Ok(StagedRow::Area(a)) => {
                assert_eq!(a.code.as_deref(), Some("130111103201-01"));
                assert_eq!(a.name.as_deref(), Some("一组"));
                assert_eq!(a.parts, 1);
                assert!(a.lon > 9.5 && a.lon < 9.51 && a.lat > 47.1 && a.lat < 47.11);
            }
            other => panic!("{other:?}"),
        }
        let point: Geometry<f64> = Point::new(9.5, 47.1).into();
        let p = stage(2, &point).unwrap_err();
        assert_eq!(p[0].row, 2);
        assert!(p[0].en.contains("should be a polygon"), "{p:?}");
        let bow: Geometry<f64> = polygon![(x: 9.5, y: 47.1), (x: 9.51, y: 47.11), (x: 9.51, y: 47.1), (x: 9.5, y: 47.11), (x: 9.5, y: 47.1)].into();
        let p = stage(3, &bow).unwrap_err();
        assert!(
            p.iter()
                .any(|p| p.row == 3 && p.en.contains("invalid polygon")),
            "{p:?}"
        );
    }
}
