//! `cuntu import FILE --layer ...` and `cuntu export --layer ...`: files in and out through
//! GDAL, all or nothing, with the report a cadre reads before anything is written.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use cuntu_core::area::AreaKind;
use cuntu_core::auth;
use cuntu_core::import::{self as core_import, ImportLayer, InputRow, Mapping, SourceCrs};
use cuntu_gdal::export::{ExportFormat, OutTable};
use cuntu_store::area_import::AreaImport;
use cuntu_store::audit::AuditEntry;
use cuntu_store::Store;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args)]
pub struct ImportArgs {
    /// The file: GeoJSON, GeoPackage, Shapefile (.shp or zipped), KML, GPX, CSV (lon/lat or WKT).
    file: PathBuf,
    /// households | facilities | hazards | roads | areas (with --kind)
    #[arg(long)]
    layer: String,
    /// For areas (required): grid | village | hamlet | lane. Each polygon goes into the area
    /// of the kind above it that it overlaps most; a code that exists there is reshaped.
    #[arg(long)]
    kind: Option<String>,
    /// For grids and lanes: cut away the parts over existing siblings instead of refusing.
    #[arg(long)]
    trim: bool,
    /// The source CRS when the file has none or a wrong one: EPSG:4490, EPSG:4547, gcj02, bd09.
    #[arg(long)]
    crs: Option<String>,
    /// A source field whose value names each row: a re-import updates instead of adding.
    #[arg(long)]
    key: Option<String>,
    /// A JSON mapping (stored field → source field): used when it exists, else the proposal
    /// is saved there.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// A roster without coordinates updates the households of this user's area (township
    /// admin or village cadre), matched by house number, else address.
    #[arg(long)]
    user: Option<String>,
    /// Show fields, mapping, the first rows and every problem; write nothing.
    #[arg(long)]
    dry_run: bool,
}

impl ImportArgs {
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Whether even a dry run needs the database.
    pub fn needs_database(&self) -> bool {
        self.layer == "areas"
    }
}

#[derive(Args)]
pub struct ExportArgs {
    /// households | facilities | hazards | roads | areas
    #[arg(long)]
    layer: String,
    /// gpkg | shp (zipped) | kml | geojson | csv | xlsx
    #[arg(long)]
    format: String,
    /// 4326 or 4490
    #[arg(long, default_value = "4326")]
    crs: String,
    /// Output file (must not exist).
    #[arg(short = 'o', long)]
    output: PathBuf,
    /// Whose scope and masking apply (required for households).
    #[arg(long)]
    user: Option<String>,
}

fn rows_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Reads, maps and checks the file; writes it unless `--dry-run`. Fails (nothing written)
/// when any row has a problem.
pub async fn import(store: Option<&Store>, args: &ImportArgs) -> Result<()> {
    let layer = ImportLayer::parse(&args.layer).with_context(|| {
        format!(
            "未知图层 {} / unknown layer {}: households, facilities, hazards, roads, areas",
            args.layer, args.layer
        )
    })?;
    let area_kind = match (layer, args.kind.as_deref()) {
        (ImportLayer::Areas, Some(k)) => match k.parse::<AreaKind>() {
            Ok(AreaKind::Township) | Err(_) => bail!(
                "未知区域类型 {k}：可用 grid、village、hamlet、lane / unknown area kind {k}: grid, village, hamlet or lane"
            ),
            Ok(kind) => Some(kind),
        },
        (ImportLayer::Areas, None) => bail!(
            "导入区域须用 --kind 指定类型：grid（网格）、village（村）、hamlet（自然村）、lane（街巷）/ importing areas needs --kind: grid, village, hamlet or lane"
        ),
        (_, Some(_)) => bail!("--kind 仅用于 --layer areas / --kind is for --layer areas"),
        (_, None) => None,
    };
    if args.trim && area_kind.is_none() {
        bail!("--trim 仅用于 --layer areas / --trim is for --layer areas");
    }
    if args.key.is_some() && layer == ImportLayer::Areas {
        bail!(
            "区域按编码（code 字段）更新，不用 --key / areas are matched by their code (the code field), not by --key"
        );
    }
    if args.key.is_some() && matches!(layer, ImportLayer::Hazards | ImportLayer::Roads) {
        bail!(
            "--key 仅用于 households、facilities（{0} 没有导入键，再次导入会新增）/ --key is for households and facilities ({0} keep no import key: importing again adds rows)",
            layer.as_str()
        );
    }
    let crs = match &args.crs {
        Some(c) => Some(SourceCrs::parse(c).with_context(|| {
            format!("无法识别坐标系 {c}（如 EPSG:4490、EPSG:4547、gcj02、bd09）/ unknown CRS {c} (e.g. EPSG:4490, EPSG:4547, gcj02, bd09)")
        })?),
        None => None,
    };
    let offset = match crs {
        Some(SourceCrs::Offset(o)) => Some(o),
        _ => None,
    };

    let spinner = ProgressBar::new_spinner().with_style(rows_style(
        "{spinner} 读取 reading {pos} rows ({per_sec}) {elapsed}",
    ));
    let read_started = Instant::now();
    let table = cuntu_gdal::import::read(&args.file, layer, crs, &mut |n| {
        spinner.set_position(n as u64)
    })?;
    spinner.finish_and_clear();
    println!(
        "文件 file: {} ({}, layer {}), {} rows read in {:.1} s",
        args.file.display(),
        table.driver,
        table.layer,
        table.rows.len(),
        read_started.elapsed().as_secs_f64()
    );
    println!("坐标 CRS: {}", table.crs);
    for (zh, en) in &table.notes {
        println!("{zh} / {en}");
    }
    println!("源字段 source fields: {}", table.fields.join(", "));

    let mapping = match &args.mapping {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("无法读取映射 / cannot read mapping {}", path.display())
            })?;
            let m: Mapping = serde_json::from_str(&text).with_context(|| {
                format!(
                    "映射文件不是有效的 JSON / the mapping {} is not valid JSON",
                    path.display()
                )
            })?;
            println!("映射 mapping (from {}):", path.display());
            m
        }
        other => {
            let m = core_import::propose_mapping(layer, &table.fields);
            if let Some(path) = other {
                std::fs::write(path, serde_json::to_string_pretty(&m)?).with_context(|| {
                    format!("无法保存映射 / cannot save mapping {}", path.display())
                })?;
                println!("映射 mapping (proposed, saved to {}):", path.display());
            } else {
                println!("映射 mapping (proposed):");
            }
            m
        }
    };
    if let Err(p) = core_import::check_mapping(layer, &mapping, &table.fields) {
        bail!("{p}");
    }
    for (target, _) in layer.targets() {
        match mapping.fields.get(*target) {
            Some(source) => println!("  {target:<13} ← {source}"),
            None => println!("  {target:<13} ← (none)"),
        }
    }
    if let Some(k) = &args.key {
        if !table.fields.iter().any(|f| f == k) {
            bail!("文件中没有键字段“{k}” / the file has no key field '{k}'");
        }
    }

    let any_geometry = table.rows.iter().any(|r| r.geometry.is_some());
    if core_import::is_join(layer, &mapping, any_geometry) {
        return join(store, args, &table, &mapping).await;
    }
    if !any_geometry && crs.is_none() && mapping.fields.contains_key("lon") {
        bail!(
            "经纬度来自表格的列，文件没有坐标系：请用 --crs 指定，如 --crs EPSG:4326、--crs EPSG:4490 或 --crs gcj02 / longitude and latitude come from columns and the file has no CRS: give one with --crs, e.g. --crs EPSG:4326, EPSG:4490 or gcj02"
        );
    }

    let core_import::Staging { staged, problems } = core_import::stage_all(
        layer,
        &mapping,
        table.rows.iter().map(|r| InputRow {
            values: &r.values,
            geometry: r.geometry.as_ref(),
            geometry_error: r.geometry_error.as_deref(),
        }),
        offset,
        args.key.as_deref(),
    );

    println!("前几行（将要存入）first rows as they would be stored:");
    for (row, s) in staged.iter().take(5) {
        println!("  {row}: {}", serde_json::to_string(s)?);
    }
    if problems.is_empty() {
        println!("问题 problems: 0");
    } else {
        println!("问题 problems: {}", problems.len());
        for p in &problems {
            println!("  {p}");
        }
    }
    if let Some(kind) = area_kind {
        return import_areas(store, args, &table, staged, problems, kind).await;
    }
    if args.dry_run {
        println!(
            "试运行，未写入 / dry run, nothing written: {} rows would be stored",
            staged.len()
        );
        return Ok(());
    }
    if !problems.is_empty() {
        bail!(
            "{} 个问题，未写入任何数据；请修正后重试（--dry-run 可先检查）/ {} problems, nothing written; fix them and retry (--dry-run checks first)",
            problems.len(),
            problems.len()
        );
    }
    let store = store.context("no database")?;
    let before = store.layer_count(layer.as_str()).await?;
    let bar = ProgressBar::new(staged.len() as u64).with_style(rows_style(
        "写入 writing {bar:30} {pos}/{len} rows ({per_sec}) {elapsed}",
    ));
    let started = Instant::now();
    let mut progress = |n: usize| bar.set_position(n as u64);
    let counts = store
        .import_staged(staged.into_iter().map(|(_, s)| s).collect(), &mut progress)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "写入失败，数据库未改变 / writing failed, the database is as it was: {e}"
            )
        })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let after = store.layer_count(layer.as_str()).await?;
    println!(
        "已写入 stored: {} inserted, {} updated in {:.2} s ({:.0} rows/s); {} {} → {}",
        counts.inserted,
        counts.updated,
        seconds,
        (counts.inserted + counts.updated) as f64 / seconds.max(1e-9),
        layer.as_str(),
        before,
        after
    );
    store
        .audit(AuditEntry {
            action: "import",
            target: Some(layer.as_str().to_string()),
            detail: serde_json::json!({
                "file": args.file.display().to_string(),
                "crs": table.crs,
                "inserted": counts.inserted,
                "updated": counts.updated,
            }),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Areas: the rows staged without problems go through the store's area import (the grid
/// editor's rules), one transaction; a dry run runs it too and rolls back, so it shows what
/// would be created or reshaped per container and which households would change grid.
async fn import_areas(
    store: Option<&Store>,
    args: &ImportArgs,
    table: &cuntu_gdal::import::SourceTable,
    staged: Vec<(usize, core_import::StagedRow)>,
    mut problems: Vec<core_import::Problem>,
    kind: AreaKind,
) -> Result<()> {
    // A file of several kinds (cuntu's own export of the areas layer has a `kind` column):
    // only the rows of --kind are imported; the others are left out and counted.
    let other_kind = |row: usize| {
        table
            .rows
            .get(row.wrapping_sub(1))
            .is_some_and(|r| core_import::other_area_kind(&r.values, kind))
    };
    let left_out = staged.iter().filter(|(row, _)| other_kind(*row)).count();
    problems.retain(|p| !other_kind(p.row));
    if left_out > 0 {
        println!(
            "其他类型的 {left_out} 行未导入（kind 字段不是 {0}）/ {left_out} rows of another kind left out (their kind field is not {0})",
            kind.as_str()
        );
    }
    let rows: Vec<(usize, core_import::AreaRow)> = staged
        .into_iter()
        .filter(|(row, _)| !other_kind(*row))
        .filter_map(|(row, s)| match s {
            core_import::StagedRow::Area(a) => Some((row, a)),
            _ => None,
        })
        .collect();
    let store = store.context("no database")?;
    let before = store.layer_count("areas").await?;
    let bar = ProgressBar::new(rows.len() as u64).with_style(rows_style(
        "写入 writing {bar:30} {pos}/{len} areas ({per_sec}) {elapsed}",
    ));
    let started = Instant::now();
    let mut progress = |n: usize| bar.set_position(n as u64);
    // With problems from staging the store still checks the rest (and rolls back), so the
    // report names every problem at once.
    let dry_run = args.dry_run || !problems.is_empty();
    let report = store
        .import_areas(
            &rows,
            &AreaImport {
                kind,
                actor: "cli-import",
                scope: None,
                trim: args.trim,
                dry_run,
            },
            &mut progress,
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "写入失败，数据库未改变 / writing failed, the database is as it was: {e}"
            )
        })?;
    bar.finish_and_clear();
    for c in &report.containers {
        println!("{} (id {}):", c.container_name, c.container_id);
        for a in &c.areas {
            let (zh, en) = if a.reshaped {
                ("改形", "reshaped")
            } else {
                ("新建", "created")
            };
            println!(
                "  第 {} 行 row {}: {zh} {en} {} {} (id {})",
                a.row, a.row, a.code, a.name, a.id
            );
        }
        if let Some(edit) = &c.edit {
            for m in &edit.moves {
                println!(
                    "  {} 户 households: {} → {}",
                    m.households,
                    m.from_name.as_deref().unwrap_or("(无网格 no grid)"),
                    m.to_name.as_deref().unwrap_or("(无网格 no grid)")
                );
            }
            for n in &edit.notes {
                println!("  注 note: {} / {}", n.zh, n.en);
            }
            if edit.gaps.households > 0 {
                println!(
                    "  未覆盖 gap: {:.0} m², {} 户 households in no grid",
                    edit.gaps.area_m2, edit.gaps.households
                );
            }
        }
    }
    for p in &report.skipped {
        println!("跳过 skipped: {p}");
    }
    problems.extend(report.problems.iter().cloned());
    problems.sort_by_key(|p| p.row);
    println!("问题 problems: {}", problems.len());
    for p in &problems {
        println!("  {p}");
    }
    println!(
        "{} 新建 created, {} 改形 reshaped, {} 户改变网格 households change grid",
        report.created, report.reshaped, report.moved_households
    );
    if args.dry_run {
        println!("试运行，未写入 / dry run, nothing written");
        return Ok(());
    }
    if !report.committed {
        bail!(
            "{} 个问题，未写入任何数据；请修正后重试（--dry-run 可先检查）/ {} problems, nothing written; fix them and retry (--dry-run checks first)",
            problems.len(),
            problems.len()
        );
    }
    let after = store.layer_count("areas").await?;
    println!(
        "已写入 stored in {:.2} s; areas {before} → {after}",
        started.elapsed().as_secs_f64()
    );
    store
        .audit(AuditEntry {
            action: "import",
            target: Some("areas".to_string()),
            detail: serde_json::json!({
                "file": args.file.display().to_string(),
                "crs": table.crs,
                "kind": kind.as_str(),
                "created": report.created,
                "reshaped": report.reshaped,
                "moved_households": report.moved_households,
            }),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// A roster without coordinates: rows matched to the households of `--user`'s area by house
/// number (else address) update them, one transaction; unmatched rows are skipped by row.
async fn join(
    store: Option<&Store>,
    args: &ImportArgs,
    table: &cuntu_gdal::import::SourceTable,
    mapping: &Mapping,
) -> Result<()> {
    let Some(field) = core_import::JoinField::of(mapping) else {
        bail!("没有坐标（经度/纬度），也没有门牌号或地址可对应已有住户 / no coordinates (lon/lat) and no house number or address to match stored households");
    };
    let name = args.user.as_deref().context(
        "表格没有坐标：按门牌号或地址更新已有住户时须用 --user 指定谁的范围 / the file has no coordinates: updating stored households by house number or address needs --user (whose area)",
    )?;
    let store = store.context("no database")?;
    let user = store
        .user_by_name(name)
        .await?
        .with_context(|| format!("没有用户 {name} / no user {name}"))?;
    let account = store.account(&user).await?;
    let areas: Vec<i64> = account
        .roles
        .iter()
        .filter(|r| matches!(r.role, auth::Role::TownshipAdmin | auth::Role::VillageCadre))
        .map(|r| r.area_id)
        .collect();
    if areas.is_empty() {
        bail!(
            "{name} 不是镇管理员或村干部 / {name} is neither a township admin nor a village cadre"
        );
    }
    let candidates = store.join_candidates(&areas).await?;
    let joined = core_import::join_roster(
        mapping,
        field,
        table.rows.iter().map(|r| &r.values),
        &candidates,
    );
    println!(
        "无坐标：按 {field:?} 对应 {name} 范围内的 {} 户 / no coordinates: matched by {field:?} to the {} households of {name}'s area",
        candidates.len(),
        candidates.len()
    );
    for (row, id, u) in joined.updates.iter().take(5) {
        println!("  {row} → household {id}: {}", serde_json::to_string(u)?);
    }
    println!("跳过 skipped: {}", joined.skipped.len());
    for p in &joined.skipped {
        println!("  {p}");
    }
    println!("问题 problems: {}", joined.problems.len());
    for p in &joined.problems {
        println!("  {p}");
    }
    if args.dry_run {
        println!(
            "试运行，未写入 / dry run, nothing written: {} households would be updated",
            joined.updates.len()
        );
        return Ok(());
    }
    if !joined.problems.is_empty() {
        bail!(
            "{} 个问题，未写入任何数据 / {} problems, nothing written",
            joined.problems.len(),
            joined.problems.len()
        );
    }
    let updates: Vec<_> = joined
        .updates
        .into_iter()
        .map(|(_, id, u)| (id, u))
        .collect();
    let counts = store
        .update_households(&updates, &mut |_| {})
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "写入失败，数据库未改变 / writing failed, the database is as it was: {e}"
            )
        })?;
    println!(
        "已写入 stored: 0 inserted, {} updated; {} skipped",
        counts.updated,
        joined.skipped.len()
    );
    store
        .audit(AuditEntry {
            user_id: Some(user.id),
            username: Some(&user.username),
            action: "import",
            target: Some("households".to_string()),
            detail: serde_json::json!({
                "file": args.file.display().to_string(),
                "updated": counts.updated,
                "skipped": joined.skipped.len(),
            }),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Writes a layer to a file; households only within `--user`'s scope, masked per role.
pub async fn export(store: &Store, args: &ExportArgs) -> Result<()> {
    let format = ExportFormat::parse(&args.format).with_context(|| {
        format!(
            "未知格式 {0}（gpkg、shp、kml、geojson、csv、xlsx）/ unknown format {0}",
            args.format
        )
    })?;
    let epsg = cuntu_gdal::export::parse_epsg(&args.crs).with_context(|| {
        format!(
            "导出坐标系只能是 4326 或 4490 / the export CRS is 4326 or 4490, not {}",
            args.crs
        )
    })?;
    let (table, user) = if args.layer == "households" {
        let name = args
            .user
            .as_deref()
            .context("导出住户须指定 --user，按其范围和角色脱敏 / exporting households needs --user: their scope and role decide what is shown")?;
        let user = store
            .user_by_name(name)
            .await?
            .with_context(|| format!("没有用户 {name} / no user {name}"))?;
        let account = store.account(&user).await?;
        let table = store.export_households(&account.assignments()).await?;
        (table, Some(user))
    } else {
        (store.export_public_layer(&args.layer).await?, None)
    };
    let out = OutTable {
        name: args.layer.clone(),
        columns: table.columns.iter().map(|c| c.to_string()).collect(),
        rows: table.rows.into_iter().map(|r| (r.wkb, r.values)).collect(),
    };
    let n = out.rows.len();
    let written = cuntu_gdal::export::write(&out, format, epsg, &args.output)?;
    if let Some(user) = &user {
        store
            .audit(AuditEntry {
                user_id: Some(user.id),
                username: Some(&user.username),
                action: "export_households",
                target: Some(written.display().to_string()),
                detail: serde_json::json!({"rows": n, "format": args.format}),
                ..Default::default()
            })
            .await?;
    }
    println!(
        "已导出 exported {n} {} to {} (EPSG:{epsg})",
        args.layer,
        written.display()
    );
    Ok(())
}
