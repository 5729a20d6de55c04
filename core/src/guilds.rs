//! Guild settings and people: users, guild admins, trust levels, look-ups.

use crate::storage::{params, MultiRow, Param, Tx};
use chrono::Weekday;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Engine;
use crate::time::{self, Millis};
use crate::wire::{self, Page, PageMeta};

/// Default heartbeat timeout: 15 minutes, as WakaTime.
pub const DEFAULT_HEARTBEAT_TIMEOUT: i64 = 900;

/// A guild's settings as stored (internal form).
#[derive(Debug, Clone)]
pub(crate) struct Guild {
    pub id: i64,
    pub tz: Tz,
    pub week_start: Weekday,
    pub max_session_ms: Option<Millis>,
    pub allow_overlap: bool,
    pub heartbeat_timeout_s: i64,
    pub longest_session_ms: Millis,
}

impl Guild {
    fn defaults(id: i64) -> Self {
        Guild {
            id,
            tz: Tz::UTC,
            week_start: Weekday::Mon,
            max_session_ms: None,
            allow_overlap: false,
            heartbeat_timeout_s: DEFAULT_HEARTBEAT_TIMEOUT,
            longest_session_ms: 0,
        }
    }

    fn settings(&self) -> GuildSettings {
        GuildSettings {
            guild_id: self.id,
            timezone: self.tz.name().to_string(),
            week_start: time::weekday_name(self.week_start).to_string(),
            max_session_seconds: self.max_session_ms.map(|ms| ms / 1000),
            allow_overlap: self.allow_overlap,
            heartbeat_timeout_seconds: self.heartbeat_timeout_s,
        }
    }
}

/// Loads a guild's settings; an unknown guild has the defaults.
pub(crate) fn load_guild(tx: &Tx<'_>, guild_id: i64) -> Result<Guild> {
    let row = tx.prepare_cached(GUILD_SELECT)?.query_opt([guild_id], |r| GuildRow::read(r, false))?;
    guild_or_defaults(guild_id, row.map(|r| r.into_guild(guild_id)))
}

/// The query of a guild's settings (its one parameter the guild's id), to run beside others
/// ([`Tx::together`]): [`guild_from_row`] reads its row, [`guild_or_defaults`] gives the guild.
pub(crate) const GUILD_SELECT: &str =
    "SELECT timezone, week_start, max_session_seconds, allow_overlap, heartbeat_timeout_seconds, longest_session_ms
     FROM guilds WHERE guild_id = ?1";

/// The guild of a [`GUILD_SELECT`] row.
pub(crate) fn guild_from_row(guild_id: i64, r: &crate::storage::Row<'_>) -> Result<Guild> {
    GuildRow::read(r, false)?.into_guild(guild_id)
}

/// The guild read, or (no row: a guild never configured) the default settings.
pub(crate) fn guild_or_defaults(guild_id: i64, read: Option<Result<Guild>>) -> Result<Guild> {
    read.unwrap_or_else(|| Ok(Guild::defaults(guild_id)))
}

/// [`load_guild`], and whether a running session of the guild has passed the guild's maximum
/// length at `now` (so must be closed before a read), in one query.
pub(crate) fn load_guild_due(tx: &Tx<'_>, guild_id: i64, now: Millis) -> Result<(Guild, bool)> {
    let row = tx
        .prepare_cached(
            "SELECT timezone, week_start, max_session_seconds, allow_overlap, heartbeat_timeout_seconds, longest_session_ms,
                    max_session_seconds IS NOT NULL AND EXISTS (SELECT 1 FROM sessions WHERE guild_id = ?1 AND end_ms IS NULL
                      AND start_ms + max_session_seconds * 1000 <= ?2)
             FROM guilds WHERE guild_id = ?1",
        )?
        .query_opt(params![guild_id, now], |r| GuildRow::read(r, true))?;
    match row {
        Some(r) => {
            let due = r.due;
            Ok((r.into_guild(guild_id)?, due))
        }
        None => Ok((Guild::defaults(guild_id), false)),
    }
}

/// A `guilds` row as read.
struct GuildRow {
    tz: String,
    week_start: String,
    max_s: Option<i64>,
    allow_overlap: bool,
    timeout: i64,
    longest: i64,
    due: bool,
}

impl GuildRow {
    fn read(r: &crate::storage::Row<'_>, with_due: bool) -> Result<GuildRow> {
        Ok(GuildRow {
            tz: r.get(0)?,
            week_start: r.get(1)?,
            max_s: r.get(2)?,
            allow_overlap: r.get(3)?,
            timeout: r.get(4)?,
            longest: r.get(5)?,
            due: if with_due { r.get::<Option<bool>>(6)?.unwrap_or(false) } else { false },
        })
    }

    fn into_guild(self, guild_id: i64) -> Result<Guild> {
        Ok(Guild {
            id: guild_id,
            tz: time::parse_zone(&self.tz)?,
            week_start: time::parse_weekday(&self.week_start)?,
            max_session_ms: self.max_s.map(|s| s * 1000),
            allow_overlap: self.allow_overlap,
            heartbeat_timeout_s: self.timeout,
            longest_session_ms: self.longest,
        })
    }
}

/// Creates the guild row with default settings if it does not exist yet.
pub(crate) fn ensure_guild(tx: &Tx<'_>, guild_id: i64, now: Millis) -> Result<()> {
    tx.execute_later("INSERT OR IGNORE INTO guilds (guild_id, created_at) VALUES (?1, ?2)", params![guild_id, now])
}

/// Creates a user seen for the first time (username = the id until the host sets one) and
/// records their membership of the guild.
pub(crate) fn ensure_member(tx: &Tx<'_>, guild_id: i64, user_id: i64, now: Millis) -> Result<()> {
    ensure_members(tx, guild_id, &[user_id], now)
}

/// [`ensure_member`] for many users at once (each at most once), in multi-row statements.
pub(crate) fn ensure_members(tx: &Tx<'_>, guild_id: i64, users: &[i64], now: Millis) -> Result<()> {
    static USERS: MultiRow =
        MultiRow::new("INSERT OR IGNORE INTO users (user_id, username, created_at) VALUES", 1, "(#, #, ?1)", "");
    static MEMBERS: MultiRow =
        MultiRow::new("INSERT OR IGNORE INTO guild_members (guild_id, user_id) VALUES", 1, "(?1, #)", "");
    let names: Vec<String> = users.iter().map(i64::to_string).collect();
    let rows: Vec<&dyn Param> =
        users.iter().zip(&names).flat_map(|(u, n)| [u as &dyn Param, n as &dyn Param]).collect();
    USERS.execute(tx, params![now], &rows)?;
    let rows: Vec<&dyn Param> = users.iter().map(|u| u as &dyn Param).collect();
    MEMBERS.execute(tx, params![guild_id], &rows)
}

/// A guild's settings as returned to hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuildSettings {
    /// The guild id.
    pub guild_id: i64,
    /// IANA zone name used for calendar windows and day buckets.
    pub timezone: String,
    /// First day of the week (`monday` ... `sunday`).
    pub week_start: String,
    /// Running sessions are closed at `start + max_session_seconds` (none: no cap).
    pub max_session_seconds: Option<i64>,
    /// Whether a user's sessions in this guild may overlap.
    pub allow_overlap: bool,
    /// Heartbeat gap up to which coding time is joined (1..=240 minutes, in seconds).
    pub heartbeat_timeout_seconds: i64,
}

/// Arguments of [`Engine::update_guild`]; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuildUpdate {
    /// The guild to change (created with defaults if new).
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// New IANA zone; day rollups are rebuilt in the new zone.
    pub timezone: Option<String>,
    /// New week start (`monday`, `sunday`, ...).
    pub week_start: Option<String>,
    /// New maximum session length in seconds; `0` removes the cap.
    pub max_session_seconds: Option<i64>,
    /// Allow overlapping sessions per user.
    pub allow_overlap: Option<bool>,
    /// Heartbeat timeout in seconds (60..=14400).
    pub heartbeat_timeout_seconds: Option<i64>,
}

/// Trust levels (Hackatime): red users are left out of every leaderboard.
pub const TRUST_LEVELS: [&str; 4] = ["blue", "green", "yellow", "red"];

/// A person known to the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Snowflake or any signed 64-bit id.
    pub user_id: i64,
    /// Display handle.
    pub username: String,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Optional avatar URL.
    pub avatar_url: Option<String>,
    /// Optional e-mail (look-ups ignore case).
    pub email: Option<String>,
    /// Optional Slack user id.
    pub slack_uid: Option<String>,
    /// `blue`, `green`, `yellow` or `red`.
    pub trust_level: String,
    /// The user's own IANA time zone for coding reads ("today", summaries' days); none: the
    /// guild's.
    pub time_zone: Option<String>,
}

/// A member of a guild: the user and whether they are an admin of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// Whether the user is an admin of the guild.
    pub is_admin: bool,
}

/// Arguments of [`Engine::list_members`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersQuery {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// 1-based page (default 1).
    pub page: Option<u32>,
    /// Page size, 1..=500 (default 50).
    pub per_page: Option<u32>,
}

/// Arguments of [`Engine::upsert_user`]. Absent optional fields keep their stored value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    /// The user's id.
    #[serde(with = "wire::id")]
    pub user_id: i64,
    /// Handle, 1 to 100 characters.
    pub username: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Slack user id.
    pub slack_uid: Option<String>,
    /// Trust level (`blue` default).
    pub trust_level: Option<String>,
    /// The user's own IANA time zone; `""` clears it (the guild's zone applies again).
    pub time_zone: Option<String>,
    /// Make the user a member of this guild too.
    #[serde(default, deserialize_with = "wire::id::option::deserialize")]
    pub guild_id: Option<i64>,
    /// With `guild_id`: set whether the user is an admin of that guild.
    pub is_admin: Option<bool>,
}

fn check_trust(level: &str) -> Result<String> {
    let l = level.trim().to_ascii_lowercase();
    if TRUST_LEVELS.contains(&l.as_str()) {
        Ok(l)
    } else {
        Err(Error::invalid("trust_level", "expected blue, green, yellow or red"))
    }
}

const USER_COLUMNS: &str = "user_id, username, display_name, avatar_url, email, slack_uid, trust_level, time_zone";

fn user_from_row(r: &crate::storage::Row<'_>) -> Result<User> {
    Ok(User {
        user_id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        avatar_url: r.get(3)?,
        email: r.get(4)?,
        slack_uid: r.get(5)?,
        trust_level: r.get(6)?,
        time_zone: r.get(7)?,
    })
}

pub(crate) fn get_user_tx(tx: &Tx<'_>, user_id: i64) -> Result<Option<User>> {
    tx.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = ?1"))?
        .query_opt([user_id], user_from_row)
}

pub(crate) fn is_admin_tx(tx: &Tx<'_>, guild_id: i64, user_id: i64) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT is_admin FROM guild_members WHERE guild_id = ?1 AND user_id = ?2")?
        .query_opt(params![guild_id, user_id], |r| r.get::<bool>(0))?
        .unwrap_or(false))
}

impl Engine {
    /// A guild's settings (defaults for a guild never seen).
    pub fn guild_settings(&self, guild_id: i64) -> Result<GuildSettings> {
        self.read(|tx| Ok(load_guild(tx, guild_id)?.settings()))
    }

    /// Changes a guild's settings. A new time zone rebuilds the guild's day and week rollups in the
    /// same transaction (a new week start its week rollups), so every aggregate is exact in the new
    /// zone at once.
    ///
    /// ```
    /// use timeledger::{Engine, GuildUpdate};
    /// let engine = Engine::open(":memory:").unwrap();
    /// let s = engine
    ///     .update_guild(&GuildUpdate { guild_id: 1, timezone: Some("Asia/Kolkata".into()), ..Default::default() })
    ///     .unwrap();
    /// assert_eq!(s.timezone, "Asia/Kolkata");
    /// ```
    pub fn update_guild(&self, update: &GuildUpdate) -> Result<GuildSettings> {
        let now = self.now_ms();
        let tz = update.timezone.as_deref().map(time::parse_zone).transpose()?;
        let week_start = update.week_start.as_deref().map(time::parse_weekday).transpose()?;
        if let Some(m) = update.max_session_seconds {
            if !(0..=366 * 86_400).contains(&m) {
                return Err(Error::invalid("max_session_seconds", "must be 0 (no cap) to 31622400"));
            }
        }
        if let Some(t) = update.heartbeat_timeout_seconds {
            if !(60..=14_400).contains(&t) {
                return Err(Error::invalid(
                    "heartbeat_timeout_seconds",
                    "must be 1 to 240 minutes (60..=14400 seconds)",
                ));
            }
        }
        self.write(|tx| {
            ensure_guild(tx, update.guild_id, now)?;
            let before = load_guild(tx, update.guild_id)?;
            // Close what the old cap already closed before a new cap applies.
            crate::sessions::settle(tx, &before, now)?;
            if let Some(tz) = tz {
                tx.execute("UPDATE guilds SET timezone = ?2 WHERE guild_id = ?1", params![update.guild_id, tz.name()])?;
            }
            if let Some(w) = week_start {
                tx.execute(
                    "UPDATE guilds SET week_start = ?2 WHERE guild_id = ?1",
                    params![update.guild_id, time::weekday_name(w)],
                )?;
            }
            if let Some(m) = update.max_session_seconds {
                let v = if m == 0 { None } else { Some(m) };
                tx.execute(
                    "UPDATE guilds SET max_session_seconds = ?2 WHERE guild_id = ?1",
                    params![update.guild_id, v],
                )?;
            }
            if let Some(a) = update.allow_overlap {
                tx.execute("UPDATE guilds SET allow_overlap = ?2 WHERE guild_id = ?1", params![update.guild_id, a])?;
            }
            if let Some(t) = update.heartbeat_timeout_seconds {
                tx.execute(
                    "UPDATE guilds SET heartbeat_timeout_seconds = ?2 WHERE guild_id = ?1",
                    params![update.guild_id, t],
                )?;
            }
            let after = load_guild(tx, update.guild_id)?;
            if after.tz != before.tz {
                crate::rollup::rebuild_day_rollups(tx, &after)?;
            } else if after.week_start != before.week_start {
                crate::rollup::rebuild_week_rollups(tx, &after)?;
            }
            if after.heartbeat_timeout_s != before.heartbeat_timeout_s || after.tz != before.tz {
                crate::heartbeats::rebuild_rollups(tx, &after)?;
            }
            crate::sessions::settle(tx, &after, now)?;
            Ok(after.settings())
        })
    }

    /// Creates or updates a user; optionally makes them a member (or admin) of a guild.
    pub fn upsert_user(&self, input: &UserInput) -> Result<User> {
        let username = input.username.trim();
        if username.is_empty() || username.chars().count() > 100 {
            return Err(Error::invalid("username", "must be 1 to 100 characters"));
        }
        let trust = input.trust_level.as_deref().map(check_trust).transpose()?;
        // `Some("")` clears the zone; a name is checked and stored in its canonical form.
        let zone = match input.time_zone.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(String::new()),
            Some(z) => Some(
                time::parse_zone(z)
                    .map_err(|_| Error::invalid("time_zone", format!("unknown IANA time zone {z:?}")))?
                    .name()
                    .to_string(),
            ),
        };
        if input.is_admin.is_some() && input.guild_id.is_none() {
            return Err(Error::invalid("is_admin", "is_admin needs guild_id"));
        }
        let now = self.now_ms();
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO users (user_id, username, display_name, avatar_url, email, slack_uid, trust_level, created_at, time_zone)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(?7, 'blue'), ?8, NULLIF(?9, ''))
                 ON CONFLICT (user_id) DO UPDATE SET
                   username = excluded.username,
                   display_name = COALESCE(?3, users.display_name),
                   avatar_url = COALESCE(?4, users.avatar_url),
                   email = COALESCE(?5, users.email),
                   slack_uid = COALESCE(?6, users.slack_uid),
                   trust_level = COALESCE(?7, users.trust_level),
                   time_zone = CASE WHEN ?9 IS NULL THEN users.time_zone ELSE NULLIF(?9, '') END",
            )?
            .execute(params![
                input.user_id,
                username,
                input.display_name,
                input.avatar_url,
                input.email.as_deref().map(str::trim),
                input.slack_uid,
                trust,
                now,
                zone
            ])?;
            if let Some(g) = input.guild_id {
                ensure_guild(tx, g, now)?;
                ensure_member(tx, g, input.user_id, now)?;
                if let Some(a) = input.is_admin {
                    tx.execute("UPDATE guild_members SET is_admin = ?3 WHERE guild_id = ?1 AND user_id = ?2", params![g, input.user_id, a])?;
                }
            }
            get_user_tx(tx, input.user_id)?.ok_or(Error::UserNotFound)
        })
    }

    /// A user by id (`USER_NOT_FOUND` if unknown).
    pub fn get_user(&self, user_id: i64) -> Result<User> {
        self.read(|tx| get_user_tx(tx, user_id)?.ok_or(Error::UserNotFound))
    }

    /// A user by e-mail, compared case-insensitively (`USER_NOT_FOUND` if none).
    pub fn find_user_by_email(&self, email: &str) -> Result<User> {
        self.read(|tx| {
            // ASCII letters in any case; the index on e-mails folds them the same way.
            let matches = if tx.is_postgres() { "lower(email) = lower(?1)" } else { "email = ?1 COLLATE NOCASE" };
            tx.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE {matches} ORDER BY user_id LIMIT 1"))?
                .query_opt([email.trim()], user_from_row)?
                .ok_or(Error::UserNotFound)
        })
    }

    /// A user by Slack id (`USER_NOT_FOUND` if none).
    pub fn find_user_by_slack_uid(&self, slack_uid: &str) -> Result<User> {
        self.read(|tx| {
            tx.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE slack_uid = ?1 ORDER BY user_id LIMIT 1"
            ))?
            .query_opt([slack_uid.trim()], user_from_row)?
            .ok_or(Error::UserNotFound)
        })
    }

    /// Sets a user's trust level (`blue`, `green`, `yellow`, `red`).
    pub fn set_trust_level(&self, user_id: i64, level: &str) -> Result<User> {
        let level = check_trust(level)?;
        self.write(|tx| {
            let n = tx.execute("UPDATE users SET trust_level = ?2 WHERE user_id = ?1", params![user_id, level])?;
            if n == 0 {
                return Err(Error::UserNotFound);
            }
            get_user_tx(tx, user_id)?.ok_or(Error::UserNotFound)
        })
    }

    /// Makes a user an admin of a guild, or not (the user must exist).
    pub fn set_admin(&self, guild_id: i64, user_id: i64, is_admin: bool) -> Result<()> {
        let now = self.now_ms();
        self.write(|tx| {
            get_user_tx(tx, user_id)?.ok_or(Error::UserNotFound)?;
            ensure_guild(tx, guild_id, now)?;
            ensure_member(tx, guild_id, user_id, now)?;
            tx.execute(
                "UPDATE guild_members SET is_admin = ?3 WHERE guild_id = ?1 AND user_id = ?2",
                params![guild_id, user_id, is_admin],
            )?;
            Ok(())
        })
    }

    /// Whether a user is an admin of a guild.
    pub fn is_admin(&self, guild_id: i64, user_id: i64) -> Result<bool> {
        self.read(|tx| is_admin_tx(tx, guild_id, user_id))
    }

    /// A guild's members (users who clocked in, sent heartbeats or were added), by user id,
    /// paginated as sessions are (`data` + `meta {total, page, per_page}`).
    ///
    /// ```
    /// use timeledger::{Engine, MembersQuery, UserInput};
    /// let engine = Engine::open(":memory:").unwrap();
    /// engine.upsert_user(&UserInput { user_id: 2, username: "ada".into(), guild_id: Some(1), ..Default::default() }).unwrap();
    /// let page = engine.list_members(&MembersQuery { guild_id: 1, ..Default::default() }).unwrap();
    /// assert_eq!((page.meta.total, page.data[0].user.username.as_str(), page.data[0].is_admin), (1, "ada", false));
    /// ```
    pub fn list_members(&self, q: &MembersQuery) -> Result<Page<Member>> {
        let page = q.page.unwrap_or(1);
        let per_page = q.per_page.unwrap_or(50);
        if page == 0 {
            return Err(Error::invalid("page", "pages count from 1"));
        }
        if !(1..=500).contains(&per_page) {
            return Err(Error::invalid("per_page", "must be 1 to 500"));
        }
        self.read(|tx| {
            let total: u64 = tx
                .prepare_cached("SELECT COUNT(*) FROM guild_members WHERE guild_id = ?1")?
                .query_row([q.guild_id], |r| r.get(0))?;
            let offset = i64::from(page - 1) * i64::from(per_page);
            let cols = USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ");
            let data = tx
                .prepare_cached(&format!(
                    "SELECT {cols}, m.is_admin FROM guild_members m JOIN users u ON u.user_id = m.user_id
                     WHERE m.guild_id = ?1 ORDER BY m.user_id LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(params![q.guild_id, per_page, offset], |r| {
                    Ok(Member { user: user_from_row(r)?, is_admin: r.get(8)? })
                })?;
            Ok(Page { data, meta: PageMeta { total, page, per_page } })
        })
    }

    /// Whether a user is a member of a guild (has clocked in, sent heartbeats, or was added).
    /// Users are global; hosts that serve several guilds check this before showing a profile
    /// to a key of one guild.
    pub fn is_member(&self, guild_id: i64, user_id: i64) -> Result<bool> {
        self.read(|tx| {
            tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM guild_members WHERE guild_id = ?1 AND user_id = ?2)")?
                .query_row(params![guild_id, user_id], |r| r.get(0))
        })
    }
}
