//! The township leader's risk map over HTTP against PostGIS holding the demo township: zones
//! in metres, exposure equal to PostGIS's own answer, the nearest shelter by road, counts
//! without names for a leader without the personal-data grant, exports a spreadsheet reader
//! opens, hazards kept with versions, and an evacuation marked from a worker's phone.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use calamine::{Reader, Xlsx};
use common::{add_user, client, get_as, load_demo, login, start_server};
use cuntu_core::auth::{Grant, Role};
use cuntu_core::metric::LocalMetric;
use cuntu_core::routing::RoadNetwork;
use cuntu_store::testing::TestDatabase;
use geo::{coord, Point};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TOWNSHIP: &str = "130111103";

/// Households whose grid lies below `area` (the scope of a leader of that area).
async fn households_below(db: &TestDatabase, area: i64) -> BTreeSet<i64> {
    sqlx::query_scalar::<_, i64>(
        "WITH RECURSIVE s(id) AS (SELECT $1::bigint UNION SELECT a.id FROM areas a JOIN s ON a.parent_id = s.id) \
         SELECT id FROM households WHERE grid_id IN (SELECT id FROM s)",
    )
    .bind(area)
    .fetch_all(db.store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn send(
    method: reqwest::Method,
    url: &str,
    cookie: &str,
    body: Value,
    extra: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut r = client()
        .request(method, url)
        .header("cookie", cookie)
        .header("accept-language", "en")
        .json(&body);
    if let Some((k, v)) = extra {
        r = r.header(k, v);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn count(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("a number, not {v}"))
}

#[tokio::test]
async fn the_leader_reads_risks_exposure_and_shelters() {
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let township = db.store.area_id_by_code(TOWNSHIP).await.unwrap().unwrap();
    add_user(
        &db.store,
        "leader_p",
        "pw-leader-p",
        Role::Leader,
        township,
        &[Grant::Personal],
    )
    .await;
    add_user(
        &db.store,
        "leader",
        "pw-leader",
        Role::Leader,
        township,
        &[],
    )
    .await;
    let village = db
        .store
        .area_id_by_code("130111103201")
        .await
        .unwrap()
        .unwrap();
    add_user(
        &db.store,
        "cadre",
        "pw-cadre",
        Role::VillageCadre,
        village,
        &[],
    )
    .await;
    let base = start_server(db.store.clone()).await;
    let personal = login(&base, "leader_p", "pw-leader-p").await.unwrap();
    let counts_only = login(&base, "leader", "pw-leader").await.unwrap();
    let cadre = login(&base, "cadre", "pw-cadre").await.unwrap();
    let scope = households_below(&db, township).await;

    // The hazards of the township, each with its exposed households as PostGIS counts them.
    let (status, hazards) = get_as(&format!("{base}/api/leader/hazards"), Some(&personal)).await;
    assert_eq!(status, StatusCode::OK, "{hazards}");
    let features = hazards["features"].as_array().unwrap();
    let expected_hazards: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM hazards z JOIN areas a ON a.id = $1 WHERE ST_Intersects(a.geom, z.geom)",
    )
    .bind(township)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(features.len() as i64, expected_hazards);
    assert!(expected_hazards > 10);
    let ids: Vec<i64> = features.iter().map(|f| count(&f["id"])).collect();
    let reference = db.store.exposure_reference(&ids).await.unwrap();
    let mut per_hazard: BTreeMap<i64, i64> = BTreeMap::new();
    let mut exposed_ref: BTreeSet<i64> = BTreeSet::new();
    for (hazard, household) in &reference {
        if scope.contains(household) {
            *per_hazard.entry(*hazard).or_default() += 1;
            exposed_ref.insert(*household);
        }
    }
    for f in features {
        let id = count(&f["id"]);
        assert_eq!(
            count(&f["properties"]["households"]),
            per_hazard.get(&id).copied().unwrap_or(0),
            "hazard {id}: R-tree and PostGIS ST_DWithin disagree"
        );
    }
    assert!(exposed_ref.len() > 20, "the demo has exposed households");

    // All open hazards at once: the same households as PostGIS, each with a shelter by road.
    let (status, exposure) = get_as(&format!("{base}/api/leader/exposure"), Some(&personal)).await;
    assert_eq!(status, StatusCode::OK, "{exposure}");
    let listed: BTreeSet<i64> = exposure["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| count(&h["id"]))
        .collect();
    assert_eq!(listed, exposed_ref);
    assert_eq!(
        count(&exposure["total"]["households"]) as usize,
        exposed_ref.len()
    );
    let village_sum: i64 = exposure["villages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| count(&v["households"]))
        .sum();
    assert_eq!(village_sum as usize, exposed_ref.len());

    // The shelter named is the nearest by road: checked against the distance matrix of the
    // contraction hierarchy (another algorithm than the server's multi-source search).
    let shelters = db.store.shelters_in_scope(&[township]).await.unwrap();
    assert!(!shelters.is_empty());
    let network = RoadNetwork::build(&db.store.road_lines().await.unwrap());
    let households = exposure["households"].as_array().unwrap();
    for h in households.iter().step_by((households.len() / 15).max(1)) {
        let from = Point::new(h["lon"].as_f64().unwrap(), h["lat"].as_f64().unwrap());
        let points: Vec<Point<f64>> = std::iter::once(from)
            .chain(shelters.iter().map(|s| Point::new(s.lon, s.lat)))
            .collect();
        let matrix = network.distance_matrix(&points);
        let (best, metres) = matrix[0][1..]
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        let shelter = &h["shelter"];
        assert!(
            (shelter["distance_m"].as_f64().unwrap() - metres).abs() <= 1.0,
            "{h} vs {metres}"
        );
        assert_eq!(count(&shelter["id"]), shelters[best].id, "{h}");
        // As the crow flies another shelter may be nearer; the road decides.
    }
    // The route to it follows the roads, from the household, as long as the distance said.
    let first = &households[0];
    let (status, route) = get_as(
        &format!("{base}/api/leader/shelter-route?household={}", first["id"]),
        Some(&personal),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{route}");
    assert_eq!(route["shelter"]["id"], first["shelter"]["id"]);
    assert!(
        (route["distance_m"].as_f64().unwrap() - first["shelter"]["distance_m"].as_f64().unwrap())
            .abs()
            <= 1.0
    );
    let line = route["line"]["coordinates"].as_array().unwrap();
    assert_eq!(line[0], json!([first["lon"], first["lat"]]));

    // A leader without the personal-data grant: the same counts, no one named, small ones "<5".
    let (status, masked) = get_as(&format!("{base}/api/leader/exposure"), Some(&counts_only)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(masked["households"], json!([]));
    assert_eq!(masked["households_hidden"], json!(true));
    assert_eq!(
        masked["total"]["households"],
        exposure["total"]["households"]
    );
    let mut suppressed = 0;
    for row in masked["grids"]
        .as_array()
        .unwrap()
        .iter()
        .chain(masked["villages"].as_array().unwrap())
    {
        for v in
            std::iter::once(&row["households"]).chain(row["tags"].as_object().unwrap().values())
        {
            match v.as_i64() {
                Some(n) => assert!(
                    n == 0 || n >= 5,
                    "a count of {n} would single someone out: {row}"
                ),
                None => {
                    assert_eq!(v, &json!("<5"));
                    suppressed += 1;
                }
            }
        }
    }
    assert!(suppressed > 0, "the demo has small cells");
    assert!(!masked
        .to_string()
        .contains(first["head_name"].as_str().unwrap()));
    let (status, _) = get_as(
        &format!("{base}/api/leader/shelter-route?household={}", first["id"]),
        Some(&counts_only),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get_as(&format!("{base}/api/leader/exposure"), Some(&cadre)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get_as(&format!("{base}/api/leader/exposure"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send(
        reqwest::Method::GET,
        &format!("{base}/api/leader/exposure?hazards=99999999"),
        &personal,
        Value::Null,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Hazard 99999999"),
        "{body}"
    );
    let (status, body) = send(
        reqwest::Method::GET,
        &format!("{base}/api/leader/exposure?hazards=3,x"),
        &personal,
        Value::Null,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The spreadsheet holds the API's rows under Chinese headings; counts only for the other.
    let bytes = client()
        .get(format!("{base}/api/leader/exposure.xlsx"))
        .header("cookie", &personal)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).expect("an xlsx calamine reads");
    let sheet = book.worksheet_range("风险暴露").unwrap();
    let rows: Vec<_> = sheet.rows().collect();
    assert_eq!(rows[0][0].to_string(), "编号");
    assert!(rows[0].iter().any(|c| *c == "户主"));
    assert_eq!(rows.len() - 1, exposed_ref.len());
    let in_sheet: BTreeSet<i64> = rows[1..]
        .iter()
        .map(|r| r[0].to_string().parse::<f64>().unwrap() as i64)
        .collect();
    assert_eq!(in_sheet, exposed_ref);
    let named = rows[1..]
        .iter()
        .find(|r| r[0].to_string().parse::<f64>().unwrap() as i64 == count(&first["id"]))
        .unwrap();
    assert_eq!(named[4].to_string(), first["head_name"].as_str().unwrap());
    let bytes = client()
        .get(format!("{base}/api/leader/exposure.xlsx"))
        .header("cookie", &counts_only)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).unwrap();
    let sheet = book.worksheet_range("风险暴露").unwrap();
    let head: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(
        head.contains(&"暴露户数".to_string()) && !head.contains(&"户主".to_string()),
        "{head:?}"
    );
    let csv = client()
        .get(format!("{base}/api/leader/exposure.csv"))
        .header("cookie", &personal)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with('\u{feff}'));
    let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    assert_eq!(reader.records().count(), exposed_ref.len());

    // The thematic map: every grid, quantile breaks in order.
    let (status, map) = get_as(
        &format!("{base}/api/leader/choropleth?level=grid&metric=key_population"),
        Some(&counts_only),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{map}");
    let grids: i64 = sqlx::query_scalar(
        "WITH RECURSIVE s(id) AS (SELECT $1::bigint UNION SELECT a.id FROM areas a JOIN s ON a.parent_id = s.id) \
         SELECT count(*) FROM areas WHERE kind = 'grid' AND id IN (SELECT id FROM s)",
    )
    .bind(township)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(map["features"].as_array().unwrap().len() as i64, grids);
    let breaks: Vec<f64> = map["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_f64().unwrap())
        .collect();
    assert!(
        !breaks.is_empty() && breaks.windows(2).all(|w| w[0] < w[1]),
        "{breaks:?}"
    );
    for f in map["features"].as_array().unwrap() {
        if f["properties"]["value"].is_null() {
            assert_eq!(f["properties"]["label"], json!("<5"));
        }
    }
    let (status, _) = get_as(
        &format!("{base}/api/leader/choropleth?metric=nonsense"),
        Some(&personal),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, board) = get_as(&format!("{base}/api/leader/dashboard"), Some(&personal)).await;
    assert_eq!(status, StatusCode::OK, "{board}");
    assert_eq!(
        count(&board["exposed_households"]) as usize,
        exposed_ref.len()
    );
    assert_eq!(count(&board["households"]) as usize, scope.len());
}

#[tokio::test]
async fn zones_are_metres_hazards_keep_versions_and_evacuations_are_marked() {
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let township = db.store.area_id_by_code(TOWNSHIP).await.unwrap().unwrap();
    add_user(
        &db.store,
        "admin",
        "pw-admin",
        Role::TownshipAdmin,
        township,
        &[],
    )
    .await;
    let base = start_server(db.store.clone()).await;
    let admin = login(&base, "admin", "pw-admin").await.unwrap();

    // A landslide point of medium severity (200 m) beside two new households, 190 m and
    // 210 m east of it. At 47° a degree-buffer of 0.0018° would reach only 137 m east.
    let (grid, centre): (i64, (f64, f64)) = {
        let row: (i64, f64, f64) = sqlx::query_as(
            "SELECT g.id, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) FROM areas g \
             WHERE g.kind = 'grid' AND g.code LIKE $1 || '%' ORDER BY ST_Area(g.geom) DESC LIMIT 1",
        )
        .bind(TOWNSHIP)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        (row.0, (row.1, row.2))
    };
    let metric = LocalMetric::wgs84_at(coord! { x: centre.0, y: centre.1 });
    let east = |m: f64| metric.to_degrees(coord! { x: m, y: 0.0 });
    let mut new_households = Vec::new();
    for m in [190.0, 210.0] {
        let c = east(m);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO households (geom, head_name, members, tags) VALUES (ST_SetSRID(ST_MakePoint($1, $2), 4326), $3, 2, '{elderly_alone}') RETURNING id",
        )
        .bind(c.x)
        .bind(c.y)
        .bind(format!("测试户{m}"))
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        new_households.push(id);
    }
    let (status, created) = send(
        reqwest::Method::POST,
        &format!("{base}/api/hazards"),
        &admin,
        json!({ "kind": "landslide", "severity": "medium", "name": "后山滑坡点",
                "geometry": { "type": "Point", "coordinates": [centre.0, centre.1] } }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hazard = count(&created["id"]);
    // The households came in through the trigger that files them into their grid; the
    // R-tree hears of them and of the hazard by NOTIFY.
    assert!(
        common::eventually(|| async {
            let (_, e) = get_as(
                &format!("{base}/api/leader/exposure?hazards={hazard}"),
                Some(&admin),
            )
            .await;
            e["households"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| h["id"] == json!(new_households[0])))
        })
        .await
    );
    let (_, e) = get_as(
        &format!("{base}/api/leader/exposure?hazards={hazard}"),
        Some(&admin),
    )
    .await;
    let ids: Vec<i64> = e["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| count(&h["id"]))
        .collect();
    assert!(
        ids.contains(&new_households[0]),
        "190 m east is inside a 200 m zone"
    );
    assert!(!ids.contains(&new_households[1]), "210 m east is outside");
    let reference: Vec<i64> = db
        .store
        .exposure_reference(&[hazard])
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.1)
        .collect();
    let mut ids_sorted = ids.clone();
    ids_sorted.sort_unstable();
    let mut reference_in_grid: Vec<i64> = Vec::new();
    for id in reference {
        let g: Option<i64> = sqlx::query_scalar("SELECT grid_id FROM households WHERE id = $1")
            .bind(id)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        if g.is_some() {
            reference_in_grid.push(id);
        }
    }
    reference_in_grid.sort_unstable();
    assert_eq!(ids_sorted, reference_in_grid);
    let _ = grid;

    // Its zone is a circle 400 m across in metres, which is wider in degrees east-west.
    let (_, zones) = get_as(&format!("{base}/api/leader/hazard-zones"), Some(&admin)).await;
    let zone = zones["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["id"] == json!(hazard))
        .unwrap();
    assert_eq!(zone["properties"]["buffer_m"], json!(200.0));
    let ring = zone["geometry"]["coordinates"][0].as_array().unwrap();
    let xs: Vec<f64> = ring.iter().map(|c| c[0].as_f64().unwrap()).collect();
    let ys: Vec<f64> = ring.iter().map(|c| c[1].as_f64().unwrap()).collect();
    let width = metric
        .to_metres(coord! { x: xs.iter().cloned().fold(f64::MIN, f64::max), y: centre.1 })
        .x
        - metric
            .to_metres(coord! { x: xs.iter().cloned().fold(f64::MAX, f64::min), y: centre.1 })
            .x;
    let height = metric
        .to_metres(coord! { x: centre.0, y: ys.iter().cloned().fold(f64::MIN, f64::max) })
        .y
        - metric
            .to_metres(coord! { x: centre.0, y: ys.iter().cloned().fold(f64::MAX, f64::min) })
            .y;
    assert!(
        (width - 400.0).abs() < 2.0 && (height - 400.0).abs() < 2.0,
        "{width} × {height} m"
    );

    // Versions: a stale edit is refused, closing is a new version, history and inspections.
    let url = format!("{base}/api/hazards/{hazard}");
    let (status, _) = send(
        reqwest::Method::PATCH,
        &url,
        &admin,
        json!({ "severity": "high" }),
        Some(("if-match", "\"7\"")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = send(
        reqwest::Method::PATCH,
        &url,
        &admin,
        json!({ "severity": "high" }),
        Some(("if-match", "\"1\"")),
    )
    .await;
    assert_eq!(
        (status, body["version"].clone()),
        (StatusCode::OK, json!(2)),
        "{body}"
    );
    let (status, body) = send(
        reqwest::Method::PATCH,
        &url,
        &admin,
        json!({ "version": 2, "kind": "volcano" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("landslide"),
        "{body}"
    );
    let (status, body) = send(
        reqwest::Method::POST,
        &format!("{base}/api/hazards"),
        &admin,
        json!({ "kind": "flood", "severity": "low",
                "geometry": { "type": "Polygon", "coordinates": [[[9.5, 47.1], [9.51, 47.11], [9.51, 47.1], [9.5, 47.11], [9.5, 47.1]]] } }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a bow-tie polygon: {body}");
    let (status, _) = send(
        reqwest::Method::POST,
        &format!("{base}/api/hazards"),
        &admin,
        json!({ "kind": "fire", "severity": "low", "geometry": { "type": "Point", "coordinates": [116.4, 39.9] } }),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "Beijing is outside the township"
    );
    let (status, _) = send(
        reqwest::Method::POST,
        &format!("{url}/inspections"),
        &admin,
        json!({ "note": "裂缝加宽 2 厘米，已设警示牌" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, notes) = get_as(&format!("{url}/inspections"), Some(&admin)).await;
    assert_eq!(
        notes["inspections"][0]["note"],
        json!("裂缝加宽 2 厘米，已设警示牌")
    );

    // An evacuation of the zone; the worker of the first household's grid marks it moved.
    let (status, ev) = send(
        reqwest::Method::POST,
        &format!("{base}/api/leader/evacuations"),
        &admin,
        json!({ "name": "后山滑坡转移", "hazards": [hazard] }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ev}");
    let evacuation = count(&ev["id"]);
    // Severity is now high (300 m): more households than at 200 m, the 210 m one among them.
    let (_, list) = get_as(
        &format!("{base}/api/evacuations/{evacuation}"),
        Some(&admin),
    )
    .await;
    let listed: Vec<i64> = list["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| count(&h["id"]))
        .collect();
    assert!(listed.contains(&new_households[1]), "{list}");
    assert_eq!(list["tally"]["by_status"]["pending"], json!(listed.len()));
    let grid_of_new: i64 = sqlx::query_scalar("SELECT grid_id FROM households WHERE id = $1")
        .bind(new_households[1])
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    add_user(
        &db.store,
        "worker",
        "pw-worker",
        Role::GridWorker,
        grid_of_new,
        &[],
    )
    .await;
    let worker = login(&base, "worker", "pw-worker").await.unwrap();
    let mark = |household: i64, status: &'static str| {
        let (base, worker) = (base.clone(), worker.clone());
        async move {
            send(
                reqwest::Method::PUT,
                &format!("{base}/api/evacuations/{evacuation}/households/{household}"),
                &worker,
                json!({ "status": status, "note": "已送至避难点" }),
                None,
            )
            .await
        }
    };
    let (status, body) = mark(new_households[1], "moved").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = mark(new_households[1], "teleported").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let outside: Option<i64> = sqlx::query_scalar(
        "SELECT e.household_id FROM evacuation_households e JOIN households h ON h.id = e.household_id \
         WHERE e.evacuation_id = $1 AND h.grid_id IS DISTINCT FROM $2 LIMIT 1",
    )
    .bind(evacuation)
    .bind(grid_of_new)
    .fetch_optional(db.store.pool())
    .await
    .unwrap();
    if let Some(other) = outside {
        let (status, _) = mark(other, "moved").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another grid's household");
    }
    let (_, list) = get_as(
        &format!("{base}/api/evacuations/{evacuation}"),
        Some(&admin),
    )
    .await;
    assert_eq!(list["tally"]["by_status"]["moved"], json!(1));
    let moved = list["households"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == json!(new_households[1]))
        .unwrap();
    assert_eq!(moved["status"], json!("moved"));
    assert_eq!(moved["updated_by"], json!("worker"));
}

#[tokio::test]
async fn a_generated_county_copy_is_valid_and_its_exposure_equals_postgis() {
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let original = db.store.county_original().await.unwrap();
    assert_eq!((original.copies, original.households), (0, 12248));
    let figures = db
        .store
        .add_county_copy(1, (original.width * 1.05, 0.0), 7)
        .await
        .unwrap();
    assert_eq!(figures.households, 12248);
    let after = db.store.county_original().await.unwrap();
    assert_eq!((after.copies, after.households), (1, 12248));
    // Every copied household was filed into a copied grid by the database's own trigger.
    let (copied, filed): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE strpos(g.code, '~1') > 0) FROM households h \
         LEFT JOIN areas g ON g.id = h.grid_id WHERE ST_X(h.geom) > $1 + \
         (SELECT ST_XMin(ST_Extent(geom)) FROM areas WHERE parent_id IS NULL AND strpos(code, '~') = 0)",
    )
    .bind(original.width * 1.02)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!((copied, filed), (12248, 12248));

    // Every hazard of both copies: the R-tree's answer is PostGIS's, household for household.
    let townships: Vec<i64> = sqlx::query_scalar("SELECT id FROM areas WHERE parent_id IS NULL")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    let hazards = db.store.hazards_in_scope(&townships).await.unwrap();
    assert_eq!(hazards.len(), 248);
    let households = cuntu_core::index::LayerIndex::bulk_load(
        db.store
            .features_for_index(cuntu_store::layers::FeatureLayer::Households)
            .await
            .unwrap(),
    );
    let ids: Vec<i64> = hazards.iter().map(|h| h.id).collect();
    let mut reference: BTreeMap<i64, Vec<i64>> = ids.iter().map(|id| (*id, Vec::new())).collect();
    for (hazard, household) in db.store.exposure_reference(&ids).await.unwrap() {
        reference.get_mut(&hazard).unwrap().push(household);
    }
    let mut pairs = 0;
    for h in &hazards {
        let ours = cuntu_core::exposure::exposed_households(&h.geometry, h.buffer_m, &households);
        pairs += ours.len();
        assert_eq!(
            &ours, &reference[&h.id],
            "hazard {} ({} m)",
            h.id, h.buffer_m
        );
    }
    assert!(pairs > 100, "{pairs}");
}
