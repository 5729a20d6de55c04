//! API keys: format and checksum, storage by hash, the master key, tiers and permissions,
//! `authorize` with the rate limiter, sub-keys, rotation, the audit trail and key extraction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use crate::storage::{params, value_rows, Tx};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::guilds::is_admin_tx;
use crate::ratelimit::{self, WindowState};
use crate::store::{random_base62, Engine};
use crate::time::Millis;
use crate::wire::{self, Timestamp};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const LAST_USED_EVERY_MS: Millis = 5_000;

/// Every action `authorize` knows. `*_admins` permissions allow the action only on target users
/// who are admins of the guild.
pub const ACTIONS: &[&str] = &[
    "read_status",
    "read_categories",
    "read_leaderboard",
    "read_sessions",
    "read_users",
    "read_reports",
    "read_heartbeats",
    "write_heartbeats",
    "admin_write",
    "clock_in_out",
    "write_sessions",
    "manage_categories",
    "manage_keys",
];

/// The largest limit a tier may set for one window (requests per minute, hour or day).
pub const MAX_TIER_LIMIT: i64 = 1_000_000_000;

/// Actions that take a target user and may be limited to guild admins.
const TARGETED: &[&str] = &["clock_in_out", "write_sessions"];

/// A tier: limits per window (none = unlimited) and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierDef {
    /// Name, e.g. `PREMIUM` (upper-cased).
    pub name: String,
    /// Order for "no larger than" comparisons (sub-keys); higher is larger.
    pub rank: i64,
    /// Requests per minute (none: unlimited).
    pub per_minute: Option<i64>,
    /// Requests per hour (none: unlimited).
    pub per_hour: Option<i64>,
    /// Requests per day (none: unlimited).
    pub per_day: Option<i64>,
    /// Actions allowed; `clock_in_out_admins` / `write_sessions_admins` limit those actions to
    /// targets who are guild admins; `*` allows everything.
    pub permissions: Vec<String>,
    /// Keys of this tier work in every guild.
    #[serde(default)]
    pub all_guilds: bool,
}

impl TierDef {
    fn windows(&self) -> [(Millis, Option<i64>, &'static str); 3] {
        [(60_000, self.per_minute, "minute"), (3_600_000, self.per_hour, "hour"), (86_400_000, self.per_day, "day")]
    }

    fn allows(&self, perm: &str) -> bool {
        self.permissions.iter().any(|p| p == "*" || p == perm)
    }
}

/// The default tier table.
pub fn default_tiers() -> Vec<TierDef> {
    let basic = ["read_status", "read_categories", "read_leaderboard"];
    let full_read = ["read_sessions", "read_users", "read_reports", "read_heartbeats"];
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let premium: Vec<String> = strs(&basic)
        .into_iter()
        .chain(strs(&full_read))
        .chain(strs(&["write_heartbeats", "admin_write", "clock_in_out_admins", "write_sessions_admins"]))
        .collect();
    let enterprise: Vec<String> = strs(&basic)
        .into_iter()
        .chain(strs(&full_read))
        .chain(strs(&[
            "write_heartbeats",
            "admin_write",
            "clock_in_out",
            "write_sessions",
            "manage_categories",
            "manage_keys",
        ]))
        .collect();
    vec![
        TierDef {
            name: "SUPPORTER".into(),
            rank: 1,
            per_minute: Some(20),
            per_hour: None,
            per_day: None,
            permissions: strs(&basic),
            all_guilds: false,
        },
        TierDef {
            name: "PREMIUM".into(),
            rank: 2,
            per_minute: Some(60),
            per_hour: None,
            per_day: None,
            permissions: premium,
            all_guilds: false,
        },
        TierDef {
            name: "ENTERPRISE".into(),
            rank: 3,
            per_minute: Some(120),
            per_hour: None,
            per_day: None,
            permissions: enterprise,
            all_guilds: false,
        },
        TierDef {
            name: "ADMIN".into(),
            rank: 4,
            per_minute: None,
            per_hour: None,
            per_day: None,
            permissions: vec!["*".into()],
            all_guilds: true,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Key format

fn base62_fixed(bytes: &[u8], len: usize) -> String {
    // Big-endian base-256 to base-62 by repeated division.
    let mut num: Vec<u32> = bytes.iter().map(|&b| u32::from(b)).collect();
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let mut rem = 0u32;
        for d in num.iter_mut() {
            let acc = rem.saturating_mul(256).saturating_add(*d); // < 62 * 256 + 256
            *d = acc / 62;
            rem = acc % 62;
        }
        out.push(BASE62.get(rem as usize).copied().unwrap_or(b'0'));
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn checksum(body: &str) -> String {
    base62_fixed(&crc32fast::hash(body.as_bytes()).to_be_bytes(), CHECKSUM_LEN)
}

/// The key prefix of a deployment that has not set its own (`tl_live_...`, `tl_test_...`).
pub const DEFAULT_KEY_PREFIX: &str = "tl";

/// A deployment's key prefix: 2 to 12 lowercase ASCII letters and digits.
fn valid_prefix(p: &[u8]) -> bool {
    (2..=12).contains(&p.len()) && p.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The forms a key can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Live,
    Test,
    Uuid,
}

impl Form {
    fn parse(s: Option<&str>) -> Result<Self> {
        match s.unwrap_or("live") {
            "live" => Ok(Form::Live),
            "test" => Ok(Form::Test),
            "uuid" | "waka" | "wakatime" => Ok(Form::Uuid),
            other => Err(Error::invalid("form", format!("unknown key form {other:?} (live, test, uuid)"))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Form::Live => "live",
            Form::Test => "test",
            Form::Uuid => "uuid",
        }
    }
}

/// A new key of `form`: `{prefix}_{live|test}_` + 43 base62 characters + a 6-character checksum,
/// or a bare UUID v4 (what WakaTime plugins accept).
fn new_key(form: Form, prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Storage(format!("random source failed: {e}")))?;
    Ok(match form {
        Form::Live | Form::Test => {
            let body = format!("{prefix}_{}_{}", form.name(), base62_fixed(&bytes, RANDOM_LEN));
            let sum = checksum(&body);
            body + &sum
        }
        Form::Uuid => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&bytes[..16]);
            b[6] = (b[6] & 0x0f) | 0x40; // version 4
            b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
        }
    })
}

/// Checks a raw key's format (and checksum) without any look-up; returns the string that is
/// hashed for storage. Keys of any valid prefix pass (a deployment that changes its prefix keeps
/// its old keys). UUID keys are hashed lowercase without a `waka_` prefix, so both spellings
/// work. Works on bytes: no input can make it panic, and errors never repeat the key.
fn canonical(raw: &str) -> Result<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Error::MissingApiKey);
    }
    let b = raw.as_bytes();
    if let Some(us) = b.iter().position(|&c| c == b'_') {
        let (prefix, rest) = b.split_at(us);
        let tail = rest.strip_prefix(b"_live_").or_else(|| rest.strip_prefix(b"_test_"));
        if let (true, Some(tail)) = (valid_prefix(prefix), tail) {
            if tail.len() == RANDOM_LEN + CHECKSUM_LEN && tail.iter().all(u8::is_ascii_alphanumeric) {
                // Every byte is ASCII here, so any byte offset is a character boundary.
                let cut = raw.len().saturating_sub(CHECKSUM_LEN);
                if let (Some(body), Some(sum)) = (raw.get(..cut), raw.get(cut..)) {
                    if checksum(body) == sum {
                        return Ok(raw.to_string());
                    }
                }
            }
            return Err(Error::InvalidApiKey);
        }
    }
    let uuid = b.strip_prefix(b"waka_").unwrap_or(b).to_ascii_lowercase();
    let shape_ok = uuid.len() == 36
        && uuid.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_hexdigit(),
        });
    if shape_ok {
        // Only ASCII hex digits and dashes: valid UTF-8.
        return String::from_utf8(uuid).map_err(|_| Error::InvalidApiKey);
    }
    Err(Error::InvalidApiKey)
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What listings show: the prefix, the form and four characters (`tl_live_abcd...`), or the
/// first four characters of a UUID key.
fn display_prefix(key: &str) -> String {
    let visible = match key.find("_live_").or_else(|| key.find("_test_")) {
        Some(i) => i.saturating_add(10),
        None => 4,
    };
    format!("{}...", key.get(..visible).unwrap_or(key))
}

// ---------------------------------------------------------------------------------------------
// Public shapes

/// A newly created key: the plaintext is here and nowhere else, ever.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewKey {
    /// The key in clear. Show it once; only its SHA-256 is stored.
    pub api_key: String,
    /// Stable id for management calls.
    pub key_id: String,
    /// What listings show, e.g. `tl_live_abcd...`.
    pub display_prefix: String,
    /// The tier.
    pub tier: String,
    /// The guild.
    pub guild_id: i64,
    /// Optional name.
    pub name: Option<String>,
    /// Expiry, if any.
    pub expires_at: Option<Timestamp>,
    /// Creation instant.
    pub created_at: Timestamp,
}

/// Key metadata as listed (never the key or its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Stable id.
    pub key_id: String,
    /// `tl_live_abcd...`.
    pub display_prefix: String,
    /// `live`, `test` or `uuid`.
    pub form: String,
    /// The guild.
    pub guild_id: i64,
    /// The admin user it was generated for.
    pub owner_user_id: Option<i64>,
    /// The tier.
    pub tier: String,
    /// Explicit permissions (narrower than the tier's), if any.
    pub permissions: Option<Vec<String>>,
    /// Optional name.
    pub name: Option<String>,
    /// The parent key of a sub-key.
    pub parent_id: Option<String>,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// Revocation instant.
    pub revoked_at: Option<Timestamp>,
    /// After a rotation, the old key works until then.
    pub grace_until: Option<Timestamp>,
    /// After a rotation, the new key's id.
    pub replaced_by: Option<String>,
    /// Last use (updated at most every 5 seconds).
    pub last_used_at: Option<Timestamp>,
    /// Requests admitted.
    pub request_count: i64,
    /// `active`, `revoked`, `expired` or `rotated` (in or after grace).
    pub status: String,
}

/// What `authorize` grants: the numbers of the window closest to running out, and the headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The key's id.
    pub key_id: String,
    /// The key's tier.
    pub tier: String,
    /// The guild the request is for.
    pub guild_id: i64,
    /// The user the key was generated for (its sub-keys inherit it): who `current` is on
    /// routes that name no user.
    #[serde(default)]
    pub owner_user_id: Option<i64>,
    /// The limit of the reported window (none: unlimited).
    pub limit: Option<i64>,
    /// Requests left in it.
    pub remaining: Option<i64>,
    /// Seconds until it resets.
    pub reset_in: i64,
    /// `minute`, `hour` or `day` (none: unlimited).
    pub window: Option<String>,
    /// Headers to send: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`,
    /// `X-API-Tier`.
    pub headers: BTreeMap<String, String>,
}

/// Arguments of [`Engine::generate_key`].
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateKey {
    /// The guild the key works in.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// The admin user it is generated for (recorded).
    #[serde(with = "wire::id")]
    pub admin_user_id: i64,
    /// The host's master key.
    pub master_key: String,
    /// Tier name (default `SUPPORTER`).
    pub tier: Option<String>,
    /// Optional name.
    pub name: Option<String>,
    /// Optional expiry.
    pub expires_at: Option<Timestamp>,
    /// `live` (default), `test`, or `uuid` (a bare UUID v4, the only form WakaTime plugins accept).
    pub form: Option<String>,
}

/// Arguments of [`Engine::mint_sub_key`].
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintSubKey {
    /// The parent key in clear (Enterprise or Admin; the request counts against it).
    pub parent_key: String,
    /// The parent's guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// A tier no larger than the parent's (default: the parent's).
    pub tier: Option<String>,
    /// Permissions, a subset of the parent's (default: the tier's).
    pub permissions: Option<Vec<String>>,
    /// Optional name.
    pub name: Option<String>,
    /// Expiry, no later than the parent's (default: the parent's).
    pub expires_at: Option<Timestamp>,
    /// `live` (default), `test` or `uuid`.
    pub form: Option<String>,
}

/// Arguments of [`Engine::authorize`].
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The key as the request carried it.
    pub api_key: String,
    /// The guild the request is for.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// One of [`ACTIONS`].
    pub action: String,
    /// The user acted on (clock in/out, session writes).
    #[serde(default, deserialize_with = "wire::id::option::deserialize")]
    pub target_user_id: Option<i64>,
}

// Debug output never holds a key or a master key: these arguments and results are logged by
// hosts, and a `{:?}` must not leak what `authorize` guards.
const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("api_key", &REDACTED)
            .field("key_id", &self.key_id)
            .field("display_prefix", &self.display_prefix)
            .field("tier", &self.tier)
            .field("guild_id", &self.guild_id)
            .field("name", &self.name)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl std::fmt::Debug for GenerateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateKey")
            .field("guild_id", &self.guild_id)
            .field("admin_user_id", &self.admin_user_id)
            .field("master_key", &REDACTED)
            .field("tier", &self.tier)
            .field("name", &self.name)
            .field("expires_at", &self.expires_at)
            .field("form", &self.form)
            .finish()
    }
}

impl std::fmt::Debug for MintSubKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintSubKey")
            .field("parent_key", &REDACTED)
            .field("guild_id", &self.guild_id)
            .field("tier", &self.tier)
            .field("permissions", &self.permissions)
            .field("name", &self.name)
            .field("expires_at", &self.expires_at)
            .field("form", &self.form)
            .finish()
    }
}

impl std::fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeRequest")
            .field("api_key", &REDACTED)
            .field("guild_id", &self.guild_id)
            .field("action", &self.action)
            .field("target_user_id", &self.target_user_id)
            .finish()
    }
}

impl std::fmt::Debug for KeySources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header and parameter names only: their values may be keys.
        f.debug_struct("KeySources")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("query", &self.query.keys().collect::<Vec<_>>())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Storage

#[derive(Debug, Clone)]
struct KeyRow {
    key_id: String,
    form: String,
    display_prefix: String,
    guild_id: i64,
    owner_user_id: Option<i64>,
    tier: String,
    permissions: Option<Vec<String>>,
    name: Option<String>,
    parent_id: Option<String>,
    created_at: Millis,
    expires_at: Option<Millis>,
    revoked_at: Option<Millis>,
    grace_until: Option<Millis>,
    replaced_by: Option<String>,
    last_used_at: Option<Millis>,
    request_count: i64,
}

const KEY_COLUMNS: &str = "key_id, form, display_prefix, guild_id, owner_user_id, tier, permissions, name, parent_id, created_at, expires_at, revoked_at, grace_until, replaced_by, last_used_at, request_count";

fn key_from_row(r: &crate::storage::Row<'_>) -> Result<KeyRow> {
    let perms: Option<String> = r.get(6)?;
    Ok(KeyRow {
        key_id: r.get(0)?,
        form: r.get(1)?,
        display_prefix: r.get(2)?,
        guild_id: r.get(3)?,
        owner_user_id: r.get(4)?,
        tier: r.get(5)?,
        permissions: perms.and_then(|p| serde_json::from_str(&p).ok()),
        name: r.get(7)?,
        parent_id: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        revoked_at: r.get(11)?,
        grace_until: r.get(12)?,
        replaced_by: r.get(13)?,
        last_used_at: r.get(14)?,
        request_count: r.get(15)?,
    })
}

impl KeyRow {
    /// `Err` if this key (alone) is not usable at `now`.
    fn usable(&self, now: Millis) -> Result<()> {
        if self.revoked_at.is_some_and(|t| t <= now) || self.grace_until.is_some_and(|t| t <= now) {
            return Err(Error::KeyRevoked);
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::KeyExpired);
        }
        Ok(())
    }

    fn info(&self, now: Millis) -> KeyInfo {
        let status = match self.usable(now) {
            Err(Error::KeyExpired) => "expired",
            Err(_) if self.replaced_by.is_some() => "rotated",
            Err(_) => "revoked",
            Ok(()) if self.replaced_by.is_some() => "rotated",
            Ok(()) => "active",
        };
        KeyInfo {
            key_id: self.key_id.clone(),
            display_prefix: self.display_prefix.clone(),
            form: self.form.clone(),
            guild_id: self.guild_id,
            owner_user_id: self.owner_user_id,
            tier: self.tier.clone(),
            permissions: self.permissions.clone(),
            name: self.name.clone(),
            parent_id: self.parent_id.clone(),
            created_at: Timestamp(self.created_at),
            expires_at: self.expires_at.map(Timestamp),
            revoked_at: self.revoked_at.map(Timestamp),
            grace_until: self.grace_until.map(Timestamp),
            replaced_by: self.replaced_by.clone(),
            last_used_at: self.last_used_at.map(Timestamp),
            request_count: self.request_count,
            status: status.to_string(),
        }
    }
}

fn key_by_id(tx: &Tx<'_>, key_id: &str) -> Result<KeyRow> {
    tx.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = ?1"))?
        .query_opt([key_id], key_from_row)?
        .ok_or(Error::KeyNotFound)
}

fn key_by_hash(tx: &Tx<'_>, hash: &[u8; 32]) -> Result<Option<KeyRow>> {
    tx.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1"))?
        .query_opt([&hash[..]], key_from_row)
}

/// The most keys a chain (a key and its ancestors) may hold: a root key and 15 generations of
/// sub-keys. Minting past it is refused with `INVALID_INPUT`.
pub const MAX_KEY_CHAIN: usize = 16;

/// The key and its ancestors, nearest first.
fn chain(tx: &Tx<'_>, first: KeyRow) -> Result<Vec<KeyRow>> {
    let mut out = vec![first];
    while let Some(p) = out.last().and_then(|k| k.parent_id.clone()) {
        if out.len() >= MAX_KEY_CHAIN {
            return Err(Error::Storage("sub-key chain too deep".into()));
        }
        out.push(key_by_id(tx, &p)?);
    }
    Ok(out)
}

/// Refuses a tier (with optional explicit permissions) that would make a sub-key wider than
/// the chain it hangs under: a higher rank, every guild where an ancestor has one, or a
/// permission some ancestor lacks.
fn check_within(parent_chain: &[(KeyRow, TierDef)], t: &TierDef, permissions: Option<&[String]>) -> Result<()> {
    let Some((_, parent_tier)) = parent_chain.first() else {
        return Err(Error::InvalidApiKey);
    };
    if t.rank > parent_tier.rank {
        return Err(Error::Forbidden(format!(
            "a sub-key's tier ({}) may not exceed its parent's ({})",
            t.name, parent_tier.name
        )));
    }
    if t.all_guilds && !parent_chain.iter().all(|(_, pt)| pt.all_guilds) {
        return Err(Error::Forbidden(format!("tier {} works in every guild; the parent key does not", t.name)));
    }
    let eff = Effective { chain: parent_chain };
    if let Some(perms) = permissions {
        if let Some(p) =
            perms.iter().find(|p| !(eff.has(p) || p.ends_with("_admins") && eff.has(p.trim_end_matches("_admins"))))
        {
            return Err(Error::Forbidden(format!("permission {p:?} exceeds the parent key's")));
        }
    }
    Ok(())
}

fn tier_row(r: &crate::storage::Row<'_>) -> Result<TierDef> {
    let perms: String = r.get(5)?;
    Ok(TierDef {
        name: r.get(0)?,
        rank: r.get(1)?,
        per_minute: r.get(2)?,
        per_hour: r.get(3)?,
        per_day: r.get(4)?,
        permissions: serde_json::from_str(&perms).unwrap_or_default(),
        all_guilds: r.get(6)?,
    })
}

fn load_tiers(tx: &Tx<'_>) -> Result<Vec<TierDef>> {
    let rows: Vec<TierDef> = tx
        .prepare_cached(
            "SELECT name, rank, per_minute, per_hour, per_day, permissions, all_guilds FROM tiers ORDER BY rank, name",
        )?
        .query_map((), tier_row)?;
    Ok(if rows.is_empty() { default_tiers() } else { rows })
}

fn tier<'a>(tiers: &'a [TierDef], name: &str) -> Result<&'a TierDef> {
    let upper = name.trim().to_ascii_uppercase();
    tiers.iter().find(|t| t.name == upper).ok_or_else(|| Error::invalid("tier", format!("unknown tier {name:?}")))
}

fn event(
    tx: &Tx<'_>,
    key_id: Option<&str>,
    guild_id: Option<i64>,
    what: &str,
    detail: Value,
    now: Millis,
) -> Result<()> {
    tx.prepare_cached("INSERT INTO key_events (key_id, guild_id, event, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![key_id, guild_id, what, detail.to_string(), now])?;
    Ok(())
}

fn check_expiry(expires_at: Option<Timestamp>, now: Millis) -> Result<Option<Millis>> {
    match Timestamp::checked_opt(expires_at, "expires_at")? {
        Some(t) if t <= now => Err(Error::invalid("expires_at", "must be in the future")),
        other => Ok(other),
    }
}

struct Insert<'a> {
    form: Form,
    guild_id: i64,
    owner: Option<i64>,
    tier: &'a str,
    permissions: Option<&'a [String]>,
    name: Option<&'a str>,
    parent: Option<&'a str>,
    expires_at: Option<Millis>,
}

/// The deployment's key prefix (see [`Engine::set_key_prefix`]).
fn key_prefix_tx(tx: &Tx<'_>) -> Result<String> {
    Ok(tx
        .prepare_cached("SELECT value FROM settings WHERE name = 'key_prefix'")?
        .query_opt((), |r| r.get(0))?
        .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_string()))
}

fn insert_key(tx: &Tx<'_>, k: Insert<'_>, now: Millis) -> Result<NewKey> {
    let api_key = new_key(k.form, &key_prefix_tx(tx)?)?;
    let key_id = format!("key_{}", random_base62(16)?);
    let prefix = display_prefix(&api_key);
    let hash = sha256(&canonical(&api_key)?);
    let perms = k.permissions.map(|p| serde_json::to_string(p).unwrap_or_default());
    tx.prepare_cached(
        "INSERT INTO api_keys (key_id, hash, display_prefix, form, guild_id, owner_user_id, tier, permissions, name, parent_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![key_id, &hash[..], prefix, k.form.name(), k.guild_id, k.owner, k.tier, perms, k.name, k.parent, now, k.expires_at])?;
    Ok(NewKey {
        api_key,
        key_id,
        display_prefix: prefix,
        tier: k.tier.to_string(),
        guild_id: k.guild_id,
        name: k.name.map(str::to_string),
        expires_at: k.expires_at.map(Timestamp),
        created_at: Timestamp(now),
    })
}

fn check_permissions(perms: &[String]) -> Result<()> {
    for p in perms {
        let base = p.strip_suffix("_admins").unwrap_or(p);
        if p != "*" && !(ACTIONS.contains(&p.as_str()) || (TARGETED.contains(&base) && p.ends_with("_admins"))) {
            return Err(Error::invalid("permissions", format!("unknown permission {p:?}")));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The decision

/// What a key may do after intersecting its tier, its own permissions and its ancestors'.
struct Effective<'a> {
    chain: &'a [(KeyRow, TierDef)],
}

impl Effective<'_> {
    fn has(&self, perm: &str) -> bool {
        self.chain.iter().all(|(k, t)| {
            t.allows(perm) && k.permissions.as_ref().is_none_or(|p| p.iter().any(|x| x == "*" || x == perm))
        })
    }
}

/// A window to store after an admitted request: `(key_id, period, state)`.
type WindowUpdate = (String, Millis, WindowState);

/// The user an action acts on, as the caller names it.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    /// A user, or none (with no guild named: the key's owner).
    User(Option<i64>),
    /// The user of this session (of the request's guild), looked up only when the tier's
    /// permission depends on who it is.
    Session(&'a str),
}

/// Look-ups `decide` makes only when the tier's permission depends on the user acted on.
struct Who<'f> {
    /// Whether a user is an admin of a guild.
    is_admin: &'f dyn Fn(i64, i64) -> Result<bool>,
    /// The user of a session of a guild, if there is such a session.
    session_user: &'f dyn Fn(i64, &str) -> Result<Option<i64>>,
}

/// Everything `authorize` decides once the chain is loaded. `is_admin` is asked only when the
/// rule needs it; `state` gives the stored window of `(key_id, period)`.
fn decide(
    chain: &[(KeyRow, TierDef)],
    guild_id: Option<i64>,
    action: &str,
    target: Target<'_>,
    now: Millis,
    who: Who<'_>,
    mut state: impl FnMut(&str, Millis) -> Result<WindowState>,
) -> Result<(Grant, Vec<WindowUpdate>)> {
    let Some((key, key_tier)) = chain.first() else {
        return Err(Error::InvalidApiKey);
    };
    // No guild named: the request is for the key's own guild (WakaTime's and the time-entry
    // routes name none), and an action on a user is on the key's owner unless one is named.
    let named = match target {
        Target::User(u) if guild_id.is_none() => u.or(key.owner_user_id),
        Target::User(u) => u,
        Target::Session(_) => None,
    };
    let guild_id = guild_id.unwrap_or(key.guild_id);
    for (k, _) in chain {
        k.usable(now)?;
    }
    // Guild scope holds for every key of the chain: a sub-key is never wider than an ancestor.
    if chain.iter().any(|(k, t)| !t.all_guilds && k.guild_id != guild_id) {
        return Err(Error::WrongGuild);
    }
    if !ACTIONS.contains(&action) {
        return Err(Error::invalid("action", format!("unknown action {action:?}")));
    }
    let eff = Effective { chain };
    if !eff.has(action) {
        let admins_only = format!("{action}_admins");
        if TARGETED.contains(&action) && eff.has(&admins_only) {
            let user = match target {
                Target::Session(id) => {
                    (who.session_user)(guild_id, id)?.ok_or_else(|| Error::SessionNotFound(id.to_string()))?
                }
                Target::User(_) => named.ok_or_else(|| {
                    Error::invalid("target_user_id", format!("{action} needs the target user for this tier"))
                })?,
            };
            if !(who.is_admin)(guild_id, user)? {
                return Err(Error::Forbidden(format!(
                    "tier {} may {action} only users who are admins of the guild",
                    key_tier.name
                )));
            }
        } else {
            return Err(Error::Forbidden(format!("tier {} may not {action}", key_tier.name)));
        }
    }
    // Every window of the key and of its ancestors, all or nothing.
    let mut updates = Vec::new();
    let mut tightest: Option<(i64, Millis, i64, i64, &'static str)> = None; // (remaining, period, limit, reset_in, name)
    let mut refusal: Option<Error> = None;
    for (k, t) in chain {
        for (period, limit, name) in t.windows() {
            let Some(limit) = limit else { continue };
            let c = ratelimit::check(state(&k.key_id, period)?, limit, period, now);
            if !c.admitted {
                let longer = match &refusal {
                    Some(Error::RateLimited { reset_in, .. }) => c.retry_after as u64 > *reset_in,
                    _ => true,
                };
                if longer {
                    refusal = Some(Error::RateLimited {
                        limit: limit as u64,
                        window: name,
                        remaining: 0,
                        reset_in: c.retry_after as u64,
                        tier: key_tier.name.clone(),
                    });
                }
                continue;
            }
            updates.push((k.key_id.clone(), period, c.next));
            if tightest.is_none_or(|(r, p, ..)| c.remaining < r || (c.remaining == r && period < p)) {
                tightest = Some((c.remaining, period, limit, c.reset_in, name));
            }
        }
    }
    if let Some(e) = refusal {
        return Err(e);
    }
    let mut headers = BTreeMap::new();
    headers.insert("X-API-Tier".to_string(), key_tier.name.clone());
    if let Some((remaining, _, limit, reset_in, _)) = tightest {
        headers.insert("X-RateLimit-Limit".into(), limit.to_string());
        headers.insert("X-RateLimit-Remaining".into(), remaining.to_string());
        headers.insert("X-RateLimit-Reset".into(), reset_in.to_string());
    }
    Ok((
        Grant {
            owner_user_id: key.owner_user_id,
            key_id: key.key_id.clone(),
            tier: key_tier.name.clone(),
            guild_id,
            limit: tightest.map(|t| t.2),
            remaining: tightest.map(|t| t.0),
            reset_in: tightest.map_or(0, |t| t.3),
            window: tightest.map(|t| t.4.to_string()),
            headers,
        },
        updates,
    ))
}

impl Error {
    /// The headers a host should send with this error: for `RATE_001` the rate-limit headers
    /// with `Retry-After`; for others none.
    pub fn headers(&self) -> BTreeMap<String, String> {
        let mut h = BTreeMap::new();
        if let Error::RateLimited { limit, reset_in, tier, .. } = self {
            h.insert("X-RateLimit-Limit".into(), limit.to_string());
            h.insert("X-RateLimit-Remaining".into(), "0".into());
            h.insert("X-RateLimit-Reset".into(), reset_in.to_string());
            h.insert("X-API-Tier".into(), tier.clone());
            h.insert("Retry-After".into(), reset_in.to_string());
        }
        h
    }
}

// ---------------------------------------------------------------------------------------------
// In-memory limiter (single-process hosts)

/// How often, at most, the in-memory limiter re-reads the database's key-state counter: a key
/// revoked, expired early, rotated, re-tiered or re-parented by another process or tool (or a new
/// tier table) is refused or narrowed by this process within this many milliseconds. Changes made
/// through the same `Engine` take effect at once. Reading the counter on every call cost about
/// 4.5 us, four times the rest of an in-memory decision.
pub const MEMORY_LIMITER_REFRESH_MS: u64 = 100;

/// Key records, tiers and windows kept in process memory. At most every
/// [`MEMORY_LIMITER_REFRESH_MS`] it reads the database's key-state generation (one indexed row,
/// bumped by triggers on any key or tier change, whoever makes it) and drops its cached keys when
/// it moved. Usage counters are flushed to the database at most every 5 seconds.
#[derive(Default)]
pub(crate) struct MemoryLimiter {
    /// `key_state.generation` when `keys` was last valid: any process that revokes, rotates,
    /// expires, re-tiers or re-parents a key, or changes the tier table, bumps it.
    generation: Option<i64>,
    /// When `generation` was last read (monotonic clock: the engine's clock may be frozen).
    checked_at: Option<std::time::Instant>,
    keys: HashMap<[u8; 32], Vec<(KeyRow, TierDef)>>,
    windows: HashMap<(String, Millis), WindowState>,
    pending: HashMap<String, i64>,
    last_flush: Millis,
}

/// Which limiter `authorize` uses.
pub(crate) type Limiter = Mutex<Option<MemoryLimiter>>;

/// Key chains the shared limiter has read, valid while `key_state.generation` (read inside each
/// decision's transaction) is the one they were read under: exact across processes, since
/// every change to a key's validity or to the tiers bumps it. At most [`KEY_CACHE_MAX`] chains.
#[derive(Default)]
pub(crate) struct KeyCache {
    generation: Option<i64>,
    chains: HashMap<[u8; 32], std::sync::Arc<Vec<(KeyRow, TierDef)>>>,
}

/// Chains kept by [`KeyCache`] before it starts over.
const KEY_CACHE_MAX: usize = 65_536;

// ---------------------------------------------------------------------------------------------
// Engine API

/// Arguments of [`Engine::extract_key`]: a request's headers and query parameters.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySources {
    /// Header names and values (names compared ignoring case).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters (`api_key` is read).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
}

/// Stores the default tier table when none is stored yet, so every tier is one indexed row away.
/// Idempotent: several processes opening a new database at once insert the same rows.
pub(crate) fn seed_default_tiers(tx: &Tx<'_>) -> Result<()> {
    let n: i64 = tx.prepare_cached("SELECT COUNT(*) FROM tiers")?.query_row((), |r| r.get(0))?;
    if n == 0 {
        for t in default_tiers() {
            tx.execute(
                "INSERT OR IGNORE INTO tiers (name, rank, per_minute, per_hour, per_day, permissions, all_guilds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![t.name, t.rank, t.per_minute, t.per_hour, t.per_day, serde_json::to_string(&t.permissions).unwrap_or_default(), t.all_guilds],
            )?;
        }
    }
    Ok(())
}

fn chain_with_tiers(tx: &Tx<'_>, first: KeyRow) -> Result<Vec<(KeyRow, TierDef)>> {
    let mut stmt = tx.prepare_cached(
        "SELECT name, rank, per_minute, per_hour, per_day, permissions, all_guilds FROM tiers WHERE name = ?1",
    )?;
    chain(tx, first)?
        .into_iter()
        .map(|k| {
            let t = stmt.query_opt([&k.tier], tier_row)?;
            let t = t.ok_or_else(|| Error::Storage(format!("key {} has unknown tier {}", k.key_id, k.tier)))?;
            Ok((k, t))
        })
        .collect()
}

impl Engine {
    /// The key's chain with its tiers: from the cache when no key or tier changed since it was
    /// read (one read of the generation counter), else from the tables.
    fn cached_chain(&self, tx: &Tx<'_>, hash: &[u8; 32]) -> Result<std::sync::Arc<Vec<(KeyRow, TierDef)>>> {
        let generation: i64 = tx.prepare_cached(KEY_STATE)?.query_row((), |r| r.get(0))?;
        let mut cache = self.key_cache().lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation != Some(generation) || cache.chains.len() >= KEY_CACHE_MAX {
            cache.chains.clear();
            cache.generation = Some(generation);
        }
        if let Some(chain) = cache.chains.get(hash) {
            return Ok(std::sync::Arc::clone(chain));
        }
        let key = key_by_hash(tx, hash)?.ok_or(Error::InvalidApiKey)?;
        let chain = std::sync::Arc::new(chain_with_tiers(tx, key)?);
        cache.chains.insert(*hash, std::sync::Arc::clone(&chain));
        Ok(chain)
    }

    fn invalidate_key_cache(&self) {
        if let Some(m) = self.limiter().lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            m.keys.clear();
        }
    }

    /// Sets (or replaces) the host's master key, stored only as its SHA-256. At least 16
    /// characters.
    pub fn set_master_key(&self, master_key: &str) -> Result<()> {
        if master_key.chars().count() < 16 {
            return Err(Error::invalid("master_key", "must be at least 16 characters"));
        }
        let now = self.now_ms();
        let hash = sha256(master_key);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO master_key (id, hash, set_at) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET hash = ?1, set_at = ?2",
                params![&hash[..], now],
            )?;
            event(tx, None, None, "master_key_set", json!({}), now)
        })
    }

    /// Sets the deployment's key prefix (2 to 12 lowercase letters and digits; default `tl`), so
    /// that this service's keys are recognisable to secret scanners: `hk` gives `hk_live_...`.
    /// Keys issued under an earlier prefix keep working.
    ///
    /// ```
    /// # use timeledger::{Engine, GenerateKey};
    /// let engine = Engine::open(":memory:").unwrap();
    /// engine.set_key_prefix("hk").unwrap();
    /// engine.set_master_key("correct horse battery staple").unwrap();
    /// let k = engine.generate_key(&GenerateKey {
    ///     guild_id: 1,
    ///     admin_user_id: 2,
    ///     master_key: "correct horse battery staple".into(),
    ///     ..Default::default()
    /// });
    /// assert!(k.unwrap().api_key.starts_with("hk_live_"));
    /// ```
    pub fn set_key_prefix(&self, prefix: &str) -> Result<String> {
        if !valid_prefix(prefix.as_bytes()) {
            return Err(Error::invalid("prefix", "must be 2 to 12 lowercase ASCII letters and digits"));
        }
        let now = self.now_ms();
        self.write(|tx| {
            let old = key_prefix_tx(tx)?;
            tx.execute(
                "INSERT INTO settings (name, value) VALUES ('key_prefix', ?1) ON CONFLICT (name) DO UPDATE SET value = ?1",
                [prefix],
            )?;
            event(tx, None, None, "key_prefix_set", json!({"from": old, "to": prefix}), now)?;
            Ok(prefix.to_string())
        })
    }

    /// The deployment's key prefix (`tl` until [`Engine::set_key_prefix`] is called).
    pub fn key_prefix(&self) -> Result<String> {
        self.read(key_prefix_tx)
    }

    /// Generates a key for a guild, with the master key. The plaintext is in the result only.
    ///
    /// ```
    /// use timeledger::{AuthorizeRequest, Engine, GenerateKey};
    /// let engine = Engine::open(":memory:").unwrap();
    /// engine.set_master_key("correct horse battery staple").unwrap();
    /// let k = engine
    ///     .generate_key(&GenerateKey {
    ///         guild_id: 123456789,
    ///         admin_user_id: 987654321,
    ///         master_key: "correct horse battery staple".into(),
    ///         tier: Some("PREMIUM".into()),
    ///         ..Default::default()
    ///     })
    ///     .unwrap();
    /// assert!(k.api_key.starts_with("tl_live_") && k.api_key.len() == 57);
    /// let grant = engine
    ///     .authorize(&AuthorizeRequest { api_key: k.api_key, guild_id: 123456789, action: "read_status".into(), target_user_id: None })
    ///     .unwrap();
    /// assert_eq!((grant.limit, grant.remaining), (Some(60), Some(59)));
    /// ```
    pub fn generate_key(&self, req: &GenerateKey) -> Result<NewKey> {
        let form = Form::parse(req.form.as_deref())?;
        let now = self.now_ms();
        let expires_at = check_expiry(req.expires_at, now)?;
        let given = sha256(&req.master_key);
        self.write(|tx| {
            let stored: Option<Vec<u8>> = tx.query_opt("SELECT hash FROM master_key WHERE id = 1", (), |r| r.get(0))?;
            match stored {
                Some(h) if constant_time_eq(&h, &given) => {}
                _ => return Err(Error::InvalidMasterKey),
            }
            let tiers = load_tiers(tx)?;
            let t = tier(&tiers, req.tier.as_deref().unwrap_or("SUPPORTER"))?;
            let k = insert_key(
                tx,
                Insert {
                    form,
                    guild_id: req.guild_id,
                    owner: Some(req.admin_user_id),
                    tier: &t.name,
                    permissions: None,
                    name: req.name.as_deref(),
                    parent: None,
                    expires_at,
                },
                now,
            )?;
            event(
                tx,
                Some(&k.key_id),
                Some(req.guild_id),
                "created",
                json!({"tier": t.name, "admin_user_id": req.admin_user_id}),
                now,
            )?;
            Ok(k)
        })
    }

    /// Mints a sub-key from an Enterprise or Admin key (which must hold `manage_keys`; the call
    /// counts against it): tier and permissions no larger, same guild, expiring no later.
    pub fn mint_sub_key(&self, req: &MintSubKey) -> Result<NewKey> {
        let form = Form::parse(req.form.as_deref())?;
        if let Some(p) = &req.permissions {
            check_permissions(p)?;
        }
        let grant = self.authorize(&AuthorizeRequest {
            api_key: req.parent_key.clone(),
            guild_id: req.guild_id,
            action: "manage_keys".into(),
            target_user_id: None,
        })?;
        let now = self.now_ms();
        let expires_at = check_expiry(req.expires_at, now)?;
        let out = self.write(|tx| {
            let parent = key_by_id(tx, &grant.key_id)?;
            let chain = chain_with_tiers(tx, parent.clone())?;
            let tiers = load_tiers(tx)?;
            if chain.len() >= MAX_KEY_CHAIN {
                return Err(Error::invalid(
                    "parent_key",
                    format!("sub-keys nest at most {} deep", MAX_KEY_CHAIN.saturating_sub(1)),
                ));
            }
            let t = match (&req.tier, chain.first()) {
                (Some(name), _) => tier(&tiers, name)?.clone(),
                (None, Some((_, parent_tier))) => parent_tier.clone(),
                (None, None) => return Err(Error::InvalidApiKey),
            };
            check_within(&chain, &t, req.permissions.as_deref())?;
            let expires_at = match (expires_at, parent.expires_at) {
                (Some(e), Some(p)) if e > p => {
                    return Err(Error::invalid("expires_at", "a sub-key may not outlive its parent"))
                }
                (None, p) => p,
                (e, _) => e,
            };
            let k = insert_key(
                tx,
                Insert {
                    form,
                    guild_id: parent.guild_id,
                    owner: parent.owner_user_id,
                    tier: &t.name,
                    permissions: req.permissions.as_deref(),
                    name: req.name.as_deref(),
                    parent: Some(&parent.key_id),
                    expires_at,
                },
                now,
            )?;
            event(
                tx,
                Some(&k.key_id),
                Some(parent.guild_id),
                "sub_key_created",
                json!({"parent_id": parent.key_id, "tier": t.name}),
                now,
            )?;
            Ok(k)
        })?;
        self.invalidate_key_cache();
        Ok(out)
    }

    /// May this key do `action` on this guild now? Checks, in order: format and checksum (no
    /// look-up for a malformed key), look-up by hash, revoked/expired (the key and its
    /// ancestors), guild scope, permission, then every rate-limit window of the key and its
    /// ancestors at once (all or nothing). An unknown key or a refused action spends nothing.
    pub fn authorize(&self, req: &AuthorizeRequest) -> Result<Grant> {
        self.authorize_for(&req.api_key, Some(req.guild_id), &req.action, Target::User(req.target_user_id))
    }

    /// [`Engine::authorize`] for an action on one session (`write_sessions` to edit or delete
    /// it): the user acted on is the session's own, so a tier that may write only admins'
    /// sessions may change this one only if its user is an admin of the guild. With no guild
    /// named, the key's own guild. The session is looked up only when the tier's permission
    /// depends on its user; one that does not exist is then `SESSION_NOT_FOUND`, after the key,
    /// its scope and its permission were checked.
    pub fn authorize_on_session(
        &self,
        api_key: &str,
        guild_id: Option<i64>,
        action: &str,
        session_id: &str,
    ) -> Result<Grant> {
        self.authorize_for(api_key, guild_id, action, Target::Session(session_id))
    }

    /// [`Engine::authorize`] for the key's own guild: for routes that name no guild, as
    /// WakaTime's do. An action on a user (`clock_in_out`, `write_sessions`) is on
    /// `target_user_id`, or on the key's owner when none is given. The grant names the guild
    /// and the key's owner.
    ///
    /// ```
    /// use timeledger::{Engine, GenerateKey};
    /// let engine = Engine::open(":memory:").unwrap();
    /// engine.set_master_key("correct horse battery staple").unwrap();
    /// let k = engine
    ///     .generate_key(&GenerateKey {
    ///         guild_id: 7,
    ///         admin_user_id: 42,
    ///         master_key: "correct horse battery staple".into(),
    ///         tier: Some("PREMIUM".into()),
    ///         form: Some("uuid".into()),
    ///         ..Default::default()
    ///     })
    ///     .unwrap();
    /// let grant = engine.authorize_own_guild(&k.api_key, "write_heartbeats", None).unwrap();
    /// assert_eq!((grant.guild_id, grant.owner_user_id), (7, Some(42)));
    /// ```
    pub fn authorize_own_guild(&self, api_key: &str, action: &str, target_user_id: Option<i64>) -> Result<Grant> {
        self.authorize_for(api_key, None, action, Target::User(target_user_id))
    }

    /// The actions this key may take in its own guild, found without spending from its rate
    /// limit: for a page that shows a section per action the key may read (the dashboard spends
    /// one request per page on `authorize`, then asks this for the rest). An action its tier
    /// allows only on admins (`write_sessions_admins`) is not listed. A malformed, unknown,
    /// revoked or expired key is refused as `authorize` refuses it.
    ///
    /// ```
    /// use timeledger::{Engine, GenerateKey};
    /// let engine = Engine::open(":memory:").unwrap();
    /// engine.set_master_key("correct horse battery staple").unwrap();
    /// let k = engine
    ///     .generate_key(&GenerateKey {
    ///         guild_id: 7,
    ///         admin_user_id: 42,
    ///         master_key: "correct horse battery staple".into(),
    ///         tier: Some("SUPPORTER".into()),
    ///         ..Default::default()
    ///     })
    ///     .unwrap();
    /// let actions = engine.key_actions(&k.api_key).unwrap();
    /// assert!(actions.contains(&"read_status") && !actions.contains(&"manage_keys"));
    /// assert_eq!(engine.key_actions("tl_live_nope").unwrap_err().code(), "INVALID_API_KEY");
    /// ```
    pub fn key_actions(&self, api_key: &str) -> Result<Vec<&'static str>> {
        let hash = sha256(&canonical(api_key)?);
        let now = self.now_ms();
        let chain = self.read(|tx| match key_by_hash(tx, &hash)? {
            Some(k) => chain_with_tiers(tx, k),
            None => Err(Error::InvalidApiKey),
        })?;
        for (k, _) in &chain {
            k.usable(now)?;
        }
        let own = chain.first().map(|(k, _)| k.guild_id).ok_or(Error::InvalidApiKey)?;
        if chain.iter().any(|(k, t)| !t.all_guilds && k.guild_id != own) {
            return Err(Error::WrongGuild);
        }
        let eff = Effective { chain: &chain };
        Ok(ACTIONS.iter().copied().filter(|a| eff.has(a)).collect())
    }

    fn authorize_for(&self, api_key: &str, guild: Option<i64>, action: &str, target: Target<'_>) -> Result<Grant> {
        let hash = sha256(&canonical(api_key)?);
        let mut limiter = self.limiter().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mem) = limiter.as_mut() {
            let now = self.now_ms();
            return self.authorize_in_memory(mem, &hash, (guild, action, target), now);
        }
        drop(limiter);
        self.write(|tx| {
            // Read the clock once the write lock is held: across processes, decisions are then
            // made in the same order as their instants.
            let now = self.now_ms();
            // The key's chain as this engine last read it, if it did: its windows are read with
            // the key-state counter that says whether it still holds (one round trip on a
            // server); if the counter moved, the chain and its windows are read again.
            let known = {
                let cache = self.key_cache().lock().unwrap_or_else(|p| p.into_inner());
                cache.chains.get(&hash).cloned().zip(cache.generation)
            };
            let mut generation: Option<i64> = None;
            let (chain, windows) = match &known {
                Some((chain, seen)) => {
                    let windows = load_windows(tx, chain, &[(KEY_STATE, &[])], |_, r| {
                        generation = Some(r.get(0)?);
                        Ok(())
                    })?;
                    if generation == Some(*seen) {
                        (std::sync::Arc::clone(chain), Some(windows))
                    } else {
                        (self.cached_chain(tx, &hash)?, None)
                    }
                }
                None => (self.cached_chain(tx, &hash)?, None),
            };
            let windows = match windows {
                Some(w) => w,
                None => load_windows(tx, &chain, &[], |_, _| Ok(()))?,
            };
            let (grant, updates) = decide(
                &chain,
                guild,
                action,
                target,
                now,
                Who {
                    is_admin: &|g, u| is_admin_tx(tx, g, u),
                    session_user: &|g, id| crate::sessions::session_user(tx, &self.session_ids(), g, id),
                },
                |key_id, period| Ok(windows.get(&(key_id, period)).copied().unwrap_or_default()),
            )?;
            store_windows(tx, &updates)?;
            tx.execute_later(
                "UPDATE api_keys SET request_count = request_count + 1,
                   last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at <= CAST(?2 AS BIGINT) - ?3 THEN ?2 ELSE last_used_at END
                 WHERE key_id = ?1",
                params![grant.key_id, now, LAST_USED_EVERY_MS],
            )?;
            Ok(grant)
        })
    }

    fn authorize_in_memory(
        &self,
        mem: &mut MemoryLimiter,
        hash: &[u8; 32],
        (guild, action, target): (Option<i64>, &str, Target<'_>),
        now: Millis,
    ) -> Result<Grant> {
        let refresh = std::time::Duration::from_millis(MEMORY_LIMITER_REFRESH_MS);
        if mem.checked_at.is_none_or(|t| t.elapsed() >= refresh) {
            let generation: i64 = self.read(|tx| {
                tx.prepare_cached("SELECT generation FROM key_state WHERE id = 1")?.query_row((), |r| r.get(0))
            })?;
            mem.checked_at = Some(std::time::Instant::now());
            if mem.generation != Some(generation) {
                mem.keys.clear();
                mem.generation = Some(generation);
            }
        }
        if !mem.keys.contains_key(hash) {
            let chain = self.read(|tx| match key_by_hash(tx, hash)? {
                Some(k) => chain_with_tiers(tx, k),
                None => Err(Error::InvalidApiKey),
            })?;
            mem.keys.insert(*hash, chain);
        }
        let Some(chain) = mem.keys.get(hash) else {
            return Err(Error::InvalidApiKey);
        };
        let windows = &mem.windows;
        let (grant, updates) = decide(
            chain,
            guild,
            action,
            target,
            now,
            Who {
                is_admin: &|g, u| self.is_admin(g, u),
                session_user: &|g, id| self.read(|tx| crate::sessions::session_user(tx, &self.session_ids(), g, id)),
            },
            |key_id, period| Ok(windows.get(&(key_id.to_string(), period)).copied().unwrap_or_default()),
        )?;
        for (key_id, period, s) in updates {
            mem.windows.insert((key_id, period), s);
        }
        let pending = mem.pending.entry(grant.key_id.clone()).or_default();
        *pending = pending.saturating_add(1);
        if now.saturating_sub(mem.last_flush) >= LAST_USED_EVERY_MS {
            let pending = std::mem::take(&mut mem.pending);
            mem.last_flush = now;
            self.write(|tx| {
                for (key_id, n) in &pending {
                    tx.prepare_cached(
                        "UPDATE api_keys SET request_count = request_count + ?2, last_used_at = ?3 WHERE key_id = ?1",
                    )?
                    .execute(params![key_id, n, now])?;
                }
                Ok(())
            })?;
        }
        Ok(grant)
    }

    /// Chooses the limiter: `"shared"` (default; counters in the database, exact across
    /// processes sharing the file) or `"memory"` (counters and key records in this process;
    /// for single-process hosts; faster, not shared). Switching to `"memory"` starts counting
    /// from zero: it does not load the shared counters.
    pub fn set_rate_limiter(&self, mode: &str) -> Result<()> {
        let mut l = self.limiter().lock().unwrap_or_else(|p| p.into_inner());
        match mode {
            "shared" => {
                if let Some(mut m) = l.take() {
                    let pending = std::mem::take(&mut m.pending);
                    let now = self.now_ms();
                    self.write(|tx| {
                        for (key_id, n) in &pending {
                            tx.execute("UPDATE api_keys SET request_count = request_count + ?2, last_used_at = ?3 WHERE key_id = ?1", params![key_id, n, now])?;
                        }
                        Ok(())
                    })?;
                }
            }
            "memory" => {
                if l.is_none() {
                    *l = Some(MemoryLimiter::default());
                }
            }
            other => return Err(Error::invalid("mode", format!("unknown limiter {other:?} (shared or memory)"))),
        }
        Ok(())
    }

    /// Lists a guild's keys (metadata only, never a key or its hash), newest first.
    pub fn list_keys(&self, guild_id: i64) -> Result<Vec<KeyInfo>> {
        let now = self.now_ms();
        self.read(|tx| {
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE guild_id = ?1 ORDER BY created_at DESC, key_id"
                ))?
                .query_map([guild_id], key_from_row)?
                .into_iter()
                .map(|k| k.info(now))
                .collect())
        })
    }

    /// One key's metadata.
    pub fn get_key(&self, key_id: &str) -> Result<KeyInfo> {
        let now = self.now_ms();
        self.read(|tx| Ok(key_by_id(tx, key_id)?.info(now)))
    }

    /// Revokes a key; its sub-keys stop working with it.
    pub fn revoke_key(&self, key_id: &str) -> Result<KeyInfo> {
        let now = self.now_ms();
        let out = self.write(|tx| {
            let k = key_by_id(tx, key_id)?;
            tx.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE key_id = ?1",
                params![key_id, now],
            )?;
            event(tx, Some(key_id), Some(k.guild_id), "revoked", json!({}), now)?;
            Ok(key_by_id(tx, key_id)?.info(now))
        })?;
        self.invalidate_key_cache();
        Ok(out)
    }

    /// Replaces a key with a new one of the same tier, permissions, guild, parent and expiry.
    /// The old key keeps working for `grace_seconds` (never past its own expiry); its sub-keys
    /// move to the new key.
    pub fn rotate_key(&self, key_id: &str, grace_seconds: i64) -> Result<NewKey> {
        if !(0..=30 * 86_400).contains(&grace_seconds) {
            return Err(Error::invalid("grace_seconds", "must be 0 to 2592000 (30 days)"));
        }
        let now = self.now_ms();
        let out = self.write(|tx| {
            let old = key_by_id(tx, key_id)?;
            old.usable(now)?;
            if old.replaced_by.is_some() {
                return Err(Error::KeyRevoked);
            }
            let form = match old.form.as_str() {
                "test" => Form::Test,
                "uuid" => Form::Uuid,
                _ => Form::Live,
            };
            let new = insert_key(
                tx,
                Insert {
                    form,
                    guild_id: old.guild_id,
                    owner: old.owner_user_id,
                    tier: &old.tier,
                    permissions: old.permissions.as_deref(),
                    name: old.name.as_deref(),
                    parent: old.parent_id.as_deref(),
                    expires_at: old.expires_at,
                },
                now,
            )?;
            let grace_end = now.saturating_add(grace_seconds.saturating_mul(1000));
            let grace_until = old.expires_at.map_or(grace_end, |e| e.min(grace_end));
            tx.execute(
                "UPDATE api_keys SET grace_until = ?2, replaced_by = ?3 WHERE key_id = ?1",
                params![key_id, grace_until, new.key_id],
            )?;
            tx.execute("UPDATE api_keys SET parent_id = ?2 WHERE parent_id = ?1", params![key_id, new.key_id])?;
            event(
                tx,
                Some(key_id),
                Some(old.guild_id),
                "rotated",
                json!({"replaced_by": new.key_id, "grace_until": Timestamp(grace_until)}),
                now,
            )?;
            event(
                tx,
                Some(&new.key_id),
                Some(old.guild_id),
                "created",
                json!({"tier": old.tier, "rotated_from": key_id}),
                now,
            )?;
            Ok(new)
        })?;
        self.invalidate_key_cache();
        Ok(out)
    }

    /// Changes a key's tier (an upgrade keeps the key) or name.
    pub fn update_key(&self, key_id: &str, tier_name: Option<&str>, name: Option<&str>) -> Result<KeyInfo> {
        let now = self.now_ms();
        let out = self.write(|tx| {
            let k = key_by_id(tx, key_id)?;
            if let Some(t) = tier_name {
                let tiers = load_tiers(tx)?;
                let t = tier(&tiers, t)?;
                if let Some(parent_id) = &k.parent_id {
                    // A sub-key stays within its parent: tier, guilds and its own permissions.
                    let parent_chain = chain_with_tiers(tx, key_by_id(tx, parent_id)?)?;
                    check_within(&parent_chain, t, k.permissions.as_deref())?;
                }
                tx.execute("UPDATE api_keys SET tier = ?2 WHERE key_id = ?1", params![key_id, t.name])?;
                event(tx, Some(key_id), Some(k.guild_id), "tier_changed", json!({"from": k.tier, "to": t.name}), now)?;
            }
            if let Some(n) = name {
                tx.execute("UPDATE api_keys SET name = ?2 WHERE key_id = ?1", params![key_id, n])?;
            }
            Ok(key_by_id(tx, key_id)?.info(now))
        })?;
        self.invalidate_key_cache();
        Ok(out)
    }

    /// The audit trail (newest first), for one key or one guild; never holds key material.
    pub fn key_events(&self, key_id: Option<&str>, guild_id: Option<i64>, limit: u32) -> Result<Vec<Value>> {
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid("limit", "must be 1 to 1000"));
        }
        self.read(|tx| {
            tx.prepare_cached(
                "SELECT id, key_id, guild_id, event, detail, at FROM key_events
                     WHERE (?1 IS NULL OR key_id = ?1) AND (?2 IS NULL OR guild_id = ?2) ORDER BY id DESC LIMIT ?3",
            )?
            .query_map(params![key_id, guild_id, limit], |r| {
                let detail: String = r.get(4)?;
                Ok(json!({
                    "id": r.get::<i64>(0)?,
                    "key_id": r.get::<Option<String>>(1)?,
                    "guild_id": r.get::<Option<i64>>(2)?,
                    "event": r.get::<String>(3)?,
                    "detail": serde_json::from_str::<Value>(&detail).unwrap_or(Value::Null),
                    "at": Timestamp(r.get(5)?),
                }))
            })
        })
    }

    /// The tier table in force (the defaults until the host sets one).
    pub fn tiers(&self) -> Result<Vec<TierDef>> {
        self.read(load_tiers)
    }

    /// Replaces the tier table. Every tier a key uses must stay defined.
    pub fn set_tiers(&self, tiers: &[TierDef]) -> Result<Vec<TierDef>> {
        let mut names = HashSet::new();
        let mut defs = Vec::with_capacity(tiers.len());
        for t in tiers {
            let name = t.name.trim().to_ascii_uppercase();
            if name.is_empty() || name.len() > 32 || !names.insert(name.clone()) {
                return Err(Error::invalid(
                    "tiers",
                    format!("tier names must be unique, 1 to 32 characters: {:?}", t.name),
                ));
            }
            for l in [t.per_minute, t.per_hour, t.per_day].into_iter().flatten() {
                if !(1..=MAX_TIER_LIMIT).contains(&l) {
                    return Err(Error::invalid(
                        "tiers",
                        format!("limits of {name} must be 1 to {MAX_TIER_LIMIT} (or absent for unlimited)"),
                    ));
                }
            }
            check_permissions(&t.permissions)?;
            defs.push(TierDef { name, ..t.clone() });
        }
        if defs.is_empty() {
            return Err(Error::invalid("tiers", "at least one tier"));
        }
        let now = self.now_ms();
        let out = self.write(|tx| {
            let used: Vec<String> = tx.prepare_cached("SELECT DISTINCT tier FROM api_keys")?.query_map((), |r| r.get(0))?;
            if let Some(missing) = used.iter().find(|u| !names.contains(*u)) {
                return Err(Error::invalid("tiers", format!("tier {missing} is used by keys and must stay defined")));
            }
            tx.execute("DELETE FROM tiers", ())?;
            for t in &defs {
                tx.execute(
                    "INSERT INTO tiers (name, rank, per_minute, per_hour, per_day, permissions, all_guilds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![t.name, t.rank, t.per_minute, t.per_hour, t.per_day, serde_json::to_string(&t.permissions).unwrap_or_default(), t.all_guilds],
                )?;
            }
            event(tx, None, None, "tiers_set", json!({"tiers": names.iter().collect::<Vec<_>>()}), now)?;
            load_tiers(tx)
        })?;
        self.invalidate_key_cache();
        Ok(out)
    }

    /// Finds the API key in a request: `X-API-Key`, `Authorization: Bearer`, `Authorization:
    /// Basic` (base64 of `:key`, `key:` or `key`) and the `api_key` query parameter. `None` if
    /// there is none; `CONFLICTING_KEYS` if two different keys are present.
    ///
    /// ```
    /// use timeledger::{Engine, KeySources};
    /// let engine = Engine::open(":memory:").unwrap();
    /// let mut s = KeySources::default();
    /// s.headers.insert("authorization".into(), "Basic OnRlc3RfYXBpX2tleV9mb29iYXI=".into());
    /// assert_eq!(engine.extract_key(&s).unwrap().as_deref(), Some("test_api_key_foobar"));
    /// ```
    pub fn extract_key(&self, sources: &KeySources) -> Result<Option<String>> {
        extract_key(sources)
    }
}

fn extract_key(sources: &KeySources) -> Result<Option<String>> {
    let mut found: Vec<String> = Vec::new();
    for (name, value) in &sources.headers {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match name.to_ascii_lowercase().as_str() {
            "x-api-key" => found.push(value.to_string()),
            "authorization" => {
                let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
                let rest = rest.trim();
                match scheme.to_ascii_lowercase().as_str() {
                    "bearer" if !rest.is_empty() => found.push(rest.to_string()),
                    "basic" => {
                        let decoded = base64::engine::general_purpose::STANDARD
                            .decode(rest)
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok())
                            .ok_or_else(|| {
                                Error::invalid("authorization", "Basic credentials are not valid base64 of UTF-8")
                            })?;
                        let key = match decoded.split_once(':') {
                            Some(("", k)) => k,
                            Some((k, "")) => k,
                            Some((_, k)) => k,
                            None => decoded.as_str(),
                        };
                        if !key.trim().is_empty() {
                            found.push(key.trim().to_string());
                        }
                    }
                    _ => return Err(Error::invalid("authorization", "expected Bearer or Basic credentials")),
                }
            }
            _ => {}
        }
    }
    if let Some(k) = sources.query.get("api_key").map(|k| k.trim()).filter(|k| !k.is_empty()) {
        found.push(k.to_string());
    }
    found.dedup();
    found.sort();
    found.dedup();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::ConflictingKeys),
    }
}

/// The key-state counter: moves with every change to a key's validity, tier or parent, or to
/// the tiers.
const KEY_STATE: &str = "SELECT generation FROM key_state WHERE id = 1";

/// The stored rate-limit windows of every key of `chain`, by (key, period), in one query; `first` (queries read by
/// `on_first(i, row)`) go out ahead of it, together (one round trip on PostgreSQL).
fn load_windows<'c>(
    tx: &Tx<'_>,
    chain: &'c [(KeyRow, TierDef)],
    first: &[(&str, &[&dyn crate::storage::Param])],
    mut on_first: impl FnMut(usize, &crate::storage::Row<'_>) -> Result<()>,
) -> Result<HashMap<(&'c str, Millis), WindowState>> {
    let ids: Vec<&dyn crate::storage::Param> =
        chain.iter().map(|(k, _)| &k.key_id as &dyn crate::storage::Param).collect();
    let sql = format!(
        "SELECT key_id, period_ms, window_start, current, previous FROM rate_windows WHERE key_id IN {}",
        value_rows(1, ids.len())
    );
    let mut queries: Vec<(&str, &[&dyn crate::storage::Param])> = first.to_vec();
    if !chain.is_empty() {
        queries.push((&sql, &ids));
    }
    let mut windows = HashMap::new();
    tx.together(&queries, |i, r| {
        if i < first.len() {
            return on_first(i, r);
        }
        let key_id: String = r.get(0)?;
        if let Some((k, _)) = chain.iter().find(|(k, _)| k.key_id == key_id) {
            windows.insert(
                (k.key_id.as_str(), r.get::<Millis>(1)?),
                WindowState { start: r.get(2)?, current: r.get(3)?, previous: r.get(4)? },
            );
        }
        Ok(())
    })?;
    Ok(windows)
}

fn store_windows(tx: &Tx<'_>, updates: &[WindowUpdate]) -> Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let mut values: Vec<&dyn crate::storage::Param> = Vec::new();
    for (key_id, period, s) in updates {
        values.extend_from_slice(&[key_id, period, &s.start, &s.current, &s.previous]);
    }
    let sql = format!(
        "INSERT INTO rate_windows (key_id, period_ms, window_start, current, previous) VALUES {}
         ON CONFLICT (key_id, period_ms) DO UPDATE SET window_start = excluded.window_start, current = excluded.current,
           previous = excluded.previous",
        value_rows(updates.len(), 5)
    );
    // Sent with the transaction's commit on PostgreSQL.
    tx.execute_later(&sql, &values[..])
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_pass_their_own_checks() {
        for form in [Form::Live, Form::Test, Form::Uuid] {
            let k = new_key(form, "tl").unwrap();
            assert!(canonical(&k).is_ok(), "{k}");
        }
        let k = new_key(Form::Live, "tl").unwrap();
        assert_eq!(k.len(), 57);
        let k = new_key(Form::Test, "abcdefghij12").unwrap();
        assert!(k.starts_with("abcdefghij12_test_") && canonical(&k).is_ok());
    }

    #[test]
    fn a_typo_fails_the_checksum() {
        let k = new_key(Form::Live, "tl").unwrap();
        let mut bytes = k.into_bytes();
        bytes[20] = if bytes[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        assert_eq!(canonical(&typo).unwrap_err().code(), "INVALID_API_KEY");
    }

    #[test]
    fn uuid_keys_are_v4_and_accepted_with_or_without_prefix() {
        let k = new_key(Form::Uuid, "tl").unwrap();
        assert_eq!(k.len(), 36, "handed out bare: {k}");
        assert_eq!(canonical(&k).unwrap(), canonical(&format!("waka_{}", k.to_uppercase())).unwrap());
        assert!(canonical("waka_00000000-0000-1000-8000-000000000000").is_err());
        // version 1
    }

    #[test]
    fn base62_of_max_32_bytes_fits_43_characters() {
        let s = base62_fixed(&[0xff; 32], 43);
        assert_eq!(s.len(), 43);
        assert_ne!(s.as_bytes()[0], b'0');
        assert_eq!(base62_fixed(&[0; 32], 43), "0".repeat(43));
    }
}
