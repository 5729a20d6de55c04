//! The sliding-window counter behind `authorize`.
//!
//! Each key has, per window length `P` (minute, hour, day), the count of the current fixed window
//! `[kP, (k+1)P)` and of the previous one. A request at `now` is admitted when
//!
//! ```text
//! previous * (P - elapsed) / P + current + 1 <= limit        (elapsed = now - kP)
//! ```
//!
//! i.e. the previous window's count weighted by how much of it the sliding window `[now - P, now)`
//! still covers. Exactness: since `current + 1 <= limit` is implied, no fixed window ever admits
//! more than `limit`; over a sliding window the estimate assumes the previous window's requests
//! were spread evenly, so a burst at the very end of one window followed by a burst at the start
//! of the next can admit up to about `limit * (1 + elapsed/P)` in the `P` before `now`, and never
//! `2 * limit`. All arithmetic is integer (milliseconds), so every process computes the same answer.

use crate::time::Millis;

/// One window's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WindowState {
    pub start: Millis,
    pub current: i64,
    pub previous: i64,
}

/// The outcome of checking one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Check {
    /// The state to store if the request is admitted.
    pub next: WindowState,
    pub admitted: bool,
    /// Requests still admissible after this one (if admitted) or now (if not).
    pub remaining: i64,
    /// Whole seconds until the current fixed window ends (the counter resets).
    pub reset_in: i64,
    /// Whole seconds until a request would be admitted (0 when admitted), rounded up: never early.
    pub retry_after: i64,
}

/// Rolls the state forward to the fixed window holding `now`.
fn roll(s: WindowState, period: Millis, now: Millis) -> WindowState {
    let start = now.div_euclid(period.max(1)).saturating_mul(period);
    if start == s.start {
        s
    } else if start == s.start.saturating_add(period) {
        WindowState { start, current: 0, previous: s.current }
    } else {
        WindowState { start, current: 0, previous: 0 }
    }
}

fn ceil_secs(ms: i128) -> i64 {
    i64::try_from(ms.max(0).saturating_add(999) / 1000).unwrap_or(i64::MAX)
}

/// Checks a request against one window of `limit` requests per `period` milliseconds.
///
/// A request whose `now` is older than the stored window (its clock was read before another
/// process moved the window on) counts in the stored window: windows never move backwards, so
/// a late request can never reset the counts and over-admit.
///
/// The products below (a count times a period) are computed in 128 bits: with any `i64` limit
/// and period they cannot overflow, so no tier table can make the limiter panic or refuse.
pub(crate) fn check(state: WindowState, limit: i64, period: Millis, now: Millis) -> Check {
    let now = if state.current.saturating_add(state.previous) > 0 { now.max(state.start) } else { now };
    let s = roll(state, period, now);
    let p = i128::from(period.max(1));
    let (previous, current, limit128) = (i128::from(s.previous), i128::from(s.current), i128::from(limit));
    let elapsed = i128::from(now).saturating_sub(i128::from(s.start));
    let weight = p.saturating_sub(elapsed); // share of the previous window still inside [now - P, now), times P
    let used = previous.saturating_mul(weight).saturating_add(current.saturating_mul(p)); // scaled by P
    let capacity = limit128.saturating_mul(p);
    let window_end = i128::from(s.start).saturating_add(p).saturating_sub(i128::from(now));
    let reset_in = ceil_secs(window_end);
    if used.saturating_add(p) <= capacity {
        let next = WindowState { current: s.current.saturating_add(1), ..s };
        let remaining = i64::try_from(capacity.saturating_sub(used).saturating_sub(p).checked_div(p).unwrap_or(0))
            .unwrap_or(i64::MAX);
        Check { next, admitted: true, remaining, reset_in, retry_after: 0 }
    } else {
        // The earliest instant a request is admitted (never early: a client that waits exactly
        // Retry-After is let in). Within this window: when enough of the previous window has slid
        // out. If the current window alone is full: in the next one, where the current count
        // becomes the previous and must slide out in turn.
        let retry_ms = if current.saturating_add(1) > limit128 {
            // Next window: need current * (P - e') <= (limit - 1) * P.
            let spare = limit128.saturating_sub(1).saturating_mul(p);
            let need_e = p.saturating_sub(spare.checked_div(current).unwrap_or(p));
            window_end.saturating_add(need_e.max(0))
        } else {
            // Need previous * (P - e) <= (limit - current - 1) * P  =>  e >= P - (limit - current - 1) * P / previous.
            let spare = limit128.saturating_sub(current).saturating_sub(1).saturating_mul(p);
            let need_e = p.saturating_sub(spare.checked_div(previous).unwrap_or(p));
            need_e.saturating_sub(elapsed).max(1)
        };
        Check { next: s, admitted: false, remaining: 0, reset_in, retry_after: ceil_secs(retry_ms).max(1) }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    fn run(limit: i64, times: &[Millis]) -> Vec<bool> {
        let mut s = WindowState::default();
        times
            .iter()
            .map(|&t| {
                let c = check(s, limit, MIN, t);
                if c.admitted {
                    s = c.next;
                }
                c.admitted
            })
            .collect()
    }

    #[test]
    fn retry_after_is_the_exact_earliest_admission() {
        // 20 a minute, all 20 at 12:00:30: the 21st is told to come back at 12:01:03, when 3/60
        // of the previous window has slid out (not at 12:01:00, when all 20 still count).
        let (limit, base) = (20, 720 * MIN);
        let mut s = WindowState::default();
        for _ in 0..20 {
            s = check(s, limit, MIN, base + 30_000).next;
        }
        let refused = check(s, limit, MIN, base + 30_000);
        assert!(!refused.admitted);
        assert_eq!(refused.retry_after, 33);
        for early in [60_000, 61_000, 62_000, 62_999] {
            assert!(!check(s, limit, MIN, base + early).admitted, "admitted early at +{early} ms");
        }
        assert!(check(s, limit, MIN, base + 30_000 + refused.retry_after * 1000).admitted);
        // Brute force over many states: waiting exactly Retry-After always admits, a second less never does.
        for limit in 1..6 {
            for prev in 0..8 {
                for cur in 0..8 {
                    for at in (0..MIN).step_by(7_001) {
                        let s = WindowState { start: base, current: cur, previous: prev };
                        let c = check(s, limit, MIN, base + at);
                        if c.admitted {
                            continue;
                        }
                        let ok_at = base + at + c.retry_after * 1000;
                        assert!(check(s, limit, MIN, ok_at).admitted, "limit {limit} prev {prev} cur {cur} at {at}");
                        if c.retry_after > 1 {
                            assert!(
                                !check(s, limit, MIN, ok_at - 1000).admitted,
                                "not the earliest: {limit} {prev} {cur} {at}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn huge_limits_and_periods_neither_overflow_nor_refuse() {
        // 1.2e11 per day overflowed `limit * period` in 64 bits.
        let c = check(WindowState::default(), 120_000_000_000, 86_400_000, 1_000);
        assert!(c.admitted && c.remaining == 119_999_999_999, "{c:?}");
        let c = check(WindowState { start: 0, current: i64::MAX - 1, previous: i64::MAX }, i64::MAX, 86_400_000, 1);
        assert!(!c.admitted && c.retry_after >= 1);
        let c = check(WindowState::default(), i64::MAX, i64::MAX, i64::MAX);
        assert!(c.admitted);
    }

    #[test]
    fn admits_exactly_the_limit_in_a_fresh_window() {
        let r = run(3, &[1000, 2000, 3000, 4000]);
        assert_eq!(r, [true, true, true, false]);
    }

    #[test]
    fn remaining_counts_down_and_reset_is_the_window_end() {
        let mut s = WindowState::default();
        let mut seen = vec![];
        for t in [60_000 + 1_000, 60_000 + 2_000] {
            let c = check(s, 5, MIN, t);
            s = c.next;
            seen.push((c.remaining, c.reset_in));
        }
        assert_eq!(seen, [(4, 59), (3, 58)]);
    }

    #[test]
    fn previous_window_weighs_in_then_slides_out() {
        // 4 requests late in window 0, limit 4: at the start of window 1 the previous count
        // still weighs nearly fully, so little is admitted; by its end everything is.
        let mut s = WindowState::default();
        for t in [56_000, 57_000, 58_000, 59_000] {
            s = check(s, 4, MIN, t).next;
        }
        let early = check(s, 4, MIN, 61_000);
        assert!(!early.admitted || early.remaining == 0);
        let late = check(s, 4, MIN, 119_000);
        assert!(late.admitted);
        // The previous 4 still weigh 4/60 of a request: floor(4 - 4/60 - 1) = 2.
        assert_eq!(late.remaining, 2);
    }

    #[test]
    fn a_fixed_window_never_admits_more_than_the_limit() {
        let times: Vec<Millis> = (0..1000).map(|i| i * 150).collect();
        let admitted = run(7, &times);
        let mut per_window = std::collections::HashMap::new();
        for (t, ok) in times.iter().zip(admitted) {
            if ok {
                *per_window.entry(t / MIN).or_insert(0) += 1;
            }
        }
        assert!(per_window.values().all(|&n| n <= 7), "{per_window:?}");
        assert!(per_window.values().any(|&n| n == 7));
    }

    #[test]
    fn a_late_request_from_an_older_window_never_resets_the_counts() {
        // Window [60 s, 120 s) is full; a request stamped 59.9 s arrives after it.
        let mut s = WindowState::default();
        for t in [61_000, 62_000, 63_000] {
            s = check(s, 3, MIN, t).next;
        }
        let late = check(s, 3, MIN, 59_900);
        assert!(!late.admitted, "counted in the newer, full window");
        assert_eq!(late.next, s);
        let admitted: usize = [59_900, 59_950, 64_000].iter().filter(|&&t| check(s, 3, MIN, t).admitted).count();
        assert_eq!(admitted, 0);
    }

    #[test]
    fn retry_after_is_positive_when_refused() {
        let mut s = WindowState::default();
        for t in [10_000, 11_000] {
            s = check(s, 2, MIN, t).next;
        }
        let c = check(s, 2, MIN, 12_000);
        assert!(!c.admitted);
        // The window ends in 48 s, but then both requests still weigh fully on the sliding
        // window: one of them must slide out, 30 s into the next window.
        assert_eq!(c.retry_after, 78);
        assert_eq!(c.remaining, 0);
    }
}
