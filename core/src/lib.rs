//! # Timeledger
//!
//! An embedded time-tracking engine over SQLite: guilds, users and categories; sessions with
//! clock in/out, manual entries and lazy auto-close; guild status, leaderboards and reports
//! served from incremental per-day rollups. Every instant is stored as integer milliseconds
//! (UTC); calendar windows are computed in each guild's IANA zone, DST-correct.
//!
//! ```
//! use timeledger::{ClockIn, ClockOut, Engine, LeaderboardQuery, NewCategory, Timestamp};
//!
//! let engine = Engine::open(":memory:")?;
//! engine.set_now(Some(Timestamp::parse("2025-10-10T18:00:00Z")?.millis())).unwrap();
//! engine.create_category(&NewCategory { guild_id: 1, name: "Development".into(), ..Default::default() })?;
//! engine.clock_in(&ClockIn {
//!     guild_id: 1,
//!     user_id: 42,
//!     category: "Development".into(),
//!     at: Some(Timestamp::parse("2025-10-10T14:30:00Z")?),
//!     ..Default::default()
//! })?;
//! engine.clock_out(&ClockOut { guild_id: 1, user_id: 42, at: None })?;
//! let status = engine.guild_status(1)?;
//! assert_eq!(status.total_time_seconds, 3 * 3600 + 1800);
//! let board = engine.leaderboard(&LeaderboardQuery { guild_id: 1, timeframe: Some("week".into()), ..Default::default() })?;
//! assert_eq!(board.leaderboard[0].hours, 3.5);
//! # Ok::<(), timeledger::Error>(())
//! ```

mod aggregate;
mod categories;
mod copy;
mod dispatch;
mod error;
mod guilds;
mod heartbeats;
#[deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod keys;
#[deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod ratelimit;
mod rollup;
mod sessions;
mod storage;
mod store;
pub mod time;
mod transfer;
#[deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
pub mod wire;

pub use aggregate::{
    GroupKey, GuildStatus, Leaderboard, LeaderboardEntry, LeaderboardQuery, Report, ReportQuery, ReportRow,
};
pub use categories::{Category, CategoryUpdate, NewCategory};
pub use copy::CopySummary;
pub use dispatch::OPERATIONS;
pub use error::{Error, Result};
pub use guilds::{
    GuildSettings, GuildUpdate, Member, MembersQuery, User, UserInput, DEFAULT_HEARTBEAT_TIMEOUT, TRUST_LEVELS,
};
pub use heartbeats::{
    BulkResult, CodingLeaderboardQuery, FieldValue, Heartbeat, HeartbeatBatch, HeartbeatFields, HeartbeatQuery,
    IngestOutcome, IngestedHeartbeat, SummariesQuery, UserWindow,
};
pub use keys::{
    default_tiers, AuthorizeRequest, GenerateKey, Grant, KeyInfo, KeySources, MintSubKey, NewKey, TierDef, ACTIONS,
    DEFAULT_KEY_PREFIX, MAX_KEY_CHAIN, MAX_TIER_LIMIT, MEMORY_LIMITER_REFRESH_MS,
};
pub use sessions::{
    ClockIn, ClockInResult, ClockOut, EntryBatch, ImportError, ImportResult, NewEntry, Session, SessionQuery,
    SessionUpdate, MAX_ENTRY_SECONDS, MAX_IMPORT_BATCH,
};
pub use store::{Engine, CHECKPOINT_EVERY_MS, SCHEMA_VERSION};
pub use time::{Clock, SystemClock, Timeframe};
pub use transfer::{ExportSummary, ImportFile, ImportSummary, Refusal, IMPORT_FORMATS};
pub use wire::{Page, PageMeta, Timestamp};

/// The README's Rust examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod assert_traits {
    fn send_sync<T: Send + Sync>() {}
    #[test]
    fn engine_is_send_and_sync() {
        send_sync::<super::Engine>();
    }
}
