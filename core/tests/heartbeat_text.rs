//! The three ingest roads agree: `ingest_heartbeats_json` (heartbeats read straight from the
//! request text, responses written straight to text), `ingest_heartbeats` (a JSON tree) and
//! `ingest_heartbeat_fields` (objects a binding read field by field) give the same responses,
//! the same stored heartbeats and the same totals, for good items and for every kind of bad one.

use proptest::prelude::*;
use serde_json::{json, Value};
use timeledger::{BulkResult, Engine, FieldValue, HeartbeatBatch, HeartbeatFields, HeartbeatQuery};

const T0: f64 = 1_760_000_000.0;

/// Items that exercise every field's forms: escapes, numbers as strings, strings as numbers,
/// repeated keys, nested values, wrong types, rescaled times, non-objects.
fn tricky_items() -> Vec<String> {
    vec![
        format!(r#"{{"entity": "src/main.rs", "time": {T0}, "project": "tk", "language": "Rust", "is_write": true}}"#),
        format!(r#"{{"entity": "src/\"quoted\"\\path\u00e9.rs", "time": {}, "branch": "main"}}"#, T0 + 10.0),
        format!(r#"{{"entity": "a.rs", "time": "{}", "is_write": "1", "lines": "42", "lineno": 7.9}}"#, T0 + 20.0),
        format!(
            r#"{{"entity": "b.rs", "time": {}, "project": 123, "dependencies": ["serde", "tokio"]}}"#,
            (T0 + 30.0) * 1e3
        ),
        format!(
            r#"{{"entity": "c.rs", "time": {}, "dependencies": "a, b,,c", "unknown": {{"x": [1, 2]}}}}"#,
            (T0 + 40.0) * 1e6
        ),
        format!(r#"{{"entity": "d.rs", "time": {}, "entity": "dup.rs"}}"#, T0 + 50.0),
        format!(r#"{{"entity": "e.rs", "time": {}, "type": "DOMAIN", "category": ""}}"#, T0 + 60.0),
        format!(
            r#"{{"entity": "f.rs", "time": {}, "user_agent": "wakatime/1.0 (Linux) neovim/0.9", "machine": "box"}}"#,
            T0 + 70.0
        ),
        format!(
            r#"{{"entity": "g.rs", "time": {}, "editor": "Helix", "operating_system": null, "cursorpos": null}}"#,
            T0 + 80.0
        ),
        r#"{"time": 1760000090}"#.to_string(),
        r#"{"entity": "h.rs"}"#.to_string(),
        r#"{"entity": "i.rs", "time": true}"#.to_string(),
        r#"{"entity": "j.rs", "time": 12}"#.to_string(),
        r#"{"entity": "k.rs", "time": 1760000100, "type": "folder"}"#.to_string(),
        r#"{"entity": "l.rs", "time": 1760000110, "project": ["x"]}"#.to_string(),
        r#"{"entity": "m.rs", "time": 1760000120, "dependencies": [1, "a"]}"#.to_string(),
        r#"{"entity": "n.rs", "time": 1760000130, "dependencies": {"a": 1}}"#.to_string(),
        r#"{"entity": "o.rs", "time": 1760000140, "is_write": "maybe"}"#.to_string(),
        r#"{"entity": "p.rs", "time": 1760000150, "lines": "many"}"#.to_string(),
        r#"{"entity": "", "time": 1760000160}"#.to_string(),
        format!(r#"{{"entity": "{}", "time": 1760000170}}"#, "x".repeat(5000)),
        r#"[1, 2]"#.to_string(),
        r#""just a string""#.to_string(),
        r#"null"#.to_string(),
        r#"{"entity": "q.rs", "time": 1760000180, "time": 1760000190}"#.to_string(),
    ]
}

fn both(items: &[String], ua: Option<&str>) -> (Value, Value, Engine, Engine) {
    let body = format!("[{}]", items.join(","));
    let text_engine = Engine::open(":memory:").unwrap();
    let mut args = json!({"guild_id": "5", "user_id": 9});
    if let Some(ua) = ua {
        args["user_agent"] = json!(ua);
        args["machine_name"] = json!("laptop");
    }
    let mut text_args = args.to_string();
    text_args.pop();
    text_args.push_str(&format!(r#","heartbeats":{body}}}"#));
    let text: Value = serde_json::from_str(&text_engine.ingest_heartbeats_json(&text_args).unwrap()).unwrap();

    let tree_engine = Engine::open(":memory:").unwrap();
    let batch = HeartbeatBatch {
        guild_id: 5,
        user_id: 9,
        heartbeats: serde_json::from_str(&body).unwrap(),
        user_agent: ua.map(str::to_string),
        machine_name: ua.map(|_| "laptop".to_string()),
        time_zone: None,
    };
    let tree = serde_json::to_value(tree_engine.ingest_heartbeats(&batch).unwrap()).unwrap();

    // The road of a binding that reads its own objects (Python's dicts).
    let fields_engine = Engine::open(":memory:").unwrap();
    let parsed: Vec<Value> = serde_json::from_str(&body).unwrap();
    let fields = HeartbeatFields {
        guild_id: 5,
        user_id: 9,
        heartbeats: parsed.iter().map(host_fields).collect(),
        user_agent: ua,
        machine_name: ua.map(|_| "laptop"),
        time_zone: None,
    };
    let responses = fields_engine.ingest_heartbeat_fields(&fields).unwrap();
    let by_fields = serde_json::to_value(BulkResult { responses }).unwrap();
    assert_eq!(by_fields, tree, "fields road");
    assert_eq!(stored(&fields_engine), stored(&tree_engine), "fields road");
    (text, tree, text_engine, tree_engine)
}

/// An item as a binding reading a JSON-like object field by field hands it over.
fn host_fields(v: &Value) -> Option<Vec<(&str, FieldValue<'_>)>> {
    let o = v.as_object()?;
    Some(
        o.iter()
            .map(|(k, v)| {
                let f = match v {
                    Value::Null => FieldValue::Null,
                    Value::Bool(b) => FieldValue::Bool(*b),
                    Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                        (Some(i), _) => FieldValue::Int(i),
                        (None, Some(u)) => FieldValue::UInt(u),
                        _ => FieldValue::Float(n.as_f64().unwrap_or(f64::NAN)),
                    },
                    Value::String(s) => FieldValue::Str(s),
                    Value::Array(a) => FieldValue::List(a.iter().map(Value::as_str).collect()),
                    Value::Object(_) => FieldValue::Other,
                };
                (k.as_str(), f)
            })
            .collect(),
    )
}

fn stored(e: &Engine) -> Value {
    let q = HeartbeatQuery {
        guild_id: 5,
        user_id: 9,
        start: Some(timeledger::Timestamp(978_307_200_000)),
        end: Some(timeledger::Timestamp(4_102_444_800_000)),
        limit: Some(100),
    };
    serde_json::to_value(e.list_heartbeats(&q).unwrap()).unwrap()
}

#[test]
fn text_and_tree_roads_give_the_same_responses_and_rows() {
    for ua in [None, Some("wakatime/1.2 (Darwin) vscode/1.90")] {
        let items = tricky_items();
        let (text, tree, te, ve) = both(&items, ua);
        assert_eq!(text, tree);
        let statuses: Vec<u64> = text["responses"].as_array().unwrap().iter().map(|r| r[1].as_u64().unwrap()).collect();
        assert!(statuses.contains(&201) && statuses.contains(&400), "{statuses:?}");
        assert_eq!(stored(&te), stored(&ve));
        assert!(stored(&te).as_array().unwrap().len() >= 8);
        assert_eq!(
            te.coding_stats(&serde_json::from_value(json!({"guild_id": 5, "user_id": 9})).unwrap()).unwrap(),
            ve.coding_stats(&serde_json::from_value(json!({"guild_id": 5, "user_id": 9})).unwrap()).unwrap()
        );
    }
}

#[test]
fn text_road_argument_errors_match_the_tree_road() {
    let e = Engine::open(":memory:").unwrap();
    for (args, field) in [
        (r#"{"guild_id": 1, "user_id": 2}"#, "heartbeats"),
        (r#"{"guild_id": 1, "user_id": 2, "heartbeats": 5}"#, "heartbeats"),
        (r#"{"guild_id": 1, "heartbeats": []}"#, "user_id"),
        (r#"{"guild_id": 1, "user_id": 2, "heartbeats": [], "extra": 1}"#, "extra"),
        (r#"{"guild_id": 1, "user_id": 2, "heartbeats": [}"#, "args"),
    ] {
        let text = e.call_json("ingest_heartbeats", args).unwrap_err();
        assert_eq!(text.code(), "INVALID_INPUT", "{args}");
        assert!(text.to_json().to_string().contains(field), "{args}: {}", text.to_json());
        if let Ok(v) = serde_json::from_str::<Value>(args) {
            let tree = e.call("ingest_heartbeats", v).unwrap_err();
            assert_eq!(tree.code(), text.code(), "{args}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random mixes of the tricky items, in random order: both roads agree.
    #[test]
    fn random_mixes_agree(picks in proptest::collection::vec(0usize..25, 1..40)) {
        let all = tricky_items();
        let items: Vec<String> = picks.iter().map(|&i| all[i].clone()).collect();
        let (text, tree, te, ve) = both(&items, None);
        prop_assert_eq!(text, tree);
        prop_assert_eq!(stored(&te), stored(&ve));
    }
}
