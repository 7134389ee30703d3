//! Editing the grid layer: create, reshape, delete, split, merge, move shared vertices,
//! restore. Each edit is one transaction that
//! - locks the container (the village, or the grid for lanes) so edits of one village queue
//!   instead of racing, then the areas it changes at the versions the caller edited
//!   (optimistic concurrency: a stale version is a conflict, nothing is overwritten);
//! - lets the database's triggers check validity, containment and sibling overlap (the
//!   overlap check is deferred, so a shared vertex can move in two grids one after the other);
//! - re-files the container's households whose grid changed, and reports who moved where,
//!   the resulting grids, the rule, and the uncovered part of the container (gaps).
//!
//! Geometry work is PostGIS's, except the vertex moves, which are a few coordinates and
//! done with `geo`.

use std::collections::HashMap;

use geo::{
    Closest, ClosestPoint, Coord, Distance, Euclidean, LineString, MultiPolygon, Point, Polygon,
};
use serde::Serialize;
use sqlx::{Postgres, Transaction};

use crate::{wkb, Store, StoreError};

/// Two vertices closer than this (degrees, about 0.1 m) are one vertex: the topology of the
/// grid layer is vertex identity within this tolerance.
pub const VERTEX_TOLERANCE_DEG: f64 = 1e-6;
/// A drawn vertex this close (degrees, about 0.5 m) to a neighbour's vertex or the container's
/// boundary snaps onto it.
pub const SNAP_TOLERANCE_DEG: f64 = 5e-6;
/// Parts smaller than this (m²) are slivers of floating-point clipping, not grids or gaps.
const SLIVER_M2: f64 = 1.0;
/// Clipping or trimming below this (m²) is snapping's doing, not worth telling the cadre.
const NOTEWORTHY_M2: f64 = 10.0;

/// A message in both languages; the server picks one by the request's language.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub zh: String,
    pub en: String,
}

/// One area after an edit, with its household count.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct GridState {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub version: i32,
    pub households: i64,
    /// Polygons (over a square metre) it is made of: more than one is not contiguous.
    pub parts: i32,
}

/// Households that went from one grid to another (`None`: no grid, the gap).
#[derive(Debug, Clone, Serialize)]
pub struct Move {
    pub from_id: Option<i64>,
    pub from_name: Option<String>,
    pub to_id: Option<i64>,
    pub to_name: Option<String>,
    pub households: i64,
    pub key_population: i64,
}

/// The part of the container no child covers.
#[derive(Debug, Clone, Serialize)]
pub struct Gaps {
    pub area_m2: f64,
    pub households: i64,
    /// GeoJSON MultiPolygon, or null when there is no gap.
    pub geometry: Option<serde_json::Value>,
}

/// Households a grid should hold, from the township's rule.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct HouseholdRule {
    pub min_households: i32,
    pub max_households: i32,
}

impl Default for HouseholdRule {
    fn default() -> Self {
        let rule = cuntu_core::gridding::GridRule::default();
        HouseholdRule {
            min_households: rule.min_households as i32,
            max_households: rule.max_households as i32,
        }
    }
}

impl HouseholdRule {
    pub fn admits(&self, households: i64) -> bool {
        households >= i64::from(self.min_households) && households <= i64::from(self.max_households)
    }
}

/// What an edit did, in people's terms.
#[derive(Debug, Clone, Serialize)]
pub struct EditReport {
    pub grids: Vec<GridState>,
    pub removed: Vec<i64>,
    pub moves: Vec<Move>,
    /// Households that now belong to another grid than before.
    pub moved_households: i64,
    /// Of those, how many carry a key-population tag (and so change grid worker).
    pub moved_key_population: i64,
    pub dry_run: bool,
    /// What the server did to the drawing (repaired, clipped, trimmed, snapped).
    pub notes: Vec<Note>,
    pub gaps: Gaps,
    pub rule: HouseholdRule,
    /// Whether the container's children are grids (counted against the rule) or lanes.
    pub children_are_grids: bool,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AreaVersionView {
    pub version: i32,
    pub name: String,
    pub geometry: serde_json::Value,
    pub valid_from: chrono::DateTime<chrono::Utc>,
    pub valid_to: Option<chrono::DateTime<chrono::Utc>>,
    pub changed_by: Option<String>,
    pub operation: String,
}

/// One vertex move of a shared-vertex edit, in EPSG:4326.
#[derive(Debug, Clone, Copy)]
pub struct VertexMove {
    pub from: Coord<f64>,
    pub to: Coord<f64>,
}

/// A drawn shape for a new or reshaped area.
pub struct Drawing<'a> {
    pub geometry: &'a geo::Geometry<f64>,
    /// Cut away the parts over existing siblings instead of refusing.
    pub trim: bool,
}

pub(crate) struct Locked {
    kind: String,
    parent_id: Option<i64>,
    name: String,
}

/// An edit under way: its transaction, its container, and what it saw before changing.
pub(crate) struct Edit {
    pub(crate) tx: Transaction<'static, Postgres>,
    container: i64,
    children_are_grids: bool,
    /// Households inside the container: (id, grid, has a key-population tag).
    before: Vec<(i64, Option<i64>, bool)>,
    /// Names of the container's children before the edit (removed ones included).
    names: HashMap<i64, String>,
    notes: Vec<Note>,
}

fn child_kind(container_kind: &str) -> Result<&'static str, StoreError> {
    match container_kind {
        "village" | "hamlet" => Ok("grid"),
        "grid" => Ok("lane"),
        other => Err(StoreError::invalid(
            format!("只能在村、自然村内划分网格，在网格内划分街巷，不能在{other}内划分"),
            format!("grids are drawn inside villages or hamlets and lanes inside grids, not inside a {other}"),
        )),
    }
}

impl Edit {
    /// Starts an edit of the children of `container`, locking it so edits of one village run
    /// one after the other.
    pub(crate) async fn begin(
        store: &Store,
        container: i64,
        actor: &str,
    ) -> Result<Edit, StoreError> {
        let tx = Edit::begin_tx(store, actor).await?;
        Edit::start(tx, container).await
    }

    /// The transaction of one or more edits, with the actor set for the history.
    pub(crate) async fn begin_tx(
        store: &Store,
        actor: &str,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = store.pool().begin().await?;
        sqlx::query("SELECT set_config('cuntu.actor', $1, true)")
            .bind(actor)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Starts an edit of the children of `container` inside `tx` (several containers may be
    /// edited one after the other in one transaction: see [`Edit::finish`]).
    pub(crate) async fn start(
        mut tx: Transaction<'static, Postgres>,
        container: i64,
    ) -> Result<Edit, StoreError> {
        // An earlier container's conclusion checked the sibling rule at once; this one's
        // changes are checked at its own conclusion again.
        sqlx::query("SET CONSTRAINTS areas_siblings_disjoint DEFERRED")
            .execute(&mut *tx)
            .await?;
        let kind: Option<String> =
            sqlx::query_scalar("SELECT kind FROM areas WHERE id = $1 FOR UPDATE")
                .bind(container)
                .fetch_optional(&mut *tx)
                .await?;
        let kind = kind.ok_or(StoreError::NotFound)?;
        let children_are_grids = child_kind(&kind)? == "grid";
        let before = sqlx::query_as(
            "SELECT h.id, h.grid_id, h.tags <> '{}' FROM households h, areas c \
             WHERE c.id = $1 AND ST_Intersects(c.geom, h.geom) ORDER BY h.id",
        )
        .bind(container)
        .fetch_all(&mut *tx)
        .await?;
        let names: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM areas WHERE parent_id = $1")
                .bind(container)
                .fetch_all(&mut *tx)
                .await?;
        Ok(Edit {
            tx,
            container,
            children_are_grids,
            before,
            names: names.into_iter().collect(),
            notes: Vec::new(),
        })
    }

    /// Locks a child of the container at the version the caller edited.
    pub(crate) async fn lock(&mut self, id: i64, expected: i32) -> Result<Locked, StoreError> {
        let row: Option<(i32, String, Option<i64>, String)> = sqlx::query_as(
            "SELECT version, kind, parent_id, name FROM areas WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?;
        let (current, kind, parent_id, name) = row.ok_or(StoreError::NotFound)?;
        if current != expected {
            return Err(StoreError::Conflict { expected, current });
        }
        if parent_id != Some(self.container) {
            return Err(StoreError::invalid(
                format!("{name}不属于所编辑的村"),
                format!("{name} does not belong to the village being edited"),
            ));
        }
        Ok(Locked {
            kind,
            parent_id,
            name,
        })
    }

    pub(crate) fn note(&mut self, zh: String, en: String) {
        self.notes.push(Note { zh, en });
    }

    /// Inserts a child of the container (a grid, or a lane in a grid) with the next free
    /// number, or the given name.
    pub(crate) async fn insert_child(
        &mut self,
        shape: &[u8],
        name: Option<&str>,
    ) -> Result<i64, StoreError> {
        self.insert_child_coded(shape, None, name).await
    }

    /// [`Edit::insert_child`] with a code of the caller's (an imported file's) when given.
    pub(crate) async fn insert_child_coded(
        &mut self,
        shape: &[u8],
        given_code: Option<&str>,
        name: Option<&str>,
    ) -> Result<i64, StoreError> {
        let (kind, container_code): (String, String) =
            sqlx::query_as("SELECT kind, code FROM areas WHERE id = $1")
                .bind(self.container)
                .fetch_one(&mut *self.tx)
                .await?;
        let kind = child_kind(&kind)?;
        let (code, default_name) =
            next_child_name(&mut self.tx, self.container, &container_code, kind).await?;
        let name = name.map(str::to_string).unwrap_or(default_name);
        let code = given_code.map(str::to_string).unwrap_or(code);
        Ok(sqlx::query_scalar(
            "INSERT INTO areas (kind, parent_id, code, name, geom) \
             VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromWKB($5, 4326))) RETURNING id",
        )
        .bind(kind)
        .bind(self.container)
        .bind(&code)
        .bind(&name)
        .bind(shape)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Deletes a child that holds no lanes, noting whose assignment ends with it.
    pub(crate) async fn delete_child(&mut self, id: i64) -> Result<(), StoreError> {
        let (name, has_children): (String, bool) = sqlx::query_as(
            "SELECT name, EXISTS (SELECT 1 FROM areas c WHERE c.parent_id = a.id) FROM areas a WHERE a.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *self.tx)
        .await?;
        if has_children {
            return Err(StoreError::invalid(
                format!("{name}内还有街巷：请先删除或合并它们"),
                format!("{name} still holds lanes: delete or merge them first"),
            ));
        }
        let staff: Vec<String> = sqlx::query_scalar(
            "SELECT u.display_name FROM role_assignments r JOIN users u ON u.id = r.user_id \
             WHERE r.area_id = $1 ORDER BY u.display_name",
        )
        .bind(id)
        .fetch_all(&mut *self.tx)
        .await?;
        if !staff.is_empty() {
            self.note(
                format!("{}不再负责{name}", staff.join("、")),
                format!("{} no longer look after {name}", staff.join(", ")),
            );
        }
        sqlx::query("DELETE FROM areas WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Turns a drawing into a shape that fits: repaired, snapped to the neighbours and the
    /// container's boundary, clipped to the container, and (when asked) trimmed off the
    /// siblings; refused with the reason when it cannot fit. `except` is the area being
    /// reshaped, which does not count as its own neighbour.
    pub(crate) async fn fit(
        &mut self,
        drawing: &Drawing<'_>,
        except: Option<i64>,
    ) -> Result<Vec<u8>, StoreError> {
        let drawn = wkb::encode(drawing.geometry)?;
        let (valid, reason, repaired): (bool, String, Option<Vec<u8>>) = sqlx::query_as(
            "SELECT ST_IsValid(g), ST_IsValidReason(g), \
                    ST_AsBinary(ST_CollectionExtract(ST_MakeValid(g), 3)) \
             FROM (SELECT ST_GeomFromWKB($1, 4326) AS g) d",
        )
        .bind(&drawn)
        .fetch_one(&mut *self.tx)
        .await?;
        let shape = match repaired {
            Some(shape) if !is_empty(&mut self.tx, &shape).await? => shape,
            _ => return Err(StoreError::invalid(
                "画出的形状没有面积：请至少画三个不在一条直线上的点",
                "the drawn shape has no area: draw at least three points that are not on one line",
            )),
        };
        if !valid {
            self.note(
                format!("画出的边界自相交或不闭合（{reason}），已自动修复"),
                format!("the drawn boundary crossed itself or was not closed ({reason}); it was repaired"),
            );
        }
        let except = except.unwrap_or(-1);
        // Snap to the container and the siblings, then clip to the container.
        let (shape, clipped_m2, unsnapped): (Vec<u8>, f64, Vec<u8>) = sqlx::query_as(
            "WITH refs AS (SELECT ST_Collect(geom) AS r FROM areas \
                           WHERE id = $2 OR (parent_id = $2 AND id <> $3)), \
                  snapped AS (SELECT ST_CollectionExtract(ST_MakeValid( \
                                  ST_Snap(ST_GeomFromWKB($1, 4326), refs.r, $4)), 3) AS g FROM refs), \
                  clipped AS (SELECT s.g, ST_CollectionExtract(ST_Intersection(s.g, c.geom), 3) AS k, \
                                     ST_CollectionExtract(ST_Intersection(ST_GeomFromWKB($1, 4326), c.geom), 3) AS k0 \
                              FROM snapped s, areas c WHERE c.id = $2) \
             SELECT ST_AsBinary(k), planar_area_m2(g) - planar_area_m2(k), ST_AsBinary(k0) FROM clipped",
        )
        .bind(&shape)
        .bind(self.container)
        .bind(except)
        .bind(SNAP_TOLERANCE_DEG)
        .fetch_one(&mut *self.tx)
        .await?;
        if clipped_m2 > NOTEWORTHY_M2 {
            self.note(
                format!("超出村界的 {clipped_m2:.0} 平方米已裁去"),
                format!("{clipped_m2:.0} m² outside the village boundary were cut away"),
            );
        }
        let mut overlaps = self.overlaps(&shape, except).await?;
        let mut shape = shape;
        // Snapping a shape that already follows its neighbours' edges (an imported file of
        // them, a restored version) can pull a vertex onto a neighbour's nearby vertex and
        // make an overlap that was not drawn: then the shape is taken as drawn.
        if !overlaps.is_empty() && self.overlaps(&unsnapped, except).await?.is_empty() {
            overlaps.clear();
            shape = unsnapped;
        }
        let shape = if overlaps.is_empty() {
            shape
        } else if drawing.trim {
            let trimmed: Vec<u8> = sqlx::query_scalar(
                "SELECT ST_AsBinary(ST_CollectionExtract(ST_Difference(ST_GeomFromWKB($1, 4326), \
                     coalesce((SELECT ST_Union(geom) FROM areas WHERE parent_id = $2 AND id <> $3), \
                              'GEOMETRYCOLLECTION EMPTY'::geometry)), 3))",
            )
            .bind(&shape)
            .bind(self.container)
            .bind(except)
            .fetch_one(&mut *self.tx)
            .await?;
            let mut names: Vec<&str> = overlaps.iter().take(5).map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            let more = overlaps.len().saturating_sub(names.len());
            let (more_zh, more_en) = if more > 0 {
                (
                    format!("等 {} 个网格", overlaps.len()),
                    format!(" and {more} more"),
                )
            } else {
                (String::new(), String::new())
            };
            let total: f64 = overlaps.iter().map(|(_, m2)| m2).sum();
            self.note(
                format!(
                    "与{}{more_zh}重叠的 {total:.0} 平方米已裁去",
                    names.join("、")
                ),
                format!(
                    "{total:.0} m² over {}{more_en} were trimmed away",
                    names.join(", ")
                ),
            );
            trimmed
        } else {
            let (name, m2) = &overlaps[0];
            return Err(StoreError::invalid(
                format!("画出的网格与{name}重叠 {m2:.0} 平方米：请沿{name}的边界画，或选择“裁去重叠部分”"),
                format!("the drawn grid overlaps {name} by {m2:.0} m²: draw along {name}'s edge, or choose to trim the overlap"),
            ));
        };
        let without_slivers: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT ST_AsBinary(ST_Multi(ST_Collect(d.geom))) \
             FROM ST_Dump(ST_GeomFromWKB($1, 4326)) d \
             WHERE ST_GeometryType(d.geom) = 'ST_Polygon' AND planar_area_m2(d.geom) > $2",
        )
        .bind(&shape)
        .bind(SLIVER_M2)
        .fetch_one(&mut *self.tx)
        .await?;
        without_slivers.ok_or_else(|| {
            StoreError::invalid(
                "裁去村界外和已有网格的部分后，画出的网格已没有面积：请画在未覆盖的区域内",
                "nothing is left of the drawn grid once the parts outside the village and over other grids are cut away: draw inside the uncovered part",
            )
        })
    }

    /// The container's children (but `except`) that `shape` overlaps by more than a sliver,
    /// largest overlap first.
    async fn overlaps(
        &mut self,
        shape: &[u8],
        except: i64,
    ) -> Result<Vec<(String, f64)>, StoreError> {
        let overlaps: Vec<(String, f64)> = sqlx::query_as(
            "SELECT s.name, planar_area_m2(ST_Intersection(s.geom, g.g)) AS m2 \
             FROM areas s, (SELECT ST_GeomFromWKB($1, 4326) AS g) g \
             WHERE s.parent_id = $2 AND s.id <> $3 AND s.geom && g.g AND ST_Intersects(s.geom, g.g) \
             ORDER BY m2 DESC",
        )
        .bind(shape)
        .bind(self.container)
        .bind(except)
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(overlaps
            .into_iter()
            .filter(|(_, m2)| *m2 > SLIVER_M2)
            .collect())
    }

    /// The common end of every edit: check the sibling rule now, re-file the households whose
    /// grid changed, report, and commit (or roll back a dry run).
    pub(crate) async fn conclude(
        self,
        touched: &[i64],
        removed: Vec<i64>,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        let (report, tx) = self.finish(touched, removed, dry_run).await?;
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(report)
    }

    /// [`Edit::conclude`] without the end of the transaction: the report, and the
    /// transaction for the next container's edit (or the caller's commit or rollback).
    pub(crate) async fn finish(
        mut self,
        touched: &[i64],
        removed: Vec<i64>,
        dry_run: bool,
    ) -> Result<(EditReport, Transaction<'static, Postgres>), StoreError> {
        sqlx::query("SET CONSTRAINTS areas_siblings_disjoint IMMEDIATE")
            .execute(&mut *self.tx)
            .await?;
        let ids: Vec<i64> = self.before.iter().map(|b| b.0).collect();
        // Only the households whose grid changes are written, so a household's own version
        // moves only when its grid does.
        sqlx::query(
            "UPDATE households h SET geom = geom WHERE h.id = ANY($1) AND h.grid_id IS DISTINCT FROM \
                 (SELECT a.id FROM areas a WHERE a.kind = 'grid' AND ST_Intersects(a.geom, h.geom) \
                  ORDER BY a.id LIMIT 1)",
        )
        .bind(&ids)
        .execute(&mut *self.tx)
        .await?;
        let after: Vec<(i64, Option<i64>)> =
            sqlx::query_as("SELECT id, grid_id FROM households WHERE id = ANY($1) ORDER BY id")
                .bind(&ids)
                .fetch_all(&mut *self.tx)
                .await?;
        let current: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM areas WHERE parent_id = $1")
                .bind(self.container)
                .fetch_all(&mut *self.tx)
                .await?;
        self.names.extend(current);
        let moves = tally_moves(&self.before, &after, &self.names);
        let moved_households = moves.iter().map(|m| m.households).sum();
        let moved_key_population = moves.iter().map(|m| m.key_population).sum();
        let grids = grid_states(&mut self.tx, touched).await?;
        let gaps = gaps_of(&mut self.tx, self.container, self.children_are_grids).await?;
        let rule = rule_of(&mut self.tx, self.container).await?;
        let report = EditReport {
            grids,
            removed,
            moves,
            moved_households,
            moved_key_population,
            dry_run,
            notes: self.notes,
            gaps,
            rule,
            children_are_grids: self.children_are_grids,
        };
        Ok((report, self.tx))
    }
}

async fn is_empty(tx: &mut Transaction<'_, Postgres>, shape: &[u8]) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT ST_IsEmpty(ST_GeomFromWKB($1, 4326))")
            .bind(shape)
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Groups the households whose grid changed by (from, to), largest group first.
fn tally_moves(
    before: &[(i64, Option<i64>, bool)],
    after: &[(i64, Option<i64>)],
    names: &HashMap<i64, String>,
) -> Vec<Move> {
    let now: HashMap<i64, Option<i64>> = after.iter().copied().collect();
    let mut groups: HashMap<(Option<i64>, Option<i64>), (i64, i64)> = HashMap::new();
    for (id, old, tagged) in before {
        let new = now.get(id).copied().flatten();
        if *old != new {
            let entry = groups.entry((*old, new)).or_default();
            entry.0 += 1;
            entry.1 += i64::from(*tagged);
        }
    }
    let mut moves: Vec<Move> = groups
        .into_iter()
        .map(|((from, to), (households, key_population))| Move {
            from_id: from,
            from_name: from.and_then(|id| names.get(&id).cloned()),
            to_id: to,
            to_name: to.and_then(|id| names.get(&id).cloned()),
            households,
            key_population,
        })
        .collect();
    moves.sort_by(|a, b| {
        b.households
            .cmp(&a.households)
            .then(a.from_id.cmp(&b.from_id))
            .then(a.to_id.cmp(&b.to_id))
    });
    moves
}

async fn grid_states(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[i64],
) -> Result<Vec<GridState>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.code, a.name, a.version, \
                (SELECT count(*) FROM households h WHERE h.grid_id = a.id) AS households, \
                (SELECT count(*)::int FROM ST_Dump(a.geom) d WHERE planar_area_m2(d.geom) > $2) AS parts \
         FROM areas a WHERE a.id = ANY($1) ORDER BY a.id",
    )
    .bind(ids)
    .bind(SLIVER_M2)
    .fetch_all(&mut **tx)
    .await?)
}

/// The uncovered part of a container, and (for a village) the households in no grid.
pub(crate) async fn gaps_of(
    db: &mut sqlx::PgConnection,
    container: i64,
    count_households: bool,
) -> Result<Gaps, StoreError> {
    let (area_m2, geometry): (f64, Option<serde_json::Value>) = sqlx::query_as(
        "WITH c AS (SELECT geom FROM areas WHERE id = $1), \
              u AS (SELECT ST_Union(geom) AS g FROM areas WHERE parent_id = $1), \
              d AS (SELECT (ST_Dump(CASE WHEN u.g IS NULL THEN c.geom \
                                         ELSE ST_Difference(c.geom, u.g) END)).geom AS g FROM c, u) \
         SELECT coalesce(sum(planar_area_m2(g)), 0)::float8, \
                ST_AsGeoJSON(ST_Multi(ST_Collect(g)), 7)::jsonb \
         FROM d WHERE ST_GeometryType(g) = 'ST_Polygon' AND planar_area_m2(g) > $2",
    )
    .bind(container)
    .bind(SLIVER_M2)
    .fetch_one(&mut *db)
    .await?;
    let households = if count_households {
        sqlx::query_scalar(
            "SELECT count(*) FROM households h, areas c \
             WHERE c.id = $1 AND ST_Intersects(c.geom, h.geom) AND h.grid_id IS NULL",
        )
        .bind(container)
        .fetch_one(&mut *db)
        .await?
    } else {
        0
    };
    Ok(Gaps {
        area_m2,
        households,
        geometry,
    })
}

/// The household rule of the township an area lies in (the default when it set none).
pub(crate) async fn rule_of(
    db: &mut sqlx::PgConnection,
    area: i64,
) -> Result<HouseholdRule, StoreError> {
    let row: Option<(i32, i32)> = sqlx::query_as(
        "WITH RECURSIVE up AS ( \
             SELECT id, parent_id, 0 AS depth FROM areas WHERE id = $1 \
             UNION ALL \
             SELECT a.id, a.parent_id, up.depth + 1 FROM areas a JOIN up ON a.id = up.parent_id \
             WHERE up.depth < 8) \
         SELECT r.min_households, r.max_households FROM up JOIN grid_rules r ON r.township_id = up.id",
    )
    .bind(area)
    .fetch_optional(&mut *db)
    .await?;
    Ok(row
        .map(|(min_households, max_households)| HouseholdRule {
            min_households,
            max_households,
        })
        .unwrap_or_default())
}

/// Moves every vertex of `shape` at `from` to `to`; when none is there but an edge passes
/// within the tolerance, the vertex is inserted into that edge first. Whether it changed.
fn move_vertex(shape: &mut MultiPolygon<f64>, from: Coord<f64>, to: Coord<f64>) -> bool {
    let mut changed = false;
    let polygons = std::mem::take(&mut shape.0);
    for polygon in polygons {
        let (exterior, interiors) = polygon.into_inner();
        let exterior = move_in_ring(exterior, from, to, &mut changed);
        let interiors = interiors
            .into_iter()
            .map(|ring| move_in_ring(ring, from, to, &mut changed))
            .collect();
        shape.0.push(Polygon::new(exterior, interiors));
    }
    changed
}

fn move_in_ring(
    ring: LineString<f64>,
    from: Coord<f64>,
    to: Coord<f64>,
    changed: &mut bool,
) -> LineString<f64> {
    let mut coords = ring.0;
    let at = Point::from(from);
    let mut hit = false;
    for c in coords.iter_mut() {
        if Euclidean.distance(Point::from(*c), at) <= VERTEX_TOLERANCE_DEG {
            *c = to;
            hit = true;
        }
    }
    if !hit {
        let on_edge = coords.windows(2).position(|pair| {
            let edge = geo::Line::new(pair[0], pair[1]);
            Euclidean.distance(&edge, &at) <= VERTEX_TOLERANCE_DEG
        });
        if let Some(i) = on_edge {
            coords.insert(i + 1, to);
            hit = true;
        }
    }
    *changed |= hit;
    LineString::new(coords)
}

/// Where a vertex at `from` may go when asked to go to `to`. A vertex off the container's
/// boundary goes anywhere; one on a boundary edge slides along that edge only (leaving it
/// would open a gap or stick out); a corner of the boundary stays (`None`).
fn keep_on_boundary(
    container: &MultiPolygon<f64>,
    from: Coord<f64>,
    to: Coord<f64>,
) -> Option<Coord<f64>> {
    let at = Point::from(from);
    let rings = container
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()));
    let mut edge_through: Option<geo::Line<f64>> = None;
    for ring in rings {
        if ring
            .0
            .iter()
            .any(|c| Euclidean.distance(Point::from(*c), at) <= VERTEX_TOLERANCE_DEG)
        {
            return None;
        }
        if edge_through.is_none() {
            edge_through = ring
                .lines()
                .find(|edge| Euclidean.distance(edge, &at) <= VERTEX_TOLERANCE_DEG);
        }
    }
    let Some(edge) = edge_through else {
        return Some(to);
    };
    match edge.closest_point(&Point::from(to)) {
        Closest::Intersection(p) | Closest::SinglePoint(p) => Some(p.0),
        Closest::Indeterminate => None,
    }
}

fn as_multipolygon(geometry: geo::Geometry<f64>) -> Result<MultiPolygon<f64>, StoreError> {
    match geometry {
        geo::Geometry::MultiPolygon(m) => Ok(m),
        geo::Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        other => Err(StoreError::Geometry(format!(
            "an area's geometry is not polygonal: {other:?}"
        ))),
    }
}

impl Store {
    /// Draws a new child (a grid in a village, a lane in a grid) from a drawn shape.
    pub async fn create_area(
        &self,
        container: i64,
        drawing: &Drawing<'_>,
        name: Option<&str>,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        let mut edit = Edit::begin(self, container, actor).await?;
        let shape = edit.fit(drawing, None).await?;
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        let id = edit.insert_child(&shape, name).await?;
        edit.conclude(&[id], Vec::new(), dry_run).await
    }

    /// Renames and/or reshapes a grid or lane (the new shape fitted like a new one).
    pub async fn update_area(
        &self,
        id: i64,
        expected_version: i32,
        name: Option<&str>,
        drawing: Option<&Drawing<'_>>,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        let container = self.container_of(id).await?;
        let mut edit = Edit::begin(self, container, actor).await?;
        let area = edit.lock(id, expected_version).await?;
        editable(&area)?;
        if let Some(name) = name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 64 {
                return Err(StoreError::invalid(
                    "名称须为 1 到 64 个字",
                    "a name must have 1 to 64 characters",
                ));
            }
            sqlx::query("UPDATE areas SET name = $2 WHERE id = $1")
                .bind(id)
                .bind(name)
                .execute(&mut *edit.tx)
                .await?;
        }
        if let Some(drawing) = drawing {
            let shape = edit.fit(drawing, Some(id)).await?;
            sqlx::query("UPDATE areas SET geom = ST_Multi(ST_GeomFromWKB($2, 4326)) WHERE id = $1")
                .bind(id)
                .bind(&shape)
                .execute(&mut *edit.tx)
                .await?;
        }
        edit.conclude(&[id], Vec::new(), dry_run).await
    }

    /// Deletes a grid or lane; its households fall into the gap report and its staff lose
    /// their assignment there.
    pub async fn delete_area(
        &self,
        id: i64,
        expected_version: i32,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        let container = self.container_of(id).await?;
        let mut edit = Edit::begin(self, container, actor).await?;
        let area = edit.lock(id, expected_version).await?;
        editable(&area)?;
        edit.delete_child(id).await?;
        edit.conclude(&[], vec![id], dry_run).await
    }

    /// Splits a grid in two along a line (EPSG:4326) that crosses it once. `ST_Split` cuts
    /// along the line, so the two halves share exactly the vertices of their common edge.
    pub async fn split_area(
        &self,
        id: i64,
        expected_version: i32,
        line: &geo::LineString<f64>,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        let line_wkb = wkb::encode(&geo::Geometry::LineString(line.clone()))?;
        let container = self.container_of(id).await?;
        let mut edit = Edit::begin(self, container, actor).await?;
        let area = edit.lock(id, expected_version).await?;
        editable(&area)?;
        let pieces: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT ST_AsBinary(d.geom) FROM areas a, \
                 LATERAL ST_Dump(ST_Split(a.geom, ST_GeomFromWKB($2, 4326))) d \
             WHERE a.id = $1 ORDER BY ST_Area(d.geom) DESC",
        )
        .bind(id)
        .bind(&line_wkb)
        .fetch_all(&mut *edit.tx)
        .await?;
        if pieces.len() != 2 {
            return Err(StoreError::invalid(
                format!(
                    "分割线须从{name}的一条边画到另一条边，把它分成两块（现在分成了 {} 块）",
                    pieces.len(),
                    name = area.name
                ),
                format!(
                    "the line must cross {} once, from one edge to another, cutting it in two (it cuts it into {} pieces)",
                    area.name,
                    pieces.len()
                ),
            ));
        }
        sqlx::query("UPDATE areas SET geom = ST_Multi(ST_GeomFromWKB($2, 4326)) WHERE id = $1")
            .bind(id)
            .bind(&pieces[0])
            .execute(&mut *edit.tx)
            .await?;
        let parent_code: String = sqlx::query_scalar("SELECT code FROM areas WHERE id = $1")
            .bind(container)
            .fetch_one(&mut *edit.tx)
            .await?;
        let (code, name) =
            next_child_name(&mut edit.tx, container, &parent_code, &area.kind).await?;
        let new_id: i64 = sqlx::query_scalar(
            "INSERT INTO areas (kind, parent_id, code, name, geom) \
             VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromWKB($5, 4326))) RETURNING id",
        )
        .bind(&area.kind)
        .bind(area.parent_id)
        .bind(&code)
        .bind(&name)
        .bind(&pieces[1])
        .fetch_one(&mut *edit.tx)
        .await?;
        edit.conclude(&[id, new_id], Vec::new(), dry_run).await
    }

    /// Merges grid `absorbed` into its neighbour `kept`; the absorbed grid's staff and role
    /// assignments move to the kept one.
    pub async fn merge_areas(
        &self,
        kept: (i64, i32),
        absorbed: (i64, i32),
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        if kept.0 == absorbed.0 {
            return Err(StoreError::invalid(
                "网格不能与自身合并",
                "a grid cannot be merged with itself",
            ));
        }
        let container = self.container_of(kept.0).await?;
        let mut edit = Edit::begin(self, container, actor).await?;
        // Lock in id order so two merges of the same pair cannot deadlock.
        let (first, second) = if kept.0 < absorbed.0 {
            (kept, absorbed)
        } else {
            (absorbed, kept)
        };
        let a = edit.lock(first.0, first.1).await?;
        let b = edit.lock(second.0, second.1).await?;
        editable(&a)?;
        editable(&b)?;
        if a.kind != b.kind {
            return Err(StoreError::invalid(
                "只能合并同一村内的两个网格",
                "only grids of the same village can be merged",
            ));
        }
        let (adjacent, has_children): (bool, bool) = sqlx::query_as(
            "SELECT ST_DWithin(k.geom, x.geom, 1e-7), EXISTS (SELECT 1 FROM areas c WHERE c.parent_id = x.id) \
             FROM areas k, areas x WHERE k.id = $1 AND x.id = $2",
        )
        .bind(kept.0)
        .bind(absorbed.0)
        .fetch_one(&mut *edit.tx)
        .await?;
        if !adjacent {
            return Err(StoreError::invalid(
                "这两个网格不相邻：只能合并相邻的网格",
                "the two grids do not touch: only neighbours can be merged",
            ));
        }
        if has_children {
            return Err(StoreError::invalid(
                "要并掉的网格内还有街巷：请先合并或移走它们",
                "the grid to merge away still holds lanes: merge or move them first",
            ));
        }
        let union: Vec<u8> = sqlx::query_scalar(
            "SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_MakeValid( \
                 ST_Union(ST_Snap(k.geom, x.geom, 1e-7), x.geom)), 3))) \
             FROM areas k, areas x WHERE k.id = $1 AND x.id = $2",
        )
        .bind(kept.0)
        .bind(absorbed.0)
        .fetch_one(&mut *edit.tx)
        .await?;
        move_staff(&mut edit.tx, absorbed.0, kept.0).await?;
        sqlx::query("DELETE FROM areas WHERE id = $1")
            .bind(absorbed.0)
            .execute(&mut *edit.tx)
            .await?;
        sqlx::query("UPDATE areas SET geom = ST_GeomFromWKB($2, 4326) WHERE id = $1")
            .bind(kept.0)
            .bind(&union)
            .execute(&mut *edit.tx)
            .await?;
        edit.conclude(&[kept.0], vec![absorbed.0], dry_run).await
    }

    /// Moves shared vertices: every child of `container` with a vertex at a move's `from`
    /// (or an edge through it) has it moved to `to`, so edges shared by two grids stay
    /// shared. `versions` are the versions the caller saw; a stale one is a conflict.
    pub async fn move_vertices(
        &self,
        container: i64,
        moves: &[VertexMove],
        versions: &HashMap<i64, i32>,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        if moves.is_empty() {
            return Err(StoreError::invalid("没有要移动的顶点", "no vertex to move"));
        }
        let mut edit = Edit::begin(self, container, actor).await?;
        let boundary: Vec<u8> =
            sqlx::query_scalar("SELECT ST_AsBinary(geom) FROM areas WHERE id = $1")
                .bind(container)
                .fetch_one(&mut *edit.tx)
                .await?;
        let boundary = as_multipolygon(wkb::decode(&boundary)?)?;
        let children: Vec<(i64, i32, Vec<u8>)> = sqlx::query_as(
            "SELECT id, version, ST_AsBinary(geom) FROM areas WHERE parent_id = $1 ORDER BY id FOR UPDATE",
        )
        .bind(container)
        .fetch_all(&mut *edit.tx)
        .await?;
        let mut targets = Vec::with_capacity(moves.len());
        for m in moves {
            let to = keep_on_boundary(&boundary, m.from, m.to).ok_or_else(|| {
                StoreError::invalid(
                    "村界的拐点不能移动：村界由上级确定，网格只能沿村界的边滑动",
                    "a corner of the village boundary cannot move: the boundary is fixed, grids only slide along its edges",
                )
            })?;
            targets.push((m.from, to));
        }
        let mut changed: Vec<(i64, i32, MultiPolygon<f64>)> = Vec::new();
        let mut stale: Option<(i32, i32)> = None;
        for (id, version, shape) in children {
            if let Some(seen) = versions.get(&id) {
                if *seen != version && stale.is_none() {
                    stale = Some((*seen, version));
                }
            }
            let mut shape = as_multipolygon(wkb::decode(&shape)?)?;
            let mut moved = false;
            for (from, to) in &targets {
                moved |= move_vertex(&mut shape, *from, *to);
            }
            if moved {
                changed.push((id, version, shape));
            }
        }
        // What the caller saw has changed and the vertex is not where they saw it: their
        // view is stale, not their aim.
        if let (true, Some((expected, current))) = (changed.is_empty(), stale) {
            return Err(StoreError::Conflict { expected, current });
        }
        if changed.is_empty() {
            return Err(StoreError::invalid(
                "所选位置没有网格的顶点或边：请从网格边界上的点拖动",
                "no grid has a vertex or edge at the chosen point: drag from a point on a grid's boundary",
            ));
        }
        let mut touched = Vec::new();
        for (id, current, shape) in changed {
            let expected = versions.get(&id).copied().unwrap_or(0);
            if expected != current {
                return Err(StoreError::Conflict { expected, current });
            }
            let shape = wkb::encode(&geo::Geometry::MultiPolygon(shape))?;
            sqlx::query("UPDATE areas SET geom = ST_GeomFromWKB($2, 4326) WHERE id = $1")
                .bind(id)
                .bind(&shape)
                .execute(&mut *edit.tx)
                .await?;
            touched.push(id);
        }
        edit.conclude(&touched, Vec::new(), dry_run).await
    }

    /// Every earlier version of an area, newest first, with the current one on top.
    pub async fn area_history(&self, id: i64) -> Result<Vec<AreaVersionView>, StoreError> {
        let versions: Vec<AreaVersionView> = sqlx::query_as(
            "SELECT version, name, ST_AsGeoJSON(geom)::jsonb AS geometry, updated_at AS valid_from, \
                    NULL::timestamptz AS valid_to, NULL::text AS changed_by, 'current' AS operation \
             FROM areas WHERE id = $1 \
             UNION ALL \
             SELECT version, name, ST_AsGeoJSON(geom)::jsonb, valid_from, valid_to, replaced_by, operation \
             FROM area_versions WHERE area_id = $1 \
             ORDER BY 1 DESC",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        if versions.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(versions)
    }

    /// Makes an earlier version of an area current again, as a new version. Refused when the
    /// old shape no longer fits (outside the village, over a sibling).
    pub async fn restore_area(
        &self,
        id: i64,
        expected_version: i32,
        to_version: i32,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        let container = self.container_of(id).await?;
        let mut edit = Edit::begin(self, container, actor).await?;
        let area = edit.lock(id, expected_version).await?;
        editable(&area)?;
        let old: Option<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT name, ST_AsBinary(geom) FROM area_versions WHERE area_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(to_version)
        .fetch_optional(&mut *edit.tx)
        .await?;
        let (name, geom) = old.ok_or_else(|| {
            StoreError::invalid(
                format!("{}没有第 {to_version} 版", area.name),
                format!("{} has no version {to_version}", area.name),
            )
        })?;
        sqlx::query("UPDATE areas SET name = $2, geom = ST_GeomFromWKB($3, 4326) WHERE id = $1")
            .bind(id)
            .bind(&name)
            .bind(&geom)
            .execute(&mut *edit.tx)
            .await?;
        edit.conclude(&[id], Vec::new(), dry_run).await
    }

    /// The area a grid or lane lies in (its parent); 404 for an unknown one.
    pub async fn container_of(&self, id: i64) -> Result<i64, StoreError> {
        let parent: Option<Option<i64>> =
            sqlx::query_scalar("SELECT parent_id FROM areas WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        parent.ok_or(StoreError::NotFound)?.ok_or_else(|| {
            StoreError::invalid("乡镇不能在这里编辑", "a township is not edited here")
        })
    }
}

fn editable(area: &Locked) -> Result<(), StoreError> {
    if matches!(area.kind.as_str(), "grid" | "lane") {
        Ok(())
    } else {
        Err(StoreError::invalid(
            format!("这里只编辑网格和街巷，{}不在此列", area.name),
            format!(
                "only grids and lanes are edited here, not {} ({})",
                area.name, area.kind
            ),
        ))
    }
}

/// Staff and role assignments of an area that disappears into `kept`: a duplicate is
/// dropped, and a second leader becomes a worker.
async fn move_staff(
    tx: &mut Transaction<'_, Postgres>,
    absorbed: i64,
    kept: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO role_assignments (user_id, role, area_id, grants) \
         SELECT user_id, role, $1, grants FROM role_assignments WHERE area_id = $2 \
         ON CONFLICT (user_id, role, area_id) DO NOTHING",
    )
    .bind(kept)
    .bind(absorbed)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO area_staff (area_id, user_id, duty) \
         SELECT $1, s.user_id, CASE WHEN s.duty = 'leader' AND EXISTS \
                    (SELECT 1 FROM area_staff k WHERE k.area_id = $1 AND k.duty = 'leader') \
                THEN 'worker' ELSE s.duty END \
         FROM area_staff s WHERE s.area_id = $2 \
         ON CONFLICT (area_id, user_id) DO NOTHING",
    )
    .bind(kept)
    .bind(absorbed)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The next free number among a container's children: code `<container>-NN`, name `网格NN`
/// (or `街巷NN` for lanes).
async fn next_child_name(
    tx: &mut Transaction<'_, Postgres>,
    container: i64,
    container_code: &str,
    kind: &str,
) -> Result<(String, String), StoreError> {
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM areas WHERE parent_id = $1")
        .bind(container)
        .fetch_all(&mut **tx)
        .await?;
    let highest = codes
        .iter()
        .filter_map(|c| c.rsplit_once('-').and_then(|(_, n)| n.parse::<u32>().ok()))
        .max()
        .unwrap_or(0);
    let n = highest + 1;
    let label = if kind == "lane" { "街巷" } else { "网格" };
    Ok((format!("{container_code}-{n:02}"), format!("{label}{n:02}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, polygon};

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![
            polygon![(x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)],
        ])
    }

    #[test]
    fn a_shared_vertex_moves_in_both_grids() {
        let mut left = square(0.0, 0.0, 0.001, 0.001);
        let mut right = square(0.001, 0.0, 0.002, 0.001);
        let from = coord! { x: 0.001, y: 0.001 };
        let to = coord! { x: 0.0012, y: 0.0011 };
        assert!(move_vertex(&mut left, from, to));
        assert!(move_vertex(&mut right, from, to));
        assert!(left.0[0].exterior().0.contains(&to));
        assert!(right.0[0].exterior().0.contains(&to));
        assert!(!left.0[0].exterior().0.contains(&from));
    }

    #[test]
    fn a_vertex_on_an_edge_is_inserted_before_it_moves() {
        let mut big = square(0.0, 0.0, 0.002, 0.001);
        let from = coord! { x: 0.001, y: 0.001 };
        let to = coord! { x: 0.001, y: 0.0012 };
        assert!(move_vertex(&mut big, from, to));
        assert_eq!(big.0[0].exterior().0.len(), 6);
        assert!(big.0[0].exterior().0.contains(&to));
    }

    #[test]
    fn a_far_point_moves_nothing() {
        let mut s = square(0.0, 0.0, 0.001, 0.001);
        let before = s.clone();
        assert!(!move_vertex(
            &mut s,
            coord! { x: 0.0005, y: 0.0005 },
            coord! { x: 0.0, y: 0.0 }
        ));
        assert_eq!(s, before);
    }

    #[test]
    fn a_boundary_vertex_slides_along_its_edge_and_corners_stay() {
        let village = square(0.0, 0.0, 0.01, 0.01);
        let from = coord! { x: 0.005, y: 0.0 };
        let to = keep_on_boundary(&village, from, coord! { x: 0.006, y: 0.0004 }).unwrap();
        assert!(
            (to.y - 0.0).abs() < 1e-12 && (to.x - 0.006).abs() < 1e-12,
            "{to:?}"
        );
        // Past the corner it stops at the corner, not on the next edge.
        let to = keep_on_boundary(&village, from, coord! { x: 0.02, y: 0.003 }).unwrap();
        assert!((to.x - 0.01).abs() < 1e-12 && to.y.abs() < 1e-12, "{to:?}");
        assert_eq!(
            keep_on_boundary(
                &village,
                coord! { x: 0.0, y: 0.0 },
                coord! { x: 0.001, y: 0.001 }
            ),
            None
        );
        let inner = coord! { x: 0.005, y: 0.005 };
        let free = coord! { x: 0.0051, y: 0.0052 };
        assert_eq!(keep_on_boundary(&village, inner, free), Some(free));
    }

    #[test]
    fn moves_are_tallied_by_grid_pair() {
        let names: HashMap<i64, String> =
            [(1, "网格01".to_string()), (2, "网格02".to_string())].into();
        let before = vec![
            (10, Some(1), true),
            (11, Some(1), false),
            (12, Some(2), false),
            (13, None, false),
        ];
        let after = vec![(10, Some(2)), (11, Some(2)), (12, Some(2)), (13, Some(1))];
        let moves = tally_moves(&before, &after, &names);
        assert_eq!(moves.len(), 2);
        assert_eq!(moves[0].households, 2);
        assert_eq!(moves[0].key_population, 1);
        assert_eq!(moves[0].from_name.as_deref(), Some("网格01"));
        assert_eq!(moves[0].to_name.as_deref(), Some("网格02"));
        assert_eq!(moves[1].from_id, None);
        assert_eq!(moves[1].to_id, Some(1));
    }
}
