//! Guild status, session leaderboards and summary reports.
//!
//! A window `[from, to)` is answered in three parts that never overlap:
//! 1. whole local days inside the window, from `rollup_day` (closed sessions);
//! 2. the partial days at either edge, from the closed sessions that can reach them (found by
//!    start time, bounded by the guild's longest session), clipped;
//! 3. running sessions, clipped to `[start, now)`.
//!
//! `all` uses the all-time totals instead of part 1 and has no edges. A leaderboard over a whole
//! local week (the `week` timeframe) reads the week's rollup instead of its seven days.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::storage::{params, Param, Row, Tx};
use serde::{Deserialize, Serialize};

use crate::categories;
use crate::error::{Error, Result};
use crate::guilds::Guild;
use crate::rollup;
use crate::store::Engine;
use crate::time::{self, floor_second, Millis, Timeframe};
use crate::wire::{self, hours, Timestamp};

/// Guild status, exactly the clock-in API's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuildStatus {
    /// The guild.
    pub guild_id: i64,
    /// All recorded seconds, running sessions up to now.
    pub total_time_seconds: i64,
    /// The same in hours, two decimals.
    pub total_time_hours: f64,
    /// Users with any session in the guild.
    pub total_users: i64,
    /// Sessions running now.
    pub active_sessions: i64,
    /// Seconds per category name.
    pub categories: BTreeMap<String, i64>,
}

/// Arguments of [`Engine::leaderboard`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardQuery {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// `today`, `week`, `month`, `year`, `all` (default), `last_24_hours`, `last_7_days`,
    /// `last_30_days` or `custom` (with `from` and `to`).
    pub timeframe: Option<String>,
    /// Start of a custom window.
    pub from: Option<Timestamp>,
    /// End of a custom window (exclusive).
    pub to: Option<Timestamp>,
    /// Only this category.
    pub category: Option<String>,
    /// Entries to return (default 10, at most 1000).
    pub limit: Option<u32>,
    /// Entries to skip.
    pub offset: Option<u32>,
}

/// A session leaderboard, in the shape the clock-in API's clients read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leaderboard {
    /// The guild.
    pub guild_id: i64,
    /// The timeframe's name.
    pub timeframe: String,
    /// The category filter, if any.
    pub category: Option<String>,
    /// Window start (`None` for `all`).
    pub start: Option<Timestamp>,
    /// Window end, exclusive (`None` for `all`).
    pub end: Option<Timestamp>,
    /// When it was computed.
    pub generated_at: Timestamp,
    /// Users with time in the window, most first; ties share a rank and are listed by user id.
    pub leaderboard: Vec<LeaderboardEntry>,
}

/// One row of a [`Leaderboard`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// 1-based rank; ties share it ("1, 2, 2, 4").
    pub rank: u32,
    /// The user.
    pub user_id: i64,
    /// Their username.
    pub username: String,
    /// Seconds in the window.
    pub total_seconds: i64,
    /// Hours, two decimals.
    pub hours: f64,
}

/// Grouping keys of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKey {
    /// By user.
    User,
    /// By category.
    Category,
    /// By local day in the guild's zone.
    Day,
}

/// Arguments of [`Engine::report`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// The guild.
    #[serde(with = "wire::id")]
    pub guild_id: i64,
    /// As in [`LeaderboardQuery::timeframe`] (default `week`).
    pub timeframe: Option<String>,
    /// Start of a custom window.
    pub from: Option<Timestamp>,
    /// End of a custom window (exclusive).
    pub to: Option<Timestamp>,
    /// Grouping keys, in order (default `["user", "category", "day"]`).
    pub group_by: Option<Vec<GroupKey>>,
    /// Only this user.
    #[serde(default, deserialize_with = "wire::id::option::deserialize")]
    pub user_id: Option<i64>,
    /// Only this category.
    pub category: Option<String>,
}

/// A summary report: totals grouped by the requested keys; rows add up exactly to the total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The guild.
    pub guild_id: i64,
    /// The timeframe's name.
    pub timeframe: String,
    /// Window start (`None` for `all`).
    pub start: Option<Timestamp>,
    /// Window end (`None` for `all`).
    pub end: Option<Timestamp>,
    /// The grouping keys.
    pub group_by: Vec<GroupKey>,
    /// Seconds in the window.
    pub total_seconds: i64,
    /// Hours, two decimals.
    pub total_hours: f64,
    /// One row per group with time, ordered by the keys.
    pub rows: Vec<ReportRow>,
}

/// One row of a [`Report`]; a key not grouped by is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The user, when grouped by user.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<i64>,
    /// The username, when grouped by user.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    /// The category, when grouped by category.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub category: Option<String>,
    /// The local day `YYYY-MM-DD`, when grouped by day.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub day: Option<String>,
    /// Seconds.
    pub total_seconds: i64,
}

/// A resolved window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

impl Window {
    /// The window with both ends floored to the second. Session reads use it (with "now"
    /// floored once): session boundaries are whole seconds, so every piece of every read is then
    /// whole seconds, and a leaderboard and a report of the same window agree to the second.
    fn whole_seconds(self) -> Self {
        Window { from: self.from.map(floor_second), to: self.to.map(floor_second) }
    }

    /// Whole local days and edge ranges of this window; unbounded (`all`) is every day, no edges.
    pub(crate) fn parts(&self, guild: &Guild) -> Split {
        match (self.from, self.to) {
            (Some(from), Some(to)) => split_window(guild, from, to),
            _ => Split { days: Some((i32::MIN, i32::MAX)), edges: vec![] },
        }
    }

    fn clip(&self, start: Millis, end: Millis) -> Option<(Millis, Millis)> {
        let s = self.from.map_or(start, |f| start.max(f));
        let e = self.to.map_or(end, |t| end.min(t));
        (e > s).then_some((s, e))
    }
}

/// Whole local days `[first, last)` inside a bounded window, and the edge ranges outside them.
pub(crate) struct Split {
    pub days: Option<(i32, i32)>,
    pub edges: Vec<(Millis, Millis)>,
}

pub(crate) fn split_window(guild: &Guild, from: Millis, to: Millis) -> Split {
    if to <= from {
        return Split { days: None, edges: vec![] };
    }
    let mut first = time::local_day(guild.tz, from);
    if time::day_start(guild.tz, first) < from {
        first += 1;
    }
    let last = time::local_day(guild.tz, to);
    let (fs, ls) = (time::day_start(guild.tz, first), time::day_start(guild.tz, last));
    if first >= last || fs >= ls {
        return Split { days: None, edges: vec![(from, to)] };
    }
    let edges = [(from, fs), (ls, to)].into_iter().filter(|(a, b)| b > a).collect();
    Split { days: Some((first, last)), edges }
}

/// One clipped piece of a session inside a window.
#[derive(Debug, Clone, Copy)]
struct Piece {
    user_id: i64,
    category_id: i64,
    start: Millis,
    end: Millis,
}

/// Closed sessions' pieces inside the edge ranges, and running sessions' pieces (up to now)
/// inside the window; `first` (queries read by `on_first(i, row)`) go out ahead of these
/// queries, all together (one round trip on PostgreSQL).
#[allow(clippy::too_many_arguments)]
fn raw_pieces(
    tx: &Tx<'_>,
    guild: &Guild,
    w: Window,
    edges: &[(Millis, Millis)],
    cat: Option<i64>,
    now: Millis,
    out: &mut Vec<Piece>,
    first: &[(&str, &[&dyn Param])],
    mut on_first: impl FnMut(usize, &Row<'_>) -> Result<()>,
) -> Result<()> {
    let bounds: Vec<[i64; 4]> =
        edges.iter().map(|&(a, b)| [guild.id, a.saturating_sub(guild.longest_session_ms), b, a]).collect();
    let edge_params: Vec<[&dyn Param; 5]> =
        bounds.iter().map(|p| [&p[0] as &dyn Param, &p[1], &p[2], &p[3], &cat]).collect();
    let running_params: [&dyn Param; 2] = [&guild.id, &cat];
    let mut queries: Vec<(&str, &[&dyn Param])> = first.to_vec();
    queries.extend(edge_params.iter().map(|p| (EDGE_PIECES, p.as_slice())));
    queries.push((RUNNING_PIECES, &running_params));
    let now = floor_second(now);
    tx.together(&queries, |i, r| {
        if i < first.len() {
            return on_first(i, r);
        }
        match edges.get(i - first.len()) {
            Some(&(a, b)) => {
                let (s, e): (Millis, Millis) = (r.get(2)?, r.get(3)?);
                let (s, e) = (s.max(a), e.min(b));
                if e > s {
                    out.push(Piece { user_id: r.get(0)?, category_id: r.get(1)?, start: s, end: e });
                }
            }
            None => {
                if let Some((s, e)) = w.clip(r.get(2)?, now) {
                    out.push(Piece { user_id: r.get(0)?, category_id: r.get(1)?, start: s, end: e });
                }
            }
        }
        Ok(())
    })
}

/// Closed sessions crossing an edge `[?4, ?3)` of a window (starting from `?2`, the edge's start
/// less the guild's longest session), optionally of one category (`?5`).
const EDGE_PIECES: &str = "SELECT user_id, category_id, start_ms, end_ms FROM sessions
     WHERE guild_id = ?1 AND start_ms >= ?2 AND start_ms < ?3 AND end_ms > ?4 AND (?5 IS NULL OR category_id = ?5)";

/// The guild's running sessions, optionally of one category (`?2`).
const RUNNING_PIECES: &str = "SELECT user_id, category_id, start_ms FROM sessions INDEXED BY sessions_running
     WHERE guild_id = ?1 AND end_ms IS NULL AND (?2 IS NULL OR category_id = ?2)";

/// Seconds per user in a window (optionally one category); with `red`, the red-trust users are
/// read into it in the same round trip.
pub(crate) fn seconds_by_user(
    tx: &Tx<'_>,
    guild: &Guild,
    w: Window,
    cat: Option<i64>,
    now: Millis,
    red: Option<&mut HashSet<i64>>,
) -> Result<HashMap<i64, i64>> {
    let mut totals: HashMap<i64, i64> = HashMap::new();
    let mut pieces = Vec::new();
    let mut first: Vec<(&str, &[&dyn Param])> = Vec::new();
    let with_red = red.is_some();
    if with_red {
        first.push((RED_USERS, &[]));
    }
    let (split, days) = match (w.from, w.to) {
        (Some(from), Some(to)) => {
            let split = split_window(guild, from, to);
            let days = split.days;
            (Some(split), days)
        }
        _ => (None, None),
    };
    let (d0, d1) = days.unwrap_or((0, 0));
    let day_params: [&dyn Param; 4] = [&guild.id, &d0, &d1, &cat];
    let total_params: [&dyn Param; 2] = [&guild.id, &cat];
    match &split {
        Some(_) if days.is_some() => first.push((
            // Summed by the server on PostgreSQL (a row per user crosses the network, not one per
            // user, day and category); in process on SQLite, where the rows cost nothing to move
            // and the index's order saves a sort.
            if tx.is_postgres() {
                "SELECT user_id, SUM(seconds) FROM rollup_day WHERE guild_id = ?1 AND day >= ?2 AND day < ?3 AND (?4 IS NULL OR category_id = ?4)
                 GROUP BY user_id"
            } else {
                "SELECT user_id, seconds FROM rollup_day WHERE guild_id = ?1 AND day >= ?2 AND day < ?3 AND (?4 IS NULL OR category_id = ?4)"
            },
            &day_params,
        )),
        Some(_) => {}
        None => first.push((
            "SELECT user_id, seconds FROM totals_user WHERE guild_id = ?1 AND CAST(?2 AS BIGINT) IS NULL
             UNION ALL SELECT user_id, seconds FROM totals_user_cat WHERE guild_id = ?1 AND category_id = ?2",
            &total_params,
        )),
    }
    let edges = split.as_ref().map_or(&[][..], |s| &s.edges[..]);
    let mut red = red;
    raw_pieces(tx, guild, w, edges, cat, now, &mut pieces, &first, |i, r| {
        match (i, red.as_deref_mut()) {
            (0, Some(red)) => {
                red.insert(r.get(0)?);
            }
            _ => *totals.entry(r.get(0)?).or_default() += r.get::<i64>(1)?,
        }
        Ok(())
    })?;
    for p in pieces {
        *totals.entry(p.user_id).or_default() += (p.end - p.start) / 1000;
    }
    Ok(totals)
}

/// Where a top-N board reads users' closed seconds in descending order.
#[derive(Clone, Copy)]
enum Ranked {
    /// All time, from the totals (of one category, or of all).
    AllTime(Option<i64>),
    /// One whole local week (keyed by its first day), from `rollup_week`; all categories.
    Week(i32),
}

/// The week key when `w` is exactly one whole local week of the guild (as the `week` timeframe
/// resolves): seven whole days, no edges, starting on the guild's week start.
fn whole_week(guild: &Guild, w: Window) -> Option<i32> {
    let (from, to) = (w.from?, w.to?);
    match split_window(guild, from, to) {
        Split { days: Some((d0, d1)), edges }
            if edges.is_empty() && d1 - d0 == 7 && rollup::week_of(guild, d0) == d0 =>
        {
            Some(d0)
        }
        _ => None,
    }
}

/// Totals of the users who can rank among the first `need` (red users, read into `red`,
/// excluded) over all time or over one whole week (`w`): read from the closed seconds in
/// descending order through an index, stopping at the first user below the `need`-th total;
/// users with a running session are added whatever their closed seconds (their running piece
/// clipped to `w`). Every user with a total at least the `need`-th is returned, so ranks and ties
/// come out as from all members. On PostgreSQL the red users, the first ranks and the running
/// sessions go in one round trip, the closed seconds of running users below the ranks read in
/// one more.
#[allow(clippy::too_many_arguments)]
fn top_ranked(
    tx: &Tx<'_>,
    guild: &Guild,
    source: Ranked,
    w: Window,
    now: Millis,
    need: usize,
    red: &mut HashSet<i64>,
) -> Result<Vec<(i64, i64)>> {
    // (ranked read of at most `?3` rows, one user's (`?3`) closed seconds, the table and its
    // key's condition), keyed by the guild and `?2`; category of the running sessions.
    let (ranked, one, table, key_filter, key, cat): (&str, &str, &str, &str, Option<i64>, Option<i64>) = match source {
        Ranked::AllTime(None) => (
            "SELECT user_id, seconds FROM totals_user INDEXED BY totals_user_rank WHERE guild_id = ?1 AND CAST(?2 AS BIGINT) IS NULL
             ORDER BY seconds DESC LIMIT ?3",
            "SELECT seconds FROM totals_user WHERE guild_id = ?1 AND CAST(?2 AS BIGINT) IS NULL AND user_id = ?3",
            "totals_user",
            "CAST(?2 AS BIGINT) IS NULL",
            None,
            None,
        ),
        Ranked::AllTime(Some(c)) => (
            "SELECT user_id, seconds FROM totals_user_cat INDEXED BY totals_user_cat_rank WHERE guild_id = ?1 AND category_id = ?2
             ORDER BY seconds DESC LIMIT ?3",
            "SELECT seconds FROM totals_user_cat WHERE guild_id = ?1 AND category_id = ?2 AND user_id = ?3",
            "totals_user_cat",
            "category_id = ?2",
            Some(c),
            Some(c),
        ),
        Ranked::Week(week) => (
            "SELECT user_id, seconds FROM rollup_week INDEXED BY rollup_week_rank WHERE guild_id = ?1 AND week = ?2
             ORDER BY seconds DESC LIMIT ?3",
            "SELECT seconds FROM rollup_week WHERE guild_id = ?1 AND week = ?2 AND user_id = ?3",
            "rollup_week",
            "week = ?2",
            Some(i64::from(week)),
            None,
        ),
    };
    // SQLite steps through the ranked rows as they are read and stops early. A PostgreSQL query
    // answers all its rows at once, so there they are asked for in pages that grow (enough for
    // the page and a few red users and ties first, which nearly always reaches a row below the
    // page's last total; more, from the start, when not), the first page with the red users and
    // the running sessions.
    let pg = tx.is_postgres();
    let mut limit = if pg { (need + 32) as i64 } else { i64::MAX };
    let mut pieces = Vec::new();
    let mut page: Vec<(i64, i64)> = Vec::new();
    {
        let ranked_params: [&dyn Param; 3] = [&guild.id, &key, &limit];
        let both: [(&str, &[&dyn Param]); 2] = [(RED_USERS, &[]), (ranked, &ranked_params)];
        let first = if pg { &both[..] } else { &both[..1] };
        raw_pieces(tx, guild, w, &[], cat, now, &mut pieces, first, |i, r| {
            if i == 0 {
                red.insert(r.get(0)?);
            } else {
                page.push((r.get(0)?, r.get(1)?));
            }
            Ok(())
        })?;
    }
    let mut running: HashMap<i64, i64> = HashMap::new();
    for p in pieces {
        *running.entry(p.user_id).or_default() += (p.end - p.start) / 1000;
    }
    loop {
        let mut out: Vec<(i64, i64)> = Vec::new();
        let mut seen = HashSet::new();
        // The non-red totals collected so far, smallest first once `need` are held.
        let mut best: std::collections::BinaryHeap<std::cmp::Reverse<i64>> = std::collections::BinaryHeap::new();
        let (mut read, mut stopped) = (0i64, false);
        // One ranked row; true once it is below the `need`-th total (the scan stops).
        let mut offer = |user: i64, closed: i64| -> bool {
            read += 1;
            if best.len() >= need && best.peek().is_some_and(|k| closed < k.0) {
                return true;
            }
            seen.insert(user);
            let total = closed + running.get(&user).copied().unwrap_or(0);
            if !red.contains(&user) {
                out.push((user, total));
                best.push(std::cmp::Reverse(total));
                if best.len() > need {
                    best.pop();
                }
            }
            false
        };
        if pg {
            stopped = page.iter().any(|&(user, closed)| offer(user, closed));
        } else {
            let mut stmt = tx.prepare_cached(ranked)?;
            let mut rows = stmt.query(params![guild.id, key, limit])?;
            while let Some(r) = rows.next()? {
                if offer(r.get(0)?, r.get(1)?) {
                    stopped = true;
                    break;
                }
            }
        }
        if stopped || read < limit {
            // Users with a running session not reached (their closed seconds were lower).
            let missing: Vec<i64> = running.keys().copied().filter(|u| !seen.contains(u) && !red.contains(u)).collect();
            let mut closed: HashMap<i64, i64> = HashMap::new();
            if pg {
                // One list, one round trip. Lists are padded to a power of two (repeating the last
                // id), so a few statements serve every count.
                for chunk in missing.chunks(512) {
                    let n = chunk.len().next_power_of_two();
                    let sql = format!(
                        "SELECT user_id, seconds FROM {table} WHERE guild_id = ?1 AND {key_filter} AND user_id IN {}",
                        crate::storage::value_list_after(n, 2)
                    );
                    let mut values: Vec<&dyn Param> = vec![&guild.id, &key];
                    values.extend(
                        chunk.iter().chain(std::iter::repeat(&chunk[chunk.len() - 1])).take(n).map(|u| u as &dyn Param),
                    );
                    for (u, secs) in
                        tx.prepare_cached(&sql)?.query_map(&values[..], |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)))?
                    {
                        closed.insert(u, secs);
                    }
                }
            } else if !missing.is_empty() {
                // In process, one prepared point query per user costs less than a list.
                let mut one = tx.prepare_cached(one)?;
                for &u in &missing {
                    if let Some(secs) = one.query_opt(params![guild.id, key, u], |r| r.get::<i64>(0))? {
                        closed.insert(u, secs);
                    }
                }
            }
            for u in missing {
                out.push((u, closed.get(&u).copied().unwrap_or(0) + running[&u]));
            }
            return Ok(out);
        }
        limit = limit.saturating_mul(4);
        page = tx
            .prepare_cached(ranked)?
            .query_map(params![guild.id, key, limit], |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)))?;
    }
}

/// Seconds per (day, user, category) in a window, the report's finest grain.
fn seconds_by_day(
    tx: &Tx<'_>,
    guild: &Guild,
    w: Window,
    cat: Option<i64>,
    user: Option<i64>,
    now: Millis,
) -> Result<HashMap<(i32, i64, i64), i64>> {
    let mut cells: HashMap<(i32, i64, i64), i64> = HashMap::new();
    let mut pieces = Vec::new();
    let Split { days, edges } = w.parts(guild);
    let (d0, d1) = days.unwrap_or((0, 0));
    if d1 > d0 {
        let mut stmt = tx.prepare_cached(
            "SELECT day, user_id, category_id, seconds FROM rollup_day WHERE guild_id = ?1 AND day >= ?2 AND day < ?3
             AND (?4 IS NULL OR category_id = ?4) AND (?5 IS NULL OR user_id = ?5)",
        )?;
        let mut rows = stmt.query(params![guild.id, d0, d1, cat, user])?;
        while let Some(r) = rows.next()? {
            *cells.entry((r.get(0)?, r.get(1)?, r.get(2)?)).or_default() += r.get::<i64>(3)?;
        }
    }
    raw_pieces(tx, guild, w, &edges, cat, now, &mut pieces, &[], |_, _| Ok(()))?;
    for p in pieces.into_iter().filter(|p| user.is_none_or(|u| u == p.user_id)) {
        time::split_by_day(guild.tz, p.start, p.end, |day, a, b| {
            *cells.entry((day, p.user_id, p.category_id)).or_default() += (b - a) / 1000;
        });
    }
    Ok(cells)
}

/// The red-trust users (left out of leaderboards).
const RED_USERS: &str = "SELECT user_id FROM users WHERE trust_level = 'red'";

pub(crate) fn red_users(tx: &Tx<'_>) -> Result<HashSet<i64>> {
    Ok(tx.prepare_cached(RED_USERS)?.query_map((), |r| r.get(0))?.into_iter().collect())
}

pub(crate) fn username(tx: &Tx<'_>, user_id: i64) -> Result<String> {
    Ok(tx
        .prepare_cached("SELECT username FROM users WHERE user_id = ?1")?
        .query_opt([user_id], |r| r.get(0))?
        .unwrap_or_else(|| user_id.to_string()))
}

/// The usernames of `users`, in one query per 500 (a user without a row is absent).
pub(crate) fn usernames(tx: &Tx<'_>, users: impl Iterator<Item = i64>) -> Result<HashMap<i64, String>> {
    let users: Vec<i64> = users.collect();
    let mut names = HashMap::with_capacity(users.len());
    for chunk in users.chunks(500) {
        let sql = format!(
            "SELECT user_id, username FROM users WHERE user_id IN {}",
            crate::storage::value_rows(1, chunk.len())
        );
        let values: Vec<&dyn crate::storage::Param> = chunk.iter().map(|u| u as &dyn crate::storage::Param).collect();
        for (id, name) in
            tx.prepare_cached(&sql)?.query_map(&values[..], |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)))?
        {
            names.insert(id, name);
        }
    }
    Ok(names)
}

/// Ranks `(user, seconds)` pairs: most first, ties share a rank and are ordered by user id.
pub(crate) fn rank(mut totals: Vec<(i64, i64)>) -> Vec<(u32, i64, i64)> {
    totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut out = Vec::with_capacity(totals.len());
    let mut prev: Option<(i64, u32)> = None;
    for (i, (user, secs)) in totals.into_iter().enumerate() {
        let r = match prev {
            Some((p, r)) if p == secs => r,
            _ => i as u32 + 1,
        };
        prev = Some((secs, r));
        out.push((r, user, secs));
    }
    out
}

pub(crate) fn resolve(
    guild: &Guild,
    name: Option<&str>,
    default: &str,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    now: Millis,
) -> Result<(Timeframe, Window)> {
    let name = name.unwrap_or(if from.is_some() || to.is_some() { "custom" } else { default });
    let from = Timestamp::checked_opt(from, "from")?;
    let to = Timestamp::checked_opt(to, "to")?;
    let tf = Timeframe::parse(name, from, to)?;
    let (from, to) = tf.resolve(guild.tz, guild.week_start, now);
    Ok((tf, Window { from, to }))
}

impl Engine {
    /// Guild status in the clock-in API's shape: all time, running sessions counted up to now.
    ///
    /// ```
    /// let engine = timeledger::Engine::open(":memory:").unwrap();
    /// let s = engine.guild_status(123456789).unwrap();
    /// assert_eq!((s.total_time_seconds, s.total_users, s.active_sessions), (0, 0, 0));
    /// ```
    pub fn guild_status(&self, guild_id: i64) -> Result<GuildStatus> {
        let now = floor_second(self.now_ms());
        self.read_guild(guild_id, now, |tx, _| {
            let mut categories = BTreeMap::new();
            let mut total = 0;
            let (mut total_users, mut active_sessions) = (0i64, 0i64);
            // Three queries, sent together.
            let by_category: [&dyn Param; 2] = [&guild_id, &now];
            let guild_only: [&dyn Param; 1] = [&guild_id];
            tx.together(
                &[
                    (
                        "SELECT c.name, t.seconds + COALESCE((SELECT SUM(MAX(0, ?2 - s.start_ms)) / 1000 FROM sessions s
                                WHERE s.guild_id = ?1 AND s.end_ms IS NULL AND s.category_id = t.category_id), 0)
                         FROM totals_cat t JOIN categories c ON c.category_id = t.category_id
                         WHERE t.guild_id = ?1 AND t.sessions > 0",
                        &by_category,
                    ),
                    ("SELECT COUNT(*) FROM totals_user WHERE guild_id = ?1 AND sessions > 0", &guild_only),
                    ("SELECT COUNT(*) FROM sessions WHERE guild_id = ?1 AND end_ms IS NULL", &guild_only),
                ],
                |i, r| {
                    match i {
                        0 => {
                            let secs: i64 = r.get(1)?;
                            total += secs;
                            categories.insert(r.get::<String>(0)?, secs);
                        }
                        1 => total_users = r.get(0)?,
                        _ => active_sessions = r.get(0)?,
                    }
                    Ok(())
                },
            )?;
            Ok(GuildStatus {
                guild_id,
                total_time_seconds: total,
                total_time_hours: hours(total),
                total_users,
                active_sessions,
                categories,
            })
        })
    }

    /// The session leaderboard over a timeframe; red-trust users are left out.
    pub fn leaderboard(&self, q: &LeaderboardQuery) -> Result<Leaderboard> {
        let limit = q.limit.unwrap_or(10);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid("limit", "must be 1 to 1000"));
        }
        // "Now" is floored to the second once, before any window or running piece is built.
        let now = floor_second(self.now_ms());
        self.read_guild(q.guild_id, now, |tx, guild| {
            let (tf, w) = resolve(guild, q.timeframe.as_deref(), "all", q.from, q.to, now)?;
            let w = w.whole_seconds();
            let cat = q.category.as_deref().map(|c| categories::find(tx, guild.id, c)).transpose()?;
            let cat_id = cat.as_ref().map(|c| c.id);
            let need = q.offset.unwrap_or(0) as usize + limit as usize;
            let mut red = HashSet::new();
            let ranked = match (w.from, w.to, cat_id) {
                (None, None, _) => Some(Ranked::AllTime(cat_id)),
                (_, _, None) => whole_week(guild, w).map(Ranked::Week),
                _ => None,
            };
            let totals: Vec<(i64, i64)> = match ranked {
                // All time or one whole week: the first `need` from an index, not every member.
                Some(source) => top_ranked(tx, guild, source, w, now, need, &mut red)?,
                // The red users read with the window's totals.
                _ => seconds_by_user(tx, guild, w, cat_id, now, Some(&mut red))?.into_iter().collect(),
            }
            .into_iter()
            .filter(|(u, s)| *s > 0 && !red.contains(u))
            .collect();
            let page: Vec<(u32, i64, i64)> =
                rank(totals).into_iter().skip(q.offset.unwrap_or(0) as usize).take(limit as usize).collect();
            let names = usernames(tx, page.iter().map(|(_, u, _)| *u))?;
            let leaderboard = page
                .into_iter()
                .map(|(rank, user_id, total_seconds)| LeaderboardEntry {
                    rank,
                    user_id,
                    username: names.get(&user_id).cloned().unwrap_or_else(|| user_id.to_string()),
                    total_seconds,
                    hours: hours(total_seconds),
                })
                .collect();
            Ok(Leaderboard {
                guild_id: guild.id,
                timeframe: tf.name().to_string(),
                category: cat.map(|c| c.name),
                start: w.from.map(Timestamp),
                end: w.to.map(Timestamp),
                generated_at: Timestamp(now),
                leaderboard,
            })
        })
    }

    /// A summary report over a window, grouped by any of user, category and day. Rows are
    /// computed at day grain and summed, so day buckets add up exactly to the total.
    pub fn report(&self, q: &ReportQuery) -> Result<Report> {
        let group_by = q.group_by.clone().unwrap_or_else(|| vec![GroupKey::User, GroupKey::Category, GroupKey::Day]);
        let mut seen = HashSet::new();
        if !group_by.iter().all(|k| seen.insert(*k)) {
            return Err(Error::invalid("group_by", "each key at most once"));
        }
        // "Now" is floored to the second once, before any window or running piece is built.
        let now = floor_second(self.now_ms());
        self.read_guild(q.guild_id, now, |tx, guild| {
            let (tf, w) = resolve(guild, q.timeframe.as_deref(), "week", q.from, q.to, now)?;
            let w = w.whole_seconds();
            let cat = q.category.as_deref().map(|c| categories::find(tx, guild.id, c)).transpose()?;
            let cells = seconds_by_day(tx, guild, w, cat.as_ref().map(|c| c.id), q.user_id, now)?;
            // Group keys ordered as asked: (user, category name, day).
            let mut groups: BTreeMap<Vec<(i64, String)>, i64> = BTreeMap::new();
            let mut names: HashMap<i64, String> = HashMap::new();
            let mut total = 0;
            for ((day, user, cat_id), secs) in cells {
                if secs == 0 {
                    continue;
                }
                total += secs;
                let mut key = Vec::with_capacity(group_by.len());
                for k in &group_by {
                    key.push(match k {
                        GroupKey::User => (user, String::new()),
                        GroupKey::Day => (i64::from(day), String::new()),
                        GroupKey::Category => {
                            let name = match names.entry(cat_id) {
                                std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
                                std::collections::hash_map::Entry::Vacant(e) => {
                                    e.insert(categories::name_of(tx, cat_id)?).clone()
                                }
                            };
                            (0, name)
                        }
                    });
                }
                *groups.entry(key).or_default() += secs;
            }
            let mut rows = Vec::with_capacity(groups.len());
            let mut users: HashMap<i64, String> = HashMap::new();
            for (key, secs) in groups {
                let mut row =
                    ReportRow { user_id: None, username: None, category: None, day: None, total_seconds: secs };
                for (k, (n, s)) in group_by.iter().zip(key) {
                    match k {
                        GroupKey::User => {
                            let name = match users.entry(n) {
                                std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
                                std::collections::hash_map::Entry::Vacant(e) => e.insert(username(tx, n)?).clone(),
                            };
                            row.username = Some(name);
                            row.user_id = Some(n);
                        }
                        GroupKey::Category => row.category = Some(s),
                        GroupKey::Day => row.day = Some(time::format_day(n as i32)),
                    }
                }
                rows.push(row);
            }
            Ok(Report {
                guild_id: guild.id,
                timeframe: tf.name().to_string(),
                start: w.from.map(Timestamp),
                end: w.to.map(Timestamp),
                group_by: group_by.clone(),
                total_seconds: total,
                total_hours: hours(total),
                rows,
            })
        })
    }
}
