//! Loading the demo township into PostGIS, in one transaction, then deriving its hazards.
//!
//! Hazard rules (written here once, stored with each hazard in `hazards.rule`):
//! - 洪涝风险区 flood zone: the land within 50 m of a river or 20 m of a canal, per village,
//!   clipped to the village; severity high where more than 20 households stand in it,
//!   medium otherwise.
//! - 地质灾害隐患点 landslide: a cliff or scree slope within 150 m of a household, placed on
//!   the cliff at its point nearest to the nearest household; severity high within 50 m,
//!   medium within 100 m, low within 150 m. (No elevation model is available offline; the
//!   mapped cliffs and scree of OpenStreetMap are the steep ground.)
//! - 溺水危险点 water danger: a pond or lake in a village, as its polygon; medium when a
//!   household stands within 200 m of it, low otherwise.
//! - 火灾隐患 fire risk: a fuel station, high.
//! - 危房 dangerous houses: none; nothing in the map says which houses are unsafe.

use cuntu_core::demo::DemoPlan;
use geo::Geometry;
use serde::Serialize;
use sqlx::{Postgres, Transaction};

use crate::{wkb, Store, StoreError};

pub const FLOOD_RULE: &str = "河流两侧50米、水渠两侧20米范围（演示数据，按OpenStreetMap水系推导） / within 50 m of a river or 20 m of a canal (demo rule over OSM waterways)";
pub const LANDSLIDE_RULE: &str = "距住户150米内的陡崖或碎石坡（演示数据，按OpenStreetMap natural=cliff/scree推导） / cliff or scree within 150 m of a household (demo rule over OSM)";
pub const WATER_RULE: &str =
    "村内池塘、湖泊（演示数据） / pond or lake in a village (demo rule over OSM)";
pub const FIRE_RULE: &str = "加油站（演示数据） / fuel station (demo rule over OSM)";

/// What a load wrote, for the log and `data_loads.summary`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LoadSummary {
    pub areas: u64,
    pub households: u64,
    pub party_links: u64,
    pub facilities: u64,
    pub roads: u64,
    pub waterways: u64,
    pub hazards: u64,
}

fn geometry_wkb(g: impl Into<Geometry<f64>>) -> Result<Vec<u8>, StoreError> {
    wkb::encode(&g.into())
}

impl Store {
    /// Whether a load of this name has run already.
    pub async fn has_load(&self, name: &str) -> Result<bool, StoreError> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM data_loads WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_some())
    }

    /// Loads a planned demo township in one transaction: all of it, or nothing.
    pub async fn load_demo(
        &self,
        name: &str,
        source: &str,
        plan: &DemoPlan,
    ) -> Result<LoadSummary, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET LOCAL cuntu.actor = 'demo-loader'")
            .execute(&mut *tx)
            .await?;
        let mut summary = LoadSummary::default();

        let mut area_ids: Vec<i64> = Vec::with_capacity(plan.areas.len());
        for area in &plan.areas {
            let parent = area.parent.map(|p| area_ids[p]);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO areas (kind, parent_id, code, name, source_name, geom) \
                 VALUES ($1, $2, $3, $4, $5, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB($6, 4326)), 3))) \
                 RETURNING id",
            )
            .bind(area.kind.as_str())
            .bind(parent)
            .bind(&area.code)
            .bind(&area.name)
            .bind(&area.source_name)
            .bind(geometry_wkb(area.geometry.clone())?)
            .fetch_one(&mut *tx)
            .await?;
            area_ids.push(id);
        }
        summary.areas = area_ids.len() as u64;

        let household_ids = insert_households(&mut tx, plan).await?;
        summary.households = household_ids.len() as u64;
        let (centrals, linked): (Vec<i64>, Vec<i64>) = plan
            .party_links
            .iter()
            .map(|&(c, l)| (household_ids[c], household_ids[l]))
            .unzip();
        summary.party_links = sqlx::query(
            "INSERT INTO household_links (central_id, linked_id) SELECT * FROM UNNEST($1::bigint[], $2::bigint[])",
        )
        .bind(&centrals)
        .bind(&linked)
        .execute(&mut *tx)
        .await?
        .rows_affected();

        let mut kinds = Vec::new();
        let mut names = Vec::new();
        let mut geoms = Vec::new();
        for f in &plan.facilities {
            kinds.push(f.kind.code().to_string());
            names.push(f.name.clone());
            geoms.push(geometry_wkb(f.point)?);
        }
        summary.facilities = sqlx::query(
            // OSM gives shelters no capacity; the demo gives each room for 150 people, so
            // that the leader's map can show one filling up.
            "INSERT INTO facilities (kind, name, capacity, geom) \
             SELECT k, n, CASE WHEN k = 'shelter' THEN 150 END, ST_GeomFromWKB(g, 4326) \
             FROM UNNEST($1::text[], $2::text[], $3::bytea[]) AS t(k, n, g)",
        )
        .bind(&kinds)
        .bind(&names)
        .bind(&geoms)
        .execute(&mut *tx)
        .await?
        .rows_affected();

        for (table, lines) in [("roads", &plan.roads), ("waterways", &plan.waterways)] {
            let column = if table == "roads" { "class" } else { "kind" };
            let mut classes = Vec::new();
            let mut names = Vec::new();
            let mut geoms = Vec::new();
            for l in lines.iter() {
                classes.push(l.class.clone());
                names.push(l.name.clone());
                geoms.push(geometry_wkb(l.geometry.clone())?);
            }
            let n = sqlx::query(&format!(
                "INSERT INTO {table} ({column}, name, geom) \
                 SELECT c, n, ST_GeomFromWKB(g, 4326) FROM UNNEST($1::text[], $2::text[], $3::bytea[]) AS t(c, n, g)"
            ))
            .bind(&classes)
            .bind(&names)
            .bind(&geoms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if table == "roads" {
                summary.roads = n;
            } else {
                summary.waterways = n;
            }
        }

        summary.hazards = derive_hazards(&mut tx, plan).await?;

        sqlx::query("INSERT INTO data_loads (name, source, summary) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(source)
            .bind(sqlx::types::Json(&summary))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(summary)
    }
}

async fn insert_households(
    tx: &mut Transaction<'_, Postgres>,
    plan: &DemoPlan,
) -> Result<Vec<i64>, StoreError> {
    let n = plan.households.len();
    let mut geoms = Vec::with_capacity(n);
    let mut numbers = Vec::with_capacity(n);
    let mut addresses = Vec::with_capacity(n);
    let mut heads = Vec::with_capacity(n);
    let mut members = Vec::with_capacity(n);
    let mut phones = Vec::with_capacity(n);
    let mut id_cards = Vec::with_capacity(n);
    let mut tags = Vec::with_capacity(n);
    let mut central = Vec::with_capacity(n);
    for h in &plan.households {
        geoms.push(geometry_wkb(h.point)?);
        numbers.push(h.address.as_ref().map(|a| a.house_number.clone()));
        addresses.push(h.address.as_ref().map(|a| a.display()));
        heads.push(h.roster.head_name.clone());
        members.push(h.roster.members);
        phones.push(h.roster.phone.clone());
        id_cards.push(h.roster.id_card.clone());
        tags.push(
            h.roster
                .tags
                .iter()
                .map(|t| t.code())
                .collect::<Vec<_>>()
                .join(","),
        );
        central.push(h.party_central);
    }
    // WITH ORDINALITY keeps the input order, so ids line up with the plan's indices.
    let ids: Vec<i64> = sqlx::query_scalar(
        "WITH input AS ( \
             SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::text[], $5::int2[], \
                                  $6::text[], $7::text[], $8::text[], $9::bool[]) \
                 WITH ORDINALITY AS t(g, num, addr, head, members, phone, id_card, tags, central, ord)), \
         inserted AS ( \
             INSERT INTO households (geom, house_number, address, head_name, members, phone, id_card, tags, party_central) \
             SELECT ST_GeomFromWKB(g, 4326), num, addr, head, members, phone, id_card, \
                    CASE WHEN tags = '' THEN '{}'::text[] ELSE string_to_array(tags, ',') END, central \
             FROM input ORDER BY ord \
             RETURNING id) \
         SELECT id FROM inserted ORDER BY id",
    )
    .bind(&geoms)
    .bind(&numbers)
    .bind(&addresses)
    .bind(&heads)
    .bind(&members)
    .bind(&phones)
    .bind(&id_cards)
    .bind(&tags)
    .bind(&central)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids)
}

// Distances are in metres on the geography type, which no geometry index serves; each such
// test is preceded by a box test in degrees (`&& ST_Expand`) that the GiST index answers.
// 0.001° of longitude is at least 62 m up to latitude 56° (all of China's villages but the
// far north of Heilongjiang), so 0.003° covers 150 m and 0.004° covers 200 m.
async fn derive_hazards(
    tx: &mut Transaction<'_, Postgres>,
    plan: &DemoPlan,
) -> Result<u64, StoreError> {
    let mut total = 0;
    total += sqlx::query(
        "INSERT INTO hazards (kind, severity, name, rule, geom) \
         SELECT 'flood', \
                CASE WHEN (SELECT count(*) FROM households h WHERE ST_Intersects(z.geom, h.geom)) > 20 \
                     THEN 'high' ELSE 'medium' END, \
                z.name, $1, z.geom \
         FROM ( \
             SELECT v.name || '沿河洪涝风险区' AS name, \
                    ST_Multi(ST_CollectionExtract(ST_Intersection(v.geom, ST_Union( \
                        ST_Buffer(w.geom::geography, CASE w.kind WHEN 'river' THEN 50 ELSE 20 END)::geometry)), 3)) AS geom \
             FROM areas v JOIN waterways w ON w.kind IN ('river', 'canal') AND ST_Intersects(v.geom, w.geom) \
             WHERE v.kind = 'village' \
             GROUP BY v.id, v.name, v.geom) z \
         WHERE NOT ST_IsEmpty(z.geom)",
    )
    .bind(FLOOD_RULE)
    .execute(&mut **tx)
    .await?
    .rows_affected();

    let cliffs = plan
        .cliffs
        .iter()
        .map(|c| geometry_wkb(c.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    total += sqlx::query(
        "INSERT INTO hazards (kind, severity, name, rule, geom) \
         SELECT 'landslide', \
                CASE WHEN near.d < 50 THEN 'high' WHEN near.d < 100 THEN 'medium' ELSE 'low' END, \
                '陡崖落石隐患点', $2, ST_ClosestPoint(c.geom, near.geom) \
         FROM (SELECT ST_GeomFromWKB(g, 4326) AS geom FROM UNNEST($1::bytea[]) AS t(g)) c \
         CROSS JOIN LATERAL ( \
             SELECT h.geom, ST_Distance(c.geom::geography, h.geom::geography) AS d FROM households h \
             WHERE h.geom && ST_Expand(c.geom, 0.003) \
               AND ST_DWithin(c.geom::geography, h.geom::geography, 150) \
             ORDER BY d LIMIT 1) near",
    )
    .bind(&cliffs)
    .bind(LANDSLIDE_RULE)
    .execute(&mut **tx)
    .await?
    .rows_affected();

    let ponds = plan
        .water_bodies
        .iter()
        .map(|w| geometry_wkb(w.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    total += sqlx::query(
        "INSERT INTO hazards (kind, severity, name, rule, geom) \
         SELECT 'water', \
                CASE WHEN EXISTS (SELECT 1 FROM households h WHERE h.geom && ST_Expand(p.geom, 0.004) \
                                  AND ST_DWithin(p.geom::geography, h.geom::geography, 200)) \
                     THEN 'medium' ELSE 'low' END, \
                '池塘溺水危险点', $2, p.geom \
         FROM (SELECT ST_MakeValid(ST_GeomFromWKB(g, 4326)) AS geom FROM UNNEST($1::bytea[]) AS t(g)) p \
         WHERE NOT ST_IsEmpty(p.geom)",
    )
    .bind(&ponds)
    .bind(WATER_RULE)
    .execute(&mut **tx)
    .await?
    .rows_affected();

    let mut fuel_geoms = Vec::new();
    let mut fuel_names = Vec::new();
    for (p, name) in &plan.fuel_stations {
        fuel_geoms.push(geometry_wkb(*p)?);
        fuel_names.push(name.clone());
    }
    total += sqlx::query(
        "INSERT INTO hazards (kind, severity, name, rule, geom) \
         SELECT 'fire', 'high', coalesce(n, '加油站'), $3, ST_GeomFromWKB(g, 4326) \
         FROM UNNEST($1::bytea[], $2::text[]) AS t(g, n)",
    )
    .bind(&fuel_geoms)
    .bind(&fuel_names)
    .bind(FIRE_RULE)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(total)
}
