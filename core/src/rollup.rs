//! Incremental rollups of closed sessions: per local day and per user/category totals.
//!
//! Every change to a closed session is applied as "subtract the old interval, add the new one",
//! inside the same transaction as the change, so the rollups always equal a recomputation from
//! the sessions table. Running sessions are never rolled up; reads add them up to "now".

use rusqlite::{params, Transaction};

use crate::error::Result;
use crate::guilds::Guild;
use crate::time::{self, Millis};

/// One session's contribution to the rollups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Contribution {
    pub user_id: i64,
    pub category_id: i64,
    pub start: Millis,
    /// `None` while running: counts as a session but adds no seconds.
    pub end: Option<Millis>,
}

/// Adds (`sign = 1`) or removes (`sign = -1`) a session's seconds, and changes its session
/// count by `count` (a clock-in counts a session with no seconds yet; its clock-out adds the
/// seconds with `count = 0`).
pub(crate) fn apply(tx: &Transaction<'_>, guild: &Guild, c: Contribution, sign: i64, count: i64) -> Result<()> {
    let seconds = c.end.map_or(0, |e| (e - c.start) / 1000);
    if let Some(end) = c.end {
        add_days(tx, guild, c.user_id, c.category_id, c.start, end, sign)?;
        if sign > 0 && end - c.start > guild.longest_session_ms {
            tx.prepare_cached(
                "UPDATE guilds SET longest_session_ms = MAX(longest_session_ms, ?2) WHERE guild_id = ?1",
            )?
            .execute(params![guild.id, end - c.start])?;
        } else if sign < 0 && end - c.start >= guild.longest_session_ms {
            // The longest session may be gone (the row is already changed or deleted): re-read the
            // bound from the length index, so windowed reads never look further back than the
            // longest session that is left. One index seek.
            tx.prepare_cached(
                "UPDATE guilds SET longest_session_ms = COALESCE((SELECT end_ms - start_ms FROM sessions
                   WHERE guild_id = ?1 AND end_ms IS NOT NULL ORDER BY end_ms - start_ms DESC LIMIT 1), 0) WHERE guild_id = ?1",
            )?
            .execute([guild.id])?;
        }
    }
    let ds = sign * seconds;
    tx.prepare_cached(
        "INSERT INTO totals_user_cat (guild_id, user_id, category_id, seconds, sessions) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO UPDATE SET seconds = seconds + ?4, sessions = sessions + ?5",
    )?
    .execute(params![guild.id, c.user_id, c.category_id, ds, count])?;
    tx.prepare_cached(
        "INSERT INTO totals_user (guild_id, user_id, seconds, sessions) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET seconds = seconds + ?3, sessions = sessions + ?4",
    )?
    .execute(params![guild.id, c.user_id, ds, count])?;
    tx.prepare_cached(
        "INSERT INTO totals_cat (guild_id, category_id, seconds, sessions) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET seconds = seconds + ?3, sessions = sessions + ?4",
    )?
    .execute(params![guild.id, c.category_id, ds, count])?;
    Ok(())
}

/// Contributions of many new closed sessions (an import), summed in memory and written once:
/// the same rows [`apply`] would write one session at a time.
#[derive(Default)]
pub(crate) struct Pending {
    days: std::collections::HashMap<(i32, i64, i64), i64>,
    user_cat: std::collections::HashMap<(i64, i64), (i64, i64)>,
    users: std::collections::HashMap<i64, (i64, i64)>,
    cats: std::collections::HashMap<i64, (i64, i64)>,
    longest: Millis,
}

impl Pending {
    /// Adds one new closed session.
    pub(crate) fn add(&mut self, guild: &Guild, c: Contribution) {
        let Some(end) = c.end else { return };
        let seconds = (end - c.start) / 1000;
        time::split_by_day(guild.tz, c.start, end, |day, a, b| {
            *self.days.entry((day, c.user_id, c.category_id)).or_default() += (b - a) / 1000;
        });
        self.longest = self.longest.max(end - c.start);
        for slot in [
            self.user_cat.entry((c.user_id, c.category_id)).or_default(),
            self.users.entry(c.user_id).or_default(),
            self.cats.entry(c.category_id).or_default(),
        ] {
            slot.0 += seconds;
            slot.1 += 1;
        }
    }

    /// Writes the sums.
    pub(crate) fn write(self, tx: &Transaction<'_>, guild: &Guild) -> Result<()> {
        let mut day = tx.prepare_cached(
            "INSERT INTO rollup_day (guild_id, day, user_id, category_id, seconds) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET seconds = seconds + ?5",
        )?;
        for ((d, user, cat), secs) in self.days {
            day.execute(params![guild.id, d, user, cat, secs])?;
        }
        let mut uc = tx.prepare_cached(
            "INSERT INTO totals_user_cat (guild_id, user_id, category_id, seconds, sessions) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET seconds = seconds + ?4, sessions = sessions + ?5",
        )?;
        for ((user, cat), (secs, n)) in self.user_cat {
            uc.execute(params![guild.id, user, cat, secs, n])?;
        }
        let mut u = tx.prepare_cached(
            "INSERT INTO totals_user (guild_id, user_id, seconds, sessions) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET seconds = seconds + ?3, sessions = sessions + ?4",
        )?;
        for (user, (secs, n)) in self.users {
            u.execute(params![guild.id, user, secs, n])?;
        }
        let mut c = tx.prepare_cached(
            "INSERT INTO totals_cat (guild_id, category_id, seconds, sessions) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET seconds = seconds + ?3, sessions = sessions + ?4",
        )?;
        for (cat, (secs, n)) in self.cats {
            c.execute(params![guild.id, cat, secs, n])?;
        }
        if self.longest > guild.longest_session_ms {
            tx.prepare_cached(
                "UPDATE guilds SET longest_session_ms = MAX(longest_session_ms, ?2) WHERE guild_id = ?1",
            )?
            .execute(params![guild.id, self.longest])?;
        }
        Ok(())
    }
}

fn add_days(
    tx: &Transaction<'_>,
    guild: &Guild,
    user: i64,
    cat: i64,
    start: Millis,
    end: Millis,
    sign: i64,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO rollup_day (guild_id, day, user_id, category_id, seconds) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO UPDATE SET seconds = seconds + ?5",
    )?;
    let mut result = Ok(());
    time::split_by_day(guild.tz, start, end, |day, a, b| {
        if result.is_ok() {
            result = stmt.execute(params![guild.id, day, user, cat, sign * ((b - a) / 1000)]).map(|_| ());
        }
    });
    result?;
    if sign < 0 {
        tx.prepare_cached("DELETE FROM rollup_day WHERE guild_id = ?1 AND user_id = ?2 AND category_id = ?3 AND seconds = 0 AND day BETWEEN ?4 AND ?5")?
            .execute(params![guild.id, user, cat, time::local_day(guild.tz, start), time::local_day(guild.tz, end)])?;
    }
    Ok(())
}

/// Recomputes a guild's day rollups from its closed sessions (after a change of time zone).
/// Totals do not depend on the zone and are kept.
pub(crate) fn rebuild_day_rollups(tx: &Transaction<'_>, guild: &Guild) -> Result<()> {
    tx.execute("DELETE FROM rollup_day WHERE guild_id = ?1", [guild.id])?;
    let mut stmt = tx.prepare(
        "SELECT user_id, category_id, start_ms, end_ms FROM sessions WHERE guild_id = ?1 AND end_ms IS NOT NULL",
    )?;
    let mut rows = stmt.query([guild.id])?;
    while let Some(r) = rows.next()? {
        add_days(tx, guild, r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, 1)?;
    }
    Ok(())
}
