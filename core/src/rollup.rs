//! Incremental rollups of closed sessions: per local day, per user and local week (the weekly
//! board's top-N read from an index), and per user/category totals.
//!
//! Every change to a closed session is applied as "subtract the old interval, add the new one",
//! inside the same transaction as the change, so the rollups always equal a recomputation from
//! the sessions table. Running sessions are never rolled up; reads add them up to "now".

use std::collections::HashMap;

use crate::storage::{int_params, params, MultiRow, Tx};

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
pub(crate) fn apply(tx: &Tx<'_>, guild: &Guild, c: Contribution, sign: i64, count: i64) -> Result<()> {
    let seconds = c.end.map_or(0, |e| (e - c.start) / 1000);
    if let Some(end) = c.end {
        add_days(tx, guild, c.user_id, c.category_id, c.start, end, sign)?;
        if sign > 0 && end - c.start > guild.longest_session_ms {
            raise_longest(tx, guild.id, end - c.start)?;
        } else if sign < 0 && end - c.start >= guild.longest_session_ms {
            // The longest session may be gone (the row is already changed or deleted): re-read the
            // bound from the length index, so windowed reads never look further back than the
            // longest session that is left, or than four hours if none left is longer: the index
            // holds only sessions longer than that (its predicate and this query spell it as the
            // same literal, 14400000, so the index matches), and the bound stays at least every
            // length. One seek.
            tx.prepare_cached(
                "UPDATE guilds SET longest_session_ms = COALESCE((SELECT end_ms - start_ms FROM sessions
                   WHERE guild_id = ?1 AND end_ms IS NOT NULL AND end_ms - start_ms > 14400000
                   ORDER BY end_ms - start_ms DESC LIMIT 1),
                   CASE WHEN longest_session_ms < 14400000 THEN longest_session_ms ELSE 14400000 END) WHERE guild_id = ?1",
            )?
            .execute([guild.id])?;
        }
    }
    add_totals(tx, guild.id, c.user_id, c.category_id, sign * seconds, count)
}

/// Adds to one (local day, user, category) rollup row per row of `(day, user, category,
/// seconds)`, each key at most once.
static ADD_DAYS: MultiRow = MultiRow::new(
    "INSERT INTO rollup_day (guild_id, day, user_id, category_id, seconds) VALUES",
    1,
    "(?1, #, #, #, #)",
    "ON CONFLICT (guild_id, day, user_id, category_id) DO UPDATE SET seconds = rollup_day.seconds + excluded.seconds",
);

/// Adds to one (week, user) rollup row per row of `(week, user, seconds)`, each key at most once.
static ADD_WEEKS: MultiRow = MultiRow::new(
    "INSERT INTO rollup_week (guild_id, week, user_id, seconds) VALUES",
    1,
    "(?1, #, #, #)",
    "ON CONFLICT (guild_id, week, user_id) DO UPDATE SET seconds = rollup_week.seconds + excluded.seconds",
);

/// The first local day of the guild's week (as [`time::Timeframe::Week`] resolves it) holding
/// local day `day`: the key of `rollup_week`.
pub(crate) fn week_of(guild: &Guild, day: i32) -> i32 {
    // Day 0 (1970-01-01) was a Thursday: three days after a Monday.
    let from_monday = (i64::from(day) + 3).rem_euclid(7);
    let back = (from_monday - i64::from(guild.week_start.num_days_from_monday())).rem_euclid(7);
    day - back as i32
}

/// Adds to a user's totals in a category, per row of `(user, category, seconds, sessions)`.
static ADD_USER_CAT: MultiRow = MultiRow::new(
    "INSERT INTO totals_user_cat (guild_id, user_id, category_id, seconds, sessions) VALUES",
    1,
    "(?1, #, #, #, #)",
    "ON CONFLICT (guild_id, user_id, category_id) DO UPDATE SET seconds = totals_user_cat.seconds + excluded.seconds,
       sessions = totals_user_cat.sessions + excluded.sessions",
);

/// Adds to a user's totals, per row of `(user, seconds, sessions)`.
static ADD_USER: MultiRow = MultiRow::new(
    "INSERT INTO totals_user (guild_id, user_id, seconds, sessions) VALUES",
    1,
    "(?1, #, #, #)",
    "ON CONFLICT (guild_id, user_id) DO UPDATE SET seconds = totals_user.seconds + excluded.seconds,
       sessions = totals_user.sessions + excluded.sessions",
);

/// Adds to a category's totals, per row of `(category, seconds, sessions)`.
static ADD_CAT: MultiRow = MultiRow::new(
    "INSERT INTO totals_cat (guild_id, category_id, seconds, sessions) VALUES",
    1,
    "(?1, #, #, #)",
    "ON CONFLICT (guild_id, category_id) DO UPDATE SET seconds = totals_cat.seconds + excluded.seconds,
       sessions = totals_cat.sessions + excluded.sessions",
);

/// Adds seconds and a session count to the all-time totals of a user in a category, of the
/// user, and of the category.
fn add_totals(tx: &Tx<'_>, guild_id: i64, user: i64, cat: i64, seconds: i64, count: i64) -> Result<()> {
    write_totals(tx, guild_id, &[((user, cat), (seconds, count))])
}

/// ((user, category), (seconds, sessions)): a change of the totals.
type UserCatDelta = ((i64, i64), (i64, i64));

/// Adds (seconds, sessions) per (user, category) to the three totals tables, in multi-row
/// statements (each key once per statement, as an upsert requires).
fn write_totals(tx: &Tx<'_>, guild_id: i64, user_cat: &[UserCatDelta]) -> Result<()> {
    let mut users: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut cats: HashMap<i64, (i64, i64)> = HashMap::new();
    for &((u, c), (secs, n)) in user_cat {
        for slot in [users.entry(u).or_default(), cats.entry(c).or_default()] {
            slot.0 += secs;
            slot.1 += n;
        }
    }
    let rows: Vec<[i64; 4]> = user_cat.iter().map(|&((u, c), (s, n))| [u, c, s, n]).collect();
    ADD_USER_CAT.execute(tx, params![guild_id], &int_params(&rows))?;
    let rows: Vec<[i64; 3]> = users.into_iter().map(|(u, (s, n))| [u, s, n]).collect();
    ADD_USER.execute(tx, params![guild_id], &int_params(&rows))?;
    let rows: Vec<[i64; 3]> = cats.into_iter().map(|(c, (s, n))| [c, s, n]).collect();
    ADD_CAT.execute(tx, params![guild_id], &int_params(&rows))
}

/// Adds seconds to one (local day, user, category) rollup row.
fn add_day(tx: &Tx<'_>, guild_id: i64, day: i32, user: i64, cat: i64, seconds: i64) -> Result<()> {
    ADD_DAYS.execute(tx, params![guild_id], &int_params(&[[i64::from(day), user, cat, seconds]]))
}

/// Raises the guild's bound on the longest session.
fn raise_longest(tx: &Tx<'_>, guild_id: i64, ms: Millis) -> Result<()> {
    tx.prepare_cached("UPDATE guilds SET longest_session_ms = MAX(longest_session_ms, ?2) WHERE guild_id = ?1")?
        .execute(params![guild_id, ms])?;
    Ok(())
}

/// Contributions of many new closed sessions (an import), summed in memory and written once
/// through the same statements [`apply`] uses one session at a time.
#[derive(Default)]
pub(crate) struct Pending {
    days: std::collections::HashMap<(i32, i64, i64), i64>,
    /// Seconds and sessions per (user, category).
    user_cat: std::collections::HashMap<(i64, i64), (i64, i64)>,
    longest: Millis,
}

impl Pending {
    /// Adds one new closed session.
    pub(crate) fn add(&mut self, guild: &Guild, c: Contribution) {
        let Some(end) = c.end else { return };
        time::split_by_day(guild.tz, c.start, end, |day, a, b| {
            *self.days.entry((day, c.user_id, c.category_id)).or_default() += (b - a) / 1000;
        });
        self.longest = self.longest.max(end - c.start);
        let slot = self.user_cat.entry((c.user_id, c.category_id)).or_default();
        slot.0 += (end - c.start) / 1000;
        slot.1 += 1;
    }

    /// Writes the sums.
    pub(crate) fn write(self, tx: &Tx<'_>, guild: &Guild) -> Result<()> {
        let mut weeks: HashMap<(i32, i64), i64> = HashMap::new();
        for (&(day, user, _), &secs) in &self.days {
            *weeks.entry((week_of(guild, day), user)).or_default() += secs;
        }
        let days: Vec<[i64; 4]> =
            self.days.into_iter().map(|((day, user, cat), secs)| [i64::from(day), user, cat, secs]).collect();
        ADD_DAYS.execute(tx, params![guild.id], &int_params(&days))?;
        let weeks: Vec<[i64; 3]> =
            weeks.into_iter().map(|((week, user), secs)| [i64::from(week), user, secs]).collect();
        ADD_WEEKS.execute(tx, params![guild.id], &int_params(&weeks))?;
        let user_cat: Vec<_> = self.user_cat.into_iter().collect();
        write_totals(tx, guild.id, &user_cat)?;
        if self.longest > guild.longest_session_ms {
            raise_longest(tx, guild.id, self.longest)?;
        }
        Ok(())
    }
}

fn add_days(tx: &Tx<'_>, guild: &Guild, user: i64, cat: i64, start: Millis, end: Millis, sign: i64) -> Result<()> {
    let mut result = Ok(());
    // (week, seconds), in order: a session's days are consecutive, so are its weeks.
    let mut weeks: Vec<[i64; 3]> = Vec::new();
    time::split_by_day(guild.tz, start, end, |day, a, b| {
        let seconds = sign * ((b - a) / 1000);
        let week = i64::from(week_of(guild, day));
        match weeks.last_mut() {
            Some(w) if w[0] == week => w[2] += seconds,
            _ => weeks.push([week, user, seconds]),
        }
        if result.is_ok() {
            result = add_day(tx, guild.id, day, user, cat, seconds);
        }
    });
    result?;
    ADD_WEEKS.execute(tx, params![guild.id], &int_params(&weeks))?;
    if sign < 0 {
        let (first, last) = (time::local_day(guild.tz, start), time::local_day(guild.tz, end));
        tx.prepare_cached("DELETE FROM rollup_day WHERE guild_id = ?1 AND user_id = ?2 AND category_id = ?3 AND seconds = 0 AND day BETWEEN ?4 AND ?5")?
            .execute(params![guild.id, user, cat, first, last])?;
        tx.prepare_cached(
            "DELETE FROM rollup_week WHERE guild_id = ?1 AND user_id = ?2 AND seconds = 0 AND week BETWEEN ?3 AND ?4",
        )?
        .execute(params![guild.id, user, week_of(guild, first), week_of(guild, last)])?;
    }
    Ok(())
}

/// Recomputes a guild's day and week rollups from its closed sessions (after a change of time
/// zone). Totals do not depend on the zone and are kept.
pub(crate) fn rebuild_day_rollups(tx: &Tx<'_>, guild: &Guild) -> Result<()> {
    tx.execute("DELETE FROM rollup_day WHERE guild_id = ?1", [guild.id])?;
    tx.execute("DELETE FROM rollup_week WHERE guild_id = ?1", [guild.id])?;
    let mut stmt = tx.prepare_cached(
        "SELECT user_id, category_id, start_ms, end_ms FROM sessions WHERE guild_id = ?1 AND end_ms IS NOT NULL",
    )?;
    let mut rows = stmt.query([guild.id])?;
    while let Some(r) = rows.next()? {
        add_days(tx, guild, r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, 1)?;
    }
    Ok(())
}

/// Recomputes a guild's week rollups from its day rollups (after a change of week start).
pub(crate) fn rebuild_week_rollups(tx: &Tx<'_>, guild: &Guild) -> Result<()> {
    tx.execute("DELETE FROM rollup_week WHERE guild_id = ?1", [guild.id])?;
    tx.execute(crate::storage::weeks_from_days!("WHERE d.guild_id = ?1"), [guild.id])?;
    Ok(())
}
