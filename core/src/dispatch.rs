//! Operations by name with JSON arguments and results: the one table every binding's generic
//! entry point and every scenario runner goes through.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::store::Engine;
use crate::wire::{self, args_error};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuildArg {
    #[serde(with = "wire::id")]
    guild_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserArg {
    #[serde(with = "wire::id")]
    user_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuildUserArg {
    #[serde(with = "wire::id")]
    guild_id: i64,
    #[serde(with = "wire::id")]
    user_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminArg {
    #[serde(with = "wire::id")]
    guild_id: i64,
    #[serde(with = "wire::id")]
    user_id: i64,
    is_admin: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustArg {
    #[serde(with = "wire::id")]
    user_id: i64,
    trust_level: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailArg {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackArg {
    slack_uid: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryListArg {
    #[serde(with = "wire::id")]
    guild_id: i64,
    #[serde(default)]
    include_archived: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryArg {
    #[serde(with = "wire::id")]
    guild_id: i64,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameArg {
    #[serde(with = "wire::id")]
    guild_id: i64,
    name: String,
    new_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionArg {
    #[serde(with = "wire::id")]
    guild_id: i64,
    session_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportArg {
    path: String,
    #[serde(default, deserialize_with = "wire::id::option::deserialize")]
    guild_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MasterArg {
    master_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixArg {
    prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeArg {
    mode: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyArg {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateArg {
    key_id: String,
    grace_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateKeyArg {
    key_id: String,
    tier: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsArg {
    key_id: Option<String>,
    #[serde(default, deserialize_with = "wire::id::option::deserialize")]
    guild_id: Option<i64>,
    limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TiersArg {
    tiers: Vec<crate::keys::TierDef>,
}

fn args<T: DeserializeOwned>(v: Value) -> Result<T> {
    let v = if v.is_null() { json!({}) } else { v };
    serde_json::from_value(v).map_err(args_error)
}

fn out<T: Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Storage(format!("could not serialise result: {e}")))
}

fn done() -> Result<Value> {
    Ok(json!({ "success": true }))
}

/// Every operation name [`Engine::call`] accepts.
pub const OPERATIONS: &[&str] = &[
    "guild_settings",
    "update_guild",
    "upsert_user",
    "get_user",
    "list_members",
    "find_user_by_email",
    "find_user_by_slack_uid",
    "set_trust_level",
    "set_admin",
    "is_admin",
    "create_category",
    "list_categories",
    "get_category",
    "update_category",
    "rename_category",
    "archive_category",
    "delete_category",
    "clock_in",
    "clock_out",
    "active_session",
    "add_entry",
    "import_entries",
    "import_file",
    "export_file",
    "get_session",
    "update_session",
    "delete_session",
    "list_sessions",
    "guild_status",
    "leaderboard",
    "report",
    "ingest_heartbeats",
    "list_heartbeats",
    "most_recent_heartbeat",
    "statusbar_today",
    "coding_stats",
    "coding_summaries",
    "coding_leaderboard",
    "set_master_key",
    "set_key_prefix",
    "key_prefix",
    "generate_key",
    "mint_sub_key",
    "authorize",
    "set_rate_limiter",
    "set_durability",
    "list_keys",
    "get_key",
    "revoke_key",
    "rotate_key",
    "update_key",
    "key_events",
    "tiers",
    "set_tiers",
    "extract_key",
];

impl Engine {
    /// Calls an operation by name with JSON arguments (an object of the operation's named
    /// arguments) and returns its JSON result in the documented shape.
    ///
    /// ```
    /// use serde_json::json;
    /// let engine = timeledger::Engine::open(":memory:").unwrap();
    /// engine.call("create_category", json!({"guild_id": 1, "name": "Dev"})).unwrap();
    /// let r = engine.call("clock_in", json!({"guild_id": 1, "user_id": "42", "category": "dev"})).unwrap();
    /// assert_eq!(r["success"], true);
    /// let err = engine.call("clock_out", json!({"guild_id": 1, "user_id": 7})).unwrap_err();
    /// assert_eq!(err.code(), "NO_ACTIVE_SESSION");
    /// ```
    pub fn call(&self, op: &str, a: Value) -> Result<Value> {
        match op {
            "guild_settings" => out(self.guild_settings(args::<GuildArg>(a)?.guild_id)?),
            "update_guild" => out(self.update_guild(&args(a)?)?),
            "upsert_user" => out(self.upsert_user(&args(a)?)?),
            "list_members" => out(self.list_members(&args(a)?)?),
            "get_user" => out(self.get_user(args::<UserArg>(a)?.user_id)?),
            "find_user_by_email" => out(self.find_user_by_email(&args::<EmailArg>(a)?.email)?),
            "find_user_by_slack_uid" => out(self.find_user_by_slack_uid(&args::<SlackArg>(a)?.slack_uid)?),
            "set_trust_level" => {
                let t: TrustArg = args(a)?;
                out(self.set_trust_level(t.user_id, &t.trust_level)?)
            }
            "set_admin" => {
                let t: AdminArg = args(a)?;
                self.set_admin(t.guild_id, t.user_id, t.is_admin)?;
                done()
            }
            "is_admin" => {
                let t: GuildUserArg = args(a)?;
                out(json!({ "is_admin": self.is_admin(t.guild_id, t.user_id)? }))
            }
            "create_category" => out(self.create_category(&args(a)?)?),
            "list_categories" => {
                let t: CategoryListArg = args(a)?;
                out(self.list_categories(t.guild_id, t.include_archived)?)
            }
            "get_category" => {
                let t: CategoryArg = args(a)?;
                out(self.get_category(t.guild_id, &t.name)?)
            }
            "update_category" => out(self.update_category(&args(a)?)?),
            "rename_category" => {
                let t: RenameArg = args(a)?;
                out(self.rename_category(t.guild_id, &t.name, &t.new_name)?)
            }
            "archive_category" => {
                let t: CategoryArg = args(a)?;
                out(self.archive_category(t.guild_id, &t.name)?)
            }
            "delete_category" => {
                let t: CategoryArg = args(a)?;
                self.delete_category(t.guild_id, &t.name)?;
                done()
            }
            "clock_in" => out(self.clock_in(&args(a)?)?),
            "clock_out" => out(self.clock_out(&args(a)?)?),
            "active_session" => {
                let t: GuildUserArg = args(a)?;
                out(self.active_session(t.guild_id, t.user_id)?)
            }
            "add_entry" => out(self.add_entry(&args(a)?)?),
            "import_entries" => out(self.import_entries(&args(a)?)?),
            "import_file" => out(self.import_file(&args(a)?)?),
            "export_file" => {
                let t: ExportArg = args(a)?;
                out(self.export_file(&t.path, t.guild_id)?)
            }
            "get_session" => {
                let t: SessionArg = args(a)?;
                out(self.get_session(t.guild_id, &t.session_id)?)
            }
            "update_session" => out(self.update_session(&args(a)?)?),
            "delete_session" => {
                let t: SessionArg = args(a)?;
                self.delete_session(t.guild_id, &t.session_id)?;
                done()
            }
            "list_sessions" => out(self.list_sessions(&args(a)?)?),
            "guild_status" => out(self.guild_status(args::<GuildArg>(a)?.guild_id)?),
            "leaderboard" => out(self.leaderboard(&args(a)?)?),
            "report" => out(self.report(&args(a)?)?),
            "ingest_heartbeats" => {
                // Move the (possibly large) heartbeat list out instead of copying it through serde,
                // and move the responses into the result the same way.
                let mut a = a;
                let heartbeats = a.as_object_mut().and_then(|m| m.remove("heartbeats")).unwrap_or(Value::Null);
                let mut batch: crate::HeartbeatBatch = args(a)?;
                batch.heartbeats = heartbeats;
                out(self.ingest_heartbeats(&batch)?)
            }
            "list_heartbeats" => out(json!({ "data": self.list_heartbeats(&args(a)?)? })),
            "most_recent_heartbeat" => {
                let t: GuildUserArg = args(a)?;
                out(json!({ "data": self.most_recent_heartbeat(t.guild_id, t.user_id)? }))
            }
            "statusbar_today" => {
                let t: GuildUserArg = args(a)?;
                self.statusbar_today(t.guild_id, t.user_id)
            }
            "coding_stats" => self.coding_stats(&args(a)?),
            "coding_summaries" => self.coding_summaries(&args(a)?),
            "coding_leaderboard" => self.coding_leaderboard(&args(a)?),
            "set_master_key" => {
                let t: MasterArg = args(a)?;
                self.set_master_key(&t.master_key)?;
                done()
            }
            "set_key_prefix" => out(json!({ "key_prefix": self.set_key_prefix(&args::<PrefixArg>(a)?.prefix)? })),
            "key_prefix" => out(json!({ "key_prefix": self.key_prefix()? })),
            "generate_key" => out(self.generate_key(&args(a)?)?),
            "mint_sub_key" => out(self.mint_sub_key(&args(a)?)?),
            "authorize" => out(self.authorize(&args(a)?)?),
            "set_rate_limiter" => {
                let t: ModeArg = args(a)?;
                self.set_rate_limiter(&t.mode)?;
                done()
            }
            "set_durability" => out(json!({ "durability": self.set_durability(&args::<ModeArg>(a)?.mode)? })),
            "list_keys" => out(self.list_keys(args::<GuildArg>(a)?.guild_id)?),
            "get_key" => out(self.get_key(&args::<KeyArg>(a)?.key_id)?),
            "revoke_key" => out(self.revoke_key(&args::<KeyArg>(a)?.key_id)?),
            "rotate_key" => {
                let t: RotateArg = args(a)?;
                out(self.rotate_key(&t.key_id, t.grace_seconds.unwrap_or(0))?)
            }
            "update_key" => {
                let t: UpdateKeyArg = args(a)?;
                out(self.update_key(&t.key_id, t.tier.as_deref(), t.name.as_deref())?)
            }
            "key_events" => {
                let t: EventsArg = args(a)?;
                out(self.key_events(t.key_id.as_deref(), t.guild_id, t.limit.unwrap_or(100))?)
            }
            "tiers" => out(self.tiers()?),
            "set_tiers" => out(self.set_tiers(&args::<TiersArg>(a)?.tiers)?),
            "extract_key" => out(json!({ "api_key": self.extract_key(&args(a)?)? })),
            other => Err(Error::invalid("op", format!("unknown operation {other:?}"))),
        }
    }

    /// Like [`Engine::call`] with JSON text in and out; errors come back as the error body.
    /// Convenient for bindings that pass strings.
    pub fn call_json(&self, op: &str, args_json: &str) -> Result<String> {
        if op == "ingest_heartbeats" {
            // Bulk bodies: read straight from the text, responses written straight to it.
            return self.ingest_heartbeats_json(args_json);
        }
        let a: Value = if args_json.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(args_json)
                .map_err(|e| Error::invalid("args", format!("arguments are not valid JSON: {e}")))?
        };
        let v = self.call(op, a)?;
        Ok(v.to_string())
    }
}
