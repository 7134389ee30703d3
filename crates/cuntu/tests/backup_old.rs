//! Issue 12, backup: a backup made by a database two migrations behind (as an older cuntu
//! would have left it) is restored by this cuntu into a new cluster and migrated forward;
//! the areas and households come back unchanged and the database is at the current migration.

use std::borrow::Cow;

use cuntu_store::testing::TestDatabase;
use cuntu_store::{Store, MIGRATOR};

#[path = "../../cuntu-server/tests/common/mod.rs"]
mod common;
use common::OwnCluster;

mod cli;
use cli::{cuntu, text};

/// Every area and household as text, in id order: what must survive the round trip.
async fn contents(store: &Store) -> (Vec<String>, Vec<String>) {
    let areas = sqlx::query_scalar(
        "SELECT concat_ws('|', id, kind, code, name, parent_id, ST_AsText(geom)) \
           FROM areas ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let households = sqlx::query_scalar(
        "SELECT concat_ws('|', id, ST_AsText(geom), house_number, address, head_name, members, \
                phone, id_card, array_to_string(tags, ','), import_key) \
           FROM households ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    (areas, households)
}

#[tokio::test]
async fn an_older_backup_restores_into_a_new_cluster_and_migrates_forward() {
    let all = MIGRATOR.migrations.len();
    let older = all - 2;
    // A database on the shared test cluster, migrated only up to migration N-2. The template
    // of TestDatabase is fully migrated, so this one starts from an empty database.
    let db = TestDatabase::new().await.unwrap();
    let (server, _) = db.url.rsplit_once('/').unwrap();
    let old_url = format!("{server}/{}_old", db.name);
    let created = cuntu(&old_url, &["db", "create"]);
    assert!(created.status.success(), "{}", text(&created));
    let old = Store::connect(&old_url).await.unwrap();
    let partial = sqlx::migrate::Migrator {
        migrations: Cow::Owned(MIGRATOR.migrations[..older].to_vec()),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    partial.run(old.pool()).await.unwrap();
    assert_eq!(old.facts().await.unwrap().migration, older as i64);
    sqlx::query(
        "INSERT INTO areas (kind, code, name, geom) VALUES ('township', '130111103', '冶河镇', \
         ST_Multi(ST_GeomFromText('POLYGON((9.5 47.1, 9.6 47.1, 9.6 47.2, 9.5 47.2, 9.5 47.1))', 4326)))",
    )
    .execute(old.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO households (geom, house_number, address, head_name, members, phone, \
                                 id_card, tags, import_key) \
         SELECT ST_SetSRID(ST_MakePoint(9.51 + i * 0.001, 47.15), 4326), i || '号', \
                '冶河村 ' || i || ' 号', '户主' || i, (i % 7)::smallint, '1380000' || lpad(i::text, 4, '0'), \
                NULL, CASE WHEN i % 5 = 0 THEN ARRAY['elderly_alone'] ELSE '{}' END, 'H' || i \
           FROM generate_series(1, 40) i",
    )
    .execute(old.pool())
    .await
    .unwrap();
    let before = contents(&old).await;
    old.pool().close().await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.cuntu-backup");
    let made = cuntu(&old_url, &["db", "backup", file.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made));

    // A new cluster, this cuntu: restore, then migrate forward.
    let own = OwnCluster::start();
    let new_url = own.cluster.url();
    let restored = cuntu(&new_url, &["db", "restore", file.to_str().unwrap()]);
    assert!(restored.status.success(), "{}", text(&restored));
    let migrated = cuntu(&new_url, &["db", "migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated));

    let new = Store::connect(&new_url).await.unwrap();
    let facts = new.facts().await.unwrap();
    assert_eq!(facts.migration, cuntu_store::ops::known_migration());
    assert_eq!(facts.migration, all as i64);
    let after = contents(&new).await;
    assert_eq!(before.0, after.0, "areas unchanged");
    assert_eq!(before.1, after.1, "households unchanged");
    // The later migrations' tables are there and usable.
    let incidents: i64 = sqlx::query_scalar("SELECT count(*) FROM incidents")
        .fetch_one(new.pool())
        .await
        .unwrap();
    assert_eq!(incidents, 0);
    println!(
        "backup at migration {older} of {all}: {} areas and {} households restored into a new \
         cluster and migrated to {}, unchanged",
        after.0.len(),
        after.1.len(),
        facts.migration
    );
    new.pool().close().await;
}
