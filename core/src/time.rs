//! Instants, zones, local days and windows.
//!
//! Instants are `i64` milliseconds since the Unix epoch (UTC). A *local day* is the number of
//! days since 1970-01-01 of a date in a guild's zone; it starts at the first instant whose local
//! date is that day (01:00 where a zone skips midnight) and may be 23 or 25 hours long.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, SecondsFormat, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::Value;

use crate::error::{Error, Result};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// A source of "now". The engine reads the wall clock only through this trait.
pub trait Clock: Send + Sync {
    /// The current instant in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        Utc::now().timestamp_millis()
    }
}

const EPOCH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// Parses an IANA zone name such as `America/New_York`.
pub fn parse_zone(name: &str) -> Result<Tz> {
    name.trim().parse::<Tz>().map_err(|_| Error::invalid("timezone", format!("unknown IANA time zone {name:?}")))
}

/// Parses a week-start day name (`monday`, `sunday`, ... or three-letter forms).
pub fn parse_weekday(name: &str) -> Result<Weekday> {
    name.trim().parse::<Weekday>().map_err(|_| Error::invalid("week_start", format!("unknown weekday {name:?}")))
}

/// The lowercase English name of a weekday.
pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

fn to_utc(ms: Millis) -> DateTime<Utc> {
    // Instants are validated to years 1..9999 on the way in; fall back to the epoch otherwise.
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// The local date of an instant in a zone.
pub fn local_date(tz: Tz, ms: Millis) -> NaiveDate {
    to_utc(ms).with_timezone(&tz).date_naive()
}

/// The local day number (days since 1970-01-01) of an instant in a zone.
pub fn local_day(tz: Tz, ms: Millis) -> i32 {
    date_to_day(local_date(tz, ms))
}

/// Day number of a date.
pub fn date_to_day(date: NaiveDate) -> i32 {
    (date - EPOCH_DATE).num_days() as i32
}

/// Date of a day number.
pub fn day_to_date(day: i32) -> NaiveDate {
    EPOCH_DATE + Duration::days(i64::from(day))
}

/// The first instant whose local date is `date`.
pub fn date_start(tz: Tz, date: NaiveDate) -> Millis {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) => t.timestamp_millis(),
        LocalResult::Ambiguous(a, b) => a.timestamp_millis().min(b.timestamp_millis()),
        LocalResult::None => {
            // Midnight is skipped (spring forward at 00:00): the day starts when the gap ends.
            // Gaps are at most a few hours; step by minutes to the first local time that exists.
            for minute in 1..=(26 * 60) {
                let t = midnight + Duration::minutes(minute);
                match tz.from_local_datetime(&t) {
                    LocalResult::Single(x) => return x.timestamp_millis(),
                    LocalResult::Ambiguous(a, _) => return a.timestamp_millis(),
                    LocalResult::None => {}
                }
            }
            Utc.from_utc_datetime(&midnight).timestamp_millis()
        }
    }
}

/// The first instant of a local day number.
pub fn day_start(tz: Tz, day: i32) -> Millis {
    date_start(tz, day_to_date(day))
}

/// Splits `[start, end)` at local midnights and calls `f(day, start, end)` for each non-empty
/// piece, in order.
pub fn split_by_day(tz: Tz, start: Millis, end: Millis, mut f: impl FnMut(i32, Millis, Millis)) {
    if end <= start {
        return;
    }
    let mut day = local_day(tz, start);
    let mut piece_start = start;
    while piece_start < end {
        let next = day_start(tz, day + 1);
        let piece_end = next.min(end);
        if piece_end > piece_start {
            f(day, piece_start, piece_end);
        }
        piece_start = piece_end.max(piece_start);
        day += 1;
    }
}

/// Formats an instant as RFC 3339 UTC with `Z` (`2025-10-10T14:30:00Z`), with milliseconds
/// only when they are not zero.
pub fn format_instant(ms: Millis) -> String {
    let format = if ms.rem_euclid(1000) == 0 { SecondsFormat::Secs } else { SecondsFormat::Millis };
    to_utc(ms).to_rfc3339_opts(format, true)
}

/// Formats a local day number as `YYYY-MM-DD`.
pub fn format_day(day: i32) -> String {
    day_to_date(day).format("%Y-%m-%d").to_string()
}

/// Earliest instant the engine accepts (year 1000).
pub const MIN_INSTANT: Millis = -30_610_224_000_000;
/// Latest instant the engine accepts (year 9999).
pub const MAX_INSTANT: Millis = 253_402_300_799_000;

/// Parses an RFC 3339 string into milliseconds.
pub fn parse_rfc3339(field: &str, s: &str) -> Result<Millis> {
    let t = DateTime::parse_from_rfc3339(s.trim())
        .map_err(|_| Error::invalid(field, format!("expected an RFC 3339 instant or Unix seconds, got {s:?}")))?;
    check_range(field, t.timestamp_millis())
}

/// Converts float Unix seconds into milliseconds (rounded to the nearest millisecond).
pub fn seconds_to_ms(field: &str, secs: f64) -> Result<Millis> {
    if !secs.is_finite() {
        return Err(Error::invalid(field, "instant must be a finite number"));
    }
    let ms = (secs * 1000.0).round();
    if ms < MIN_INSTANT as f64 || ms > MAX_INSTANT as f64 {
        return Err(Error::invalid(field, "instant out of range"));
    }
    Ok(ms as Millis)
}

fn check_range(field: &str, ms: Millis) -> Result<Millis> {
    if !(MIN_INSTANT..=MAX_INSTANT).contains(&ms) {
        return Err(Error::invalid(field, "instant out of range"));
    }
    Ok(ms)
}

/// Parses a JSON instant: an RFC 3339 string or Unix seconds (integer or float).
pub fn parse_instant_value(field: &str, v: &Value) -> Result<Millis> {
    match v {
        Value::String(s) => parse_rfc3339(field, s),
        Value::Number(n) => match n.as_i64() {
            Some(i) => {
                check_range(field, i.checked_mul(1000).ok_or_else(|| Error::invalid(field, "instant out of range"))?)
            }
            None => seconds_to_ms(field, n.as_f64().unwrap_or(f64::NAN)),
        },
        _ => Err(Error::invalid(field, "expected an RFC 3339 string or Unix seconds")),
    }
}

/// Floors an instant to whole seconds. Session boundaries are kept to the second so that every
/// sum of clipped pieces is a whole number of seconds and day buckets add up exactly.
pub fn floor_second(ms: Millis) -> Millis {
    ms.div_euclid(1000) * 1000
}

/// A window over which aggregates are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeframe {
    /// The current local day.
    Today,
    /// The current local week (per the guild's week start).
    Week,
    /// The current local month.
    Month,
    /// The current local year.
    Year,
    /// All time.
    All,
    /// `[now - 24 h, now)`.
    Last24Hours,
    /// `[now - 7 days, now)`.
    Last7Days,
    /// `[now - 30 days, now)`.
    Last30Days,
    /// A custom half-open range `[from, to)`.
    Custom {
        /// Inclusive start.
        from: Millis,
        /// Exclusive end.
        to: Millis,
    },
}

impl Timeframe {
    /// Parses a timeframe name; `custom` needs `from` and `to`.
    pub fn parse(name: &str, from: Option<Millis>, to: Option<Millis>) -> Result<Self> {
        let tf = match name.trim().to_ascii_lowercase().as_str() {
            "today" | "day" | "daily" => Timeframe::Today,
            "week" => Timeframe::Week,
            "month" => Timeframe::Month,
            "year" => Timeframe::Year,
            "all" | "all_time" => Timeframe::All,
            "last_24_hours" => Timeframe::Last24Hours,
            "last_7_days" | "weekly" => Timeframe::Last7Days,
            "last_30_days" => Timeframe::Last30Days,
            "custom" => match (from, to) {
                (Some(from), Some(to)) => Timeframe::custom(from, to)?,
                _ => return Err(Error::invalid("timeframe", "custom needs both from and to")),
            },
            other => {
                return Err(Error::invalid(
                    "timeframe",
                    format!("unknown timeframe {other:?} (today, week, month, year, all, last_24_hours, last_7_days, last_30_days, custom)"),
                ))
            }
        };
        if tf != Timeframe::All && !matches!(tf, Timeframe::Custom { .. }) && (from.is_some() || to.is_some()) {
            return Err(Error::invalid("timeframe", "from/to are only allowed with a custom timeframe"));
        }
        Ok(tf)
    }

    /// A custom range, checked to be ordered.
    pub fn custom(from: Millis, to: Millis) -> Result<Self> {
        if to < from {
            return Err(Error::invalid("to", "to must not be before from"));
        }
        Ok(Timeframe::Custom { from, to })
    }

    /// The timeframe's name as it appears in results.
    pub fn name(&self) -> &'static str {
        match self {
            Timeframe::Today => "today",
            Timeframe::Week => "week",
            Timeframe::Month => "month",
            Timeframe::Year => "year",
            Timeframe::All => "all",
            Timeframe::Last24Hours => "last_24_hours",
            Timeframe::Last7Days => "last_7_days",
            Timeframe::Last30Days => "last_30_days",
            Timeframe::Custom { .. } => "custom",
        }
    }

    /// The concrete `[from, to)` in a zone at `now`; `None` bounds mean unbounded (`all`).
    pub fn resolve(&self, tz: Tz, week_start: Weekday, now: Millis) -> (Option<Millis>, Option<Millis>) {
        const DAY: Millis = 86_400_000;
        let today = local_date(tz, now);
        let span = |a: NaiveDate, b: NaiveDate| (Some(date_start(tz, a)), Some(date_start(tz, b)));
        match *self {
            Timeframe::Today => span(today, today + Duration::days(1)),
            Timeframe::Week => {
                let back = (7 + today.weekday().num_days_from_monday() - week_start.num_days_from_monday()) % 7;
                let first = today - Duration::days(i64::from(back));
                span(first, first + Duration::days(7))
            }
            Timeframe::Month => {
                let first = today.with_day(1).unwrap_or(today);
                let next = if first.month() == 12 {
                    NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
                }
                .unwrap_or(first);
                span(first, next)
            }
            Timeframe::Year => {
                let first = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
                let next = NaiveDate::from_ymd_opt(today.year() + 1, 1, 1).unwrap_or(today);
                span(first, next)
            }
            Timeframe::All => (None, None),
            Timeframe::Last24Hours => (Some(now - DAY), Some(now)),
            Timeframe::Last7Days => (Some(now - 7 * DAY), Some(now)),
            Timeframe::Last30Days => (Some(now - 30 * DAY), Some(now)),
            Timeframe::Custom { from, to } => (Some(from), Some(to)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Millis {
        parse_rfc3339("t", s).unwrap()
    }

    #[test]
    fn new_york_spring_forward_day_is_23_hours() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let d = local_day(tz, at("2025-03-09T12:00:00Z"));
        assert_eq!(day_start(tz, d + 1) - day_start(tz, d), 23 * 3_600_000);
    }

    #[test]
    fn new_york_fall_back_day_is_25_hours() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let d = local_day(tz, at("2025-11-02T12:00:00Z"));
        assert_eq!(day_start(tz, d + 1) - day_start(tz, d), 25 * 3_600_000);
    }

    #[test]
    fn havana_day_starts_at_one_when_midnight_is_skipped() {
        let tz: Tz = "America/Havana".parse().unwrap();
        // Cuba springs forward at 00:00 -> 01:00 on 2025-03-09.
        let start = date_start(tz, NaiveDate::from_ymd_opt(2025, 3, 9).unwrap());
        assert_eq!(format_instant(start), "2025-03-09T05:00:00Z"); // 01:00 CDT (-04:00)
    }

    #[test]
    fn kolkata_day_starts_at_1830_utc() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let start = date_start(tz, NaiveDate::from_ymd_opt(2025, 6, 2).unwrap());
        assert_eq!(format_instant(start), "2025-06-01T18:30:00Z");
    }

    #[test]
    fn lord_howe_half_hour_dst_day_is_23_5_hours() {
        let tz: Tz = "Australia/Lord_Howe".parse().unwrap();
        // DST starts first Sunday of October 2025 (Oct 5): 02:00 -> 02:30.
        let d = date_to_day(NaiveDate::from_ymd_opt(2025, 10, 5).unwrap());
        assert_eq!(day_start(tz, d + 1) - day_start(tz, d), 23 * 3_600_000 + 1_800_000);
    }

    #[test]
    fn split_by_day_pieces_cover_interval() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let (s, e) = (at("2025-03-09T03:00:00Z"), at("2025-03-11T07:00:00Z"));
        let mut total = 0;
        let mut days = vec![];
        split_by_day(tz, s, e, |d, a, b| {
            total += b - a;
            days.push(format_day(d));
        });
        assert_eq!(total, e - s);
        assert_eq!(days, ["2025-03-08", "2025-03-09", "2025-03-10", "2025-03-11"]);
    }

    #[test]
    fn week_starting_sunday() {
        let tz: Tz = "UTC".parse().unwrap();
        // 2025-10-15 is a Wednesday.
        let (from, to) = Timeframe::Week.resolve(tz, Weekday::Sun, at("2025-10-15T10:00:00Z"));
        assert_eq!(format_instant(from.unwrap()), "2025-10-12T00:00:00Z");
        assert_eq!(format_instant(to.unwrap()), "2025-10-19T00:00:00Z");
        let (from, _) = Timeframe::Week.resolve(tz, Weekday::Mon, at("2025-10-12T10:00:00Z"));
        assert_eq!(format_instant(from.unwrap()), "2025-10-06T00:00:00Z");
    }

    #[test]
    fn instants_parse_from_strings_and_numbers() {
        assert_eq!(parse_instant_value("t", &serde_json::json!(1.5)).unwrap(), 1500);
        assert_eq!(parse_instant_value("t", &serde_json::json!("1970-01-01T00:00:02+00:00")).unwrap(), 2000);
        assert!(parse_instant_value("t", &serde_json::json!("yesterday")).is_err());
        assert!(parse_instant_value("t", &serde_json::json!(1e300)).is_err());
    }
}
