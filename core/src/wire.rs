//! Wire conventions shared by every operation's arguments and results: instants and ids.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::Error;
use crate::time::{self, Millis};

/// An instant. Deserialises from an RFC 3339 string or Unix seconds (float allowed) and
/// serialises as RFC 3339 UTC with `Z`.
///
/// ```
/// use timeledger::Timestamp;
/// let t: Timestamp = serde_json::from_str("\"2025-10-10T16:30:00+02:00\"").unwrap();
/// assert_eq!(serde_json::to_string(&t).unwrap(), "\"2025-10-10T14:30:00Z\"");
/// let u: Timestamp = serde_json::from_str("1760106600.5").unwrap();
/// assert_eq!(u.millis(), 1_760_106_600_500);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub Millis);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> Millis {
        self.0
    }

    /// Parses an RFC 3339 string.
    pub fn parse(s: &str) -> crate::Result<Self> {
        time::parse_rfc3339("instant", s).map(Timestamp)
    }

    /// From whole Unix seconds (saturating: an instant out of range is refused where it is used).
    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// The instant's milliseconds, checked against the engine's range (years 1000 to 9999).
    /// Every operation reads its instants through this, so a `Timestamp` built in Rust from any
    /// `i64` is `INVALID_INPUT` (naming `field`), never a wrapped or panicking computation.
    pub fn checked(self, field: &str) -> crate::Result<Millis> {
        if (time::MIN_INSTANT..=time::MAX_INSTANT).contains(&self.0) {
            Ok(self.0)
        } else {
            Err(Error::invalid(field, "instant must be between years 1000 and 9999"))
        }
    }

    /// [`Timestamp::checked`] for an optional instant.
    pub(crate) fn checked_opt(t: Option<Self>, field: &str) -> crate::Result<Option<Millis>> {
        t.map(|t| t.checked(field)).transpose()
    }
}

impl From<chrono::DateTime<chrono::Utc>> for Timestamp {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Self {
        Timestamp(t.timestamp_millis())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&time::format_instant(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time::format_instant(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 instant or Unix seconds")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Timestamp, E> {
                time::parse_rfc3339("instant", s).map(Timestamp).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                v.checked_mul(1000)
                    .filter(|ms| (time::MIN_INSTANT..=time::MAX_INSTANT).contains(ms))
                    .map(Timestamp)
                    .ok_or_else(|| E::custom("instant out of range"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_i64(i64::try_from(v).map_err(|_| E::custom("instant out of range"))?)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                time::seconds_to_ms("instant", v).map(Timestamp).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Serde helpers for 64-bit ids: accepted as a JSON integer or a decimal string (what a
/// JavaScript host sends for snowflakes past 2^53), written as a JSON integer.
pub mod id {
    use super::*;

    /// Deserialises an id from an integer or a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(IdVisitor)
    }

    pub(crate) struct IdVisitor;

    impl<'de> Visitor<'de> for IdVisitor {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a 64-bit integer id or its decimal string")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("id does not fit in a signed 64-bit integer"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
                Ok(v as i64)
            } else {
                Err(E::custom("id must be an integer (pass large ids as strings)"))
            }
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<i64, E> {
            s.trim().parse::<i64>().map_err(|_| E::custom(format!("id {s:?} is not a 64-bit decimal integer")))
        }
    }

    /// Optional form of [`deserialize`].
    pub mod option {
        use super::*;

        /// Deserialises an optional id.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
            struct Opt;
            impl<'de> Visitor<'de> for Opt {
                type Value = Option<i64>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an id or null")
                }
                fn visit_none<E: de::Error>(self) -> Result<Option<i64>, E> {
                    Ok(None)
                }
                fn visit_unit<E: de::Error>(self) -> Result<Option<i64>, E> {
                    Ok(None)
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
                    d.deserialize_any(IdVisitor).map(Some)
                }
            }
            d.deserialize_option(Opt)
        }
    }
}

/// Turns a serde error about an operation's arguments into the engine's `INVALID_INPUT`, naming
/// the field when serde does.
pub fn args_error(e: serde_json::Error) -> Error {
    let msg = e.to_string();
    let field = msg
        .split('`')
        .nth(1)
        .filter(|_| msg.starts_with("missing field") || msg.starts_with("unknown field"))
        .unwrap_or("args")
        .to_string();
    Error::InvalidInput { field, message: msg }
}

/// Rounds seconds to hours with two decimals (`3600000 s` -> `1000.0`).
pub fn hours(seconds: i64) -> f64 {
    (seconds as f64 / 36.0).round() / 100.0
}

/// A page of results, as ClockEye lists them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    /// The page's items.
    pub data: Vec<T>,
    /// Paging metadata.
    pub meta: PageMeta,
}

/// `meta` of a [`Page`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PageMeta {
    /// Items matching the filters, on all pages.
    pub total: u64,
    /// This page (1-based).
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}
