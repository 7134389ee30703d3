//! One error type for the whole HTTP surface, turned into a response in one place.
//!
//! Every error carries its message in both languages; the `localize` middleware, which knows
//! the request's `Accept-Language`, writes the body in the one the client reads. Database
//! details never reach the client: they are logged.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cuntu_store::StoreError;
use serde::Serialize;

use crate::i18n::Lang;

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    UnknownLayer(String),
    BadTile {
        z: String,
        x: String,
        y: String,
        reason: String,
    },
    BadQuery {
        zh: String,
        en: String,
    },
    NotFound {
        what_zh: String,
        what_en: String,
    },
    /// A rule of the data was broken; the message says which, in both languages.
    Rule {
        zh: String,
        en: String,
    },
    /// No session, or an expired one.
    Unauthorized,
    /// Unknown user or wrong password: one message for both.
    BadCredentials,
    Locked {
        minutes: i64,
    },
    /// Signed in, but the thing asked for is outside the caller's scope.
    Forbidden,
    /// An unsafe request with the session cookie that the browser says came from another site.
    CrossSite,
    /// Over a rate limit; `Retry-After` says when to come back (HTTP 429).
    TooManyRequests {
        seconds: u64,
    },
    /// Not answered within the time limit; nothing of it was kept (HTTP 503).
    TimedOut {
        seconds: u64,
    },
    /// Someone else saved first: the caller's version is stale.
    Conflict {
        expected: i32,
        current: i32,
    },
    /// `If-Match` names a version that is no longer current (HTTP 412).
    PreconditionFailed {
        expected: i32,
        current: i32,
    },
    /// The resource exists but does not take this method (HTTP 405): a read-only layer.
    ReadOnly {
        zh: String,
        en: String,
    },
    /// The request body is larger than the route takes (HTTP 413).
    PayloadTooLarge {
        zh: String,
        en: String,
    },
    DatabaseUnavailable,
    Internal,
}

#[derive(Debug, Clone, Serialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize)]
struct ErrorDetail {
    status: u16,
    code: &'static str,
    message: String,
}

/// Both versions of an error's message, left in the response for `localize`.
#[derive(Debug, Clone)]
struct Localized {
    status: StatusCode,
    code: &'static str,
    zh: String,
    en: String,
}

impl ApiError {
    /// The message in one language, for answers in another format than ours (Open311).
    pub fn message(&self, lang: Lang) -> String {
        let parts = self.parts();
        lang.pick(parts.zh, parts.en)
    }

    fn parts(&self) -> Localized {
        let (status, code, zh, en) = match self {
            ApiError::UnknownLayer(id) => {
                let known: Vec<&str> = cuntu_core::layers::LAYERS.iter().map(|l| l.id).collect();
                let known = known.join(", ");
                (
                    StatusCode::NOT_FOUND,
                    "unknown_layer",
                    format!("没有名为“{id}”的图层。可用的图层：{known}"),
                    format!("There is no layer '{id}'. Layers: {known}"),
                )
            }
            ApiError::BadTile { z, x, y, reason } => (
                StatusCode::BAD_REQUEST,
                "bad_tile",
                format!("瓦片 {z}/{x}/{y} 不存在：缩放级别须为 0 到 {max} 的整数，x、y 须为小于 2^z 的非负整数", max = cuntu_core::tile::MAX_ZOOM),
                format!("Tile {z}/{x}/{y} does not exist: zoom must be an integer 0..{max}, x and y non-negative integers below 2^zoom ({reason})", max = cuntu_core::tile::MAX_ZOOM),
            ),
            ApiError::BadQuery { zh, en } => (StatusCode::BAD_REQUEST, "bad_request", zh.clone(), en.clone()),
            ApiError::NotFound { what_zh, what_en } => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("找不到{what_zh}"),
                format!("{what_en} not found"),
            ),
            ApiError::Rule { zh, en } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule_violated",
                zh.clone(),
                en.clone(),
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "请先登录（会话不存在或已过期）。".to_string(),
                "Please log in (no session, or it has expired).".to_string(),
            ),
            ApiError::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "用户名或密码错误。".to_string(),
                "Wrong username or password.".to_string(),
            ),
            ApiError::Locked { minutes } => (
                StatusCode::TOO_MANY_REQUESTS,
                "locked",
                format!("密码错误次数过多，账号已暂时锁定，请 {minutes} 分钟后再试，或请镇管理员重设密码。"),
                format!("Too many wrong passwords: the account is locked; try again in {minutes} minutes, or ask the township admin to reset the password."),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "无权访问：所请求的内容不在您的管辖范围内。".to_string(),
                "Forbidden: what you asked for is outside your area of responsibility.".to_string(),
            ),
            ApiError::CrossSite => (
                StatusCode::FORBIDDEN,
                "cross_site",
                "已拒绝：该请求来自其他网站（跨站请求），为保护您的登录会话未予执行。请直接在村图页面中操作。".to_string(),
                "Refused: this request came from another site (cross-site) and was not carried out, to protect your session. Use the cuntu pages themselves.".to_string(),
            ),
            ApiError::TooManyRequests { seconds } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("请求过于频繁，请 {seconds} 秒后再试。"),
                format!("Too many requests: try again in {seconds} s."),
            ),
            ApiError::TimedOut { seconds } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timed_out",
                format!("请求在 {seconds} 秒内未能完成，已取消，未保存任何内容。请稍后重试或缩小范围。"),
                format!("The request did not finish within {seconds} s and was cancelled; nothing of it was saved. Try again later or ask for less."),
            ),
            ApiError::Conflict { expected, current } => (
                StatusCode::CONFLICT,
                "stale_version",
                format!("保存冲突：您编辑的是第 {expected} 版，其他人已保存为第 {current} 版。请查看对方的修改后重新编辑，您的修改未覆盖任何内容。"),
                format!("Save conflict: you edited version {expected}, someone else has saved version {current}. Look at their change and edit again; nothing was overwritten."),
            ),
            ApiError::PreconditionFailed { expected, current } => (
                StatusCode::PRECONDITION_FAILED,
                "stale_version",
                format!("保存冲突：If-Match 给出的是第 {expected} 版，当前已是第 {current} 版。请重新读取后再编辑，您的修改未覆盖任何内容。"),
                format!("Save conflict: If-Match names version {expected}, the current one is {current}. Read it again and edit; nothing was overwritten."),
            ),
            ApiError::ReadOnly { zh, en } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "read_only",
                zh.clone(),
                en.clone(),
            ),
            ApiError::PayloadTooLarge { zh, en } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                zh.clone(),
                en.clone(),
            ),
            ApiError::DatabaseUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "数据库暂时无法连接，请稍后重试；服务会自动恢复。".to_string(),
                "The database cannot be reached right now; try again shortly. The service recovers by itself.".to_string(),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "服务器内部错误，已记录日志。".to_string(),
                "Internal server error; it has been logged.".to_string(),
            ),
        };
        Localized {
            status,
            code,
            zh,
            en,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(source) => {
                tracing::warn!("database unavailable: {source}");
                ApiError::DatabaseUnavailable
            }
            StoreError::Rule {
                constraint,
                message,
                detail: Some(english),
            } if !constraint.is_empty() => ApiError::Rule {
                zh: message,
                en: english,
            },
            StoreError::Rule {
                constraint,
                message,
                ..
            } => ApiError::Rule {
                zh: format!("数据不符合规则（{constraint}）：{message}"),
                en: format!("The data breaks a rule ({constraint}): {message}"),
            },
            StoreError::Invalid { zh, en } => ApiError::Rule { zh, en },
            StoreError::Conflict { expected, current } => ApiError::Conflict { expected, current },
            StoreError::NotFound => ApiError::NotFound {
                what_zh: "该对象".into(),
                what_en: "The object".into(),
            },
            other => {
                tracing::error!("store error: {other}");
                ApiError::Internal
            }
        }
    }
}

fn body(status: StatusCode, code: &'static str, message: String) -> Response {
    let json = serde_json::to_vec(&ErrorBody {
        error: ErrorDetail {
            status: status.as_u16(),
            code,
            message,
        },
    })
    .unwrap_or_default();
    let mut response = (status, json).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let parts = self.parts();
        let mut response = body(parts.status, parts.code, parts.zh.clone());
        response.extensions_mut().insert(parts);
        response
    }
}

/// Middleware: rewrites an `ApiError` body in the language the request asked for.
pub async fn localize(request: Request, next: Next) -> Response {
    let lang = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or(Lang::Zh);
    let response = next.run(request).await;
    in_language(lang, response)
}

/// An `ApiError` answer rewritten in `lang` (the answer as it is otherwise).
pub fn in_language(lang: Lang, response: Response) -> Response {
    match (lang, response.extensions().get::<Localized>()) {
        (Lang::En, Some(parts)) => {
            let mut english = body(parts.status, parts.code, parts.en.clone());
            // Headers set on the way out (ETag, WWW-Authenticate...) stay; the body's own go.
            for (name, value) in response.headers() {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    english.headers_mut().append(name.clone(), value.clone());
                }
            }
            english
        }
        _ => response,
    }
}
