//! Importing areas (grids, lanes, hamlets, villages) from a file: every polygon goes the way
//! a drawn one goes, so an import obeys the same rules as a cadre drawing on the map.
//!
//! - Each polygon's container is the area of the kind above it that it overlaps most (a
//!   village or hamlet for grids, a grid for lanes, a village for hamlets, the township for
//!   villages); a polygon in no container is a problem of its row.
//! - Grids and lanes go through the grid editor's [`Edit`]: repaired, snapped, clipped to the
//!   container, refused when they overlap a sibling (one of the file's own rows or an
//!   existing area not in the file), and the container's households re-filed, with the
//!   editor's report of who moved where and the gaps.
//! - A row whose code names an existing area of the kind in the same container reshapes
//!   and renames it (its id stays, so role assignments stay); a row without a code gets the
//!   next free one.
//! - Rows are taken in file order; a row refused because it reaches into a sibling that a
//!   later row shrinks is tried again once that row is stored (with `--trim` there is no
//!   refusal: it is trimmed off the sibling as it stands when the row is read).
//! - All or nothing: one transaction for the whole file, rolled back on any problem or for a
//!   dry run.

use std::collections::BTreeMap;

use cuntu_core::area::AreaKind;
use cuntu_core::import::{AreaRow, Problem};
use serde::Serialize;
use sqlx::{Postgres, Transaction};

use crate::grid_edits::{Drawing, Edit, EditReport};
use crate::{wkb, Store, StoreError};

/// What an area import may do and for whom.
pub struct AreaImport<'a> {
    pub kind: AreaKind,
    pub actor: &'a str,
    /// Areas the importer looks after: a polygon whose container lies outside all of them is
    /// skipped with that reason. `None`: no limit (the CLI).
    pub scope: Option<&'a [i64]>,
    /// Cut away the parts over existing siblings instead of refusing (grids and lanes).
    pub trim: bool,
    pub dry_run: bool,
}

/// One area the import created or reshaped.
#[derive(Debug, Clone, Serialize)]
pub struct ImportedArea {
    pub row: usize,
    pub id: i64,
    pub code: String,
    pub name: String,
    /// false: created; true: an existing area of that code reshaped.
    pub reshaped: bool,
}

/// One container's part of the import.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerImport {
    pub container_id: i64,
    pub container_name: String,
    pub areas: Vec<ImportedArea>,
    /// The grid editor's report (grids and lanes): moves, gaps, notes.
    pub edit: Option<EditReport>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AreaImportReport {
    pub containers: Vec<ContainerImport>,
    pub created: usize,
    pub reshaped: usize,
    pub moved_households: i64,
    /// Rows outside the importer's scope: not imported.
    pub skipped: Vec<Problem>,
    /// Any problem: nothing was written.
    pub problems: Vec<Problem>,
    pub dry_run: bool,
    /// Whether the database was changed (not a dry run and no problems).
    pub committed: bool,
}

fn container_kinds(kind: AreaKind) -> &'static [&'static str] {
    match kind {
        AreaKind::Township => &[],
        AreaKind::Village => &["township"],
        AreaKind::Hamlet => &["village"],
        AreaKind::Grid => &["village", "hamlet"],
        AreaKind::Lane => &["grid"],
    }
}

fn row_problem(row: usize, field: Option<&str>, zh: String, en: String) -> Problem {
    Problem {
        row,
        field: field.map(str::to_string),
        zh,
        en,
    }
}

fn store_problem(row: usize, e: StoreError) -> Result<Problem, StoreError> {
    match e {
        StoreError::Invalid { zh, en } => Ok(row_problem(row, Some("geometry"), zh, en)),
        // The areas table's own rules (validity, containment, siblings, unique codes) raise
        // their message in Chinese with the English in the detail.
        StoreError::Rule {
            message, detail, ..
        } => Ok(row_problem(
            row,
            Some("geometry"),
            message.clone(),
            detail.unwrap_or(message),
        )),
        StoreError::Conflict { .. } => Ok(row_problem(
            row,
            None,
            "该区域正被他人修改，请稍后重试".into(),
            "the area is being edited by someone else: try again".into(),
        )),
        other => Err(other),
    }
}

impl Store {
    /// Imports polygons as areas of `opts.kind`, all or nothing (see the module).
    pub async fn import_areas(
        &self,
        rows: &[(usize, AreaRow)],
        opts: &AreaImport<'_>,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<AreaImportReport, StoreError> {
        let mut report = AreaImportReport {
            dry_run: opts.dry_run,
            ..Default::default()
        };
        let kinds = container_kinds(opts.kind);
        if kinds.is_empty() {
            report.problems.push(Problem::file(
                "镇不能导入：请导入村、自然村、网格或街巷".into(),
                "townships are not imported: import villages, hamlets, grids or lanes".into(),
            ));
            return Ok(report);
        }
        let mut tx = Edit::begin_tx(self, opts.actor).await?;
        // Each row's container: the area of a containing kind it overlaps most (a hamlet
        // before its village when both hold it alike), within the scope when there is one.
        let mut by_container: BTreeMap<i64, (String, Vec<usize>)> = BTreeMap::new();
        for (i, (row, area)) in rows.iter().enumerate() {
            let shape = wkb::encode(&geo::Geometry::MultiPolygon(area.geometry.clone()))?;
            let found: Option<(i64, String, bool)> = sqlx::query_as(
                "WITH g AS (SELECT ST_MakeValid(ST_GeomFromWKB($1, 4326)) AS g) \
                 SELECT a.id, a.name, \
                        ($3::bigint[] IS NULL OR EXISTS ( \
                           WITH RECURSIVE up AS (SELECT a.id, a.parent_id \
                                 UNION ALL SELECT p.id, p.parent_id FROM areas p JOIN up ON p.id = up.parent_id) \
                           SELECT 1 FROM up WHERE up.id = ANY($3))) \
                 FROM areas a, g WHERE a.kind = ANY($2) AND a.geom && g.g AND ST_Intersects(a.geom, g.g) \
                 ORDER BY round(planar_area_m2(ST_Intersection(a.geom, g.g))::numeric) DESC, \
                          area_kind_rank(a.kind) DESC, a.id LIMIT 1",
            )
            .bind(&shape)
            .bind(kinds)
            .bind(opts.scope)
            .fetch_optional(&mut *tx)
            .await?;
            match found {
                None => report.problems.push(row_problem(
                    *row,
                    Some("geometry"),
                    format!(
                        "不在任何{}内：{}须画在{}之内",
                        kinds_zh(kinds),
                        opts.kind.label_zh(),
                        kinds_zh(kinds)
                    ),
                    format!(
                        "lies in no {}: a {} must lie inside one",
                        kinds.join(" or "),
                        opts.kind.as_str()
                    ),
                )),
                Some((_, name, false)) => report.skipped.push(row_problem(
                    *row,
                    None,
                    format!("所在的{name}不在您的管辖范围内，已跳过"),
                    format!("its container {name} is outside your area: skipped"),
                )),
                Some((id, name, true)) => {
                    by_container.entry(id).or_insert((name, vec![])).1.push(i)
                }
            }
            progress(i / 2);
        }
        let grid_like = matches!(opts.kind, AreaKind::Grid | AreaKind::Lane);
        let mut tx = Some(tx);
        let mut done = 0usize;
        for (container, (container_name, indices)) in by_container {
            let mut edit = match (grid_like, tx.take()) {
                (true, Some(t)) => Some(Edit::start(t, container).await?),
                (false, Some(t)) => {
                    tx = Some(t);
                    None
                }
                (_, None) => return Err(StoreError::Geometry("import transaction lost".into())),
            };
            let mut areas: Vec<ImportedArea> = Vec::new();
            // A row refused because it reaches into a sibling that a later row of the file
            // shrinks gets another go once that row is stored: passes repeat while one of
            // them stores a row, and what still fails is the row's problem.
            let mut pending = indices;
            loop {
                let tried = pending.len();
                let mut refused: Vec<(usize, StoreError)> = Vec::new();
                for i in pending {
                    let (row, area) = &rows[i];
                    let row = *row;
                    done += 1;
                    progress((rows.len() + done.min(rows.len())) / 2);
                    let t = match (&mut edit, &mut tx) {
                        (Some(e), _) => &mut e.tx,
                        (None, Some(t)) => t,
                        (None, None) => {
                            return Err(StoreError::Geometry("import transaction lost".into()))
                        }
                    };
                    // A row's failure in the database (a trigger's refusal) undoes that row
                    // only, so every row's problem is reported; any problem rolls back the
                    // whole file.
                    sqlx::query("SAVEPOINT area_row").execute(&mut **t).await?;
                    let outcome = match &mut edit {
                        Some(e) => import_child(e, container, area, opts).await,
                        None => match &mut tx {
                            Some(t) => import_top(t, container, area, opts.kind).await,
                            None => Err(StoreError::Geometry("import transaction lost".into())),
                        },
                    };
                    let t = match (&mut edit, &mut tx) {
                        (Some(e), _) => &mut e.tx,
                        (None, Some(t)) => t,
                        (None, None) => {
                            return Err(StoreError::Geometry("import transaction lost".into()))
                        }
                    };
                    match outcome {
                        Ok(a) => {
                            sqlx::query("RELEASE SAVEPOINT area_row")
                                .execute(&mut **t)
                                .await?;
                            areas.push(ImportedArea { row, ..a });
                        }
                        Err(e) => {
                            sqlx::query("ROLLBACK TO SAVEPOINT area_row")
                                .execute(&mut **t)
                                .await?;
                            refused.push((i, e));
                        }
                    }
                }
                if refused.is_empty() || refused.len() == tried {
                    for (i, e) in refused {
                        report.problems.push(store_problem(rows[i].0, e)?);
                    }
                    break;
                }
                pending = refused.into_iter().map(|(i, _)| i).collect();
            }
            areas.sort_by_key(|a| a.row);
            report.created += areas.iter().filter(|a| !a.reshaped).count();
            report.reshaped += areas.iter().filter(|a| a.reshaped).count();
            let edit_report = match edit {
                Some(e) => {
                    let touched: Vec<i64> = areas.iter().map(|a| a.id).collect();
                    match e.finish(&touched, Vec::new(), opts.dry_run).await {
                        Ok((r, t)) => {
                            tx = Some(t);
                            report.moved_households += r.moved_households;
                            Some(r)
                        }
                        Err(e) => {
                            // The transaction is gone (rolled back): nothing was written.
                            let mut p = store_problem(0, e)?;
                            p.zh = format!("{container_name}：{}", p.zh);
                            p.en = format!("{container_name}: {}", p.en);
                            report.problems.push(p);
                            return Ok(report);
                        }
                    }
                }
                None => None,
            };
            report.containers.push(ContainerImport {
                container_id: container,
                container_name,
                areas,
                edit: edit_report,
            });
        }
        progress(rows.len());
        if let Some(t) = tx {
            if report.problems.is_empty() && !opts.dry_run {
                t.commit().await?;
                report.committed = true;
            } else {
                t.rollback().await?;
            }
        }
        report.problems.sort_by_key(|p| p.row);
        Ok(report)
    }
}

/// The existing area a row's code names, if any: (id, version, kind, parent, name).
type Existing = (i64, i32, String, Option<i64>, String);

async fn existing_by_code(
    tx: &mut Transaction<'static, Postgres>,
    code: Option<&str>,
) -> Result<Option<Existing>, StoreError> {
    let Some(code) = code else { return Ok(None) };
    Ok(sqlx::query_as(
        "SELECT id, version, kind, parent_id, name FROM areas WHERE code = $1 FOR UPDATE",
    )
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?)
}

/// A code already used by an area that is not this row's to reshape.
fn code_taken(code: &str, name: &str) -> StoreError {
    StoreError::invalid(
        format!("编码“{code}”已属于{name}（另一类区域或另一个上级区域）：请改用其他编码或留空"),
        format!("the code '{code}' already belongs to {name} (another kind or container): use another code or leave it empty"),
    )
}

/// A grid (or lane) row through the grid editor: reshaped when its code names one of the
/// container's children, else drawn as a new one.
async fn import_child(
    edit: &mut Edit,
    container: i64,
    area: &AreaRow,
    opts: &AreaImport<'_>,
) -> Result<ImportedArea, StoreError> {
    let geometry = geo::Geometry::MultiPolygon(area.geometry.clone());
    let drawing = Drawing {
        geometry: &geometry,
        trim: opts.trim,
    };
    let name = area.name.as_deref();
    let (id, reshaped) = match existing_by_code(&mut edit.tx, area.code.as_deref()).await? {
        Some((id, version, kind, parent, existing_name)) => {
            if kind != opts.kind.as_str() || parent != Some(container) {
                return Err(code_taken(
                    area.code.as_deref().unwrap_or(""),
                    &existing_name,
                ));
            }
            edit.lock(id, version).await?;
            let shape = edit.fit(&drawing, Some(id)).await?;
            sqlx::query(
                "UPDATE areas SET geom = ST_Multi(ST_GeomFromWKB($2, 4326)),                  name = coalesce($3, name) WHERE id = $1",
            )
            .bind(id)
            .bind(&shape)
            .bind(name)
            .execute(&mut *edit.tx)
            .await?;
            (id, true)
        }
        None => {
            let shape = edit.fit(&drawing, None).await?;
            let id = edit
                .insert_child_coded(&shape, area.code.as_deref(), name)
                .await?;
            (id, false)
        }
    };
    imported(&mut edit.tx, id, reshaped).await
}

/// A village or hamlet row: stored as given (the areas table's triggers check validity,
/// containment and the sibling rule), reshaped and renamed when its code exists.
async fn import_top(
    tx: &mut Transaction<'static, Postgres>,
    container: i64,
    area: &AreaRow,
    kind: AreaKind,
) -> Result<ImportedArea, StoreError> {
    let shape = wkb::encode(&geo::Geometry::MultiPolygon(area.geometry.clone()))?;
    let name = area.name.as_deref();
    let (id, reshaped) = match existing_by_code(tx, area.code.as_deref()).await? {
        Some((id, _, existing_kind, parent, existing_name)) => {
            if existing_kind != kind.as_str() || parent != Some(container) {
                return Err(code_taken(
                    area.code.as_deref().unwrap_or(""),
                    &existing_name,
                ));
            }
            sqlx::query(
                "UPDATE areas SET geom = ST_Multi(ST_GeomFromWKB($2, 4326)),                  name = coalesce($3, name) WHERE id = $1",
            )
            .bind(id)
            .bind(&shape)
            .bind(name)
            .execute(&mut **tx)
            .await?;
            (id, true)
        }
        None => {
            let (Some(code), Some(name)) = (area.code.as_deref(), name) else {
                return Err(StoreError::invalid(
                    format!("新的{}须有编码（区划代码）和名称", kind.label_zh()),
                    format!("a new {} needs a code (区划代码) and a name", kind.as_str()),
                ));
            };
            let id = sqlx::query_scalar(
                "INSERT INTO areas (kind, parent_id, code, name, geom)                  VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromWKB($5, 4326))) RETURNING id",
            )
            .bind(kind.as_str())
            .bind(container)
            .bind(code)
            .bind(name)
            .bind(&shape)
            .fetch_one(&mut **tx)
            .await?;
            (id, false)
        }
    };
    // The sibling rule is deferred; a village is checked at once so its row is named.
    sqlx::query("SET CONSTRAINTS areas_siblings_disjoint IMMEDIATE")
        .execute(&mut **tx)
        .await?;
    sqlx::query("SET CONSTRAINTS areas_siblings_disjoint DEFERRED")
        .execute(&mut **tx)
        .await?;
    imported(tx, id, reshaped).await
}

/// The row's outcome as the report names it: by the code and name now stored.
async fn imported(
    conn: &mut sqlx::PgConnection,
    id: i64,
    reshaped: bool,
) -> Result<ImportedArea, StoreError> {
    let (code, name): (String, String) =
        sqlx::query_as("SELECT code, name FROM areas WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await?;
    Ok(ImportedArea {
        row: 0,
        id,
        code,
        name,
        reshaped,
    })
}

fn kinds_zh(kinds: &[&str]) -> String {
    kinds
        .iter()
        .filter_map(|k| k.parse::<AreaKind>().ok())
        .map(|k| k.label_zh())
        .collect::<Vec<_>>()
        .join("或")
}
