//! The engine's one error type, with stable codes, HTTP statuses and the JSON error body.

use serde_json::{json, Map, Value};

/// Result alias used by every engine call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the engine reports. Each variant has a stable [`Error::code`], an HTTP
/// [`Error::status`] and serialises with [`Error::to_json`] to the body a host sends back.
///
/// ```
/// let err = timeledger::Error::NoActiveSession;
/// assert_eq!(err.code(), "NO_ACTIVE_SESSION");
/// assert_eq!(err.status(), 409);
/// assert_eq!(err.to_json()["code"], "NO_ACTIVE_SESSION");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument is missing, malformed or out of range (400).
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The argument at fault.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No user with that id (or e-mail / Slack id) in the guild (404).
    #[error("user not found")]
    UserNotFound,
    /// No category of that name in the guild (404).
    #[error("category not found: {0}")]
    CategoryNotFound(String),
    /// The category is archived: it takes no new sessions (409).
    #[error("category is archived: {0}")]
    CategoryArchived(String),
    /// A category of that name (compared case-insensitively) already exists (409).
    #[error("category already exists: {0}")]
    CategoryExists(String),
    /// The category still has sessions and cannot be deleted (409).
    #[error("category is in use by {0} session(s); archive it instead")]
    CategoryInUse(u64),
    /// No session with that id in the guild (404).
    #[error("session not found: {0}")]
    SessionNotFound(String),
    /// The user already has a running session in this guild (409).
    #[error("user already has an active session")]
    SessionAlreadyActive,
    /// The user has no running session in this guild (409).
    #[error("user has no active session")]
    NoActiveSession,
    /// The entry overlaps another session of the same user in the guild (409).
    #[error("session overlaps another session of this user")]
    SessionOverlap,
    /// No key was given (401).
    #[error("missing API key")]
    MissingApiKey,
    /// The key is malformed, fails its checksum or is unknown (401).
    #[error("invalid API key")]
    InvalidApiKey,
    /// The key was revoked (401).
    #[error("API key revoked")]
    KeyRevoked,
    /// The key (or its parent) has expired (401).
    #[error("API key expired")]
    KeyExpired,
    /// The master key given to generate keys is wrong or unset (401).
    #[error("invalid master key")]
    InvalidMasterKey,
    /// The key belongs to another guild (403).
    #[error("API key is not valid for this guild")]
    WrongGuild,
    /// The key's tier does not allow the action (403).
    #[error("{0}")]
    Forbidden(String),
    /// Two different keys were found in one request (400).
    #[error("conflicting API keys in request")]
    ConflictingKeys,
    /// No API key with that id (404).
    #[error("API key not found")]
    KeyNotFound,
    /// A rate-limit window is exhausted (429).
    #[error("Limit: {limit} requests/{window}")]
    RateLimited {
        /// The limit of the window that refused the request.
        limit: u64,
        /// The window's name (`minute`, `hour`, `day`).
        window: &'static str,
        /// Requests left in that window (0).
        remaining: u64,
        /// Whole seconds until a request can be admitted again.
        reset_in: u64,
        /// The key's tier.
        tier: String,
    },
    /// The storage layer failed (500).
    #[error("storage error: {0}")]
    Storage(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput { field: field.into(), message: message.into() }
    }

    /// The argument an `INVALID_INPUT` error names, e.g. `Some("end")`; `None` for other kinds.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidInput { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The stable machine-readable code, e.g. `SESSION_OVERLAP` or `RATE_001`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "INVALID_INPUT",
            Error::UserNotFound => "USER_NOT_FOUND",
            Error::CategoryNotFound(_) => "CATEGORY_NOT_FOUND",
            Error::CategoryArchived(_) => "CATEGORY_ARCHIVED",
            Error::CategoryExists(_) => "CATEGORY_EXISTS",
            Error::CategoryInUse(_) => "CATEGORY_IN_USE",
            Error::SessionNotFound(_) => "SESSION_NOT_FOUND",
            Error::SessionAlreadyActive => "SESSION_ALREADY_ACTIVE",
            Error::NoActiveSession => "NO_ACTIVE_SESSION",
            Error::SessionOverlap => "SESSION_OVERLAP",
            Error::MissingApiKey => "MISSING_API_KEY",
            Error::InvalidApiKey => "INVALID_API_KEY",
            Error::KeyRevoked => "KEY_REVOKED",
            Error::KeyExpired => "KEY_EXPIRED",
            Error::InvalidMasterKey => "INVALID_MASTER_KEY",
            Error::WrongGuild => "WRONG_GUILD",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::ConflictingKeys => "CONFLICTING_KEYS",
            Error::KeyNotFound => "KEY_NOT_FOUND",
            Error::RateLimited { .. } => "RATE_001",
            Error::Storage(_) => "STORAGE_ERROR",
        }
    }

    /// The HTTP status a host should answer with.
    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidInput { .. } | Error::ConflictingKeys => 400,
            Error::MissingApiKey
            | Error::InvalidApiKey
            | Error::KeyRevoked
            | Error::KeyExpired
            | Error::InvalidMasterKey => 401,
            Error::WrongGuild | Error::Forbidden(_) => 403,
            Error::UserNotFound | Error::CategoryNotFound(_) | Error::SessionNotFound(_) | Error::KeyNotFound => 404,
            Error::CategoryArchived(_)
            | Error::CategoryExists(_)
            | Error::CategoryInUse(_)
            | Error::SessionAlreadyActive
            | Error::NoActiveSession
            | Error::SessionOverlap => 409,
            Error::RateLimited { .. } => 429,
            Error::Storage(_) => 500,
        }
    }

    /// The short title used as the body's `error` field.
    pub fn title(&self) -> &'static str {
        match self.status() {
            400 => "Bad request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not found",
            409 => "Conflict",
            429 => "Rate limit exceeded",
            _ => "Internal error",
        }
    }

    /// The error body: `{"error", "message", "code"}` plus `field` for bad input and
    /// `remaining`, `reset_in`, `tier` for rate limits.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), json!(self.title()));
        body.insert("message".into(), json!(self.to_string()));
        body.insert("code".into(), json!(self.code()));
        match self {
            Error::InvalidInput { field, .. } => {
                body.insert("field".into(), json!(field));
            }
            Error::RateLimited { remaining, reset_in, tier, .. } => {
                body.insert("remaining".into(), json!(remaining));
                body.insert("reset_in".into(), json!(reset_in));
                body.insert("tier".into(), json!(tier));
            }
            _ => {}
        }
        Value::Object(body)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Storage(e.to_string())
    }
}
