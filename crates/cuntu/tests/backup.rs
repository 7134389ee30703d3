//! `cuntu db backup` and `cuntu db restore` on the demo: the restored database serves the same
//! tiles and API answers byte for byte; damaged, newer or misdirected backups are refused
//! before anything changes.

use std::path::{Path, PathBuf};

use cuntu_store::testing::{workspace_data_dir, TestDatabase};
use cuntu_store::Store;

mod cli;
use cli::{cuntu, text};

/// A URL on the same cluster with another database name.
fn sibling(url: &str, name: &str) -> String {
    let (server, _) = url.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

async fn tables(url: &str) -> usize {
    let store = Store::connect(url).await.unwrap();
    let n = store.table_count().await.unwrap();
    store.pool().close().await;
    n
}

async fn start_server(url: &str) -> String {
    let store = Store::connect(url).await.unwrap();
    let state = cuntu_server::prepare(store, PathBuf::from("/nonexistent"))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            cuntu_server::router(state)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    format!("http://{addr}")
}

async fn login(base: &str, user: &str, password: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{user} logs in");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    cookie.split(';').next().unwrap().to_string()
}

async fn get(url: &str, cookie: &str) -> (u16, Vec<u8>) {
    let r = reqwest::Client::new()
        .get(url)
        .header("cookie", cookie)
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// An answer with the server's own address and the OGC `timeStamp` (the time of the answer)
/// taken out: the rest must be equal byte for byte.
fn normalized(body: Vec<u8>, base: &str) -> Vec<u8> {
    let Ok(text) = String::from_utf8(body.clone()) else {
        return body;
    };
    let text = text.replace(base, "BASE");
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(mut o)) if o.contains_key("timeStamp") => {
            o.remove("timeStamp");
            serde_json::to_vec(&o).unwrap()
        }
        _ => text.into_bytes(),
    }
}

/// Rewrites a backup with its manifest changed by `edit_manifest` and its dump by `edit_dump`.
fn tampered(
    from: &Path,
    to: &Path,
    edit_manifest: impl Fn(&mut serde_json::Value),
    edit_dump: impl Fn(&mut Vec<u8>),
) {
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut out = tar::Builder::new(std::fs::File::create(to).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if name == "manifest.json" {
            let mut m: serde_json::Value = serde_json::from_slice(&data).unwrap();
            edit_manifest(&mut m);
            data = serde_json::to_vec(&m).unwrap();
        } else {
            edit_dump(&mut data);
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        out.append_data(&mut header, &name, data.as_slice())
            .unwrap();
    }
    out.finish().unwrap();
}

#[tokio::test]
async fn a_restored_demo_serves_the_same_tiles_and_answers() {
    let source = TestDatabase::new().await.unwrap();
    let data = workspace_data_dir();
    let loaded = cuntu(
        &source.url,
        &["demo", "load", "--data", data.to_str().unwrap()],
    );
    assert!(loaded.status.success(), "{}", text(&loaded));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.cuntu-backup");
    let made = cuntu(&source.url, &["db", "backup", file.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made));
    println!("{}", text(&made));

    // The manifest lists what the source holds.
    let mut archive = tar::Archive::new(std::fs::File::open(&file).unwrap());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["manifest.json", "cuntu.pgdump"]);
    let facts = source.store.facts().await.unwrap();
    assert!(facts.tables["households"] > 100, "{:?}", facts.tables);
    assert_eq!(facts.migration, cuntu_store::ops::known_migration());

    // Damaged and newer backups are refused, and the empty target stays empty.
    let empty_url = sibling(&source.url, &format!("{}_empty", source.name));
    let created = cuntu(&empty_url, &["db", "create"]);
    assert!(created.status.success(), "{}", text(&created));
    let corrupt = dir.path().join("corrupt.cuntu-backup");
    tampered(
        &file,
        &corrupt,
        |_| {},
        |dump| {
            let middle = dump.len() / 2;
            dump[middle] ^= 0x55;
        },
    );
    let refused = cuntu(&empty_url, &["db", "restore", corrupt.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("corrupt"), "{}", text(&refused));
    let newer = dir.path().join("newer.cuntu-backup");
    tampered(
        &file,
        &newer,
        |m| m["migration"] = serde_json::json!(cuntu_store::ops::known_migration() + 1),
        |_| {},
    );
    let refused = cuntu(&empty_url, &["db", "restore", newer.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("newer than this cuntu"),
        "{}",
        text(&refused)
    );
    let not_tar = dir.path().join("notes.txt");
    std::fs::write(&not_tar, "not a backup at all, just words").unwrap();
    let refused = cuntu(&empty_url, &["db", "restore", not_tar.to_str().unwrap()]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert_eq!(tables(&empty_url).await, 0, "nothing was restored");

    // Into the empty database.
    let restored = cuntu(&empty_url, &["db", "restore", file.to_str().unwrap()]);
    assert!(restored.status.success(), "{}", text(&restored));

    // A database that is not empty needs --force, and then is replaced.
    let other = TestDatabase::new().await.unwrap();
    let refused = cuntu(&other.url, &["db", "restore", file.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("not empty"), "{}", text(&refused));
    other.store.pool().close().await;
    let replaced = cuntu(
        &other.url,
        &["db", "restore", "--force", file.to_str().unwrap()],
    );
    assert!(replaced.status.success(), "{}", text(&replaced));

    for target in [&empty_url, &other.url] {
        let store = Store::connect(target).await.unwrap();
        assert_eq!(store.facts().await.unwrap().tables, facts.tables);
        store.pool().close().await;
    }

    // Servers on the source and on both copies answer alike.
    let bases = [
        start_server(&source.url).await,
        start_server(&empty_url).await,
        start_server(&other.url).await,
    ];
    let mut cookies = Vec::new();
    for base in &bases {
        cookies.push(login(base, "admin", "cuntu-admin").await);
    }
    let (_, summary) = get(&format!("{}/api/summary", bases[0]), &cookies[0]).await;
    let summary: serde_json::Value = serde_json::from_slice(&summary).unwrap();
    println!("summary {summary}");

    let mut paths: Vec<String> = Vec::new();
    // Tiles over the demo (Liechtenstein's Oberland, 9.52 E 47.13 N) at three zooms.
    let layers = [
        "areas",
        "households",
        "buildings",
        "roads",
        "facilities",
        "hazards",
    ];
    for z in [12u32, 14, 15] {
        let n = f64::from(1u32 << z);
        let x = ((9.52 + 180.0) / 360.0 * n) as i64;
        let lat = 47.13f64.to_radians();
        let y =
            ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n) as i64;
        for layer in layers {
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (-1, -1)] {
                paths.push(format!("/tiles/{layer}/{z}/{}/{}", x + dx, y + dy));
            }
        }
    }
    let township: i64 = sqlx::query_scalar("SELECT id FROM areas WHERE code = '130111103'")
        .fetch_one(source.store.pool())
        .await
        .unwrap();
    let some_areas: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM areas WHERE kind IN ('village', 'grid') ORDER BY id LIMIT 6",
    )
    .fetch_all(source.store.pool())
    .await
    .unwrap();
    paths.push(format!("/api/areas/{township}"));
    paths.push(format!("/api/areas/{township}/households"));
    for id in &some_areas {
        paths.push(format!("/api/areas/{id}"));
        paths.push(format!("/api/areas/{id}/households"));
    }
    paths.extend(
        [
            "/api/summary",
            "/api/households/search?q=1",
            "/api/villages",
            "/api/leader/hazards",
            "/api/leader/exposure",
            "/api/incidents",
            "/ogc/collections/households/items?limit=50",
            "/ogc/collections/areas/items?limit=50",
        ]
        .map(String::from),
    );
    let mut with_content = 0;
    let mut tiles_with_content = 0;
    for path in &paths {
        let (status, body) = get(&format!("{}{path}", bases[0]), &cookies[0]).await;
        let body = normalized(body, &bases[0]);
        assert!(status < 500, "{path}: {status}");
        if status == 200 && !body.is_empty() {
            with_content += 1;
            if path.starts_with("/tiles/") {
                tiles_with_content += 1;
            }
        }
        for (base, cookie) in bases.iter().zip(&cookies).skip(1) {
            let (s, b) = get(&format!("{base}{path}"), cookie).await;
            assert_eq!(s, status, "{path} on {base}");
            let b = normalized(b, base);
            assert!(
                b == body,
                "{path}: the restored database answers differently"
            );
        }
    }
    println!(
        "{} requests compared on 3 servers, all byte-identical; {with_content} with content \
         ({tiles_with_content} tiles)",
        paths.len()
    );
    assert!(
        tiles_with_content >= 10,
        "the sample holds tiles with features"
    );
    assert!(with_content >= 30, "the sample holds answers with content");
}
