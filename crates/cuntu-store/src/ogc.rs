//! The map's layers as OGC API - Features collections: one catalogue (which table, which
//! area kind, which columns), one query that filters, pages and reprojects in PostGIS, and the
//! writes of Part 4 (create, replace, update, delete) with versions and scope.
//!
//! Table and column names come only from the catalogue below, never from a request; every
//! value a request brings is a bound parameter. Households are personal data: every read and
//! write of them goes through the scope CTE, and the caller masks fields per role.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::{Postgres, QueryBuilder, Row};

use crate::households::SCOPE_CTE;
use crate::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Integer,
    Bool,
    TextArray,
    Timestamp,
}

/// A property of a collection's features.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    /// Whether `?name=value` filters on it. Personal fields that some roles see masked are
    /// not queryable: a filter on the whole value would reveal what the mask hides.
    pub queryable: bool,
    /// Whether a Part 4 write may set it (the rest are kept by the database: ids, versions,
    /// times, the grid a household falls in).
    pub writable: bool,
    /// An SQL expression when the property is computed rather than a column of the table.
    computed: Option<&'static str>,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        queryable: true,
        writable: true,
        computed: None,
    }
}

const fn read_only(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        queryable: true,
        writable: false,
        computed: None,
    }
}

const fn unqueryable(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        ty,
        queryable: false,
        writable: true,
        computed: None,
    }
}

impl Column {
    fn select_sql(&self) -> String {
        match self.computed {
            Some(sql) => sql.to_string(),
            None => format!("t.{}", self.name),
        }
    }
}

/// One collection of features.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// The collection id in URLs: letters and underscores only (QGIS splits ids on dots).
    pub id: &'static str,
    pub title_zh: &'static str,
    pub title_en: &'static str,
    pub description_en: &'static str,
    table: &'static str,
    /// For the area collections: the `kind` of area they hold.
    area_kind: Option<&'static str>,
    pub columns: &'static [Column],
    /// The GeoJSON geometry type of every feature, or "Geometry" when they differ.
    pub geometry_type: &'static str,
    /// Whether features carry `updated_at`, which `datetime` filters on.
    pub temporal: bool,
    /// Personal data: read only within the viewer's household scope, masked per role.
    pub personal: bool,
    /// Whether Part 4 writes are accepted.
    pub editable: bool,
    /// The column that records who wrote a row last (for the layer's own history).
    editor_column: Option<&'static str>,
}

impl Collection {
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn versioned(&self) -> bool {
        self.column("version").is_some()
    }
}

use ColumnType::{Bool, Integer, Text, TextArray, Timestamp};

const AREA_COLUMNS: &[Column] = &[
    read_only("code", Text),
    read_only("name", Text),
    read_only("parent_id", Integer),
    read_only("version", Integer),
    read_only("updated_at", Timestamp),
];

const GRID_COLUMNS: &[Column] = &[
    read_only("code", Text),
    read_only("name", Text),
    read_only("parent_id", Integer),
    Column {
        name: "households",
        ty: Integer,
        queryable: false,
        writable: false,
        computed: Some("(SELECT count(*) FROM households h WHERE h.grid_id = t.id)::integer"),
    },
    read_only("version", Integer),
    read_only("updated_at", Timestamp),
];

const fn area(
    id: &'static str,
    kind: &'static str,
    title_zh: &'static str,
    title_en: &'static str,
    description_en: &'static str,
    columns: &'static [Column],
) -> Collection {
    Collection {
        id,
        title_zh,
        title_en,
        description_en,
        table: "areas",
        area_kind: Some(kind),
        columns,
        geometry_type: "MultiPolygon",
        temporal: true,
        personal: false,
        editable: false,
        editor_column: None,
    }
}

/// Every collection, in the order the landing page lists them.
pub const COLLECTIONS: &[Collection] = &[
    area(
        "townships",
        "township",
        "乡镇",
        "Townships",
        "Township boundaries (乡镇), the roots of the area tree.",
        AREA_COLUMNS,
    ),
    area(
        "villages",
        "village",
        "行政村",
        "Villages",
        "Administrative villages (行政村); parent_id is the township.",
        AREA_COLUMNS,
    ),
    area(
        "hamlets",
        "hamlet",
        "自然村",
        "Hamlets",
        "Natural villages (自然村) inside an administrative village.",
        AREA_COLUMNS,
    ),
    area(
        "grids",
        "grid",
        "网格",
        "Grids",
        "Governance grids (网格) with their household counts.",
        GRID_COLUMNS,
    ),
    area(
        "lanes",
        "lane",
        "微网格",
        "Lanes",
        "Lanes (微网格) inside a grid.",
        AREA_COLUMNS,
    ),
    Collection {
        id: "households",
        title_zh: "户",
        title_en: "Households",
        description_en:
            "Households (户) within your scope only; personal fields as your role may read them.",
        table: "households",
        area_kind: None,
        columns: &[
            col("house_number", Text),
            col("address", Text),
            read_only("grid_id", Integer),
            col("head_name", Text),
            col("members", Integer),
            unqueryable("phone", Text),
            unqueryable("id_card", Text),
            col("tags", TextArray),
            col("party_central", Bool),
            read_only("version", Integer),
            read_only("updated_at", Timestamp),
        ],
        geometry_type: "Point",
        temporal: true,
        personal: true,
        editable: true,
        editor_column: None,
    },
    Collection {
        id: "facilities",
        title_zh: "设施",
        title_en: "Facilities",
        description_en: "Service centres, clinics, schools, shelters and other facilities.",
        table: "facilities",
        area_kind: None,
        columns: &[
            col("kind", Text),
            col("name", Text),
            col("capacity", Integer),
            read_only("version", Integer),
            read_only("updated_at", Timestamp),
        ],
        geometry_type: "Point",
        temporal: true,
        personal: false,
        editable: true,
        editor_column: None,
    },
    Collection {
        id: "hazards",
        title_zh: "风险隐患",
        title_en: "Hazards",
        description_en:
            "Risks and hazards (风险隐患): points, lines or zones; rule says how each was found.",
        table: "hazards",
        area_kind: None,
        columns: &[
            col("kind", Text),
            col("severity", Text),
            col("status", Text),
            col("name", Text),
            col("rule", Text),
            read_only("version", Integer),
            read_only("updated_at", Timestamp),
        ],
        geometry_type: "Geometry",
        temporal: true,
        personal: false,
        editable: true,
        editor_column: Some("updated_by"),
    },
    Collection {
        id: "roads",
        title_zh: "道路",
        title_en: "Roads",
        description_en: "The road network (OpenStreetMap highway classes).",
        table: "roads",
        area_kind: None,
        columns: &[read_only("class", Text), read_only("name", Text)],
        geometry_type: "LineString",
        temporal: false,
        personal: false,
        editable: false,
        editor_column: None,
    },
    Collection {
        id: "waterways",
        title_zh: "河流水系",
        title_en: "Rivers and streams",
        description_en: "Rivers, streams, canals, ditches and drains.",
        table: "waterways",
        area_kind: None,
        columns: &[read_only("kind", Text), read_only("name", Text)],
        geometry_type: "LineString",
        temporal: false,
        personal: false,
        editable: false,
        editor_column: None,
    },
];

pub fn collection(id: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.id == id)
}

/// A box in some CRS, x before y (longitude/easting first), as PostGIS takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Envelope {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
    pub srid: i32,
}

/// How geometries leave the database: the EPSG code, and whether to write latitude first
/// (EPSG:4326 and EPSG:4490 as their definitions order the axes, unlike CRS84).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputCrs {
    pub srid: i32,
    pub lat_first: bool,
}

impl OutputCrs {
    pub const CRS84: OutputCrs = OutputCrs {
        srid: 4326,
        lat_first: false,
    };

    fn geometry_sql(&self) -> String {
        let mut g = if self.srid == 4326 {
            "t.geom".to_string()
        } else {
            format!("ST_Transform(t.geom, {})", self.srid)
        };
        if self.lat_first {
            g = format!("ST_FlipCoordinates({g})");
        }
        // Degrees to 7 decimals (about 1 cm), metres to the centimetre.
        let digits = if self.srid == 3857 { 2 } else { 7 };
        format!("ST_AsGeoJSON({g}, {digits})::jsonb")
    }
}

/// A span of time; an open end is `None`.
pub type TimeSpan = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// What a page of items asks for.
#[derive(Debug, Clone)]
pub struct ItemsQuery<'a> {
    pub bbox: Option<Envelope>,
    /// Features updated within `[start, end]`; an open end is `None`.
    pub datetime: Option<TimeSpan>,
    /// `property = value`, compared as text (array columns: the value is one element).
    pub equals: Vec<(&'static Column, String)>,
    pub limit: i64,
    pub offset: i64,
    pub crs: OutputCrs,
    /// A CQL2 filter (Part 3), already checked against the collection's queryables.
    pub filter: Option<Filter>,
    /// For personal collections: the areas below which the viewer reads (empty: nothing).
    pub scope_roots: &'a [i64],
    /// One feature only.
    pub id: Option<i64>,
}

/// One feature as stored: the caller masks personal properties using `chain`.
#[derive(Debug, Clone)]
pub struct FeatureRow {
    pub id: i64,
    pub geometry: Value,
    pub properties: Map<String, Value>,
    pub version: Option<i32>,
    /// For households: the area ids from its grid up to its township.
    pub chain: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub number_matched: i64,
    pub features: Vec<FeatureRow>,
}

fn push_scope<'q>(qb: &mut QueryBuilder<'q, Postgres>, c: &Collection, roots: &'q [i64]) {
    if c.personal {
        qb.push(
            "WITH RECURSIVE scope(id) AS ( \
             SELECT unnest(",
        );
        qb.push_bind(roots);
        qb.push(
            "::bigint[]) \
             UNION SELECT a.id FROM areas a JOIN scope s ON a.parent_id = s.id) ",
        );
    }
}

/// The envelope as a joined one-row relation `env(g)`, so the box is built once.
fn push_envelope<'q>(qb: &mut QueryBuilder<'q, Postgres>, q: &ItemsQuery<'q>) {
    if let Some(b) = q.bbox {
        qb.push(", (SELECT ST_Transform(ST_MakeEnvelope(");
        qb.push_bind(b.min_x);
        qb.push(", ");
        qb.push_bind(b.min_y);
        qb.push(", ");
        qb.push_bind(b.max_x);
        qb.push(", ");
        qb.push_bind(b.max_y);
        qb.push(", ");
        qb.push_bind(b.srid);
        qb.push("), 4326) AS g) env");
    }
}

fn chain_sql(c: &Collection) -> &'static str {
    if c.personal {
        "(WITH RECURSIVE up(id, parent_id, depth) AS ( \
             SELECT a.id, a.parent_id, 0 FROM areas a WHERE a.id = t.grid_id \
             UNION ALL SELECT a.id, a.parent_id, up.depth + 1 FROM areas a JOIN up ON a.id = up.parent_id \
             WHERE up.depth < 8) \
         SELECT coalesce(array_agg(id), '{}') FROM up)"
    } else {
        "'{}'::bigint[]"
    }
}

impl Store {
    /// A page of a collection's features, filtered, in the asked CRS, with the number of all
    /// features that match. A personal collection with an empty scope matches nothing.
    pub async fn ogc_items(&self, c: &Collection, q: &ItemsQuery<'_>) -> Result<Page, StoreError> {
        if c.personal && q.scope_roots.is_empty() {
            return Ok(Page {
                number_matched: 0,
                features: Vec::new(),
            });
        }
        let mut count: QueryBuilder<Postgres> = QueryBuilder::new("");
        push_scope(&mut count, c, q.scope_roots);
        count.push("SELECT count(*)");
        push_table_and_where(&mut count, c, q);
        let number_matched: i64 = count.build().fetch_one(self.pool()).await?.try_get(0)?;

        let properties: Vec<String> = c
            .columns
            .iter()
            .map(|col| format!("'{}', {}", col.name, col.select_sql()))
            .collect();
        let mut select: QueryBuilder<Postgres> = QueryBuilder::new("");
        push_scope(&mut select, c, q.scope_roots);
        select.push(format!(
            "SELECT t.id, {geometry} AS geometry, jsonb_build_object({properties}) AS properties, \
             {version} AS version, {chain} AS chain",
            geometry = q.crs.geometry_sql(),
            properties = properties.join(", "),
            version = if c.versioned() {
                "t.version"
            } else {
                "NULL::integer"
            },
            chain = chain_sql(c),
        ));
        // The page is cut first and the per-row subqueries (a household's area chain, a
        // grid's count) run on its rows only: over the whole table they would cost the
        // planner's estimate enough to switch on JIT compilation, a second per page.
        select.push(format!(" FROM (SELECT t.* FROM {} t", c.table));
        push_envelope(&mut select, q);
        select.push(" WHERE true");
        push_conditions(&mut select, c, q);
        select.push(" ORDER BY t.id LIMIT ");
        select.push_bind(q.limit);
        select.push(" OFFSET ");
        select.push_bind(q.offset);
        select.push(") t ORDER BY t.id");
        let rows = select.build().fetch_all(self.pool()).await?;
        let mut features = Vec::with_capacity(rows.len());
        for row in rows {
            let properties = match row.try_get::<Value, _>("properties")? {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            features.push(FeatureRow {
                id: row.try_get("id")?,
                geometry: row.try_get("geometry")?,
                properties,
                version: row.try_get("version")?,
                chain: row.try_get("chain")?,
            });
        }
        Ok(Page {
            number_matched,
            features,
        })
    }

    /// One feature (within the scope for a personal collection).
    pub async fn ogc_item(
        &self,
        c: &Collection,
        id: i64,
        crs: OutputCrs,
        scope_roots: &[i64],
    ) -> Result<Option<FeatureRow>, StoreError> {
        let q = ItemsQuery {
            bbox: None,
            datetime: None,
            equals: Vec::new(),
            filter: None,
            limit: 1,
            offset: 0,
            crs,
            scope_roots,
            id: Some(id),
        };
        Ok(self.ogc_items(c, &q).await?.features.into_iter().next())
    }

    /// Whether a feature of the collection exists at all (to tell 403 from 404 when it lies
    /// outside the caller's scope).
    pub async fn ogc_exists(&self, c: &Collection, id: i64) -> Result<bool, StoreError> {
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT 1 FROM {} t WHERE t.id = ", c.table));
        qb.push_bind(id);
        if let Some(kind) = c.area_kind {
            qb.push(" AND t.kind = ");
            qb.push_bind(kind);
        }
        Ok(qb.build().fetch_optional(self.pool()).await?.is_some())
    }
}

fn push_table_and_where<'q>(
    qb: &mut QueryBuilder<'q, Postgres>,
    c: &Collection,
    q: &'q ItemsQuery<'q>,
) {
    qb.push(format!(" FROM {} t", c.table));
    push_envelope(qb, q);
    qb.push(" WHERE true");
    push_conditions(qb, c, q);
}

fn push_conditions<'q>(qb: &mut QueryBuilder<'q, Postgres>, c: &Collection, q: &'q ItemsQuery<'q>) {
    if let Some(kind) = c.area_kind {
        qb.push(" AND t.kind = ");
        qb.push_bind(kind);
    }
    if c.personal {
        qb.push(" AND t.grid_id IN (SELECT id FROM scope)");
    }
    if let Some(id) = q.id {
        qb.push(" AND t.id = ");
        qb.push_bind(id);
    }
    if q.bbox.is_some() {
        // The box is made in its own CRS and brought to the storage CRS once (`env`), so
        // that `&&` can use the GiST index.
        qb.push(" AND t.geom && env.g AND ST_Intersects(t.geom, env.g)");
    }
    if let Some((start, end)) = q.datetime {
        if let Some(start) = start {
            qb.push(" AND t.updated_at >= ");
            qb.push_bind(start);
        }
        if let Some(end) = end {
            qb.push(" AND t.updated_at <= ");
            qb.push_bind(end);
        }
    }
    if let Some(filter) = &q.filter {
        qb.push(" AND ");
        push_filter(qb, filter);
    }
    for (column, value) in &q.equals {
        if column.ty == TextArray {
            qb.push(" AND ");
            qb.push_bind(value.as_str());
            qb.push(format!(" = ANY({})", column.select_sql()));
        } else {
            qb.push(format!(" AND ({})::text = ", column.select_sql()));
            qb.push_bind(value.as_str());
        }
    }
}

/// A comparison of CQL2's basic class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    fn sql(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// A literal of a filter, of the type of the column it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// A filter expression (OGC API - Features Part 3, CQL2 basic + spatial intersects), over
/// the catalogue's columns only; every literal becomes a bound parameter.
#[derive(Debug, Clone)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        column: &'static Column,
        op: CompareOp,
        value: Literal,
    },
    Like {
        column: &'static Column,
        pattern: String,
    },
    IsNull(&'static Column),
    /// The features whose geometry meets a WKT geometry given in `srid` (latitude first
    /// when `lat_first`).
    Intersects {
        wkt: String,
        srid: i32,
        lat_first: bool,
    },
}

fn push_filter<'q>(qb: &mut QueryBuilder<'q, Postgres>, f: &'q Filter) {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            qb.push("(");
            push_filter(qb, a);
            qb.push(if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            push_filter(qb, b);
            qb.push(")");
        }
        Filter::Not(inner) => {
            qb.push("NOT coalesce(");
            push_filter(qb, inner);
            qb.push(", false)");
        }
        Filter::Compare { column, op, value } => {
            let col = column.select_sql();
            match (column.ty, value) {
                // An array property "equals" one of its elements (tags = 'disabled').
                (TextArray, Literal::Text(v)) if *op == CompareOp::Eq => {
                    qb.push("(");
                    qb.push_bind(v.as_str());
                    qb.push(format!(" = ANY({col}))"));
                }
                (TextArray, Literal::Text(v)) if *op == CompareOp::Ne => {
                    qb.push("(NOT ");
                    qb.push_bind(v.as_str());
                    qb.push(format!(" = ANY({col}))"));
                }
                (_, Literal::Number(n)) => {
                    qb.push(format!("(({col})::double precision {} ", op.sql()));
                    qb.push_bind(*n);
                    qb.push(")");
                }
                (_, Literal::Bool(b)) => {
                    qb.push(format!("(({col})::boolean {} ", op.sql()));
                    qb.push_bind(*b);
                    qb.push(")");
                }
                (Timestamp, Literal::Text(v)) => {
                    qb.push(format!("({col} {} ", op.sql()));
                    qb.push_bind(v.as_str());
                    qb.push("::timestamptz)");
                }
                (_, Literal::Text(v)) => {
                    qb.push(format!("(({col})::text {} ", op.sql()));
                    qb.push_bind(v.as_str());
                    qb.push(")");
                }
            }
        }
        Filter::Like { column, pattern } => {
            qb.push(format!("(({})::text LIKE ", column.select_sql()));
            qb.push_bind(pattern.as_str());
            qb.push(")");
        }
        Filter::IsNull(column) => {
            qb.push(format!("({} IS NULL)", column.select_sql()));
        }
        Filter::Intersects {
            wkt,
            srid,
            lat_first,
        } => {
            let mut g = "ST_GeomFromText(".to_string();
            qb.push("ST_Intersects(t.geom, ");
            if *lat_first {
                g = format!("ST_FlipCoordinates({g}");
            }
            qb.push(format!("ST_Transform({g}"));
            qb.push_bind(wkt.as_str());
            qb.push(", ");
            qb.push_bind(*srid);
            qb.push(if *lat_first {
                ")), 4326))"
            } else {
                "), 4326))"
            });
        }
    }
}

/// A value for one writable column, checked by the caller against the column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    TextArray(Vec<String>),
}

/// What a Part 4 write sets: the columns given (a replace gives every writable column) and,
/// when given, the geometry as GeoJSON in CRS84.
#[derive(Debug, Clone, Default)]
pub struct FeatureWrite {
    pub geometry: Option<String>,
    pub fields: Vec<(&'static Column, FieldValue)>,
    /// The user writing, recorded where the layer keeps who changed it.
    pub editor: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Written {
        id: i64,
        version: i32,
    },
    Deleted,
    /// The feature (before or after the write) lies outside the editor's areas; nothing
    /// was written.
    OutOfScope,
    NotFound,
    Stale {
        current: i32,
    },
}

/// Whether row `t` lies in the editor's areas (`$1`, their roots; the query starts with
/// `SCOPE_CTE`): a household by the grid the database filed it in, a facility or hazard by
/// touching one of the areas.
fn in_scope_sql(c: &Collection) -> &'static str {
    if c.personal {
        "(t.grid_id IN (SELECT id FROM scope))"
    } else {
        "EXISTS (SELECT 1 FROM areas a WHERE a.id = ANY($1::bigint[]) AND ST_Intersects(a.geom, t.geom))"
    }
}

fn push_value<'q>(qb: &mut QueryBuilder<'q, Postgres>, value: &'q FieldValue) {
    match value {
        FieldValue::Text(v) => {
            qb.push_bind(v.as_deref());
            qb.push("::text");
        }
        FieldValue::Int(v) => {
            qb.push_bind(*v);
            qb.push("::bigint");
        }
        FieldValue::Bool(v) => {
            qb.push_bind(*v);
            qb.push("::boolean");
        }
        FieldValue::TextArray(v) => {
            qb.push_bind(v.as_slice());
            qb.push("::text[]");
        }
    }
}

const GEOMETRY_FROM_GEOJSON: &str = "ST_SetSRID(ST_GeomFromGeoJSON(";

impl Store {
    /// The row after a write, inside the write's transaction: its version, whether it is in
    /// the editor's scope, and whether a household landed in a grid.
    async fn check_written(
        tx: &mut sqlx::PgConnection,
        c: &Collection,
        id: i64,
        editor_roots: &[i64],
    ) -> Result<Option<WriteOutcome>, StoreError> {
        let grid_sql = if c.personal {
            "t.grid_id IS NOT NULL"
        } else {
            "true"
        };
        let (version, in_scope, placed): (i32, bool, bool) = sqlx::query_as(&format!(
            // A household outside every grid has a NULL grid: "not in scope", not NULL.
            "{SCOPE_CTE} SELECT t.version, COALESCE({scope}, false), {grid_sql} \
             FROM {table} t WHERE t.id = $2",
            scope = in_scope_sql(c),
            table = c.table,
        ))
        .bind(editor_roots)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if !placed {
            return Err(StoreError::invalid(
                "该位置不在任何网格内：户须位于某个网格之中。",
                "The point lies in no grid: a household must lie inside a grid.",
            ));
        }
        Ok(if in_scope {
            Some(WriteOutcome::Written { id, version })
        } else {
            None
        })
    }

    /// Creates a feature; refused (nothing written) when it falls outside `editor_roots`.
    pub async fn ogc_create(
        &self,
        c: &Collection,
        write: &FeatureWrite,
        editor_roots: &[i64],
    ) -> Result<WriteOutcome, StoreError> {
        let geometry = write.geometry.as_deref().ok_or_else(|| {
            StoreError::invalid("新要素须有几何。", "A new feature needs a geometry.")
        })?;
        let mut tx = self.pool().begin().await?;
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("INSERT INTO {} (", c.table));
        for (column, _) in &write.fields {
            qb.push(column.name);
            qb.push(", ");
        }
        if let Some(column) = c.editor_column {
            qb.push(column);
            qb.push(", ");
        }
        qb.push("geom) VALUES (");
        for (_, value) in &write.fields {
            push_value(&mut qb, value);
            qb.push(", ");
        }
        if c.editor_column.is_some() {
            qb.push_bind(write.editor);
            qb.push(", ");
        }
        qb.push(GEOMETRY_FROM_GEOJSON);
        qb.push_bind(geometry);
        qb.push("), 4326)) RETURNING id");
        let id: i64 = qb.build().fetch_one(&mut *tx).await?.try_get(0)?;
        match Self::check_written(&mut tx, c, id, editor_roots).await? {
            Some(done) => {
                tx.commit().await?;
                Ok(done)
            }
            None => Ok(WriteOutcome::OutOfScope),
        }
    }

    /// Locks a feature for a write and checks that the editor may change it as it is now.
    async fn lock_for_write(
        tx: &mut sqlx::PgConnection,
        c: &Collection,
        id: i64,
        expected_version: Option<i32>,
        editor_roots: &[i64],
    ) -> Result<Option<WriteOutcome>, StoreError> {
        let row: Option<(i32, bool)> = sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT t.version, {scope} FROM {table} t WHERE t.id = $2 FOR UPDATE OF t",
            scope = in_scope_sql(c),
            table = c.table,
        ))
        .bind(editor_roots)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(match row {
            None => Some(WriteOutcome::NotFound),
            Some((_, false)) => Some(WriteOutcome::OutOfScope),
            Some((current, true)) if expected_version.is_some_and(|v| v != current) => {
                Some(WriteOutcome::Stale { current })
            }
            Some(_) => None,
        })
    }

    /// Replaces or updates a feature: sets the fields given (and the geometry, if given),
    /// bumps the version. Refused when the version is stale or the feature lies outside
    /// `editor_roots` before or after the write.
    pub async fn ogc_update(
        &self,
        c: &Collection,
        id: i64,
        expected_version: Option<i32>,
        write: &FeatureWrite,
        editor_roots: &[i64],
    ) -> Result<WriteOutcome, StoreError> {
        let mut tx = self.pool().begin().await?;
        if let Some(refused) =
            Self::lock_for_write(&mut tx, c, id, expected_version, editor_roots).await?
        {
            return Ok(refused);
        }
        let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "UPDATE {} t SET version = t.version + 1, updated_at = now()",
            c.table
        ));
        for (column, value) in &write.fields {
            qb.push(format!(", {} = ", column.name));
            push_value(&mut qb, value);
        }
        if let Some(column) = c.editor_column {
            qb.push(format!(", {column} = "));
            qb.push_bind(write.editor);
        }
        if let Some(geometry) = &write.geometry {
            qb.push(", geom = ");
            qb.push(GEOMETRY_FROM_GEOJSON);
            qb.push_bind(geometry.as_str());
            qb.push("), 4326)");
        }
        qb.push(" WHERE t.id = ");
        qb.push_bind(id);
        qb.build().execute(&mut *tx).await?;
        match Self::check_written(&mut tx, c, id, editor_roots).await? {
            Some(done) => {
                tx.commit().await?;
                Ok(done)
            }
            None => Ok(WriteOutcome::OutOfScope),
        }
    }

    pub async fn ogc_delete(
        &self,
        c: &Collection,
        id: i64,
        expected_version: Option<i32>,
        editor_roots: &[i64],
    ) -> Result<WriteOutcome, StoreError> {
        let mut tx = self.pool().begin().await?;
        if let Some(refused) =
            Self::lock_for_write(&mut tx, c, id, expected_version, editor_roots).await?
        {
            return Ok(refused);
        }
        sqlx::query(&format!("DELETE FROM {} WHERE id = $1", c.table))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(WriteOutcome::Deleted)
    }
}

/// Where and when a collection's features are.
#[derive(Debug, Clone, Default)]
pub struct Extent {
    /// `[min_lon, min_lat, max_lon, max_lat]`, `None` for an empty collection.
    pub bbox: Option<[f64; 4]>,
    pub first_update: Option<DateTime<Utc>>,
    pub last_update: Option<DateTime<Utc>>,
}

impl Store {
    /// The box (CRS84) of a collection's features and the span of their `updated_at`. For a
    /// personal collection, the box of the scope's areas and no times: the extent of the
    /// households themselves would tell where people live outside the caller's scope.
    pub async fn ogc_extent(
        &self,
        c: &Collection,
        scope_roots: &[i64],
    ) -> Result<Extent, StoreError> {
        type Row = (
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
        );
        let row: Row = if c.personal {
            sqlx::query_as(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), \
                        NULL::timestamptz, NULL::timestamptz \
                 FROM (SELECT ST_Extent(a.geom)::geometry AS e FROM areas a WHERE a.id = ANY($1)) x",
            )
            .bind(scope_roots)
            .fetch_one(self.pool())
            .await?
        } else {
            let time = if c.temporal {
                "min(t.updated_at), max(t.updated_at)"
            } else {
                "NULL::timestamptz, NULL::timestamptz"
            };
            // Only the area collections have a kind; it comes from the catalogue.
            let kind = c
                .area_kind
                .map(|k| format!(" WHERE t.kind = '{k}'"))
                .unwrap_or_default();
            sqlx::query_as(&format!(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), s, f FROM ( \
                   SELECT ST_Extent(t.geom)::geometry AS e, {time} FROM {table} t{kind}) x(e, s, f)",
                table = c.table,
            ))
            .fetch_one(self.pool())
            .await?
        };
        let bbox = match row {
            (Some(a), Some(b), Some(c), Some(d), _, _) => Some([a, b, c, d]),
            _ => None,
        };
        Ok(Extent {
            bbox,
            first_update: row.4,
            last_update: row.5,
        })
    }
}
