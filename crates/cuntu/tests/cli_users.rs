//! `cuntu user ...` against a real database: what an administrator types at the terminal.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use cuntu_store::testing::TestDatabase;

fn cuntu(url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cuntu"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cuntu runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn users_are_added_granted_listed_revoked_and_repassworded() {
    let db = TestDatabase::new().await.unwrap();
    sqlx::query(
        "INSERT INTO areas (kind, code, name, geom) VALUES ('township', '130111103', '冶河镇', \
         ST_Multi(ST_GeomFromText('POLYGON((9.5 47.1, 9.6 47.1, 9.6 47.2, 9.5 47.2, 9.5 47.1))', 4326)))",
    )
    .execute(db.store.pool())
    .await
    .unwrap();
    let url = db.url.as_str();

    let added = cuntu(
        url,
        &["user", "add", "wang", "--name", "网格员 王建国"],
        Some("a-good-password\n"),
    );
    assert!(added.status.success(), "{}", text(&added));
    let duplicate = cuntu(
        url,
        &["user", "add", "wang", "--name", "again"],
        Some("a-good-password\n"),
    );
    assert!(!duplicate.status.success(), "a username is unique");
    let short = cuntu(url, &["user", "add", "li", "--name", "李"], Some("short\n"));
    assert!(
        !short.status.success() && text(&short).contains("at least 8"),
        "{}",
        text(&short)
    );

    let granted = cuntu(
        url,
        &[
            "user",
            "grant",
            "wang",
            "leader",
            "130111103",
            "--grants",
            "personal",
        ],
        None,
    );
    assert!(granted.status.success(), "{}", text(&granted));
    let bad_role = cuntu(url, &["user", "grant", "wang", "mayor", "130111103"], None);
    assert!(!bad_role.status.success() && text(&bad_role).contains("unknown role"));
    let bad_area = cuntu(url, &["user", "grant", "wang", "leader", "999"], None);
    assert!(!bad_area.status.success() && text(&bad_area).contains("no area"));

    let list = cuntu(url, &["user", "list"], None);
    let listed = text(&list);
    assert!(
        listed.contains("wang")
            && listed.contains("leader@130111103")
            && listed.contains("[personal]"),
        "{listed}"
    );

    let user = db.store.user_by_name("wang").await.unwrap().unwrap();
    let before = user.password_hash.clone();
    let generated = cuntu(url, &["user", "passwd", "wang"], Some(""));
    assert!(
        text(&generated).contains("password: "),
        "a generated password is printed once"
    );
    let after = db
        .store
        .user_by_name("wang")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert_ne!(before, after);

    let revoked = cuntu(
        url,
        &["user", "revoke", "wang", "leader", "130111103"],
        None,
    );
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(db.store.roles_of(user.id).await.unwrap().is_empty());
    let again = cuntu(
        url,
        &["user", "revoke", "wang", "leader", "130111103"],
        None,
    );
    assert!(
        !again.status.success(),
        "revoking what is not there says so"
    );

    let token = cuntu(url, &["user", "token", "wang"], None);
    assert_eq!(String::from_utf8_lossy(&token.stdout).trim().len(), 43);

    // Every change is in the audit log.
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    assert_eq!(
        actions,
        [
            "user_added",
            "role_granted",
            "password_set",
            "role_revoked",
            "token_created"
        ]
    );
}
