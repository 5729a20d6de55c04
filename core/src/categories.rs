//! Categories: per guild, unique case-insensitively, archivable, deletable only when unused.

use crate::storage::{params, Tx};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::guilds::{ensure_guild, load_guild, Guild};
use crate::store::Engine;
use crate::time::Millis;
use crate::wire;

/// A category with its totals (all time, running sessions counted up to now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Display name as last set.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Optional colour (`#rrggbb`).
    pub color: Option<String>,
    /// Archived categories take no new sessions and are hidden from default listings.
    pub archived: bool,
    /// Seconds recorded in the category.
    pub total_seconds: i64,
    /// Sessions recorded in the category.
    pub sessions: i64,
}

/// Arguments of [`Engine::create_category`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// 1 to 64 characters after trimming; unique in the guild ignoring case.
    pub name: String,
    /// Optional description (up to 1000 characters).
    pub description: Option<String>,
    /// Optional colour, `#rgb` or `#rrggbb`.
    pub color: Option<String>,
}

/// Arguments of [`Engine::update_category`]; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryUpdate {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// The category's current name (any case).
    pub name: String,
    /// A new name: history stays with the category.
    pub new_name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new colour.
    pub color: Option<String>,
    /// Archive (`true`) or restore (`false`).
    pub archived: Option<bool>,
}

/// The stored form of a category name for case-insensitive comparison.
pub(crate) fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

pub(crate) fn check_name(field: &str, name: &str) -> Result<String> {
    let trimmed = name.trim();
    let n = trimmed.chars().count();
    if n == 0 || n > 64 {
        return Err(Error::invalid(field, "category name must be 1 to 64 characters after trimming"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(field, "category name must not contain control characters"));
    }
    Ok(trimmed.to_string())
}

fn check_color(color: &str) -> Result<()> {
    let hex = color.strip_prefix('#').unwrap_or("");
    if (hex.len() == 3 || hex.len() == 6) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::invalid("color", "expected #rgb or #rrggbb"))
    }
}

fn check_description(d: &Option<String>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > 1000 => Err(Error::invalid("description", "at most 1000 characters")),
        _ => Ok(()),
    }
}

/// A stored category's id, display name and archived flag.
#[derive(Debug, Clone)]
pub(crate) struct CategoryRef {
    pub id: i64,
    pub name: String,
    pub archived: bool,
}

/// Finds a category by name (case-insensitive): `CATEGORY_NOT_FOUND` if none.
pub(crate) fn find(tx: &Tx<'_>, guild_id: i64, name: &str) -> Result<CategoryRef> {
    tx.prepare_cached("SELECT category_id, name, archived FROM categories WHERE guild_id = ?1 AND name_key = ?2")?
        .query_opt(params![guild_id, name_key(name)], |r| {
            Ok(CategoryRef { id: r.get(0)?, name: r.get(1)?, archived: r.get(2)? })
        })?
        .ok_or_else(|| Error::CategoryNotFound(name.trim().to_string()))
}

/// Finds a category that may take new sessions (exists and is not archived).
pub(crate) fn find_open(tx: &Tx<'_>, guild_id: i64, name: &str) -> Result<CategoryRef> {
    let c = find(tx, guild_id, name)?;
    if c.archived {
        return Err(Error::CategoryArchived(c.name));
    }
    Ok(c)
}

/// A category's display name by id.
pub(crate) fn name_of(tx: &Tx<'_>, category_id: i64) -> Result<String> {
    tx.prepare_cached("SELECT name FROM categories WHERE category_id = ?1")?.query_row([category_id], |r| r.get(0))
}

fn load(tx: &Tx<'_>, guild_id: i64, category_id: i64, now: i64) -> Result<Category> {
    let (name, description, color, archived, seconds, sessions) = tx
        .prepare_cached(
            "SELECT c.name, c.description, c.color, c.archived, COALESCE(t.seconds, 0), COALESCE(t.sessions, 0)
             FROM categories c LEFT JOIN totals_cat t ON t.guild_id = c.guild_id AND t.category_id = c.category_id
             WHERE c.category_id = ?1",
        )?
        .query_row([category_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<i64>(4)?, r.get(5)?)))?;
    let running = running_seconds(tx, guild_id, Some(category_id), now)?;
    Ok(Category { name, description, color, archived, total_seconds: seconds + running, sessions })
}

/// Seconds of the guild's running sessions up to `now`, optionally in one category.
fn running_seconds(tx: &Tx<'_>, guild_id: i64, category_id: Option<i64>, now: i64) -> Result<i64> {
    tx.prepare_cached(
        "SELECT COALESCE(SUM(MAX(0, ?3 / 1000 - start_ms / 1000)), 0) FROM sessions
             WHERE guild_id = ?1 AND end_ms IS NULL AND (?2 IS NULL OR category_id = ?2)",
    )?
    .query_row(params![guild_id, category_id, now], |r| r.get(0))
}

impl Engine {
    /// Creates a category. A name equal to an existing one ignoring case is `CATEGORY_EXISTS`.
    ///
    /// ```
    /// use timeledger::{Engine, NewCategory};
    /// let engine = Engine::open(":memory:").unwrap();
    /// engine.create_category(&NewCategory { guild_id: 1, name: "Development".into(), ..Default::default() }).unwrap();
    /// let again = engine.create_category(&NewCategory { guild_id: 1, name: " development ".into(), ..Default::default() });
    /// assert_eq!(again.unwrap_err().code(), "CATEGORY_EXISTS");
    /// ```
    pub fn create_category(&self, input: &NewCategory) -> Result<Category> {
        let name = check_name("name", &input.name)?;
        if let Some(c) = &input.color {
            check_color(c)?;
        }
        check_description(&input.description)?;
        let now = self.now_ms();
        self.write(|tx| {
            ensure_guild(tx, input.guild_id, now)?;
            if find(tx, input.guild_id, &name).is_ok() {
                return Err(Error::CategoryExists(name.clone()));
            }
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO categories (guild_id, name, name_key, description, color, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     RETURNING category_id",
                )?
                .query_row(params![input.guild_id, name, name_key(&name), input.description, input.color, now], |r| r.get(0))?;
            load(tx, input.guild_id, id, now)
        })
    }

    /// Lists a guild's categories by name, with totals; archived ones only when asked.
    pub fn list_categories(&self, guild_id: i64, include_archived: bool) -> Result<Vec<Category>> {
        let now = self.now_ms();
        self.read_guild(guild_id, now, |tx, _| {
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "SELECT category_id FROM categories WHERE guild_id = ?1 AND (?2 OR archived = 0) ORDER BY name_key, category_id",
                )?
                .query_map(params![guild_id, include_archived], |r| r.get(0))?;
            ids.into_iter().map(|id| load(tx, guild_id, id, now)).collect()
        })
    }

    /// One category by name (any case).
    pub fn get_category(&self, guild_id: i64, name: &str) -> Result<Category> {
        let now = self.now_ms();
        self.read_guild(guild_id, now, |tx, _| {
            let c = find(tx, guild_id, name)?;
            load(tx, guild_id, c.id, now)
        })
    }

    /// Renames, re-describes, re-colours, archives or restores a category. Its sessions and
    /// totals stay with it under the new name.
    pub fn update_category(&self, input: &CategoryUpdate) -> Result<Category> {
        let new_name = input.new_name.as_deref().map(|n| check_name("new_name", n)).transpose()?;
        if let Some(c) = &input.color {
            check_color(c)?;
        }
        check_description(&input.description)?;
        let now = self.now_ms();
        self.write(|tx| {
            let c = find(tx, input.guild_id, &input.name)?;
            if let Some(new_name) = &new_name {
                if let Ok(other) = find(tx, input.guild_id, new_name) {
                    if other.id != c.id {
                        return Err(Error::CategoryExists(new_name.clone()));
                    }
                }
                tx.execute(
                    "UPDATE categories SET name = ?2, name_key = ?3 WHERE category_id = ?1",
                    params![c.id, new_name, name_key(new_name)],
                )?;
            }
            if let Some(d) = &input.description {
                tx.execute("UPDATE categories SET description = ?2 WHERE category_id = ?1", params![c.id, d])?;
            }
            if let Some(col) = &input.color {
                tx.execute("UPDATE categories SET color = ?2 WHERE category_id = ?1", params![c.id, col])?;
            }
            if let Some(a) = input.archived {
                tx.execute("UPDATE categories SET archived = ?2 WHERE category_id = ?1", params![c.id, a])?;
            }
            load(tx, input.guild_id, c.id, now)
        })
    }

    /// Renames a category (shorthand for [`Engine::update_category`]).
    pub fn rename_category(&self, guild_id: i64, name: &str, new_name: &str) -> Result<Category> {
        self.update_category(&CategoryUpdate {
            guild_id,
            name: name.into(),
            new_name: Some(new_name.into()),
            ..Default::default()
        })
    }

    /// Archives a category: hidden from default listings, no new sessions, history kept.
    pub fn archive_category(&self, guild_id: i64, name: &str) -> Result<Category> {
        self.update_category(&CategoryUpdate {
            guild_id,
            name: name.into(),
            archived: Some(true),
            ..Default::default()
        })
    }

    /// Deletes a category that no session uses; otherwise `CATEGORY_IN_USE`.
    pub fn delete_category(&self, guild_id: i64, name: &str) -> Result<()> {
        self.write(|tx| {
            let c = find(tx, guild_id, name)?;
            let used: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM sessions WHERE category_id = ?1")?
                .query_row([c.id], |r| r.get(0))?;
            if used > 0 {
                return Err(Error::CategoryInUse(used as u64));
            }
            for sql in [
                "DELETE FROM totals_cat WHERE category_id = ?1 AND guild_id = ?2",
                "DELETE FROM totals_user_cat WHERE category_id = ?1 AND guild_id = ?2",
                "DELETE FROM rollup_day WHERE category_id = ?1 AND guild_id = ?2",
                "DELETE FROM categories WHERE category_id = ?1 AND guild_id = ?2",
            ] {
                tx.execute(sql, params![c.id, guild_id])?;
            }
            Ok(())
        })
    }

    /// Runs `f` on a consistent snapshot of a guild whose running sessions are settled at `now`
    /// (none past the guild's maximum length). The settings and the check are one query; in the
    /// rare case a session is due, it is closed and `f` runs in that same write transaction.
    pub(crate) fn read_guild<T>(
        &self,
        guild_id: i64,
        now: Millis,
        mut f: impl FnMut(&Tx<'_>, &Guild) -> Result<T>,
    ) -> Result<T> {
        let first = self.read(|tx| {
            let (guild, due) = crate::guilds::load_guild_due(tx, guild_id, now)?;
            if due {
                return Ok(None);
            }
            f(tx, &guild).map(Some)
        })?;
        if let Some(out) = first {
            return Ok(out);
        }
        self.write(|tx| {
            let g = load_guild(tx, guild_id)?;
            crate::sessions::settle(tx, &g, now)?;
            // `settle` may have raised the longest-session bound.
            f(tx, &load_guild(tx, guild_id)?)
        })
    }

    /// Makes sure lazily auto-closed sessions of a guild are closed before a read that cannot
    /// run inside [`Engine::read_guild`] (an export on a connection of its own).
    pub(crate) fn settle_guild(&self, guild_id: i64) -> Result<()> {
        self.read_guild(guild_id, self.now_ms(), |_, _| Ok(()))
    }
}
