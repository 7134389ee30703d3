//! Grid proposals: reading what the partition algorithm needs (the area to divide, its
//! households, its roads, rivers and hamlets), running it, and accepting a (possibly
//! adjusted) proposal as one versioned change of the village's grids.

use std::collections::HashMap;

use cuntu_core::gridding::GridRule;
use cuntu_core::proposal::{propose, Barrier, Proposal, ProposalInput};
use geo::{MultiPolygon, Point};

use crate::grid_edits::{Edit, EditReport};
use crate::{wkb, Store, StoreError};

/// How much cheaper a cut along each kind of line is than one through open ground. Lines are
/// taken whole where their box meets the area's (clipping them to a village boundary of
/// thousands of vertices costs a second and changes no crossing).
const BARRIERS_SQL: &str = "\
    SELECT ST_AsBinary(r.geom), \
           CASE WHEN r.class IN ('motorway', 'trunk', 'primary', 'secondary') THEN 0.05::float8 ELSE 0.15::float8 END \
    FROM roads r, (SELECT ST_GeomFromWKB($1, 4326) AS g) a \
    WHERE r.class IN ('motorway', 'trunk', 'primary', 'secondary', 'tertiary', \
                      'motorway_link', 'trunk_link', 'primary_link', 'secondary_link', 'tertiary_link') \
      AND r.geom && a.g \
    UNION ALL \
    SELECT ST_AsBinary(w.geom), \
           CASE WHEN w.kind IN ('river', 'canal') THEN 0.05::float8 ELSE 0.3::float8 END \
    FROM waterways w, (SELECT ST_GeomFromWKB($1, 4326) AS g) a \
    WHERE w.kind IN ('river', 'canal', 'stream') AND w.geom && a.g \
    UNION ALL \
    SELECT ST_AsBinary((ST_Dump(ST_Boundary(h.geom))).geom), 0.3::float8 \
    FROM areas h WHERE h.parent_id = $2 AND h.kind = 'hamlet'";

/// What to propose: the rule, a preferred size, the seed, and whether the current grids stay.
#[derive(Debug, Clone, Copy)]
pub struct ProposalRequest {
    pub rule: GridRule,
    pub target: Option<usize>,
    pub seed: u64,
    pub keep_existing: bool,
}

/// A proposal with the ids of the households of each grid and their key-population counts.
pub struct VillageProposal {
    pub proposal: Proposal,
    pub household_ids: Vec<i64>,
    pub tagged: Vec<bool>,
    pub elapsed: std::time::Duration,
}

fn multipolygon(g: geo::Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        geo::Geometry::MultiPolygon(m) => Some(m),
        geo::Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        geo::Geometry::GeometryCollection(c) => Some(MultiPolygon(
            c.0.into_iter()
                .filter_map(multipolygon)
                .flat_map(|m| m.0)
                .collect(),
        )),
        _ => None,
    }
}

/// What the partition algorithm reads for a village, in longitude/latitude.
pub struct ProposalData {
    pub region: MultiPolygon<f64>,
    /// (id, location, has a key-population tag), in id order.
    pub households: Vec<(i64, Point<f64>, bool)>,
    pub barriers: Vec<Barrier>,
}

impl Store {
    /// The area to divide (the village, or the part its grids leave uncovered), its
    /// households, and the lines grids should end at.
    pub async fn proposal_data(
        &self,
        village: i64,
        keep_existing: bool,
    ) -> Result<ProposalData, StoreError> {
        let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM areas WHERE id = $1")
            .bind(village)
            .fetch_optional(self.pool())
            .await?;
        if !matches!(
            kind.ok_or(StoreError::NotFound)?.as_str(),
            "village" | "hamlet"
        ) {
            return Err(StoreError::invalid(
                "只能为村或自然村划分网格",
                "grids are proposed for villages and hamlets",
            ));
        }
        let region: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT ST_AsBinary(ST_CollectionExtract(CASE WHEN $2 THEN \
                 ST_Difference(v.geom, coalesce((SELECT ST_Union(g.geom) FROM areas g WHERE g.parent_id = v.id), \
                                                'GEOMETRYCOLLECTION EMPTY'::geometry)) \
                 ELSE v.geom END, 3)) \
             FROM areas v WHERE v.id = $1",
        )
        .bind(village)
        .bind(keep_existing)
        .fetch_one(self.pool())
        .await?;
        let region = region
            .map(|r| wkb::decode(&r))
            .transpose()?
            .and_then(multipolygon)
            .filter(|m| !m.0.is_empty())
            .ok_or_else(|| {
                StoreError::invalid(
                    "现有网格已覆盖全村，没有可划分的区域",
                    "the current grids cover the whole village: nothing is left to propose",
                )
            })?;
        let region_wkb = wkb::encode(&geo::Geometry::MultiPolygon(region.clone()))?;
        let rows: Vec<(i64, f64, f64, bool)> = sqlx::query_as(
            "SELECT h.id, ST_X(h.geom), ST_Y(h.geom), h.tags <> '{}' FROM households h \
             WHERE ST_Intersects(ST_GeomFromWKB($1, 4326), h.geom) \
               AND ($2 = false OR h.grid_id IS NULL) ORDER BY h.id",
        )
        .bind(&region_wkb)
        .bind(keep_existing)
        .fetch_all(self.pool())
        .await?;
        let barrier_rows: Vec<(Vec<u8>, f64)> = sqlx::query_as(BARRIERS_SQL)
            .bind(&region_wkb)
            .bind(village)
            .fetch_all(self.pool())
            .await?;
        let mut barriers = Vec::with_capacity(barrier_rows.len());
        for (line, cost_factor) in barrier_rows {
            if let geo::Geometry::LineString(line) = wkb::decode(&line)? {
                barriers.push(Barrier { line, cost_factor });
            }
        }
        Ok(ProposalData {
            region,
            households: rows
                .into_iter()
                .map(|(id, x, y, tagged)| (id, Point::new(x, y), tagged))
                .collect(),
            barriers,
        })
    }

    /// Proposes grids for a village (or for the part its current grids leave uncovered).
    pub async fn propose_grids(
        &self,
        village: i64,
        request: ProposalRequest,
    ) -> Result<VillageProposal, StoreError> {
        let data = self.proposal_data(village, request.keep_existing).await?;
        let household_ids = data.households.iter().map(|h| h.0).collect();
        let tagged = data.households.iter().map(|h| h.2).collect();
        let started = std::time::Instant::now();
        let proposal = tokio::task::spawn_blocking(move || {
            let households: Vec<Point<f64>> = data.households.iter().map(|h| h.1).collect();
            propose(&ProposalInput {
                region: &data.region,
                households: &households,
                barriers: &data.barriers,
                rule: request.rule,
                target: request.target,
                seed: request.seed,
            })
        })
        .await
        .map_err(|e| StoreError::Geometry(format!("the proposal failed: {e}")))?;
        Ok(VillageProposal {
            proposal,
            household_ids,
            tagged,
            elapsed: started.elapsed(),
        })
    }

    /// Makes a proposal the village's grids in one transaction. Each current grid that is
    /// replaced goes to the drafted grid it overlaps most (so its history, name and staff
    /// continue there); drafts left over become new grids, grids left over are deleted.
    /// With `keep_existing`, the current grids stay and the drafts fill what they leave.
    pub async fn accept_proposal(
        &self,
        village: i64,
        drafts: &[(Option<String>, MultiPolygon<f64>)],
        versions: &HashMap<i64, i32>,
        keep_existing: bool,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        if drafts.is_empty() {
            return Err(StoreError::invalid(
                "方案中没有网格",
                "the proposal holds no grid",
            ));
        }
        let mut edit = Edit::begin(self, village, actor).await?;
        let current: Vec<(i64, i32)> = sqlx::query_as(
            "SELECT id, version FROM areas WHERE parent_id = $1 ORDER BY id FOR UPDATE",
        )
        .bind(village)
        .fetch_all(&mut *edit.tx)
        .await?;
        for (id, version) in &current {
            let seen = versions.get(id).copied().unwrap_or(0);
            if seen != *version {
                return Err(StoreError::Conflict {
                    expected: seen,
                    current: *version,
                });
            }
        }
        // The drafts, fitted: snapped onto the village's boundary and the drafts before them
        // (the proposal was clipped grid by grid, so shared edges differ by float noise),
        // clipped to the village, and off the kept grids.
        let mut shapes = Vec::with_capacity(drafts.len());
        for (_, shape) in drafts {
            let drawn = wkb::encode(&geo::Geometry::MultiPolygon(shape.clone()))?;
            let fitted: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_MakeValid( \
                     CASE WHEN $3 THEN ST_Difference(ST_Intersection(d.g, v.geom), \
                              coalesce((SELECT ST_Union(g.geom) FROM areas g WHERE g.parent_id = v.id), \
                                       'GEOMETRYCOLLECTION EMPTY'::geometry)) \
                          ELSE ST_Intersection(d.g, v.geom) END), 3))) \
                 FROM areas v, LATERAL (SELECT ST_MakeValid(ST_Snap(ST_GeomFromWKB($1, 4326), \
                     ST_Collect(v.geom, (SELECT ST_Collect(ST_GeomFromWKB(x, 4326)) FROM unnest($5::bytea[]) x)), \
                     $4)) AS g) d \
                 WHERE v.id = $2",
            )
            .bind(&drawn)
            .bind(village)
            .bind(keep_existing)
            .bind(crate::grid_edits::VERTEX_TOLERANCE_DEG)
            .bind(&shapes)
            .fetch_one(&mut *edit.tx)
            .await?;
            let fitted = fitted.ok_or_else(|| {
                StoreError::invalid(
                    "方案中有网格落在村外或已有网格上，没有剩余面积",
                    "a proposed grid lies outside the village or over kept grids, with nothing left",
                )
            })?;
            shapes.push(fitted);
        }
        let replaced: Vec<i64> = if keep_existing {
            Vec::new()
        } else {
            current.iter().map(|c| c.0).collect()
        };
        // Pair replaced grids with drafts by overlap, largest first.
        let mut overlaps: Vec<(f64, i64, usize)> = Vec::new();
        for (d, shape) in shapes.iter().enumerate() {
            let rows: Vec<(i64, f64)> = sqlx::query_as(
                "SELECT g.id, ST_Area(ST_Intersection(g.geom, ST_GeomFromWKB($1, 4326))) FROM areas g \
                 WHERE g.id = ANY($2) AND g.geom && ST_GeomFromWKB($1, 4326)",
            )
            .bind(shape)
            .bind(&replaced)
            .fetch_all(&mut *edit.tx)
            .await?;
            overlaps.extend(
                rows.into_iter()
                    .filter(|r| r.1 > 0.0)
                    .map(|(id, a)| (a, id, d)),
            );
        }
        overlaps.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut grid_for_draft: HashMap<usize, i64> = HashMap::new();
        let mut taken: Vec<i64> = Vec::new();
        for (_, id, d) in overlaps {
            if !grid_for_draft.contains_key(&d) && !taken.contains(&id) {
                grid_for_draft.insert(d, id);
                taken.push(id);
            }
        }
        let mut removed = Vec::new();
        for id in &replaced {
            if !taken.contains(id) {
                edit.delete_child(*id).await?;
                removed.push(*id);
            }
        }
        let mut touched = Vec::new();
        for (d, shape) in shapes.iter().enumerate() {
            let name = drafts[d]
                .0
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty());
            let id = match grid_for_draft.get(&d) {
                Some(&id) => {
                    sqlx::query("UPDATE areas SET geom = ST_GeomFromWKB($2, 4326), name = coalesce($3, name) WHERE id = $1")
                        .bind(id)
                        .bind(shape)
                        .bind(name)
                        .execute(&mut *edit.tx)
                        .await?;
                    id
                }
                None => edit.insert_child(shape, name).await?,
            };
            touched.push(id);
        }
        touched.sort_unstable();
        edit.conclude(&touched, removed, dry_run).await
    }
}

/// One proposed grid with its households' ids and how many of them are key-population.
pub struct ProposedFeature<'a> {
    pub grid: &'a cuntu_core::proposal::ProposedGrid,
    pub household_ids: Vec<i64>,
    pub key_population: usize,
}

impl VillageProposal {
    pub fn features(&self) -> Vec<ProposedFeature<'_>> {
        self.proposal
            .grids
            .iter()
            .map(|grid| ProposedFeature {
                grid,
                household_ids: grid
                    .members
                    .iter()
                    .map(|&m| self.household_ids[m])
                    .collect(),
                key_population: grid.members.iter().filter(|&&m| self.tagged[m]).count(),
            })
            .collect()
    }
}
