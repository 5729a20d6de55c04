//! The main job on a local SQLite file: a guild with categories, users clocking in and out over
//! several days, then the guild status, the weekly leaderboard and a report.
//!
//! `cargo run -p timeledger --example demo [path]` (default `timeledger-demo.db`, recreated).

use timeledger::*;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).expect("valid instant")
}

fn main() -> Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "timeledger-demo.db".into());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    let engine = Engine::open(&path)?;
    let guild = 123_456_789;
    // Replay a week as if it were happening: the clock is moved along with the events.
    engine.set_now(Some(at("2025-10-13T08:00:00Z").millis())).unwrap();
    engine.update_guild(&GuildUpdate {
        guild_id: guild,
        timezone: Some("America/New_York".into()),
        max_session_seconds: Some(12 * 3600),
        ..Default::default()
    })?;
    for (name, color) in [("Development", "#4f46e5"), ("Meetings", "#f59e0b"), ("Support", "#10b981")] {
        engine.create_category(&NewCategory {
            guild_id: guild,
            name: name.into(),
            color: Some(color.into()),
            ..Default::default()
        })?;
    }
    let people = [(987_654_321_i64, "alice"), (1_234_567_890_123_456_789, "bob"), (42, "carol")];
    for (id, name) in people {
        engine.upsert_user(&UserInput {
            user_id: id,
            username: name.into(),
            guild_id: Some(guild),
            ..Default::default()
        })?;
    }
    // Monday to Thursday: each person works a few blocks a day (times in UTC; the guild is in New York).
    let plan = [
        (
            "2025-10-13",
            [
                (987_654_321, "Development", "13:00", "17:30"),
                (1_234_567_890_123_456_789, "Meetings", "14:00", "15:00"),
                (42, "Support", "12:00", "20:00"),
            ],
        ),
        (
            "2025-10-14",
            [
                (987_654_321, "Meetings", "13:30", "14:30"),
                (1_234_567_890_123_456_789, "Development", "13:00", "21:00"),
                (42, "Support", "12:00", "16:00"),
            ],
        ),
        (
            "2025-10-15",
            [
                (987_654_321, "Development", "12:00", "22:00"),
                (1_234_567_890_123_456_789, "Development", "15:00", "19:00"),
                (42, "Meetings", "14:00", "15:30"),
            ],
        ),
        (
            "2025-10-16",
            [
                (987_654_321, "Support", "13:00", "15:00"),
                (1_234_567_890_123_456_789, "Meetings", "13:00", "14:00"),
                (42, "Development", "22:00", "23:59"),
            ],
        ),
    ];
    for (day, blocks) in plan {
        for (user, category, from, to) in blocks {
            engine.set_now(Some(at(&format!("{day}T{from}:00Z")).millis())).unwrap();
            let r = engine.clock_in(&ClockIn {
                guild_id: guild,
                user_id: user,
                category: category.into(),
                ..Default::default()
            })?;
            engine.set_now(Some(at(&format!("{day}T{to}:00Z")).millis())).unwrap();
            let s = engine.clock_out(&ClockOut { guild_id: guild, user_id: user, at: None })?;
            println!(
                "{day}  {:<24} {:<12} {} -> {}  ({} s)",
                s.user_id,
                category,
                r.start_time,
                s.end_time.map(|t| t.to_string()).unwrap_or_default(),
                s.duration
            );
        }
    }
    // Friday morning: alice is clocked in right now; carol switches category mid-session.
    engine.set_now(Some(at("2025-10-17T13:00:00Z").millis())).unwrap();
    engine.clock_in(&ClockIn {
        guild_id: guild,
        user_id: 987_654_321,
        category: "Development".into(),
        description: Some("Working on API integration".into()),
        ..Default::default()
    })?;
    engine.clock_in(&ClockIn { guild_id: guild, user_id: 42, category: "Support".into(), ..Default::default() })?;
    engine.set_now(Some(at("2025-10-17T14:00:00Z").millis())).unwrap();
    engine.clock_in(&ClockIn {
        guild_id: guild,
        user_id: 42,
        category: "Meetings".into(),
        switch: true,
        ..Default::default()
    })?;
    engine.set_now(Some(at("2025-10-17T15:30:00Z").millis())).unwrap();

    println!("\nGuild status:\n{}", serde_json::to_string_pretty(&engine.guild_status(guild)?).unwrap_or_default());
    let board = engine.leaderboard(&LeaderboardQuery {
        guild_id: guild,
        timeframe: Some("week".into()),
        ..Default::default()
    })?;
    println!(
        "\nWeekly leaderboard ({} to {}):",
        board.start.map(|t| t.to_string()).unwrap_or_default(),
        board.end.map(|t| t.to_string()).unwrap_or_default()
    );
    for e in &board.leaderboard {
        println!("  {}. {}: {}h", e.rank, e.username, e.hours);
    }
    let report = engine.report(&ReportQuery {
        guild_id: guild,
        timeframe: Some("week".into()),
        group_by: Some(vec![GroupKey::Day, GroupKey::Category]),
        ..Default::default()
    })?;
    println!("\nWeekly report by day and category (total {} s = {} h):", report.total_seconds, report.total_hours);
    for r in &report.rows {
        println!(
            "  {}  {:<12} {:>6} s",
            r.day.as_deref().unwrap_or(""),
            r.category.as_deref().unwrap_or(""),
            r.total_seconds
        );
    }
    let sum: i64 = report.rows.iter().map(|r| r.total_seconds).sum();
    assert_eq!(sum, report.total_seconds, "day buckets add up to the total");
    println!("\nDatabase written to {path}");
    Ok(())
}
