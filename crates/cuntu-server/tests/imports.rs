//! Web imports (issue 9) against PostGIS: who may upload, the dry run with its mapping and
//! row-numbered problems, the scope (rows outside it skipped), the background job with its
//! report, rosters without coordinates joined by house number, all-or-nothing, and 413.

mod common;

use common::{add_user, client, login};
use cuntu_core::auth::Role;
use cuntu_store::testing::TestDatabase;
use reqwest::StatusCode;
use rust_xlsxwriter::Workbook;
use serde_json::{json, Value};

struct Fixture {
    base: String,
    cadre: String,
    admin: String,
    worker: String,
    db: TestDatabase,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::new().await.unwrap();
    let (t, v, west, _east) = common::huashan(&db.store).await;
    add_user(&db.store, "cadre", "pw-cadre-1", Role::VillageCadre, v, &[]).await;
    add_user(
        &db.store,
        "admin",
        "pw-admin-1",
        Role::TownshipAdmin,
        t,
        &[],
    )
    .await;
    add_user(
        &db.store,
        "worker",
        "pw-worker-1",
        Role::GridWorker,
        west,
        &[],
    )
    .await;
    let base = common::start_server(db.store.clone()).await;
    let cadre = login(&base, "cadre", "pw-cadre-1").await.unwrap();
    let admin = login(&base, "admin", "pw-admin-1").await.unwrap();
    let worker = login(&base, "worker", "pw-worker-1").await.unwrap();
    Fixture {
        base,
        cadre,
        admin,
        worker,
        db,
    }
}

/// A spreadsheet: the header, then the rows (numbers where they parse).
fn xlsx(header: &[&str], rows: &[Vec<&str>]) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let (r, c) = (r as u32 + 1, c as u16);
            match v.parse::<f64>() {
                Ok(n) => sheet.write_number(r, c, n).unwrap(),
                Err(_) => sheet.write_string(r, c, *v).unwrap(),
            };
        }
    }
    book.save_to_buffer().unwrap()
}

/// A multipart/form-data body by hand: the file and the text fields.
fn multipart(file_name: &str, bytes: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "cuntu-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(
    f: &Fixture,
    cookie: &str,
    name: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let (content_type, body) = multipart(name, bytes, fields);
    let r = client()
        .post(format!("{}/api/imports", f.base))
        .header("cookie", cookie)
        .header("content-type", content_type)
        .header("accept-language", "en")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(f: &Fixture, cookie: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let r = client()
        .post(format!("{}{path}", f.base))
        .header("cookie", cookie)
        .header("accept-language", "en")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls the job until it is no longer running; its last state.
async fn finished(f: &Fixture, cookie: &str, id: &str) -> Value {
    for _ in 0..200 {
        let (status, body) =
            common::get_as(&format!("{}/api/imports/{id}", f.base), Some(cookie)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["state"] != "running" {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the import {id} did not finish");
}

async fn households(f: &Fixture) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM households")
        .fetch_one(f.db.store.pool())
        .await
        .unwrap()
}

const HEADER: [&str; 7] = ["户主", "门牌号", "人口", "电话", "标签", "经度", "纬度"];

fn roster() -> Vec<u8> {
    xlsx(
        &HEADER,
        &[
            // West grid, east grid (both in the cadre's 花山村), then the township outside it.
            vec![
                "王一",
                "花山村1号",
                "3",
                "13800000001",
                "低保",
                "114.305",
                "30.61",
            ],
            vec![
                "王二",
                "花山村2号",
                "2",
                "13800000002",
                "",
                "114.315",
                "30.61",
            ],
            vec![
                "王三",
                "花山镇9号",
                "4",
                "13800000003",
                "独居老人",
                "114.33",
                "30.61",
            ],
        ],
    )
}

#[tokio::test]
async fn a_cadre_imports_a_roster_within_the_village_and_the_rest_is_skipped() {
    let f = fixture().await;

    // Only township admins and village cadres upload.
    let (status, _) = upload(
        &f,
        &f.worker,
        "r.xlsx",
        &roster(),
        &[("layer", "households")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (content_type, body) = multipart("r.xlsx", &roster(), &[]);
    let anonymous = client()
        .post(format!("{}/api/imports", f.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // A roster has no CRS: the dry run lists fields and mapping and asks for one.
    let (status, dry) = upload(
        &f,
        &f.cadre,
        "花名册.xlsx",
        &roster(),
        &[("layer", "households")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["needs_crs"], true, "{dry}");
    assert_eq!(dry["fields"], json!(HEADER));
    assert_eq!(dry["mapping"]["head_name"], "户主");
    assert_eq!(dry["mapping"]["house_number"], "门牌号");
    assert_eq!(dry["mapping"]["lon"], "经度");
    assert_eq!(dry["problems"][0]["row"], 0);
    let id = dry["id"].as_str().unwrap().to_string();
    let (status, refused) = post(
        &f,
        &f.cadre,
        &format!("/api/imports/{id}/commit"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nothing written"));

    // With WGS84 chosen: two rows to store, the third skipped as outside the village.
    let options = json!({ "layer": "households", "crs": "EPSG:4326" });
    let (status, dry) = post(
        &f,
        &f.cadre,
        &format!("/api/imports/{id}/dry-run"),
        options.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["needs_crs"], false);
    assert_eq!(dry["problems"], json!([]), "{dry}");
    assert_eq!(dry["storable"], 2);
    assert_eq!(dry["preview"][0]["row"], 1);
    assert_eq!(dry["preview"][0]["values"]["head_name"], "王一");
    assert_eq!(dry["preview"][0]["values"]["tags"], json!(["low_income"]));
    assert_eq!(
        dry["preview"][0]["values"]["phone"], "13800000001",
        "no .0 on a phone number"
    );
    assert_eq!(dry["skipped"][0]["row"], 3);
    assert!(dry["skipped"][0]["en"]
        .as_str()
        .unwrap()
        .contains("no grid of your area"));
    // Another user's upload is not found.
    let (status, _) = post(
        &f,
        &f.admin,
        &format!("/api/imports/{id}/dry-run"),
        options.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let before = households(&f).await;
    let (status, started) = post(
        &f,
        &f.cadre,
        &format!("/api/imports/{id}/commit"),
        options.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["total"], 2);
    let done = finished(&f, &f.cadre, &id).await;
    assert_eq!(done["state"], "done", "{done}");
    let report = &done["report"];
    assert_eq!(report["rows_read"], 3);
    assert_eq!(report["stored"], 2);
    assert_eq!(report["inserted"], 2);
    assert_eq!(report["skipped"][0]["row"], 3);
    assert_eq!(report["bbox"], json!([114.305, 30.61, 114.315, 30.61]));
    assert_eq!(households(&f).await, before + 2);
    let names: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT h.head_name, h.grid_id FROM households h ORDER BY h.head_name")
            .fetch_all(f.db.store.pool())
            .await
            .unwrap();
    assert_eq!(names.len(), 2);
    assert!(
        names.iter().all(|(_, g)| g.is_some()),
        "each in a grid: {names:?}"
    );
    // The upload is spent: a second commit is refused.
    let (status, _) = post(&f, &f.cadre, &format!("/api/imports/{id}/commit"), options).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The township admin's scope holds the third row, but it lies in no grid.
    let (_, dry) = upload(
        &f,
        &f.admin,
        "r.xlsx",
        &roster(),
        &[("layer", "households"), ("crs", "EPSG:4490")],
    )
    .await;
    assert_eq!(dry["storable"], 2, "{dry}");
    assert_eq!(dry["skipped"][0]["row"], 3, "{dry}");
    assert!(dry["skipped"][0]["en"]
        .as_str()
        .unwrap()
        .contains("no grid"));
    assert!(dry["crs"].as_str().unwrap().contains("EPSG:4490"));
}

#[tokio::test]
async fn a_roster_without_coordinates_updates_households_by_house_number() {
    let f = fixture().await;
    for (n, x) in [
        ("花山村1号", 114.305),
        ("花山村2号", 114.315),
        ("花山镇9号", 114.33),
    ] {
        sqlx::query(
            "INSERT INTO households (geom, house_number, head_name) \
             VALUES (ST_SetSRID(ST_MakePoint($1, 30.61), 4326), $2, '旧名')",
        )
        .bind(x)
        .bind(n)
        .execute(f.db.store.pool())
        .await
        .unwrap();
    }
    let file = xlsx(
        &["门牌号", "户主", "人口", "标签"],
        &[
            vec!["花山村1号", "李一", "5", "残疾"],
            vec!["花山村7号", "李七", "2", ""],
            vec!["花山镇9号", "李九", "1", ""],
            vec!["花山村2号", "李二", "", ""],
        ],
    );
    let (status, dry) = upload(&f, &f.cadre, "无坐标.xlsx", &file, &[]).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["mode"], "join");
    assert_eq!(dry["join_field"], "house_number");
    assert_eq!(dry["needs_crs"], false);
    assert_eq!(dry["storable"], 2);
    let skipped: Vec<i64> = dry["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["row"].as_i64().unwrap())
        .collect();
    // Row 2 matches nothing; row 3 is a household of the township, not of the cadre's village.
    assert_eq!(skipped, vec![2, 3]);
    let id = dry["id"].as_str().unwrap();
    let (status, _) = post(
        &f,
        &f.cadre,
        &format!("/api/imports/{id}/commit"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let done = finished(&f, &f.cadre, id).await;
    assert_eq!(done["report"]["updated"], 2, "{done}");
    assert_eq!(done["report"]["inserted"], 0);
    let rows: Vec<(String, String, Option<i16>, Vec<String>)> = sqlx::query_as(
        "SELECT house_number, head_name, members, tags FROM households ORDER BY house_number",
    )
    .fetch_all(f.db.store.pool())
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "花山村1号".into(),
                "李一".into(),
                Some(5),
                vec!["disabled".into()]
            ),
            // An empty cell keeps what was stored.
            ("花山村2号".into(), "李二".into(), None, vec![]),
            ("花山镇9号".into(), "旧名".into(), None, vec![]),
        ]
    );
}

#[tokio::test]
async fn a_bad_row_stops_the_commit_and_a_huge_file_gets_413() {
    let f = fixture().await;
    let file = xlsx(
        &HEADER,
        &[
            vec!["甲", "1号", "3", "", "", "114.305", "30.61"],
            vec!["乙", "2号", "many", "", "贫困", "114.305", "30.61"],
        ],
    );
    let (_, dry) = upload(&f, &f.admin, "bad.xlsx", &file, &[("crs", "4326")]).await;
    let rows: Vec<(i64, &str)> = dry["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["row"].as_i64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, vec![(2, "members"), (2, "tags")], "{dry}");
    let id = dry["id"].as_str().unwrap();
    let before = households(&f).await;
    let (status, body) = post(
        &f,
        &f.admin,
        &format!("/api/imports/{id}/commit"),
        json!({"crs": "4326"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(households(&f).await, before);

    // A broken file: a clear message, nothing kept.
    let (status, body) = upload(
        &f,
        &f.admin,
        "cut.gpkg",
        b"SQLite format 3\0 truncated",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cut.gpkg") && !message.contains("/tmp"),
        "{message}"
    );

    let big = vec![b'x'; 51 * 1024 * 1024];
    let (status, body) = upload(&f, &f.admin, "big.geojson", &big, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("50 MB"),
        "{body}"
    );
    assert_eq!(households(&f).await, before);
}

#[tokio::test]
async fn township_admins_import_hazards_and_cadres_may_not() {
    let f = fixture().await;
    let file = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"类型":"滑坡","等级":"重大","名称":"后山"},
  "geometry":{"type":"Polygon","coordinates":[[[114.301,30.601],[114.305,30.601],[114.305,30.605],[114.301,30.601]]]}},
 {"type":"Feature","properties":{"类型":"危房","名称":"老屋"},
  "geometry":{"type":"Point","coordinates":[114.5,30.61]}}]}"#
        .as_bytes();
    let (status, _) = upload(&f, &f.cadre, "h.geojson", file, &[("layer", "hazards")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, dry) = upload(&f, &f.admin, "h.geojson", file, &[("layer", "hazards")]).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["mapping"]["kind"], "类型");
    assert_eq!(dry["preview"][0]["values"]["kind"], "landslide");
    assert_eq!(dry["preview"][0]["values"]["geometry_type"], "Polygon");
    // The second lies outside the township.
    assert_eq!(dry["storable"], 1);
    assert_eq!(dry["skipped"][0]["row"], 2);
    let id = dry["id"].as_str().unwrap();
    let (status, _) = post(
        &f,
        &f.admin,
        &format!("/api/imports/{id}/commit"),
        json!({"layer": "hazards"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let done = finished(&f, &f.admin, id).await;
    assert_eq!(done["report"]["inserted"], 1, "{done}");
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM hazards")
        .fetch_all(f.db.store.pool())
        .await
        .unwrap();
    assert_eq!(kinds, vec!["landslide".to_string()]);
}

/// Areas over the web: a cadre imports grids only within their village (a polygon in
/// another village is skipped with that reason, and with nothing else to store the commit is
/// refused); villages are the township admin's; the admin's import creates the grid, and the
/// same file again reshapes it by code instead of adding one.
#[tokio::test]
async fn grids_from_the_web_stay_in_the_cadres_village_and_reimport_by_code() {
    let f = fixture().await;
    let t: i64 = sqlx::query_scalar("SELECT id FROM areas WHERE kind = 'township'")
        .fetch_one(f.db.store.pool())
        .await
        .unwrap();
    let v2 = common::insert_area(
        &f.db.store,
        "village",
        Some(t),
        "V2",
        "花山二村",
        "POLYGON((114.32 30.60, 114.34 30.60, 114.34 30.62, 114.32 30.62, 114.32 30.60))",
    )
    .await;
    let file = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"网格编码":"V2-01","网格名称":"东一组"},"geometry":{"type":"Polygon","coordinates":[[[114.32,30.60],[114.33,30.60],[114.33,30.62],[114.32,30.62],[114.32,30.60]]]}}
]}"#
    .as_bytes();
    let areas = |f: &Fixture| {
        let pool = f.db.store.pool().clone();
        async move {
            sqlx::query_as::<_, (i64, String, String, i64)>(
                "SELECT id, code, name, parent_id FROM areas WHERE kind = 'grid' ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let before = areas(&f).await;
    let grid = [("layer", "areas"), ("kind", "grid")];

    // The cadre of 花山村: the polygon lies in 花山二村, outside their area.
    let (status, dry) = upload(&f, &f.cadre, "grids.geojson", file, &grid).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["storable"], 0, "{dry}");
    assert_eq!(dry["skipped"][0]["row"], 1, "{dry}");
    assert!(
        dry["skipped"][0]["en"]
            .as_str()
            .unwrap()
            .contains("outside your area"),
        "{dry}"
    );
    let id = dry["id"].as_str().unwrap().to_string();
    let options = json!({ "layer": "areas", "kind": "grid" });
    let (status, _) = post(
        &f,
        &f.cadre,
        &format!("/api/imports/{id}/commit"),
        options.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(areas(&f).await, before, "nothing stored for the cadre");
    // Villages are the township's.
    let (status, _) = upload(
        &f,
        &f.cadre,
        "v.geojson",
        file,
        &[("layer", "areas"), ("kind", "village")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = upload(&f, &f.admin, "v.geojson", file, &[("layer", "areas")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The admin: one grid created in 花山二村, with the file's code and name.
    for round in 0..2 {
        let (status, dry) = upload(&f, &f.admin, "grids.geojson", file, &grid).await;
        assert_eq!(status, StatusCode::OK, "{dry}");
        assert_eq!(dry["problems"], json!([]), "{dry}");
        let id = dry["id"].as_str().unwrap().to_string();
        let (status, body) = post(
            &f,
            &f.admin,
            &format!("/api/imports/{id}/commit"),
            options.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let done = finished(&f, &f.admin, &id).await;
        assert_eq!(done["state"], "done", "{done}");
        let report = &done["report"]["areas"];
        let (created, reshaped) = if round == 0 { (1, 0) } else { (0, 1) };
        assert_eq!(report["created"], created, "{done}");
        assert_eq!(report["reshaped"], reshaped, "{done}");
        assert_eq!(report["containers"][0]["name"], "花山二村", "{done}");
        let after = areas(&f).await;
        assert_eq!(after.len(), before.len() + 1, "round {round}: {after:?}");
        let new = after.last().unwrap();
        assert_eq!(
            (new.1.as_str(), new.2.as_str(), new.3),
            ("V2-01", "东一组", v2)
        );
    }
}

/// A GET with the session cookie: status, content type, body.
async fn download(url: &str, cookie: Option<&str>) -> (StatusCode, String, Vec<u8>) {
    let mut request = client().get(url).header("accept-language", "en");
    if let Some(c) = cookie {
        request = request.header("cookie", c);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn layers_download_as_files_with_households_in_scope_and_masked_as_the_api_shows_them() {
    use calamine::{Data, Reader, Xlsx};
    let f = fixture().await;
    // Two households in the west grid (the worker's), one in the east.
    for (lon, name, phone) in [
        (114.305, "王一", "13812345678"),
        (114.306, "王二", "13912345678"),
        (114.315, "李三", "13712345678"),
    ] {
        sqlx::query(
            "INSERT INTO households (geom, house_number, head_name, phone, id_card) \
             VALUES (ST_SetSRID(ST_MakePoint($1, 30.61), 4326), $2, $2, $3, '330102199001011234')",
        )
        .bind(lon)
        .bind(name)
        .bind(phone)
        .execute(f.db.store.pool())
        .await
        .unwrap();
    }

    // Each user's spreadsheet holds the households they may read, each cell as the API shows it.
    for (who, cookie, expected) in [("worker", &f.worker, 2), ("cadre", &f.cadre, 3)] {
        let (status, kind, bytes) = download(
            &format!("{}/api/exports/households?format=xlsx", f.base),
            Some(cookie),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{who}");
        assert!(kind.contains("spreadsheetml"), "{who}: {kind}");
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).expect("an xlsx");
        let sheet = book.worksheet_range_at(0).unwrap().unwrap();
        let rows: Vec<&[Data]> = sheet.rows().collect();
        let column = |name: &str| rows[0].iter().position(|c| *c == name).unwrap();
        assert_eq!(rows.len() - 1, expected, "{who}");
        for row in &rows[1..] {
            let id = row[column("id")].to_string();
            let (status, api) =
                common::get_as(&format!("{}/api/households/{id}", f.base), Some(cookie)).await;
            assert_eq!(status, StatusCode::OK);
            for field in ["head_name", "phone", "id_card", "house_number"] {
                let cell = row[column(field)].to_string();
                let shown = api[field].as_str().unwrap_or_default();
                assert_eq!(cell, shown, "{who}: {field} of household {id}");
            }
        }
        // ID numbers are masked for both roles; the worker, who calls the households, has
        // whole phone numbers, the cadre masked ones.
        for row in &rows[1..] {
            assert_eq!(
                row[column("id_card")].to_string(),
                "3301**********1234",
                "{who}"
            );
            let phone = row[column("phone")].to_string();
            assert_eq!(phone.contains('*'), who == "cadre", "{who}: {phone}");
        }
    }

    // The admin takes the grids as a GeoPackage in CGCS2000 and the households as a zipped
    // Shapefile; each export of households is audited.
    let (status, kind, bytes) = download(
        &format!("{}/api/exports/areas?format=gpkg&crs=4490", f.base),
        Some(&f.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "application/geopackage+sqlite3");
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    let (status, kind, bytes) = download(
        &format!("{}/api/exports/households?format=shp", f.base),
        Some(&f.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "application/zip");
    assert!(bytes.starts_with(b"PK\x03\x04"));
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'export_households'")
            .fetch_one(f.db.store.pool())
            .await
            .unwrap();
    assert_eq!(audited, 3);

    // What a user can act on: an unknown layer, format or CRS, or no session.
    for (path, cookie, status, says) in [
        (
            "/api/exports/parcels",
            Some(&f.cadre),
            StatusCode::NOT_FOUND,
            "households",
        ),
        (
            "/api/exports/roads?format=dwg",
            Some(&f.cadre),
            StatusCode::BAD_REQUEST,
            "gpkg",
        ),
        (
            "/api/exports/roads?crs=4547",
            Some(&f.cadre),
            StatusCode::BAD_REQUEST,
            "4490",
        ),
        ("/api/exports/roads", None, StatusCode::UNAUTHORIZED, ""),
    ] {
        let (got, _, body) =
            download(&format!("{}{path}", f.base), cookie.map(|c| c.as_str())).await;
        assert_eq!(got, status, "{path}");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(says), "{path}: {text}");
    }
}
