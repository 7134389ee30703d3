//! Who sees what: every role × every personal endpoint × inside and outside its scope, over
//! the real demo township. Out-of-scope requests must see nothing.

mod common;

use common::{add_user, get_as, household_tile, load_demo, login, start_server};
use cuntu_core::auth::{Grant, Role};
use cuntu_core::TileCoord;
use cuntu_store::testing::TestDatabase;
use reqwest::StatusCode;

/// Households chosen for the matrix, each with the areas it lies in.
struct Target {
    name: &'static str,
    household: i64,
    grid: i64,
    lon: f64,
    lat: f64,
}

async fn target(db: &TestDatabase, name: &'static str, where_sql: &str) -> Target {
    let (household, grid, lon, lat): (i64, i64, f64, f64) = sqlx::query_as(&format!(
        "SELECT h.id, h.grid_id, ST_X(h.geom), ST_Y(h.geom) FROM households h \
         JOIN areas g ON g.id = h.grid_id JOIN areas v ON v.id = g.parent_id JOIN areas t ON t.id = v.parent_id \
         WHERE {where_sql} ORDER BY h.id LIMIT 1"
    ))
    .fetch_one(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("no household for {name}: {e}"));
    Target {
        name,
        household,
        grid,
        lon,
        lat,
    }
}

async fn area(db: &TestDatabase, code: &str) -> i64 {
    db.store.area_id_by_code(code).await.unwrap().unwrap()
}

#[tokio::test]
async fn every_role_sees_exactly_its_part() {
    let db = TestDatabase::new().await.unwrap();
    load_demo(&db.store).await;
    let township = area(&db, "130111103").await;
    let village = area(&db, "130111103201").await;
    let grid = area(&db, "130111103201-01").await;
    let other_township = area(&db, "130111104").await;

    // The worker's grid; the nearest other grid of the same village (its neighbour), its
    // household farthest from the worker's grid; another village of the township; the
    // other township.
    let own = target(&db, "own grid", &format!("g.id = {grid}")).await;
    let neighbour_grid: i64 = sqlx::query_scalar(
        "SELECT n.id FROM areas n, areas g WHERE g.id = $1 AND n.parent_id = g.parent_id \
         AND n.id <> g.id ORDER BY ST_Distance(n.geom, g.geom), n.id LIMIT 1",
    )
    .bind(grid)
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let neighbour = target(
        &db,
        "neighbouring grid",
        &format!(
            "g.id = {neighbour_grid} AND h.id = (SELECT h2.id FROM households h2, areas g1 WHERE h2.grid_id = {neighbour_grid} \
             AND g1.id = {grid} ORDER BY ST_Distance(h2.geom, g1.geom) DESC LIMIT 1)"
        ),
    )
    .await;
    let other_village = target(
        &db,
        "other village",
        &format!("v.id <> {village} AND t.id = {township}"),
    )
    .await;
    let elsewhere = target(&db, "other township", &format!("t.id = {other_township}")).await;

    let base = start_server(db.store.clone()).await;
    let password = "matrix-password";
    add_user(
        &db.store,
        "admin",
        password,
        Role::TownshipAdmin,
        township,
        &[],
    )
    .await;
    add_user(&db.store, "leader", password, Role::Leader, township, &[]).await;
    add_user(
        &db.store,
        "leader2",
        password,
        Role::Leader,
        township,
        &[Grant::Personal],
    )
    .await;
    add_user(
        &db.store,
        "cadre",
        password,
        Role::VillageCadre,
        village,
        &[],
    )
    .await;
    add_user(&db.store, "worker", password, Role::GridWorker, grid, &[]).await;
    add_user(&db.store, "dept", password, Role::Department, township, &[]).await;

    // (viewer, sees own, sees neighbour, sees other village, sees other township)
    let matrix: [(&str, [bool; 4]); 7] = [
        ("anonymous", [false, false, false, false]),
        ("admin", [true, true, true, false]),
        ("leader", [false, false, false, false]),
        ("leader2", [true, true, true, false]),
        ("cadre", [true, true, false, false]),
        ("worker", [true, false, false, false]),
        ("dept", [false, false, false, false]),
    ];
    let targets = [&own, &neighbour, &other_village, &elsewhere];
    for (viewer, sees) in matrix {
        let cookie = if viewer == "anonymous" {
            None
        } else {
            Some(login(&base, viewer, password).await.expect("demo login"))
        };
        let cookie = cookie.as_deref();
        for (target, allowed) in targets.iter().zip(sees) {
            let cell = format!("{viewer} × {}", target.name);

            // Household detail.
            let (status, body) = get_as(
                &format!("{base}/api/households/{}", target.household),
                cookie,
            )
            .await;
            let expected = match (cookie, allowed) {
                (None, _) => StatusCode::UNAUTHORIZED,
                (Some(_), true) => StatusCode::OK,
                (Some(_), false) => StatusCode::FORBIDDEN,
            };
            assert_eq!(status, expected, "{cell}: /api/households/{{id}}");
            if !allowed {
                assert!(
                    body.get("head_name").is_none() && body.get("phone").is_none(),
                    "{cell}: {body}"
                );
                assert!(
                    !body
                        .to_string()
                        .contains(&format!("\"id\":{}", target.household)),
                    "{cell}: {body}"
                );
            }

            // The households of the target's grid.
            let (status, body) = get_as(
                &format!("{base}/api/areas/{}/households", target.grid),
                cookie,
            )
            .await;
            assert_eq!(status, expected, "{cell}: /api/areas/{{id}}/households");
            if allowed {
                let listed = body["households"].as_array().unwrap();
                assert!(listed.iter().any(|h| h["id"] == target.household), "{cell}");
            }

            // The household tile over the target: it carries the target only when allowed,
            // and never any household outside the viewer's scope.
            let tile = TileCoord::containing(18, target.lon, target.lat).unwrap();
            let features = household_tile(&base, tile, cookie).await;
            assert_eq!(
                features.iter().any(|(id, _)| *id == target.household),
                allowed,
                "{cell}: household tile {tile:?}"
            );
            if viewer == "worker" {
                assert!(
                    features.iter().all(|(_, g)| *g == grid),
                    "{cell}: foreign household in tile"
                );
            }
        }

        // The audit log is the township admin's alone.
        let (status, _) = get_as(&format!("{base}/api/audit"), cookie).await;
        let expected = match viewer {
            "anonymous" => StatusCode::UNAUTHORIZED,
            "admin" => StatusCode::OK,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(status, expected, "{viewer} × /api/audit");
    }

    // A grid worker's household tile over the neighbouring grid decodes to zero households,
    // while the village cadre's tile of the same address holds some.
    let tile = TileCoord::containing(18, neighbour.lon, neighbour.lat).unwrap();
    let worker = login(&base, "worker", password).await.unwrap();
    let cadre = login(&base, "cadre", password).await.unwrap();
    assert_eq!(household_tile(&base, tile, Some(&worker)).await.len(), 0);
    assert!(!household_tile(&base, tile, Some(&cadre)).await.is_empty());

    // Masking: the cadre sees names and masked phones and IDs; the worker whole phones;
    // the granted leader names but masked phones.
    let (_, as_cadre) = get_as(
        &format!("{base}/api/households/{}", own.household),
        Some(&cadre),
    )
    .await;
    let phone = as_cadre["phone"].as_str().unwrap();
    assert!(phone.len() == 11 && &phone[3..7] == "****", "{phone}");
    let id_card = as_cadre["id_card"].as_str().unwrap();
    assert_eq!(&id_card[4..14], "**********");
    assert!(as_cadre["head_name"].as_str().is_some() && as_cadre["tags"].is_array());
    let (_, as_worker) = get_as(
        &format!("{base}/api/households/{}", own.household),
        Some(&worker),
    )
    .await;
    assert!(!as_worker["phone"].as_str().unwrap().contains('*'));
    assert!(as_worker["id_card"].as_str().unwrap().contains('*'));

    // The audit log holds the worker's read of that household, with who, when and where.
    let admin = login(&base, "admin", password).await.unwrap();
    let (_, audit) = get_as(&format!("{base}/api/audit?limit=500"), Some(&admin)).await;
    let read = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["username"] == "worker"
                && e["action"] == "read_household"
                && e["target"] == format!("household:{}", own.household)
        })
        .expect("the worker's read is in the audit log");
    assert!(
        read["at"].is_string() && read["remote_addr"] == "127.0.0.1",
        "{read}"
    );
}

#[tokio::test]
async fn sessions_passwords_and_lock_out() {
    let db = TestDatabase::new().await.unwrap();
    let base = start_server(db.store.clone()).await;
    common::insert_township(&db.store, "冶河镇").await;
    let township = area(&db, "T").await;
    let user = add_user(
        &db.store,
        "wang",
        "first-password",
        Role::TownshipAdmin,
        township,
        &[],
    )
    .await;

    // Unknown user and wrong password get the same answer.
    let (s1, b1) = login(&base, "nobody", "whatever-1").await.unwrap_err();
    let (s2, b2) = login(&base, "wang", "whatever-1").await.unwrap_err();
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1["error"]["message"], b2["error"]["message"]);

    // A session works, logout ends it.
    let cookie = login(&base, "wang", "first-password").await.unwrap();
    assert_eq!(
        get_as(&format!("{base}/api/me"), Some(&cookie)).await.0,
        StatusCode::OK
    );
    let r = common::client()
        .post(format!("{base}/api/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_as(&format!("{base}/api/me"), Some(&cookie)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // An expired session is refused.
    let cookie = login(&base, "wang", "first-password").await.unwrap();
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 minute'")
        .execute(db.store.pool())
        .await
        .unwrap();
    assert_eq!(
        get_as(&format!("{base}/api/me"), Some(&cookie)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Password change: too short is refused; a good one works and the old one no longer does.
    let cookie = login(&base, "wang", "first-password").await.unwrap();
    let change = |current: &str, new: &str| {
        common::client()
            .post(format!("{base}/api/me/password"))
            .header("cookie", &cookie)
            .json(&serde_json::json!({ "current_password": current, "new_password": new }))
            .send()
    };
    assert_eq!(
        change("first-password", "short").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        change("wrong-password", "second-password")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        change("first-password", "second-password")
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(login(&base, "wang", "first-password").await.is_err());
    assert!(login(&base, "wang", "second-password").await.is_ok());

    // Five wrong passwords lock the account, even against the right one.
    for _ in 0..5 {
        assert_eq!(
            login(&base, "wang", "guess-guess").await.unwrap_err().0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, body) = login(&base, "wang", "second-password").await.unwrap_err();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body["error"]["message"].as_str().unwrap().contains("分钟"));

    // API tokens work as bearer headers.
    let (token, hash) = cuntu_server::auth::new_token();
    db.store
        .create_api_token(&hash, user, "script")
        .await
        .unwrap();
    let r = common::client()
        .get(format!("{base}/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
