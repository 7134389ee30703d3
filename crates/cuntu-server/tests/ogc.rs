//! OGC API - Features over HTTP against PostGIS: the documents standard clients read, paging
//! and filters within the caller's scope, CRS by reference, Basic and bearer authentication,
//! Part 4 writes that show in the tiles and the REST API; then the real clients: GDAL's OAPIF
//! driver (`ogrinfo`, `ogr2ogr`) and OWSLib.

mod common;

use std::process::Command;

use common::{add_user, client, household_tile, start_server};
use cuntu_core::auth::Role;
use cuntu_core::TileCoord;
use cuntu_store::testing::TestDatabase;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};

/// 花山镇 with two villages. 花山村 has two grids of six households each; 柳树村 one grid of
/// four. A worker holds 花山村's west grid, a cadre 花山村, an admin the township; a leader
/// reads counts only. One facility and one hazard in each village.
struct Fixture {
    base: String,
    admin: String,
    cadre: String,
    worker: String,
    leader: String,
    west: Vec<i64>,
    east: Vec<i64>,
    willow: Vec<i64>,
    facility_huashan: i64,
    facility_willow: i64,
    _db: TestDatabase,
}

async fn token(db: &TestDatabase, user_id: i64) -> String {
    let (token, hash) = cuntu_server::auth::new_token();
    db.store
        .create_api_token(&hash, user_id, "qgis")
        .await
        .unwrap();
    token
}

async fn fixture() -> Fixture {
    let db = TestDatabase::new().await.unwrap();
    let pool = db.store.pool().clone();
    let area = |kind: &'static str,
                parent: Option<i64>,
                code: &'static str,
                name: &'static str,
                wkt: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO areas (kind, parent_id, code, name, geom) \
                 VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromText($5, 4326))) RETURNING id",
            )
            .bind(kind)
            .bind(parent)
            .bind(code)
            .bind(name)
            .bind(wkt)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let t = area(
        "township",
        None,
        "T",
        "花山镇",
        "POLYGON((114.30 30.60, 114.34 30.60, 114.34 30.64, 114.30 30.64, 114.30 30.60))",
    )
    .await;
    let v = area(
        "village",
        Some(t),
        "V",
        "花山村",
        "POLYGON((114.30 30.60, 114.32 30.60, 114.32 30.62, 114.30 30.62, 114.30 30.60))",
    )
    .await;
    let w = area(
        "village",
        Some(t),
        "W",
        "柳树村",
        "POLYGON((114.32 30.60, 114.34 30.60, 114.34 30.62, 114.32 30.62, 114.32 30.60))",
    )
    .await;
    let west_grid = area(
        "grid",
        Some(v),
        "V-01",
        "网格01",
        "POLYGON((114.30 30.60, 114.31 30.60, 114.31 30.62, 114.30 30.62, 114.30 30.60))",
    )
    .await;
    area(
        "grid",
        Some(v),
        "V-02",
        "网格02",
        "POLYGON((114.31 30.60, 114.32 30.60, 114.32 30.62, 114.31 30.62, 114.31 30.60))",
    )
    .await;
    area(
        "grid",
        Some(w),
        "W-01",
        "网格01",
        "POLYGON((114.32 30.60, 114.34 30.60, 114.34 30.62, 114.32 30.62, 114.32 30.60))",
    )
    .await;
    let names = ["王建国", "王秀英", "李明", "张伟", "刘芳", "陈静"];
    let mut lists = (Vec::new(), Vec::new(), Vec::new());
    for (i, name) in names.iter().enumerate() {
        for (x0, which) in [(114.302, 0), (114.312, 1), (114.322, 2)] {
            if which == 2 && i >= 4 {
                continue;
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO households (geom, head_name, house_number, phone, id_card, tags, members) \
                 VALUES (ST_SetSRID(ST_MakePoint($1, $2), 4326), $3, $4, $5, $6, $7, 3) RETURNING id",
            )
            .bind(x0 + 0.001 * i as f64)
            .bind(30.605 + 0.001 * i as f64)
            .bind(name)
            .bind(format!("{}号", i + 1))
            .bind(format!("1380000{:04}", 1000 + i))
            .bind(format!("42010119800101{:04}", 1000 + i))
            .bind(if i == 0 { vec!["elderly_alone"] } else { vec![] })
            .fetch_one(&pool)
            .await
            .unwrap();
            match which {
                0 => lists.0.push(id),
                1 => lists.1.push(id),
                _ => lists.2.push(id),
            }
        }
    }
    let facility = |lon: f64, name: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO facilities (kind, name, geom) VALUES ('clinic', $1, \
                 ST_SetSRID(ST_MakePoint($2, 30.615), 4326)) RETURNING id",
            )
            .bind(name)
            .bind(lon)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let facility_huashan = facility(114.305, "花山村卫生室").await;
    let facility_willow = facility(114.335, "柳树村卫生室").await;
    sqlx::query(
        "INSERT INTO hazards (kind, severity, name, rule, geom) VALUES \
         ('flood', 'high', '河边低洼地', 'test', ST_GeomFromText('POLYGON((114.301 30.601, 114.303 30.601, 114.303 30.603, 114.301 30.603, 114.301 30.601))', 4326)), \
         ('water', 'medium', '池塘', 'test', ST_SetSRID(ST_MakePoint(114.33, 30.61), 4326))",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO roads (class, name, geom) VALUES ('residential', '花山路', \
         ST_GeomFromText('LINESTRING(114.30 30.61, 114.34 30.61)', 4326))",
    )
    .execute(&pool)
    .await
    .unwrap();
    let base = start_server(db.store.clone()).await;
    let admin_id = add_user(
        &db.store,
        "admin",
        "admin-password",
        Role::TownshipAdmin,
        t,
        &[],
    )
    .await;
    let cadre_id = add_user(
        &db.store,
        "cadre",
        "cadre-password",
        Role::VillageCadre,
        v,
        &[],
    )
    .await;
    let worker_id = add_user(
        &db.store,
        "worker",
        "worker-password",
        Role::GridWorker,
        west_grid,
        &[],
    )
    .await;
    let leader_id = add_user(&db.store, "leader", "leader-password", Role::Leader, t, &[]).await;
    Fixture {
        admin: token(&db, admin_id).await,
        cadre: token(&db, cadre_id).await,
        worker: token(&db, worker_id).await,
        leader: token(&db, leader_id).await,
        base,
        west: lists.0,
        east: lists.1,
        willow: lists.2,
        facility_huashan,
        facility_willow,
        _db: db,
    }
}

fn as_bearer(request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    }
}

/// GET as a standard client would: status, content type, JSON body.
async fn get(f: &Fixture, token: Option<&str>, path: &str) -> (StatusCode, String, Value) {
    let r = as_bearer(client().get(format!("{}{path}", f.base)), token)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let media = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, media, r.json().await.unwrap_or(Value::Null))
}

fn ids(collection: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = collection["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

fn link<'a>(doc: &'a Value, rel: &str) -> Option<&'a str> {
    doc["links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == rel)
        .and_then(|l| l["href"].as_str())
}

#[tokio::test]
async fn landing_conformance_and_collections_are_what_clients_expect() {
    let f = fixture().await;
    let (status, media, landing) = get(&f, None, "/ogc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(media, "application/json");
    for l in landing["links"].as_array().unwrap() {
        assert!(
            l["href"].as_str().unwrap().starts_with(&f.base),
            "absolute: {l}"
        );
    }
    assert_eq!(
        link(&landing, "service-desc"),
        Some(format!("{}/api/openapi.json", f.base).as_str())
    );
    let desc = landing["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "service-desc")
        .unwrap();
    assert_eq!(desc["type"], "application/vnd.oai.openapi+json;version=3.0");

    let r = client()
        .get(format!("{}/ogc/collections", f.base))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "map.example.cn")
        .send()
        .await
        .unwrap();
    let behind_proxy: Value = r.json().await.unwrap();
    assert!(link(&behind_proxy, "self")
        .unwrap()
        .starts_with("https://map.example.cn/ogc/collections"));

    let (_, _, conformance) = get(&f, None, "/ogc/conformance").await;
    let classes: Vec<&str> = conformance["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for class in ["core", "geojson", "html", "oas30"] {
        assert!(classes.contains(
            &format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{class}").as_str()
        ));
    }
    assert!(classes.contains(&"http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"));

    // Anonymous: the public layers; households are not even listed.
    let (_, _, public) = get(&f, None, "/ogc/collections").await;
    let listed: Vec<&str> = public["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            "townships",
            "villages",
            "hamlets",
            "grids",
            "lanes",
            "facilities",
            "hazards",
            "roads",
            "waterways"
        ]
    );
    let (_, _, mine) = get(&f, Some(&f.worker), "/ogc/collections").await;
    let collections = mine["collections"].as_array().unwrap();
    assert!(collections.iter().any(|c| c["id"] == "households"));
    for c in collections {
        assert_eq!(c["itemType"], "feature", "{}", c["id"]);
        assert!(!c["id"].as_str().unwrap().contains('.'));
        let items = c["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "items" && l["type"] == "application/geo+json");
        assert!(items.is_some(), "{}", c["id"]);
    }
    let (status, _, grids) = get(&f, None, "/ogc/collections/grids").await;
    assert_eq!(status, StatusCode::OK);
    let bbox = &grids["extent"]["spatial"]["bbox"][0];
    assert_eq!(bbox[0].as_f64().unwrap(), 114.30);
    assert_eq!(bbox[3].as_f64().unwrap(), 30.62);

    // A browser gets pages; f=json wins over Accept.
    let r = client()
        .get(format!("{}/ogc/collections", f.base))
        .header("accept", "text/html,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.text().await.unwrap().contains("/ogc/collections/grids"));
    let (_, media, _) = get(&f, None, "/ogc/collections?f=json").await;
    assert_eq!(media, "application/json");

    let (status, media, _) = get(&f, None, "/ogc/collections/grids/").await;
    assert_eq!(
        (status, media.as_str()),
        (StatusCode::NOT_FOUND, "application/json; charset=utf-8")
    );
    let (status, _, missing) = get(&f, None, "/ogc/collections/people").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["error"]["message"]
        .as_str()
        .unwrap()
        .contains("households"));
}

#[tokio::test]
async fn items_page_filter_and_stay_in_the_callers_scope() {
    let f = fixture().await;
    // The worker's page of four out of six, with a next link that reaches the rest.
    let (status, media, page) = get(
        &f,
        Some(&f.worker),
        "/ogc/collections/households/items?limit=4",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(media, "application/geo+json");
    assert_eq!(page["numberMatched"], 6);
    assert_eq!(page["numberReturned"], 4);
    let next = link(&page, "next").unwrap().to_string();
    assert!(next.starts_with(&f.base));
    let (_, _, rest) = get(&f, Some(&f.worker), next.trim_start_matches(&f.base)).await;
    assert_eq!(rest["numberReturned"], 2);
    assert!(link(&rest, "next").is_none());
    let mut all = ids(&page);
    all.extend(ids(&rest));
    all.sort_unstable();
    assert_eq!(all, f.west);
    // A grid worker reads whole phones; ID numbers masked.
    let first = &page["features"][0];
    assert_eq!(first["geometry"]["type"], "Point");
    assert_eq!(first["properties"]["phone"], "13800001000");
    assert_eq!(first["properties"]["id_card"], "4201**********1000");

    // The cadre: the whole village, phones masked; the admin: the township.
    let (_, _, village) = get(&f, Some(&f.cadre), "/ogc/collections/households/items").await;
    assert_eq!(village["numberMatched"], 12);
    assert_eq!(village["features"][0]["properties"]["phone"], "138****1000");
    let (_, _, township) = get(&f, Some(&f.admin), "/ogc/collections/households/items").await;
    assert_eq!(township["numberMatched"], 16);

    // Filters: a box, a property, a key-population tag, a time span.
    let (_, _, boxed) = get(
        &f,
        Some(&f.cadre),
        "/ogc/collections/households/items?bbox=114.3105,30.60,114.32,30.62",
    )
    .await;
    assert_eq!(ids(&boxed), f.east);
    let (_, _, numbered) = get(
        &f,
        Some(&f.cadre),
        &format!(
            "/ogc/collections/households/items?house_number={}",
            "3%E5%8F%B7"
        ),
    )
    .await;
    assert_eq!(numbered["numberMatched"], 2);
    let (_, _, tagged) = get(
        &f,
        Some(&f.cadre),
        "/ogc/collections/households/items?tags=elderly_alone",
    )
    .await;
    assert_eq!(ids(&tagged), vec![f.west[0], f.east[0]]);
    let (_, _, recent) = get(
        &f,
        Some(&f.cadre),
        "/ogc/collections/households/items?datetime=2000-01-01T00:00:00Z/..",
    )
    .await;
    assert_eq!(recent["numberMatched"], 12);
    let (_, _, old) = get(
        &f,
        Some(&f.cadre),
        "/ogc/collections/households/items?datetime=../2000-01-01",
    )
    .await;
    assert_eq!(old["numberMatched"], 0);

    // Masked fields are not filters; unknown parameters are errors, in the asked language.
    let (status, _, error) = get(
        &f,
        Some(&f.cadre),
        "/ogc/collections/households/items?phone=13800001000",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Unknown query parameter 'phone'"));
    let (status, _, _) = get(&f, None, "/ogc/collections/grids/items?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Outside the scope: 401 anonymous (with a Basic challenge), 403 a role without
    // households, 403 a household elsewhere, 404 one that does not exist.
    let r = client()
        .get(format!("{}/ogc/collections/households/items", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let (status, _, _) = get(&f, Some(&f.leader), "/ogc/collections/households/items").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get(
        &f,
        Some(&f.worker),
        &format!("/ogc/collections/households/items/{}", f.east[0]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get(
        &f,
        Some(&f.worker),
        "/ogc/collections/households/items/999999",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = as_bearer(
        client().get(format!(
            "{}/ogc/collections/households/items/{}",
            f.base, f.west[1]
        )),
        Some(&f.worker),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/geo+json");
    assert_eq!(r.headers()["etag"], "\"1\"");
    let one: Value = r.json().await.unwrap();
    assert_eq!(one["id"].as_i64(), Some(f.west[1]));
    assert_eq!(one["properties"]["head_name"], "王秀英");

    // Public layers need no one; every feature read is audited for households only.
    let (status, _, roads) = get(&f, None, "/ogc/collections/roads/items").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(roads["features"][0]["properties"]["class"], "residential");
    let (_, _, villages) = get(&f, None, "/ogc/collections/villages/items").await;
    assert_eq!(villages["numberMatched"], 2);
    let (_, _, grids) = get(&f, None, "/ogc/collections/grids/items?code=V-01").await;
    assert_eq!(grids["features"][0]["properties"]["households"], 6);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action IN ('list_households', 'read_household')",
    )
    .fetch_one(f._db.store.pool())
    .await
    .unwrap();
    assert!(audited >= 8, "{audited}");
}

#[tokio::test]
async fn features_come_in_the_crs_asked_for() {
    let f = fixture().await;
    let path = format!("/ogc/collections/facilities/items/{}", f.facility_huashan);
    let r = client()
        .get(format!("{}{path}", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-crs"],
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    );
    let crs84: Value = r.json().await.unwrap();
    assert_eq!(crs84["geometry"]["coordinates"], json!([114.305, 30.615]));
    // EPSG:4326 and CGCS2000 are latitude first by their definitions.
    for code in ["4326", "4490"] {
        let uri = format!("http://www.opengis.net/def/crs/EPSG/0/{code}");
        let r = client()
            .get(format!("{}{path}?crs={uri}", f.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["content-crs"].to_str().unwrap(),
            format!("<{uri}>")
        );
        let v: Value = r.json().await.unwrap();
        let c = v["geometry"]["coordinates"].as_array().unwrap();
        assert!(
            (c[0].as_f64().unwrap() - 30.615).abs() < 1e-6,
            "{code}: {c:?}"
        );
        assert!(
            (c[1].as_f64().unwrap() - 114.305).abs() < 1e-6,
            "{code}: {c:?}"
        );
    }
    let (_, _, mercator) = get(
        &f,
        None,
        &format!("{path}?crs=http://www.opengis.net/def/crs/EPSG/0/3857"),
    )
    .await;
    let c = mercator["geometry"]["coordinates"].as_array().unwrap();
    let (x, y) = cuntu_core::tile::lonlat_to_mercator(114.305, 30.615);
    assert!((c[0].as_f64().unwrap() - x).abs() < 0.02, "{c:?}");
    assert!((c[1].as_f64().unwrap() - y).abs() < 0.02, "{c:?}");
    // A box in Web Mercator around 柳树村's clinic only.
    let (x, y) = cuntu_core::tile::lonlat_to_mercator(114.335, 30.615);
    let (_, _, boxed) = get(
        &f,
        None,
        &format!(
            "/ogc/collections/facilities/items?bbox={},{},{},{}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857",
            x - 50.0,
            y - 50.0,
            x + 50.0,
            y + 50.0
        ),
    )
    .await;
    assert_eq!(ids(&boxed), vec![f.facility_willow]);
    // The same box, latitude first, in EPSG:4326.
    let (_, _, boxed) = get(
        &f,
        None,
        "/ogc/collections/facilities/items?bbox=30.61,114.33,30.62,114.34&bbox-crs=EPSG:4326",
    )
    .await;
    assert_eq!(ids(&boxed), vec![f.facility_willow]);
    let (status, _, error) = get(&f, None, "/ogc/collections/facilities/items?crs=EPSG:2385").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]["message"].as_str().unwrap().contains("4490"));
}

#[tokio::test]
async fn standard_clients_authenticate_with_basic_or_a_token() {
    let f = fixture().await;
    let url = format!("{}/ogc/collections/households/items", f.base);
    let r = client()
        .get(&url)
        .basic_auth("worker", Some("worker-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["numberMatched"], 6);
    // An API token in the password field, as QGIS's Basic configuration can carry it.
    let r = client()
        .get(&url)
        .basic_auth("cadre", Some(&f.cadre))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["numberMatched"], 12);
    let r = client()
        .get(&url)
        .basic_auth("worker", Some("wrong"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers().contains_key("www-authenticate"),
        "kept through the English body"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Wrong username or password.");
    // A token is not a password of someone else.
    let r = client()
        .get(&url)
        .basic_auth("admin", Some(&f.worker))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn send(
    request: RequestBuilder,
    token: &str,
    lang: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = request
        .bearer_auth(token)
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn writes_keep_scope_and_versions_and_show_in_tiles_and_rest() {
    let f = fixture().await;
    let items = format!("{}/ogc/collections/households/items", f.base);
    let household = |lon: f64, lat: f64| {
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
               "properties": {"house_number": "7号", "head_name": "赵六", "members": 2,
                              "phone": "13900001111", "tags": ["disabled"]}})
    };
    // The worker adds a household in their grid.
    let (status, headers, body) = send(
        client().post(&items).json(&household(114.3095, 30.611)),
        &f.worker,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let location = headers["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{items}/")));
    assert_eq!(headers["etag"], "\"1\"");
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    // It is in the REST API and in the worker's tiles at once.
    let (status, _, rest) = get(&f, Some(&f.worker), &format!("/api/households/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rest["head_name"], "赵六");
    assert_eq!(rest["grid_name"], "网格01");
    let tile = TileCoord::containing(16, 114.3095, 30.611).unwrap();
    let cookie = format!("cuntu_session={}", f.worker);
    assert!(household_tile(&f.base, tile, Some(&cookie))
        .await
        .iter()
        .any(|(h, _)| *h == id));

    // Out of scope: the east grid is not the worker's; the other village not the cadre's.
    let (status, _, body) = send(
        client().post(&items).json(&household(114.315, 30.611)),
        &f.worker,
        "zh-CN",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("管辖范围"));
    let (status, _, _) = send(
        client().post(&items).json(&household(114.33, 30.611)),
        &f.cadre,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        client().delete(format!("{items}/{}", f.east[0])),
        &f.worker,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Moving one's household into another's grid is refused too, and nothing changes.
    let (status, _, _) = send(
        client()
            .put(format!("{items}/{id}"))
            .json(&household(114.315, 30.611)),
        &f.worker,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM households")
        .fetch_one(f._db.store.pool())
        .await
        .unwrap();
    assert_eq!(count, 17);
    // QGIS asks what it may do before it offers editing.
    let allow = |token: Option<String>, path: String| async move {
        let r = as_bearer(
            client().request(reqwest::Method::OPTIONS, path),
            token.as_deref(),
        )
        .send()
        .await
        .unwrap();
        r.headers()["allow"].to_str().unwrap().to_string()
    };
    assert!(allow(Some(f.worker.clone()), items.clone())
        .await
        .contains("POST"));
    assert!(allow(Some(f.worker.clone()), format!("{items}/{id}"))
        .await
        .contains("PATCH"));
    assert_eq!(allow(None, items.clone()).await, "GET, HEAD, OPTIONS");
    assert_eq!(
        allow(
            Some(f.admin.clone()),
            format!("{}/ogc/collections/roads/items", f.base)
        )
        .await,
        "GET, HEAD, OPTIONS"
    );
    // The leader reads counts, the anonymous nothing: neither writes.
    let (status, _, _) = send(
        client().post(&items).json(&household(114.3095, 30.611)),
        &f.leader,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = client()
        .post(&items)
        .json(&household(114.3095, 30.611))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Versions: a stale If-Match is refused with 412; the current one goes through.
    let patch = |members: i64| json!({"properties": {"members": members}});
    let (status, headers, _) = send(
        client()
            .patch(format!("{items}/{id}"))
            .header("if-match", "\"1\"")
            .json(&patch(5)),
        &f.cadre,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(headers["etag"], "\"2\"");
    let (status, _, body) = send(
        client()
            .patch(format!("{items}/{id}"))
            .header("if-match", "\"1\"")
            .json(&patch(6)),
        &f.worker,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("version 1"),
        "{body}"
    );
    let (_, _, rest) = get(&f, Some(&f.worker), &format!("/api/households/{id}")).await;
    assert_eq!(rest["members"], 5);
    // The cadre saw the phone masked: sending it back unchanged keeps the real one.
    let (_, _, seen) = get(
        &f,
        Some(&f.cadre),
        &format!("/ogc/collections/households/items/{id}"),
    )
    .await;
    assert_eq!(seen["properties"]["phone"], "139****1111");
    let mut back = seen.clone();
    back["properties"]["head_name"] = json!("赵六六");
    let (status, _, body) = send(
        client().put(format!("{items}/{id}")).json(&back),
        &f.cadre,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, _, rest) = get(&f, Some(&f.worker), &format!("/api/households/{id}")).await;
    assert_eq!(rest["phone"], "13900001111");
    assert_eq!(rest["head_name"], "赵六六");

    // Validation answers in the request's language.
    let bad = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.3095, 30.611]},
                     "properties": {"members": 500}});
    let (status, _, body) = send(client().post(&items).json(&bad), &f.worker, "en").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["message"],
        "Property members must lie between 0 and 100, got 500"
    );
    let (_, _, body) = send(client().post(&items).json(&bad), &f.worker, "zh-CN").await;
    assert_eq!(
        body["error"]["message"],
        "属性 members 须在 0 到 100 之间，收到 500"
    );
    let (status, _, _) = send(
        client()
            .post(&items)
            .header(
                "content-crs",
                "<http://www.opengis.net/def/crs/EPSG/0/3857>",
            )
            .json(&household(12_725_000.0, 3_580_000.0)),
        &f.worker,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(client().post(&items).body("{not json"), &f.worker, "en").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Facilities: cadres and admins of the area edit them; hazards: leaders and admins, as
    // /api/hazards lets them.
    let facilities = format!("{}/ogc/collections/facilities/items", f.base);
    let shelter = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.306, 30.612]},
                         "properties": {"kind": "shelter", "name": "花山小学避难点", "capacity": 200}});
    let (status, _, _) = send(client().post(&facilities).json(&shelter), &f.worker, "en").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) =
        send(client().post(&facilities).json(&shelter), &f.cadre, "en").await;
    assert_eq!(status, StatusCode::CREATED);
    let shelter_id = headers["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (status, _, _) = send(
        client().delete(format!("{facilities}/{}", f.facility_willow)),
        &f.cadre,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let hazards = format!("{}/ogc/collections/hazards/items", f.base);
    let flood = json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[114.321, 30.601], [114.323, 30.601], [114.323, 30.603], [114.321, 30.601]]]},
                       "properties": {"kind": "flood", "severity": "extreme"}});
    let (status, _, body) = send(client().post(&hazards).json(&flood), &f.admin, "en").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Valid: low, medium, high"));
    let mut flood = flood;
    flood["properties"]["severity"] = json!("high");
    let (status, _, _) = send(client().post(&hazards).json(&flood), &f.cadre, "en").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = send(client().post(&hazards).json(&flood), &f.leader, "en").await;
    assert_eq!(status, StatusCode::CREATED);
    let hazard: i64 = headers["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // The hazard's own history says who wrote it, and it starts open.
    let (by, status): (String, String) = sqlx::query_as(
        "SELECT u.username, h.status FROM hazard_history h JOIN users u ON u.id = h.changed_by \
         WHERE h.hazard_id = $1 AND h.version = 1",
    )
    .bind(hazard)
    .fetch_one(f._db.store.pool())
    .await
    .unwrap();
    assert_eq!((by.as_str(), status.as_str()), ("leader", "open"));
    let (_, _, all) = get(&f, None, "/ogc/collections/hazards/items?severity=high").await;
    assert_eq!(all["numberMatched"], 2);
    let (status, _, _) = send(
        client()
            .post(format!("{}/ogc/collections/roads/items", f.base))
            .json(&shelter),
        &f.admin,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // Deletes, with the version; the deleted feature is gone from the API.
    let (status, _, _) = send(
        client()
            .delete(format!("{facilities}/{shelter_id}"))
            .header("if-match", "\"1\""),
        &f.cadre,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = get(
        &f,
        None,
        &format!("/ogc/collections/facilities/items/{shelter_id}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let writes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'ogc_%'")
            .fetch_one(f._db.store.pool())
            .await
            .unwrap();
    assert_eq!(writes, 6, "create, update, replace, create, create, delete");
    let _ = f.willow;
}

/// Runs a client program to its end; its output, or a failure that says what went wrong.
fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} cannot run ({e}): scripts/deps.sh installs gdal-bin")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdal_lists_the_collections_and_copies_the_scoped_households() {
    let f = fixture().await;
    let url = format!("OAPIF:{}/ogc", f.base);
    let (listing, copied, copied_basic) = tokio::task::spawn_blocking({
        let (url, worker) = (url.clone(), f.worker.clone());
        move || {
            let listing = run("ogrinfo", &["-ro", "-q", &url], &[]);
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out.gpkg");
            let out = out.to_str().unwrap();
            // The token through GDAL's own option, pages of four so the next links are walked.
            let header = format!("Authorization: Bearer {worker}");
            run(
                "ogr2ogr",
                &["-f", "GPKG", out, &url, "households", "-oo", "PAGE_SIZE=4"],
                &[("GDAL_HTTP_HEADERS", header.as_str())],
            );
            let copied = run("ogrinfo", &["-ro", "-so", out, "households"], &[]);
            let basic = dir.path().join("basic.gpkg");
            let basic = basic.to_str().unwrap();
            run(
                "ogr2ogr",
                &["-f", "GPKG", basic, &url, "households"],
                &[
                    ("GDAL_HTTP_AUTH", "BASIC"),
                    ("GDAL_HTTP_USERPWD", "cadre:cadre-password"),
                ],
            );
            let copied_basic = run("ogrinfo", &["-ro", "-so", basic, "households"], &[]);
            (listing, copied, copied_basic)
        }
    })
    .await
    .unwrap();
    for id in [
        "townships",
        "villages",
        "grids",
        "facilities",
        "hazards",
        "roads",
        "waterways",
    ] {
        assert!(
            listing.lines().any(|l| l.contains(&format!(": {id} "))),
            "{id} in\n{listing}"
        );
    }
    assert!(
        !listing.contains("households"),
        "anonymous: no households\n{listing}"
    );
    assert!(copied.contains("Feature Count: 6"), "{copied}");
    assert!(copied.contains("Point"), "{copied}");
    assert!(copied_basic.contains("Feature Count: 12"), "{copied_basic}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owslib_reads_collections_and_items() {
    let f = fixture().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/ogc-clients.sh");
    let base = f.base.clone();
    let token = f.cadre.clone();
    let out = tokio::task::spawn_blocking(move || {
        let python = run(script, &[], &[]);
        let python = python.lines().last().unwrap_or_default().trim().to_string();
        let program = r#"
import json, sys
from owslib.ogcapi.features import Features
url, token = sys.argv[1], sys.argv[2]
api = Features(url, headers={"Authorization": "Bearer " + token})
ids = [c["id"] for c in api.collections()["collections"]]
page = api.collection_items("households", limit=5)
grid = api.collection_item("grids", str(api.collection_items("grids")["features"][0]["id"]))
print(json.dumps({"ids": ids, "matched": page["numberMatched"], "returned": len(page["features"]),
                  "grid": grid["properties"]["code"], "conformance": len(api.conformance()["conformsTo"])}))
"#;
        run(&python, &["-c", program, &format!("{base}/ogc"), &token], &[])
    })
    .await
    .unwrap();
    let result: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        result["ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "households"),
        "{result}"
    );
    assert_eq!(result["matched"], 12);
    assert_eq!(result["returned"], 5);
    assert_eq!(result["grid"], "V-01");
}

/// Every `.route("path", get(..).post(..))` in the routers' sources, as `(METHOD, path)`:
/// axum cannot list its routes, so the test reads them where they are written.
fn routes_in_source() -> std::collections::BTreeSet<(String, String)> {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut sources = Vec::new();
    files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes"),
        &mut sources,
    );
    let mut routes = std::collections::BTreeSet::new();
    for file in sources {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            let call = &rest[at + ".route(".len()..];
            // Only router calls, whose first argument is the path literal (not a road
            // network's `.route(from, ...)`).
            if !call.trim_start().starts_with('"') {
                rest = call;
                continue;
            }
            // The call's span: up to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let end = call
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let span = &call[..end];
            let path = span.split('"').nth(1).unwrap().to_string();
            for method in ["get", "post", "put", "patch", "delete", "options"] {
                let mut from = 0;
                while let Some(i) = span[from..].find(&format!("{method}(")) {
                    let i = from + i;
                    let before = span[..i].chars().last().unwrap_or(' ');
                    if !(before.is_alphanumeric() || before == '_') {
                        routes.insert((method.to_uppercase(), path.clone()));
                    }
                    from = i + 1;
                }
            }
            rest = &call[end..];
        }
    }
    // Not the REST surface: the catch-all 404s of /api and /ogc, the landing page's trailing-slash
    // twin, and the web pages.
    for (method, path) in [
        ("GET", "/api/{*rest}"),
        ("GET", "/ogc/{*rest}"),
        ("GET", "/ogc/"),
        ("GET", "/draw"),
    ] {
        assert!(
            routes.remove(&(method.to_string(), path.to_string())),
            "{path}"
        );
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_every_listed_route_answers() {
    let db = TestDatabase::new().await.unwrap();
    let base = start_server(db.store.clone()).await;
    let r = client()
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.oai.openapi+json;version=3.0"
    );
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["servers"][0]["url"], base.as_str());
    let mut documented = std::collections::BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routed = routes_in_source();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes missing from routes/ogc/openapi.rs: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
    // And the server answers each documented operation (not with 405 or the 404 of an
    // unknown endpoint), asked anonymously with placeholder values.
    for (method, path) in &documented {
        let url = format!(
            "{base}{}",
            path.replace("{collection_id}", "facilities")
                .replace("{layer}", "areas")
                .replace("{format}", "json")
                .replace("{z}", "0")
                .replace("{x}", "0")
                .replace("{y}", "0")
                .replace(['{', '}'], "")
                .split('/')
                .map(|s| {
                    if s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        && ["id", "feature_id", "grid", "household"].contains(&s)
                    {
                        "1"
                    } else {
                        s
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        );
        let r = client()
            .request(method.parse().unwrap(), &url)
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED || !body.is_empty(),
            "{method} {url}: not routed"
        );
        assert!(
            !body.contains("The endpoint") && !body.contains("The OGC API resource"),
            "{method} {url}: {body}"
        );
    }
    let page = client()
        .get(format!("{base}/api/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("/ogc/collections/{collection_id}/items"));
}

#[tokio::test]
async fn cql2_filters_name_queryables_only_and_stay_in_scope() {
    let f = fixture().await;
    let items = "/ogc/collections/households/items";
    let filter = |cql: &str| format!("{items}?filter-lang=cql2-text&filter={}", urlencode(cql));
    // Comparisons and logic within the cadre's village: twelve households, two per number.
    let (status, _, both) = get(
        &f,
        Some(&f.cadre),
        &filter("house_number IN ('1号', '2号') AND members >= 3"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{both}");
    assert_eq!(both["numberMatched"], 4);
    let (_, _, tagged) = get(
        &f,
        Some(&f.cadre),
        &filter("tags = 'elderly_alone' OR head_name LIKE '张%'"),
    )
    .await;
    assert_eq!(tagged["numberMatched"], 4);
    // A spatial filter: the east grid's box; the same for the worker finds none of theirs.
    let east_box = "S_INTERSECTS(geometry, BBOX(114.3105, 30.60, 114.32, 30.62))";
    let (_, _, east) = get(&f, Some(&f.cadre), &filter(east_box)).await;
    assert_eq!(ids(&east), f.east);
    let (_, _, none) = get(&f, Some(&f.worker), &filter(east_box)).await;
    assert_eq!(none["numberMatched"], 0);
    // Latitude first in EPSG:4326, as filter-crs says.
    let (_, _, flipped) = get(
        &f,
        Some(&f.cadre),
        &format!("{}&filter-crs=EPSG:4326", filter("S_INTERSECTS(geometry, POLYGON((30.60 114.3105, 30.60 114.32, 30.62 114.32, 30.62 114.3105, 30.60 114.3105)))")),
    )
    .await;
    assert_eq!(ids(&flipped), f.east);
    // A masked field is no queryable; errors say what is wrong in the asked language.
    let (status, _, error) = get(&f, Some(&f.cadre), &filter("phone = '13800001000'")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid filter: 'phone' is not a queryable"),
        "{error}"
    );
    let (status, _, _) = get(
        &f,
        Some(&f.cadre),
        &format!(
            "{items}?filter-lang=cql2-json&filter={}",
            urlencode("members = 1")
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Public layers take filters too; queryables list what filters may name.
    let (_, _, high) = get(
        &f,
        None,
        &format!(
            "/ogc/collections/hazards/items?filter={}",
            urlencode("severity = 'high' AND kind <> 'water'")
        ),
    )
    .await;
    assert_eq!(high["numberMatched"], 1);
    let r = client()
        .get(format!("{}/ogc/collections/households/queryables", f.base))
        .bearer_auth(&f.cadre)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/schema+json");
    let schema: Value = r.json().await.unwrap();
    assert!(schema["properties"]["head_name"].is_object());
    assert!(schema["properties"]["phone"].is_null());
    let r = client()
        .get(format!("{}/ogc/collections/households/queryables", f.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
