//! Incidents over HTTP against PostGIS: every legal path from report to close, the illegal
//! steps refused with the reason, deadlines and whistle escalation on a clock the test moves,
//! photo evidence flags, and statistics equal to a hand count.

mod common;

use common::{add_user, client, login};
use cuntu_core::auth::Role;
use cuntu_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Fixture {
    base: String,
    clock: cuntu_server::Clock,
    worker: String,
    other_worker: String,
    cadre: String,
    admin: String,
    dept: String,
    dept2: String,
    departments: (i64, i64),
    _db: TestDatabase,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::new().await.unwrap();
    let (t, v, west, east) = common::huashan(&db.store).await;
    add_user(
        &db.store,
        "worker",
        "pw-worker-1",
        Role::GridWorker,
        west,
        &[],
    )
    .await;
    add_user(
        &db.store,
        "worker2",
        "pw-worker-2",
        Role::GridWorker,
        east,
        &[],
    )
    .await;
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
    let d1 = add_user(&db.store, "dept", "pw-dept-1", Role::Department, t, &[]).await;
    let d2 = add_user(&db.store, "dept2", "pw-dept-2", Role::Department, t, &[]).await;
    let safety = db
        .store
        .ensure_department(t, "safety", "应急管理办")
        .await
        .unwrap();
    let enforcement = db
        .store
        .ensure_department(t, "enforcement", "综合执法队")
        .await
        .unwrap();
    db.store.add_department_member(safety, d1).await.unwrap();
    db.store
        .add_department_member(enforcement, d2)
        .await
        .unwrap();

    let state = cuntu_server::prepare(db.store.clone(), std::path::PathBuf::from("/nonexistent"))
        .await
        .unwrap();
    let clock = state.clock.clone();
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
    let base = format!("http://{addr}");
    Fixture {
        worker: login(&base, "worker", "pw-worker-1").await.unwrap(),
        other_worker: login(&base, "worker2", "pw-worker-2").await.unwrap(),
        cadre: login(&base, "cadre", "pw-cadre-1").await.unwrap(),
        admin: login(&base, "admin", "pw-admin-1").await.unwrap(),
        dept: login(&base, "dept", "pw-dept-1").await.unwrap(),
        dept2: login(&base, "dept2", "pw-dept-2").await.unwrap(),
        base,
        clock,
        departments: (safety, enforcement),
        _db: db,
    }
}

async fn call(
    method: reqwest::Method,
    url: &str,
    cookie: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = client()
        .request(method, url)
        .header("cookie", cookie)
        .header("accept-language", "en");
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

impl Fixture {
    async fn report(&self, cookie: &str, grade: &str, lon: f64) -> Value {
        let (status, body) = call(
            reqwest::Method::POST,
            &format!("{}/api/incidents", self.base),
            cookie,
            Some(
                json!({ "location": { "lon": lon, "lat": 30.61 }, "category": "road_occupied",
                         "grade": grade, "description": "村口道路被杂物占用" }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn get(&self, id: i64, cookie: &str) -> (StatusCode, Value) {
        call(
            reqwest::Method::GET,
            &format!("{}/api/incidents/{id}", self.base),
            cookie,
            None,
        )
        .await
    }

    /// Takes `action` as `cookie` with the version just read; returns the answer.
    async fn act(&self, id: i64, cookie: &str, action: &str, extra: Value) -> (StatusCode, Value) {
        let (_, now) = self.get(id, &self.admin).await;
        let mut body = json!({ "action": action, "version": now["version"] });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        call(
            reqwest::Method::POST,
            &format!("{}/api/incidents/{id}/actions", self.base),
            cookie,
            Some(body),
        )
        .await
    }

    async fn step(&self, id: i64, cookie: &str, action: &str, extra: Value, state: &str) {
        let (status, body) = self.act(id, cookie, action, extra).await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
        assert_eq!(body["state"], json!(state), "{action}: {body}");
    }
}

#[tokio::test]
async fn every_path_from_report_to_close_and_the_illegal_steps_refused() {
    let f = fixture().await;
    let none = json!({});

    // 1. Solved in the grid.
    let a = f.report(&f.worker, "normal", 114.305).await;
    let a_id = a["id"].as_i64().unwrap();
    assert_eq!(
        a["grid"]["name"],
        json!("网格01"),
        "placed in its grid by location"
    );
    assert_eq!(a["village"]["name"], json!("花山村"));
    assert_eq!(a["state"], json!("reported"));
    let (status, _) = f.get(a_id, &f.other_worker).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another grid's worker does not see it"
    );
    let (status, body) = f.act(a_id, &f.worker, "resolve", none.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Possible now: accept"),
        "{body}"
    );
    f.step(a_id, &f.worker, "accept", none.clone(), "accepted")
        .await;
    let (status, _) = f
        .act(
            a_id,
            &f.worker,
            "whistle",
            json!({ "departments": [f.departments.0] }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a worker cannot whistle"
    );
    f.step(
        a_id,
        &f.worker,
        "resolve",
        json!({ "note": "已清理" }),
        "resolved",
    )
    .await;
    f.step(a_id, &f.worker, "verify", none.clone(), "verified")
        .await;
    f.step(a_id, &f.worker, "close", none.clone(), "closed")
        .await;
    let (status, body) = f.act(a_id, &f.worker, "reopen", none.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("closed and cannot change"));
    let (_, a) = f.get(a_id, &f.worker).await;
    let actions: Vec<&str> = a["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["report", "accept", "resolve", "verify", "close"]);
    assert_eq!(a["resolved_by"], json!("grid"));

    // A stale version is refused and changes nothing.
    let b = f.report(&f.worker, "major", 114.306).await;
    let b_id = b["id"].as_i64().unwrap();
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}/api/incidents/{b_id}/actions", f.base),
        &f.worker,
        Some(json!({ "action": "accept", "version": 99 })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // 2. Escalated to the village, solved there.
    f.step(b_id, &f.worker, "accept", none.clone(), "accepted")
        .await;
    f.step(b_id, &f.worker, "escalate", none.clone(), "escalated")
        .await;
    let (status, _) = f.act(b_id, &f.worker, "resolve", none.clone()).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "at the village only the village resolves"
    );
    f.step(b_id, &f.cadre, "resolve", none.clone(), "resolved")
        .await;
    f.step(b_id, &f.worker, "reopen", none.clone(), "escalated")
        .await;
    f.step(b_id, &f.cadre, "resolve", none.clone(), "resolved")
        .await;
    f.step(b_id, &f.worker, "verify", none.clone(), "verified")
        .await;
    f.step(b_id, &f.cadre, "close", none.clone(), "closed")
        .await;

    // 3. Whistled to two departments: the township office coordinates; sign, arrive, solve.
    let c = f.report(&f.worker, "normal", 114.307).await;
    let c_id = c["id"].as_i64().unwrap();
    f.step(c_id, &f.worker, "accept", none.clone(), "accepted")
        .await;
    f.step(c_id, &f.worker, "escalate", none.clone(), "escalated")
        .await;
    let (status, _) = f
        .act(c_id, &f.cadre, "whistle", json!({ "departments": [] }))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a whistle names departments"
    );
    let (status, _) = f.get(c_id, &f.dept).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "not in the department's inbox before the whistle"
    );
    f.step(
        c_id,
        &f.cadre,
        "whistle",
        json!({ "departments": [f.departments.0, f.departments.1] }),
        "whistled",
    )
    .await;
    let (_, inbox) = call(
        reqwest::Method::GET,
        &format!("{}/api/incidents?inbox=1", f.base),
        &f.dept2,
        None,
    )
    .await;
    assert_eq!(inbox["features"].as_array().unwrap().len(), 1);
    let (status, _) = f
        .act(
            c_id,
            &f.dept,
            "dept_arrive",
            json!({ "location": { "lon": 114.307, "lat": 30.61 } }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sign before arriving"
    );
    f.step(c_id, &f.dept, "dept_accept", none.clone(), "dept_accepted")
        .await;
    let (status, _) = f.act(c_id, &f.dept, "dept_arrive", none.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "arriving says where");
    f.step(
        c_id,
        &f.dept,
        "dept_arrive",
        json!({ "location": { "lon": 114.3071, "lat": 30.6101 } }),
        "dept_arrived",
    )
    .await;
    f.step(c_id, &f.dept2, "resolve", none.clone(), "resolved")
        .await;
    f.step(
        c_id,
        &f.worker,
        "reopen",
        json!({ "note": "仍有杂物" }),
        "dept_accepted",
    )
    .await;
    f.step(
        c_id,
        &f.dept,
        "dept_arrive",
        json!({ "location": { "lon": 114.3071, "lat": 30.6101 } }),
        "dept_arrived",
    )
    .await;
    f.step(c_id, &f.dept, "resolve", none.clone(), "resolved")
        .await;
    f.step(c_id, &f.worker, "verify", none.clone(), "verified")
        .await;
    f.step(c_id, &f.admin, "close", none.clone(), "closed")
        .await;
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}/api/incidents/{c_id}/score", f.base),
        &f.worker,
        Some(json!({ "score": 4 })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the village scores");
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{}/api/incidents/{c_id}/score", f.base),
        &f.cadre,
        Some(json!({ "score": 4 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, c) = f.get(c_id, &f.cadre).await;
    let timeline = c["timeline"].as_array().unwrap();
    let whistle = timeline
        .iter()
        .find(|e| e["action"] == json!("whistle"))
        .unwrap();
    assert!(
        whistle["note"].as_str().unwrap().contains("综治办"),
        "{whistle}"
    );
    let arrive = timeline
        .iter()
        .find(|e| e["action"] == json!("dept_arrive"))
        .unwrap();
    assert!(
        (arrive["lon"].as_f64().unwrap() - 114.3071).abs() < 1e-9,
        "{arrive}"
    );
    assert_eq!(timeline.len(), 12, "{timeline:?}");
    assert_eq!(c["score"], json!(4));

    // Statistics by hand: 3 resolved, 2 within the village (grid, village), all on time.
    let (_, stats) = call(
        reqwest::Method::GET,
        &format!("{}/api/incidents/stats", f.base),
        &f.admin,
        None,
    )
    .await;
    assert_eq!(
        (
            stats["resolved"].clone(),
            stats["in_village"].clone(),
            stats["on_time"].clone()
        ),
        (json!(3), json!(2), json!(3)),
        "{stats}"
    );
    assert_eq!(stats["in_village_percent"], json!(66.7));
}

#[tokio::test]
async fn deadlines_run_on_the_clock_and_an_unanswered_whistle_escalates_by_itself() {
    let f = fixture().await;
    let none = json!({});
    // An urgent incident must be accepted within 15 minutes.
    let u = f.report(&f.worker, "urgent", 114.305).await;
    let id = u["id"].as_i64().unwrap();
    assert_eq!(u["overdue"], json!(false));
    f.clock.advance(chrono::Duration::minutes(16));
    let (_, list) = call(
        reqwest::Method::GET,
        &format!("{}/api/incidents?overdue=1", f.base),
        &f.cadre,
        None,
    )
    .await;
    assert_eq!(list["overdue"], json!(1));
    assert_eq!(list["features"][0]["id"], json!(id));
    f.step(id, &f.worker, "accept", none.clone(), "accepted")
        .await;
    f.step(id, &f.worker, "escalate", none.clone(), "escalated")
        .await;
    f.step(
        id,
        &f.cadre,
        "whistle",
        json!({ "departments": [f.departments.0] }),
        "whistled",
    )
    .await;
    // Nobody signs within the urgent 15 minutes: the whistle escalates, and again later.
    f.clock.advance(chrono::Duration::minutes(16));
    let (_, now) = f.get(id, &f.cadre).await;
    assert_eq!(now["escalation_level"], json!(1), "{now}");
    assert!(now["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == json!("whistle_escalated")
            && e["note"].as_str().unwrap().contains("综治办")));
    f.clock.advance(chrono::Duration::minutes(61));
    let (_, now) = f.get(id, &f.cadre).await;
    assert_eq!(now["escalation_level"], json!(2));
    assert_eq!(
        now["missed_deadlines"],
        json!(3),
        "late acceptance and two escalations"
    );
    f.step(id, &f.dept, "dept_accept", none.clone(), "dept_accepted")
        .await;

    // Evidence: a closure photo from far away and one dated before the whistle are flagged.
    let jpeg = format!(
        "data:image/jpeg;base64,{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']
        )
    );
    let photo = |taken_at: chrono::DateTime<chrono::Utc>, lon: f64| {
        let (base, dept, jpeg) = (f.base.clone(), f.dept.clone(), jpeg.clone());
        async move {
            call(
                reqwest::Method::POST,
                &format!("{base}/api/incidents/{id}/photos"),
                &dept,
                Some(json!({ "stage": "after", "photo": jpeg, "taken_at": taken_at, "location": { "lon": lon, "lat": 30.61 } })),
            )
            .await
        }
    };
    let now_t = f.clock.now();
    let (status, near) = photo(now_t, 114.3051).await;
    assert_eq!(status, StatusCode::CREATED, "{near}");
    assert_eq!(near["flagged"], json!(false), "{near}");
    let (_, far) = photo(now_t, 114.33).await;
    assert_eq!(
        (far["flagged"].clone(), far["flag_reason"].clone()),
        (json!(true), json!("far")),
        "{far}"
    );
    let (_, early) = photo(now_t - chrono::Duration::hours(3), 114.3051).await;
    assert_eq!(
        (early["flagged"].clone(), early["flag_reason"].clone()),
        (json!(true), json!("early")),
        "{early}"
    );
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}/api/incidents/{id}/photos", f.base),
        &f.dept,
        Some(json!({ "stage": "after", "photo": "data:text/plain;base64,aGVsbG8=" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Its deadlines were missed: once resolved it counts as late in the statistics.
    f.step(
        id,
        &f.dept,
        "dept_arrive",
        json!({ "location": { "lon": 114.3051, "lat": 30.61 } }),
        "dept_arrived",
    )
    .await;
    f.step(id, &f.dept, "resolve", none.clone(), "resolved")
        .await;
    let (_, stats) = call(
        reqwest::Method::GET,
        &format!("{}/api/incidents/stats", f.base),
        &f.admin,
        None,
    )
    .await;
    assert_eq!(
        (stats["resolved"].clone(), stats["on_time"].clone()),
        (json!(1), json!(0)),
        "{stats}"
    );
    let row = &stats["rows"][0];
    assert_eq!(
        (row["grade"].clone(), row["department"].clone()),
        (json!("urgent"), json!("应急管理办"))
    );

    // Bad reports get a message a worker can act on.
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{}/api/incidents", f.base),
        &f.worker,
        Some(json!({ "location": { "lon": 114.305, "lat": 30.61 }, "category": "ufo", "description": "x" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("road_occupied"),
        "{body}"
    );
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}/api/incidents", f.base),
        &f.worker,
        Some(json!({ "location": { "lon": 114.315, "lat": 30.61 }, "category": "rubbish", "description": "对面网格" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "outside the worker's grid");
}

#[tokio::test]
async fn notifications_reach_each_inbox_once_and_the_webhook_hears_signed_events() {
    use hmac::{Hmac, Mac};
    let f = fixture().await;
    let none = json!({});
    // An outside system listening for the township's events.
    let heard: std::sync::Arc<tokio::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let sink = heard.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let signature = headers["x-cuntu-signature"].to_str().unwrap().to_string();
                sink.lock().await.push((signature, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (_, me) = call(
        reqwest::Method::GET,
        &format!("{}/api/me", f.base),
        &f.admin,
        None,
    )
    .await;
    let township = me["user"]["roles"][0]["area_id"].as_i64().unwrap();
    let secret = "a-secret-of-sixteen+";
    let (status, _) = call(
        reqwest::Method::PUT,
        &format!("{}/api/townships/{township}/webhook", f.base),
        &f.cadre,
        Some(json!({ "url": hook, "secret": secret })),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only the township admin sets it"
    );
    let (status, body) = call(
        reqwest::Method::PUT,
        &format!("{}/api/townships/{township}/webhook", f.base),
        &f.admin,
        Some(json!({ "url": hook, "secret": secret })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let unread = |cookie: String| {
        let base = f.base.clone();
        async move {
            let (_, n) = call(
                reqwest::Method::GET,
                &format!("{base}/api/notifications"),
                &cookie,
                None,
            )
            .await;
            n
        }
    };
    let i = f.report(&f.worker, "normal", 114.305).await;
    let id = i["id"].as_i64().unwrap();
    assert_eq!(
        unread(f.worker.clone()).await["unread"],
        json!(0),
        "the reporter is not told of their own report"
    );
    f.step(id, &f.worker, "accept", none.clone(), "accepted")
        .await;
    f.step(id, &f.worker, "escalate", none.clone(), "escalated")
        .await;
    let cadre = unread(f.cadre.clone()).await;
    assert_eq!(cadre["unread"], json!(1), "{cadre}");
    assert!(cadre["notifications"][0]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("Incident {id}")));
    f.step(
        id,
        &f.cadre,
        "whistle",
        json!({ "departments": [f.departments.0] }),
        "whistled",
    )
    .await;
    assert_eq!(unread(f.dept.clone()).await["unread"], json!(1));
    assert_eq!(
        unread(f.dept2.clone()).await["unread"],
        json!(0),
        "another department hears nothing"
    );

    // An unsigned whistle: the departments and the township hear of its escalation once,
    // however often the incidents are read.
    let read_incidents = || async {
        for _ in 0..3 {
            call(
                reqwest::Method::GET,
                &format!("{}/api/incidents", f.base),
                &f.cadre,
                None,
            )
            .await;
        }
    };
    let kinds_of = |n: &Value, incident: i64| -> Vec<String> {
        n["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["incident"] == json!(incident))
            .map(|x| x["kind"].as_str().unwrap().to_string())
            .collect()
    };
    f.clock.advance(chrono::Duration::minutes(61));
    read_incidents().await;
    let dept = unread(f.dept.clone()).await;
    assert_eq!(
        kinds_of(&dept, id)
            .iter()
            .filter(|k| *k == "escalated")
            .count(),
        1,
        "{dept}"
    );
    let admin = unread(f.admin.clone()).await;
    assert_eq!(kinds_of(&admin, id), ["escalated"], "{admin}");
    // An incident left unaccepted past its day: its grid is told it is overdue, once.
    let late = f.report(&f.worker, "normal", 114.3055).await["id"]
        .as_i64()
        .unwrap();
    f.clock.advance(chrono::Duration::hours(25));
    read_incidents().await;
    read_incidents().await;
    let worker = unread(f.worker.clone()).await;
    assert_eq!(kinds_of(&worker, late), ["overdue"], "{worker}");
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}/api/notifications/read", f.base),
        &f.dept,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unread(f.dept.clone()).await["unread"], json!(0));

    // The webhook heard the report, the escalation, the whistle and the rest, each signed.
    assert!(
        common::eventually(|| async {
            let bodies = heard.lock().await;
            ["inbox", "escalated", "overdue"].iter().all(|kind| {
                bodies
                    .iter()
                    .any(|(_, b)| b.contains(&format!("\"event\":\"{kind}\"")))
            })
        })
        .await,
        "webhook deliveries: {:?}",
        heard.lock().await
    );
    for (signature, body) in heard.lock().await.iter() {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(signature, &format!("sha256={expected}"));
        let event: Value = serde_json::from_str(body).unwrap();
        assert!(
            event["incident"] == json!(id) || event["incident"] == json!(late),
            "{event}"
        );
    }
    let events: Vec<String> = heard
        .lock()
        .await
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for kind in ["inbox", "escalated", "overdue"] {
        assert!(events.iter().any(|e| e == kind), "{kind} not in {events:?}");
    }
}

#[tokio::test]
async fn the_township_admin_configures_deadlines_and_the_catalogue() {
    let f = fixture().await;
    let put = |cookie: &str, path: &str, body: Value| {
        let (url, cookie) = (format!("{}{path}", f.base), cookie.to_string());
        async move { call(reqwest::Method::PUT, &url, &cookie, Some(body)).await }
    };
    let urgent_accept = json!({ "grade": "urgent", "step": "accept", "minutes": 60 });
    assert_eq!(
        put(&f.cadre, "/api/incident-deadlines", urgent_accept.clone())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = put(
        &f.admin,
        "/api/incident-deadlines",
        json!({ "grade": "urgent", "step": "accept" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        put(&f.admin, "/api/incident-deadlines", urgent_accept)
            .await
            .0,
        StatusCode::OK
    );
    let (_, all) = call(
        reqwest::Method::GET,
        &format!("{}/api/incident-deadlines", f.base),
        &f.worker,
        None,
    )
    .await;
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["grade"] == json!("urgent") && r["step"] == json!("accept"))
        .unwrap();
    assert_eq!(
        (row["minutes"].clone(), row["default"].clone()),
        (json!(60), json!(false))
    );
    let u = f.report(&f.worker, "urgent", 114.305).await;
    let reported: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(u["reported_at"].clone()).unwrap();
    let due: chrono::DateTime<chrono::Utc> = serde_json::from_value(u["due_at"].clone()).unwrap();
    assert_eq!(due - reported, chrono::Duration::minutes(60));

    // A new category for the catalogue, used, then retired.
    let dogs = json!({ "name_zh": "流浪犬", "name_en": "stray dogs" });
    assert_eq!(
        put(
            &f.worker,
            "/api/incident-categories/stray_dogs",
            dogs.clone()
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(&f.admin, "/api/incident-categories/stray_dogs", dogs)
            .await
            .0,
        StatusCode::OK
    );
    let report = |category: &'static str| {
        let (base, worker) = (f.base.clone(), f.worker.clone());
        async move {
            call(
                reqwest::Method::POST,
                &format!("{base}/api/incidents"),
                &worker,
                Some(json!({ "location": { "lon": 114.305, "lat": 30.61 }, "category": category, "description": "村口有流浪犬" })),
            )
            .await
            .0
        }
    };
    assert_eq!(report("stray_dogs").await, StatusCode::CREATED);
    let retired = json!({ "name_zh": "流浪犬", "name_en": "stray dogs", "active": false });
    assert_eq!(
        put(&f.admin, "/api/incident-categories/stray_dogs", retired)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(report("stray_dogs").await, StatusCode::BAD_REQUEST);
    assert_eq!(
        put(
            &f.admin,
            "/api/incident-categories/Bad-Code",
            json!({ "name_zh": "x", "name_en": "x" })
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}

/// GET as `cookie` in `lang`; the status, the content type and the body's bytes.
async fn get_raw(url: &str, cookie: &str, lang: &str) -> (StatusCode, String, Vec<u8>) {
    let r = client()
        .get(url)
        .header("cookie", cookie)
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, kind, r.bytes().await.unwrap().to_vec())
}

async fn get_json(url: &str, cookie: &str, lang: &str) -> Value {
    let (status, _, bytes) = get_raw(url, cookie, lang).await;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{url}: {v}");
    v
}

#[tokio::test]
async fn labels_come_in_the_readers_language_beside_stable_codes() {
    let f = fixture().await;
    let none = json!({});
    let id = f.report(&f.worker, "major", 114.305).await["id"]
        .as_i64()
        .unwrap();
    f.step(id, &f.worker, "accept", none.clone(), "accepted")
        .await;
    let url = format!("{}/api/incidents/{id}", f.base);
    let zh = get_json(&url, &f.worker, "zh-CN").await;
    let en = get_json(&url, &f.worker, "en-GB,en;q=0.9").await;
    for (v, category, grade, state, report, accept) in [
        (
            &zh,
            "占道经营/占用道路",
            "重大",
            "网格已受理",
            "上报",
            "受理",
        ),
        (
            &en,
            "road occupied",
            "major",
            "accepted by the grid",
            "report",
            "accept",
        ),
    ] {
        assert_eq!(v["category"], json!("road_occupied"), "the code stays");
        assert_eq!(v["category_label"], json!(category), "{v}");
        assert_eq!(v["grade_label"], json!(grade));
        assert_eq!(v["state"], json!("accepted"));
        assert_eq!(v["state_label"], json!(state));
        let tl = v["timeline"].as_array().unwrap();
        assert_eq!(tl[0]["action"], json!("report"));
        assert_eq!(tl[0]["action_label"], json!(report));
        assert_eq!(tl[1]["action_label"], json!(accept));
        assert_eq!(tl[1]["to_state_label"], json!(state));
    }
    let cats = get_json(
        &format!("{}/api/incident-categories", f.base),
        &f.worker,
        "en",
    )
    .await;
    assert_eq!(cats[0]["label"], cats[0]["name_en"]);

    // A closure photo far away is flagged, and the flag says so in the reader's language.
    let jpeg = format!(
        "data:image/jpeg;base64,{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']
        )
    );
    let (status, far) = call(
        reqwest::Method::POST,
        &format!("{}/api/incidents/{id}/photos", f.base),
        &f.worker,
        Some(
            json!({ "stage": "after", "photo": jpeg, "taken_at": f.clock.now(), "location": { "lon": 114.33, "lat": 30.61 } }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{far}");
    assert_eq!(far["flag_reason"], json!("far"));
    assert!(
        far["flag_label"]
            .as_str()
            .unwrap()
            .ends_with("m from the incident"),
        "{far}"
    );
    let zh = get_json(&url, &f.worker, "zh").await;
    let label = zh["photos"][0]["flag_label"].as_str().unwrap().to_string();
    assert!(
        label.starts_with("拍摄地点距事件") && label.ends_with("米"),
        "{label}"
    );
    assert_eq!(zh["photos"][0]["stage_label"], json!("处置后"));

    // Resolved in the grid: the statistics and their exports speak the reader's language.
    f.step(id, &f.worker, "resolve", none.clone(), "resolved")
        .await;
    let stats_url = format!("{}/api/incidents/stats", f.base);
    let zh = get_json(&stats_url, &f.cadre, "zh").await;
    let en = get_json(&stats_url, &f.cadre, "en").await;
    assert_eq!(zh["resolved"], json!(1));
    assert_eq!(zh["headings"]["grade"], json!("等级"));
    assert_eq!(en["headings"]["grade"], json!("Grade"));
    assert_eq!(zh["rows"][0]["grade"], json!("major"));
    assert_eq!(zh["rows"][0]["grade_label"], json!("重大"));
    assert_eq!(en["rows"][0]["department_label"], json!("not whistled"));
    for (lang, head, total) in [
        ("zh", "等级,牵头部门,处置数,按时处置数,按时率（%）,村内解决数,小事不出村率（%）,平均用时（小时）", "合计"),
        ("en", "Grade,Lead department,Resolved,Resolved on time,On-time rate (%),Resolved within the village,Share within the village (%),Mean hours to resolve", "Total"),
    ] {
        let (status, kind, bytes) =
            get_raw(&format!("{stats_url}.csv"), &f.cadre, lang).await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("text/csv"), "{kind}");
        assert_eq!(bytes[..3], [0xef, 0xbb, 0xbf], "a BOM for Excel");
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], head);
        assert!(lines[1].starts_with(if lang == "zh" { "重大," } else { "major," }), "{text}");
        let last: Vec<&str> = lines.last().unwrap().split(',').collect();
        assert_eq!((last[0], last[2]), (total, "1"), "{text}");
        let (status, kind, bytes) =
            get_raw(&format!("{stats_url}.xlsx"), &f.cadre, lang).await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.contains("spreadsheetml"), "{kind}");
        assert_eq!(&bytes[..2], b"PK", "an XLSX is a zip");
    }
    let (status, _, _) = get_raw(&format!("{stats_url}.csv"), "", "en").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_leaders_incident_map_counts_open_and_overdue_incidents_per_area() {
    let f = fixture().await;
    let none = json!({});
    // West grid: an urgent one (overdue once 15 minutes pass unaccepted) and one closed;
    // east grid: a normal one (a day to accept).
    let urgent = f.report(&f.worker, "urgent", 114.305).await["id"]
        .as_i64()
        .unwrap();
    let done = f.report(&f.worker, "normal", 114.306).await["id"]
        .as_i64()
        .unwrap();
    let east = f.report(&f.other_worker, "normal", 114.315).await["id"]
        .as_i64()
        .unwrap();
    for (action, state) in [
        ("accept", "accepted"),
        ("resolve", "resolved"),
        ("verify", "verified"),
        ("close", "closed"),
    ] {
        f.step(done, &f.worker, action, none.clone(), state).await;
    }
    f.clock.advance(chrono::Duration::minutes(16));
    let now = f.clock.now();

    // By hand: the open and overdue incidents of each grid and of the village.
    let hand: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT grid_id, count(*), count(*) FILTER (WHERE due_at < $1 AND state NOT IN ('resolved', 'verified', 'closed')) \
         FROM incidents WHERE state <> 'closed' GROUP BY grid_id ORDER BY grid_id",
    )
    .bind(now)
    .fetch_all(f._db.store.pool())
    .await
    .unwrap();
    assert_eq!(hand.len(), 2, "{hand:?}");
    let map = get_json(
        &format!(
            "{}/api/leader/choropleth?level=grid&metric=incidents",
            f.base
        ),
        &f.admin,
        "en",
    )
    .await;
    assert_eq!(map["metric"], json!("incidents"));
    assert_eq!(map["method"], json!("quantile"));
    assert_eq!(map["unit"], json!("open incidents"));
    let features = map["features"].as_array().unwrap();
    assert_eq!(features.len(), 2, "both grids are on the map");
    for (grid, open, overdue) in &hand {
        let p = &features
            .iter()
            .find(|x| x["id"] == json!(grid))
            .unwrap_or_else(|| panic!("grid {grid} on the map"))["properties"];
        assert_eq!(p["value"], json!(*open as f64), "{p}");
        assert_eq!(p["open_incidents"], json!(open));
        assert_eq!(p["overdue_incidents"], json!(overdue));
    }
    let of = |name: &str| {
        features
            .iter()
            .find(|x| x["properties"]["name"] == json!(name))
            .map(|x| x["properties"].clone())
            .unwrap()
    };
    assert_eq!(
        (
            of("网格01")["open_incidents"].clone(),
            of("网格01")["overdue_incidents"].clone()
        ),
        (json!(1), json!(1)),
        "the urgent one, overdue; the closed one is not counted"
    );
    assert_eq!(of("网格01")["label"], json!("1 (1 overdue)"));
    assert_eq!(of("网格02")["label"], json!("1"));

    let village = get_json(
        &format!(
            "{}/api/leader/choropleth?level=village&metric=incidents",
            f.base
        ),
        &f.admin,
        "zh",
    )
    .await;
    let p = &village["features"][0]["properties"];
    assert_eq!(
        (p["open_incidents"].clone(), p["overdue_incidents"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(p["label"], json!("2（逾期 1）"));
    assert!(village["breaks"].is_array());

    // Accepting the urgent one ends its overdue step; closing the east one takes it off.
    f.step(urgent, &f.worker, "accept", none.clone(), "accepted")
        .await;
    for (action, state) in [
        ("accept", "accepted"),
        ("resolve", "resolved"),
        ("verify", "verified"),
        ("close", "closed"),
    ] {
        f.step(east, &f.other_worker, action, none.clone(), state)
            .await;
    }
    let village = get_json(
        &format!(
            "{}/api/leader/choropleth?level=village&metric=incidents",
            f.base
        ),
        &f.admin,
        "en",
    )
    .await;
    let p = &village["features"][0]["properties"];
    assert_eq!(
        (p["open_incidents"].clone(), p["overdue_incidents"].clone()),
        (json!(1), json!(0)),
        "{p}"
    );
    // Areas without incidents are a class of their own: a break at 1.
    let grids = get_json(
        &format!(
            "{}/api/leader/choropleth?level=grid&metric=incidents",
            f.base
        ),
        &f.admin,
        "en",
    )
    .await;
    let values: Vec<Value> = grids["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["properties"]["value"].clone())
        .collect();
    assert!(
        values.contains(&json!(0.0)) && values.contains(&json!(1.0)),
        "{values:?}"
    );
    assert_eq!(grids["breaks"], json!([1.0]));
    // Grid workers and cadres have no leader map.
    let (status, _, _) = get_raw(
        &format!("{}/api/leader/choropleth?metric=incidents", f.base),
        &f.worker,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_incident_list_pages_newest_first_with_filters_applied_before_the_page() {
    let f = fixture().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let r = f
            .report(&f.worker, "normal", 114.301 + 0.001 * f64::from(i))
            .await;
        ids.push(r["id"].as_i64().unwrap());
    }
    ids.reverse();
    let page = |query: String| {
        let f = &f;
        async move {
            call(
                reqwest::Method::GET,
                &format!("{}/api/incidents?{query}", f.base),
                &f.admin,
                None,
            )
            .await
        }
    };
    let mut seen = Vec::new();
    let mut offset = Some(0);
    let mut pages = 0;
    while let Some(o) = offset {
        let (status, body) = page(format!("limit=3&offset={o}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let features = body["features"].as_array().unwrap();
        assert!(features.len() <= 3);
        seen.extend(features.iter().map(|x| x["id"].as_i64().unwrap()));
        offset = body["next_offset"].as_i64();
        pages += 1;
        assert!(pages <= 4, "{body}");
    }
    // Newest first, each once; the last full page leads to an empty one.
    assert_eq!(seen, ids);
    // A filter narrows before the page: state=reported holds all seven.
    let (_, body) = page("state=reported&limit=5&offset=5".into()).await;
    assert_eq!(body["features"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["next_offset"], Value::Null);
    for bad in ["limit=0", "limit=501", "limit=x", "offset=-1"] {
        let (status, body) = page(bad.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body.to_string().contains("limit") || body.to_string().contains("offset"));
    }
}
