//! `cuntu demo load`: the demo township from `data/`, read through GDAL, planned by the
//! core, written by the store in one transaction.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use cuntu_core::auth::Role;
use cuntu_core::demo::{plan, DemoNaming};
use cuntu_core::gridding::GridRule;
use cuntu_gdal::{divisions, osm};
use cuntu_store::Store;

pub const LOAD_NAME: &str = "demo-township";
pub const OSM_FILE: &str = "liechtenstein-2022-07-24.osm.pbf";
pub const NAMES_FILE: &str = "seed-county-130111.csv";
/// 冶河镇 and 窦妪镇 of 栾城区: their names go to Liechtenstein's Oberland and Unterland.
pub const TOWNSHIP_CODES: [&str; 2] = ["130111103", "130111104"];
pub const SEED: u64 = 2022;

fn step(started: &Instant, what: &str) {
    println!("  {:>6.1} s  {what}", started.elapsed().as_secs_f64());
}

pub async fn load(store: &Store, data: &Path) -> Result<()> {
    if store.has_load(LOAD_NAME).await? {
        println!("demo township already loaded; nothing to do (`make clean-db` starts over)");
        return ensure_demo_users(store).await;
    }
    let started = Instant::now();
    println!("loading the demo township from {}", data.display());
    let rows = divisions::read_divisions(&data.join(NAMES_FILE))?;
    let townships = TOWNSHIP_CODES
        .iter()
        .map(|code| {
            divisions::villages_of(&rows, code)
                .ok_or_else(|| anyhow!("township {code} is not in {NAMES_FILE}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let naming = DemoNaming {
        township_admin_level: 6,
        village_admin_level: 8,
        townships,
    };
    let osm_path = data.join(OSM_FILE);
    let extract = osm::read_extract(&osm_path, &data.join("osmconf.ini"))
        .with_context(|| format!("reading {}", osm_path.display()))?;
    step(
        &started,
        &format!(
            "read {} buildings, {} lines, {} boundaries",
            extract.buildings.len(),
            extract.lines.len(),
            extract.boundaries.len()
        ),
    );
    let plan = plan(&extract, &naming, &GridRule::default(), SEED);
    for warning in &plan.warnings {
        println!("  warning: {warning}");
    }
    step(
        &started,
        &format!(
            "planned {} areas and {} households",
            plan.areas.len(),
            plan.households.len()
        ),
    );
    let summary = store
        .load_demo(LOAD_NAME, &osm_path.display().to_string(), &plan)
        .await
        .context("writing the demo township (nothing was kept)")?;
    step(
        &started,
        &format!(
            "stored {} areas, {} households, {} facilities, {} roads, {} waterways, {} hazards",
            summary.areas,
            summary.households,
            summary.facilities,
            summary.roads,
            summary.waterways,
            summary.hazards
        ),
    );
    ensure_demo_users(store).await
}

/// The demo's users, one per role, all in 冶河镇 (the first township): username, password,
/// display name, role, area code. The passwords are public: a demo on loopback, not a
/// deployment.
pub const DEMO_USERS: [(&str, &str, &str, Role, &str); 5] = [
    (
        "admin",
        "cuntu-admin",
        "镇管理员 李志强",
        Role::TownshipAdmin,
        "130111103",
    ),
    (
        "leader",
        "cuntu-leader",
        "镇领导 张海燕",
        Role::Leader,
        "130111103",
    ),
    (
        "cadre",
        "cuntu-cadre",
        "村干部 王立新",
        Role::VillageCadre,
        "130111103201",
    ),
    (
        "worker",
        "cuntu-worker",
        "网格员 刘春生",
        Role::GridWorker,
        "130111103201-01",
    ),
    (
        "dept",
        "cuntu-dept",
        "应急管理办 陈文军",
        Role::Department,
        "130111103",
    ),
];

/// Creates the demo users that do not exist yet (an existing one keeps its password).
pub async fn ensure_demo_users(store: &Store) -> Result<()> {
    for (k, (username, password, display_name, role, area_code)) in DEMO_USERS.iter().enumerate() {
        if store.user_by_name(username).await?.is_some() {
            continue;
        }
        let area = store
            .area_id_by_code(area_code)
            .await?
            .ok_or_else(|| anyhow!("demo area {area_code} is missing; load the demo first"))?;
        let hash = cuntu_server::auth::hash_password(password).map_err(|e| anyhow!(e))?;
        let id = store.create_user(username, display_name, &hash).await?;
        store.grant_role(id, *role, area, &[]).await?;
        // Fictional numbers (the 138 0000 block), for the grid noticeboard and the cards.
        store
            .set_user_phone(username, &format!("1380000{:04}", 101 + k))
            .await?;
    }
    staff_demo_grid(store).await?;
    demo_departments(store).await
}

/// The township's departments that incidents are whistled to; the demo's department user
/// works in the first (应急管理办).
async fn demo_departments(store: &Store) -> Result<()> {
    let Some(township) = store.area_id_by_code("130111103").await? else {
        return Ok(());
    };
    let mut first = None;
    for (code, name) in [
        ("safety", "应急管理办"),
        ("enforcement", "综合行政执法队"),
        ("police", "派出所"),
        ("land", "自然资源所"),
        ("market", "市场监管所"),
    ] {
        let id = store.ensure_department(township, code, name).await?;
        first.get_or_insert(id);
    }
    if let (Some(department), Some(user)) = (first, store.user_by_name("dept").await?) {
        store.add_department_member(department, user.id).await?;
    }
    Ok(())
}

/// The demo grid's noticeboard has people on it: the village cadre leads it (网格长) and the
/// grid worker works it, unless someone has staffed it already.
async fn staff_demo_grid(store: &Store) -> Result<()> {
    let Some(grid) = store.area_id_by_code("130111103201-01").await? else {
        return Ok(());
    };
    if !store.grid_contacts(grid).await?.is_empty() {
        return Ok(());
    }
    let (Some(cadre), Some(worker)) = (
        store.user_by_name("cadre").await?,
        store.user_by_name("worker").await?,
    ) else {
        return Ok(());
    };
    store
        .set_staff(grid, Some(cadre.id), &[worker.id], "demo")
        .await?;
    Ok(())
}

pub fn print_demo_users() {
    println!("demo users (演示账号) — password = 密码:");
    for (username, password, display_name, role, area_code) in DEMO_USERS {
        println!(
            "  {username:<8} {password:<14} {:<15} {display_name} @ {area_code}",
            role.as_str()
        );
    }
}
