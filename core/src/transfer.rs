//! Moving in and moving out: the engine's own export (JSON lines of every guild, user,
//! membership, category, session, heartbeat and key's metadata, never a key's secret) and
//! imports of it, of a WakaTime data dump (heartbeats by day), and of Toggl's and Clockify's CSV
//! time-entry exports. Every import streams its file (memory stays flat however large the file),
//! goes through the same operations as single writes (`import_entries`, `ingest_heartbeats`,
//! `upsert_user`, ...), and is idempotent: importing a file twice changes nothing the second time
//! (entries equal to stored ones and heartbeats already stored are counted as duplicates).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::categories::{CategoryUpdate, NewCategory};
use crate::error::{Error, Result};
use crate::guilds::{GuildUpdate, UserInput};
use crate::heartbeats::HeartbeatBatch;
use crate::sessions::{ClockIn, EntryBatch};
use crate::store::Engine;
use crate::wire::{self, Timestamp};

/// The formats [`Engine::import_file`] reads.
pub const IMPORT_FORMATS: [&str; 4] = ["timeledger", "wakatime", "toggl", "clockify"];

/// How many entries or heartbeats go to the engine at once.
const CHUNK: usize = 1000;

/// How many refusals a summary lists (all are counted).
const MAX_REASONS: usize = 100;

/// Arguments of [`Engine::import_file`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    /// `timeledger` (the engine's own export), `wakatime` (a data dump of heartbeats), `toggl`
    /// or `clockify` (CSV exports of time entries).
    pub format: String,
    /// The file to read.
    pub path: String,
    /// The guild to import into (every format but `timeledger`, whose lines name their guild).
    #[serde(default, deserialize_with = "wire::id::option::deserialize")]
    pub guild_id: Option<i64>,
    /// `wakatime`: the user the heartbeats belong to. `toggl`/`clockify`: every entry goes to
    /// this user (default: the user with the row's e-mail, created if unknown).
    #[serde(default, deserialize_with = "wire::id::option::deserialize")]
    pub user_id: Option<i64>,
}

/// One refused item of an import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// Line of the file (CSV and JSON lines: 1-based, the header is line 1) or, for a
    /// WakaTime dump, the heartbeat's position in it (1-based).
    pub line: u64,
    /// The engine's error code.
    pub code: String,
    /// Why.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    /// The format read.
    pub format: String,
    /// Items stored, by kind (`session`, `heartbeat`, `user`, `category`, ...).
    pub imported: BTreeMap<String, u64>,
    /// Items already stored, by kind (nothing changed for them).
    pub duplicates: BTreeMap<String, u64>,
    /// Items refused.
    pub refused: u64,
    /// The first 100 refusals with their reasons.
    pub reasons: Vec<Refusal>,
    /// Items not imported by design, by kind (`key`: secrets are never exported).
    pub skipped: BTreeMap<String, u64>,
}

impl ImportSummary {
    fn refuse(&mut self, line: u64, e: &Error) {
        self.refused += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(Refusal { line, code: e.code().to_string(), message: e.to_string() });
        }
    }

    fn count(map: &mut BTreeMap<String, u64>, kind: &str, n: u64) {
        if n > 0 {
            *map.entry(kind.to_string()).or_default() += n;
        }
    }
}

/// What one line of an own-format import did.
enum Outcome {
    Imported(&'static str),
    Duplicate(&'static str),
    Skipped(&'static str),
    /// Collected for a batch (entries, heartbeats), counted when the batch is sent.
    Batched,
}

/// What an export wrote: lines by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExportSummary {
    /// The file written.
    pub path: String,
    /// Lines written, by kind.
    pub lines: BTreeMap<String, u64>,
}

/// Counts the bytes read, for progress.
struct Counting<R> {
    inner: R,
    read: u64,
    total: u64,
    progress: Box<dyn FnMut(u64, u64)>,
    last: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read - self.last >= 1 << 20 || n == 0 {
            self.last = self.read;
            (self.progress)(self.read, self.total);
        }
        Ok(n)
    }
}

fn io_error(path: &str, e: std::io::Error) -> Error {
    Error::invalid("path", format!("cannot read {path}: {e}"))
}

/// A stable user id for an e-mail seen in a CSV export (positive, 62 bits), so that importing
/// the same file twice finds the same users.
fn user_id_for_email(email: &str) -> i64 {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(b) >> 2) as i64
}

impl Engine {
    /// Imports a file (see [`ImportFile`]); `progress(bytes_read, file_size)` is called about
    /// every MiB. Streaming: memory stays flat whatever the file's size. Idempotent.
    pub fn import_file_with_progress(
        &self,
        args: &ImportFile,
        progress: Box<dyn FnMut(u64, u64)>,
    ) -> Result<ImportSummary> {
        if !IMPORT_FORMATS.contains(&args.format.as_str()) {
            return Err(Error::invalid(
                "format",
                format!("unknown format {:?} (one of {})", args.format, IMPORT_FORMATS.join(", ")),
            ));
        }
        let file = std::fs::File::open(&args.path).map_err(|e| io_error(&args.path, e))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let reader = BufReader::with_capacity(1 << 16, Counting { inner: file, read: 0, total, progress, last: 0 });
        let mut summary = ImportSummary { format: args.format.clone(), ..Default::default() };
        let guild = || {
            args.guild_id.ok_or_else(|| Error::invalid("guild_id", format!("{} imports need guild_id", args.format)))
        };
        match args.format.as_str() {
            "timeledger" => self.import_own(reader, &mut summary)?,
            "wakatime" => {
                let user = args.user_id.ok_or_else(|| Error::invalid("user_id", "wakatime imports need user_id"))?;
                self.import_wakatime(reader, guild()?, user, &mut summary)?
            }
            csv => self.import_csv(reader, csv, guild()?, args.user_id, &mut summary)?,
        }
        Ok(summary)
    }

    /// [`Engine::import_file_with_progress`] without progress reports.
    ///
    /// ```
    /// let engine = timeledger::Engine::open(":memory:").unwrap();
    /// let path = std::env::temp_dir().join(format!("tl-doc-toggl-{}.csv", std::process::id()));
    /// std::fs::write(&path, "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,End time,Duration,Tags\n\
    ///     Ada,ada@example.org,,Docs,,Write the guide,Yes,2026-03-02,09:00:00,2026-03-02,10:30:00,01:30:00,\n").unwrap();
    /// let args = timeledger::ImportFile { format: "toggl".into(), path: path.display().to_string(), guild_id: Some(1), user_id: None };
    /// let s = engine.import_file(&args).unwrap();
    /// assert_eq!(s.imported["session"], 1);
    /// assert_eq!(engine.import_file(&args).unwrap().duplicates["session"], 1); // idempotent
    /// # std::fs::remove_file(path).unwrap();
    /// ```
    pub fn import_file(&self, args: &ImportFile) -> Result<ImportSummary> {
        self.import_file_with_progress(args, Box::new(|_, _| {}))
    }

    /// Writes the engine's own export to `path` (JSON lines; one guild, or every guild): a
    /// `meta` line, then guilds, users, members, categories, sessions, heartbeats and keys'
    /// metadata. Key secrets and hashes are never written. `import_file` with format
    /// `timeledger` reads it back. The export reads one consistent snapshot, during which other
    /// calls on this engine wait.
    pub fn export_file(&self, path: &str, guild_id: Option<i64>) -> Result<ExportSummary> {
        let file =
            std::fs::File::create(path).map_err(|e| Error::invalid("path", format!("cannot create {path}: {e}")))?;
        let mut out = std::io::BufWriter::new(file);
        let mut summary = ExportSummary { path: path.to_string(), ..Default::default() };
        let now = self.now_ms();
        let mut line = |out: &mut dyn Write, kind: &str, mut v: Value| -> Result<()> {
            v["type"] = json!(kind);
            writeln!(out, "{v}").map_err(|e| Error::Storage(format!("cannot write {path}: {e}")))?;
            *summary.lines.entry(kind.to_string()).or_default() += 1;
            Ok(())
        };
        let guilds: Vec<i64> = match guild_id {
            Some(g) => vec![g],
            None => self.read(|tx| {
                tx.prepare_cached("SELECT guild_id FROM guilds ORDER BY guild_id")?.query_map((), |r| r.get(0))
            })?,
        };
        line(&mut out, "meta", json!({"format": "timeledger-export", "version": 1, "schema": crate::SCHEMA_VERSION}))?;
        // Each guild's members, each user's line before its first membership.
        let mut users_seen = HashSet::new();
        for &g in &guilds {
            line(&mut out, "guild", serde_json::to_value(self.guild_settings(g)?).unwrap_or_default())?;
            let mut page = 1;
            loop {
                let members =
                    self.list_members(&crate::MembersQuery { guild_id: g, page: Some(page), per_page: Some(500) })?;
                for m in &members.data {
                    if users_seen.insert(m.user.user_id) {
                        line(&mut out, "user", serde_json::to_value(&m.user).unwrap_or_default())?;
                    }
                    line(
                        &mut out,
                        "member",
                        json!({"guild_id": g, "user_id": m.user.user_id, "is_admin": m.is_admin}),
                    )?;
                }
                if members.data.len() < 500 {
                    break;
                }
                page += 1;
            }
            for c in self.list_categories(g, true)? {
                let v = json!({"guild_id": g, "name": c.name, "description": c.description, "color": c.color, "archived": c.archived});
                line(&mut out, "category", v)?;
            }
            self.settle_guild(g)?;
            // The guild's sessions and heartbeats can be millions of lines: read them on a
            // connection of their own, so the engine answers other calls meanwhile.
            self.read_apart(|tx| {
                crate::sessions::for_each_session(tx, &self.session_ids(), g, now, |s| {
                    line(&mut out, "session", serde_json::to_value(&s).unwrap_or_default())
                })?;
                crate::heartbeats::for_each_heartbeat(tx, g, |h| {
                    let mut v = serde_json::to_value(&h).unwrap_or_default();
                    v["guild_id"] = json!(g);
                    line(&mut out, "heartbeat", v)
                })
            })?;
            for k in self.list_keys(g)? {
                line(&mut out, "key", serde_json::to_value(&k).unwrap_or_default())?;
            }
        }
        out.flush().map_err(|e| Error::Storage(format!("cannot write {path}: {e}")))?;
        Ok(summary)
    }

    fn import_own(&self, reader: impl BufRead, summary: &mut ImportSummary) -> Result<()> {
        // Entries and heartbeats are sent in chunks; a chunk holds one guild (and user).
        let mut entries: Vec<(u64, Value)> = Vec::new();
        let mut entries_guild = None;
        let mut beats: Vec<(u64, Value)> = Vec::new();
        let mut beats_owner = None;
        // Archived categories are archived at the end: their sessions come in between.
        let mut to_archive: Vec<(i64, String)> = Vec::new();
        for (n, text) in reader.lines().enumerate() {
            let lineno = n as u64 + 1;
            let text = text.map_err(|e| Error::invalid("path", format!("cannot read line {lineno}: {e}")))?;
            if text.trim().is_empty() {
                continue;
            }
            let v: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    summary.refuse(lineno, &Error::invalid("line", format!("not JSON: {e}")));
                    continue;
                }
            };
            let kind = v["type"].as_str().unwrap_or_default().to_string();
            let id = |name: &str| -> Result<i64> {
                wire::id::deserialize(&v[name]).map_err(|_| Error::invalid(name, "missing or not a 64-bit id"))
            };
            if kind != "session" || entries_guild != id("guild_id").ok() {
                self.flush_entries(&mut entries, entries_guild, summary)?;
            }
            if kind != "heartbeat" || beats_owner != id("guild_id").ok().zip(id("user_id").ok()) {
                self.flush_beats(&mut beats, beats_owner, summary)?;
            }
            let outcome: Result<Outcome> = (|| match kind.as_str() {
                "meta" => {
                    if v["format"] != "timeledger-export" {
                        return Err(Error::invalid("format", "not a timeledger export"));
                    }
                    Ok(Outcome::Batched)
                }
                "user" => {
                    let mut input: UserInput =
                        serde_json::from_value(strip(&v, &["type"])).map_err(wire::args_error)?;
                    input.time_zone = input.time_zone.or(Some(String::new())).filter(|z| !z.is_empty());
                    let before = self.get_user(input.user_id).ok();
                    let after = self.upsert_user(&input)?;
                    Ok(if before.as_ref() == Some(&after) {
                        Outcome::Duplicate("user")
                    } else {
                        Outcome::Imported("user")
                    })
                }
                "guild" => {
                    let update: GuildUpdate = serde_json::from_value(strip(&v, &["type"])).map_err(wire::args_error)?;
                    let before = self.guild_settings(update.guild_id)?;
                    let after = self.update_guild(&update)?;
                    Ok(if before == after { Outcome::Duplicate("guild") } else { Outcome::Imported("guild") })
                }
                "member" => {
                    let (g, u) = (id("guild_id")?, id("user_id")?);
                    let admin = v["is_admin"].as_bool().unwrap_or(false);
                    let same = self.is_member(g, u)? && self.is_admin(g, u)? == admin;
                    self.set_admin(g, u, admin)?;
                    Ok(if same { Outcome::Duplicate("member") } else { Outcome::Imported("member") })
                }
                "category" => {
                    let g = id("guild_id")?;
                    let name = v["name"].as_str().unwrap_or_default().to_string();
                    if v["archived"] == json!(true) {
                        to_archive.push((g, name.clone()));
                    }
                    let created = self.create_category(&NewCategory {
                        guild_id: g,
                        name: name.clone(),
                        description: v["description"].as_str().map(String::from),
                        color: v["color"].as_str().map(String::from),
                    });
                    match created {
                        Ok(_) => Ok(Outcome::Imported("category")),
                        Err(Error::CategoryExists(_)) => {
                            // Restored, so this import's sessions may use it; archived again below.
                            self.update_category(&CategoryUpdate {
                                guild_id: g,
                                name,
                                archived: Some(false),
                                ..Default::default()
                            })?;
                            Ok(Outcome::Duplicate("category"))
                        }
                        Err(e) => Err(e),
                    }
                }
                "session" if v["end_time"].is_null() => {
                    let (g, u) = (id("guild_id")?, id("user_id")?);
                    let start: Timestamp = serde_json::from_value(v["start_time"].clone()).map_err(wire::args_error)?;
                    if self.active_session(g, u)?.is_some_and(|s| s.start_time == start) {
                        return Ok(Outcome::Duplicate("session"));
                    }
                    self.clock_in(&ClockIn {
                        guild_id: g,
                        user_id: u,
                        category: v["category"].as_str().unwrap_or_default().into(),
                        description: v["description"].as_str().map(String::from),
                        at: Some(start),
                        switch: false,
                    })?;
                    Ok(Outcome::Imported("session"))
                }
                "session" => {
                    entries_guild = Some(id("guild_id")?);
                    entries.push((
                        lineno,
                        json!({"user_id": v["user_id"], "category": v["category"], "start": v["start_time"],
                        "end": v["end_time"], "billable": v["billable"], "description": v["description"]}),
                    ));
                    if entries.len() >= CHUNK {
                        self.flush_entries(&mut entries, entries_guild, summary)?;
                    }
                    Ok(Outcome::Batched)
                }
                "heartbeat" => {
                    beats_owner = Some((id("guild_id")?, id("user_id")?));
                    beats.push((lineno, strip(&v, &["type", "guild_id", "user_id", "id"])));
                    if beats.len() >= CHUNK {
                        self.flush_beats(&mut beats, beats_owner, summary)?;
                    }
                    Ok(Outcome::Batched)
                }
                "key" => Ok(Outcome::Skipped("key")),
                other => Err(Error::invalid("type", format!("unknown line type {other:?}"))),
            })();
            match outcome {
                Ok(Outcome::Imported(k)) => ImportSummary::count(&mut summary.imported, k, 1),
                Ok(Outcome::Duplicate(k)) => ImportSummary::count(&mut summary.duplicates, k, 1),
                Ok(Outcome::Skipped(k)) => ImportSummary::count(&mut summary.skipped, k, 1),
                Ok(Outcome::Batched) => {}
                Err(e @ Error::Storage(_)) => return Err(e),
                Err(e) => summary.refuse(lineno, &e),
            }
        }
        self.flush_entries(&mut entries, entries_guild, summary)?;
        self.flush_beats(&mut beats, beats_owner, summary)?;
        for (g, name) in to_archive {
            self.update_category(&CategoryUpdate { guild_id: g, name, archived: Some(true), ..Default::default() })?;
        }
        Ok(())
    }

    /// Sends collected entries (line numbers beside them) to `import_entries`' lenient form.
    fn flush_entries(
        &self,
        entries: &mut Vec<(u64, Value)>,
        guild: Option<i64>,
        summary: &mut ImportSummary,
    ) -> Result<()> {
        let (Some(guild_id), false) = (guild, entries.is_empty()) else {
            entries.clear();
            return Ok(());
        };
        let lines: Vec<u64> = entries.iter().map(|(l, _)| *l).collect();
        let batch = EntryBatch { guild_id, entries: entries.drain(..).map(|(_, v)| v).collect() };
        let (result, duplicates) = self.import_entries_lenient(&batch)?;
        ImportSummary::count(&mut summary.imported, "session", result.imported as u64);
        ImportSummary::count(&mut summary.duplicates, "session", duplicates as u64);
        for e in result.errors {
            summary.refused += 1;
            if summary.reasons.len() < MAX_REASONS {
                summary.reasons.push(Refusal {
                    line: lines.get(e.index).copied().unwrap_or(0),
                    code: e.error["code"].as_str().unwrap_or("INVALID_INPUT").to_string(),
                    message: e.error["message"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(())
    }

    /// Sends collected heartbeats of one guild and user to `ingest_heartbeats`.
    fn flush_beats(
        &self,
        beats: &mut Vec<(u64, Value)>,
        owner: Option<(i64, i64)>,
        summary: &mut ImportSummary,
    ) -> Result<()> {
        let (Some((guild_id, user_id)), false) = (owner, beats.is_empty()) else {
            beats.clear();
            return Ok(());
        };
        let lines: Vec<u64> = beats.iter().map(|(l, _)| *l).collect();
        let batch = HeartbeatBatch {
            guild_id,
            user_id,
            heartbeats: Value::Array(beats.drain(..).map(|(_, v)| v).collect()),
            ..Default::default()
        };
        for (i, r) in self.ingest_heartbeats(&batch)?.responses.iter().enumerate() {
            match r.status {
                201 => ImportSummary::count(&mut summary.imported, "heartbeat", 1),
                202 => ImportSummary::count(&mut summary.duplicates, "heartbeat", 1),
                _ => {
                    let message = serde_json::to_value(r).ok().and_then(|v| v[0]["error"].as_str().map(String::from));
                    summary.refuse(
                        lines.get(i).copied().unwrap_or(0),
                        &Error::invalid("heartbeat", message.unwrap_or_default()),
                    );
                }
            }
        }
        Ok(())
    }

    fn import_wakatime(
        &self,
        reader: impl Read,
        guild_id: i64,
        user_id: i64,
        summary: &mut ImportSummary,
    ) -> Result<()> {
        let mut sink = DumpSink { engine: self, guild_id, user_id, summary, pending: Vec::new(), seen: 0, error: None };
        let mut de = serde_json::Deserializer::from_reader(reader);
        let parsed = (&mut sink).deserialize(&mut de);
        if let Some(e) = sink.error.take() {
            return Err(e);
        }
        parsed.map_err(|e| {
            // Batches before the broken point are stored; say so, since the error has no summary.
            let stored = sink.summary.imported.get("heartbeat").copied().unwrap_or(0)
                + sink.summary.duplicates.get("heartbeat").copied().unwrap_or(0);
            Error::invalid(
                "path",
                format!(
                    "not a WakaTime data dump: {e}; the {stored} heartbeats read before that point are stored \
                     (importing the mended file again skips them as duplicates)"
                ),
            )
        })?;
        let mut pending = std::mem::take(&mut sink.pending);
        self.flush_beats(&mut pending, Some((guild_id, user_id)), sink.summary)
    }

    fn import_csv(
        &self,
        reader: impl Read,
        format: &str,
        guild_id: i64,
        user: Option<i64>,
        summary: &mut ImportSummary,
    ) -> Result<()> {
        let tz = crate::time::parse_zone(&self.guild_settings(guild_id)?.timezone)?;
        let mut rows = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let headers: Vec<String> = rows
            .headers()
            .map_err(|e| Error::invalid("path", format!("not a CSV file: {e}")))?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
            .collect();
        let col = |names: &[&str]| names.iter().find_map(|n| headers.iter().position(|h| h == n));
        let need = |names: &[&str]| {
            col(names).ok_or_else(|| Error::invalid("path", format!("not a {format} export: no {:?} column", names[0])))
        };
        let (start_date, start_time) = (need(&["start date"])?, need(&["start time"])?);
        let (end_date, end_time) = (need(&["end date"])?, need(&["end time"])?);
        let (project, description, billable) = (col(&["project"]), col(&["description"]), col(&["billable"]));
        let (name_col, email_col) = (col(&["user"]), col(&["email"]));
        let mut known_users: HashMap<String, i64> = HashMap::new();
        let mut known_categories: HashSet<String> = HashSet::new();
        let mut entries: Vec<(u64, Value)> = Vec::new();
        for (n, record) in rows.records().enumerate() {
            let lineno = n as u64 + 2;
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    summary.refuse(lineno, &Error::invalid("line", format!("not CSV: {e}")));
                    continue;
                }
            };
            let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or_default().trim().to_string();
            let outcome: Result<Value> = (|| {
                let start = local_instant(&field(Some(start_date)), &field(Some(start_time)), tz, "start")?;
                let end = local_instant(&field(Some(end_date)), &field(Some(end_time)), tz, "end")?;
                let user_id = match user {
                    Some(u) => u,
                    None => {
                        let email = field(email_col);
                        let name = field(name_col);
                        let key = if email.is_empty() { name.clone() } else { email.clone() };
                        if key.is_empty() {
                            return Err(Error::invalid("user_id", "the row names no user or e-mail: pass user_id"));
                        }
                        match known_users.get(&key) {
                            Some(&u) => u,
                            None => {
                                let u = match (!email.is_empty()).then(|| self.find_user_by_email(&email)) {
                                    Some(Ok(found)) => found.user_id,
                                    _ => {
                                        let id = user_id_for_email(&key);
                                        let username = if name.is_empty() { key.clone() } else { name.clone() };
                                        self.upsert_user(&UserInput {
                                            user_id: id,
                                            username,
                                            email: (!email.is_empty()).then(|| email.clone()),
                                            guild_id: Some(guild_id),
                                            ..Default::default()
                                        })?;
                                        id
                                    }
                                };
                                known_users.insert(key, u);
                                u
                            }
                        }
                    }
                };
                let mut category = field(project);
                if category.is_empty() {
                    category = "No project".into();
                }
                category = category.chars().take(64).collect();
                if known_categories.insert(category.clone()) {
                    match self.create_category(&NewCategory { guild_id, name: category.clone(), ..Default::default() })
                    {
                        Ok(_) => ImportSummary::count(&mut summary.imported, "category", 1),
                        Err(Error::CategoryExists(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                let billable = matches!(field(billable).to_lowercase().as_str(), "yes" | "true" | "1");
                let description = Some(field(description)).filter(|d| !d.is_empty());
                Ok(json!({"user_id": user_id, "category": category, "start": Timestamp(start), "end": Timestamp(end),
                          "billable": billable, "description": description}))
            })();
            match outcome {
                Ok(entry) => entries.push((lineno, entry)),
                Err(e @ Error::Storage(_)) => return Err(e),
                Err(e) => summary.refuse(lineno, &e),
            }
            if entries.len() >= CHUNK {
                self.flush_entries(&mut entries, Some(guild_id), summary)?;
            }
        }
        self.flush_entries(&mut entries, Some(guild_id), summary)
    }
}

/// A copy of an object without some fields.
fn strip(v: &Value, fields: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for f in fields {
            o.remove(*f);
        }
    }
    v
}

/// A local date and time of a CSV export in the guild's zone: dates as `YYYY-MM-DD`,
/// `MM/DD/YYYY` or `DD.MM.YYYY`; times as `HH:MM[:SS]` or with `AM`/`PM`.
fn local_instant(date: &str, time: &str, tz: chrono_tz::Tz, field: &str) -> Result<i64> {
    let bad = || Error::invalid(field.to_string(), format!("{date:?} {time:?} is not a date and time"));
    let d = ["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(date, f).ok())
        .ok_or_else(bad)?;
    let t = ["%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(&time.to_uppercase(), f).ok())
        .ok_or_else(bad)?;
    let local = NaiveDateTime::new(d, t);
    // A time that occurs twice (clocks set back) is read as the first; one that never occurs
    // (clocks set forward) is refused.
    tz.from_local_datetime(&local).earliest().map(|t| t.timestamp_millis()).ok_or_else(bad)
}

/// Streams a WakaTime data dump (`{"user": ..., "range": ..., "days": [{"date": ...,
/// "heartbeats": [...]}, ...]}`) into `ingest_heartbeats`, a chunk at a time.
struct DumpSink<'a> {
    engine: &'a Engine,
    guild_id: i64,
    user_id: i64,
    summary: &'a mut ImportSummary,
    pending: Vec<(u64, Value)>,
    seen: u64,
    /// A storage error stops the import (serde's errors cannot carry it).
    error: Option<Error>,
}

impl DumpSink<'_> {
    fn push(&mut self, beat: Value) {
        self.seen += 1;
        self.pending.push((self.seen, beat));
        if self.pending.len() >= CHUNK && self.error.is_none() {
            let mut pending = std::mem::take(&mut self.pending);
            if let Err(e) = self.engine.flush_beats(&mut pending, Some((self.guild_id, self.user_id)), self.summary) {
                self.error = Some(e);
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for &mut DumpSink<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(TopVisitor(self))
    }
}

struct TopVisitor<'s, 'a>(&'s mut DumpSink<'a>);

impl<'de> Visitor<'de> for TopVisitor<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a WakaTime data dump object with \"days\"")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> std::result::Result<(), M::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "days" {
                map.next_value_seed(DaysSeed(&mut *self.0))?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct DaysSeed<'s, 'a>(&'s mut DumpSink<'a>);

impl<'de> DeserializeSeed<'de> for DaysSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DaysSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of days")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> std::result::Result<(), S::Error> {
        while seq.next_element_seed(DaySeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct DaySeed<'s, 'a>(&'s mut DumpSink<'a>);

impl<'de> DeserializeSeed<'de> for DaySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DaySeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a day with \"heartbeats\"")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> std::result::Result<(), M::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "heartbeats" {
                map.next_value_seed(BeatsSeed(&mut *self.0))?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct BeatsSeed<'s, 'a>(&'s mut DumpSink<'a>);

impl<'de> DeserializeSeed<'de> for BeatsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BeatsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of heartbeats")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> std::result::Result<(), S::Error> {
        while let Some(beat) = seq.next_element::<Value>()? {
            self.0.push(beat);
        }
        Ok(())
    }
}
