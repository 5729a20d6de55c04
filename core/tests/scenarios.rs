//! Plays every `tests/scenarios/*.json` file (format: tests/scenarios/README.md).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use timeledger::Timestamp;

mod common;

/// Numbers the scenarios' PostgreSQL databases.
static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios")
}

/// Replaces every string `"$name"` with the value saved under `name`.
fn substitute(v: &Value, saved: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) if s.starts_with('$') => {
            saved.get(&s[1..]).cloned().ok_or_else(|| format!("nothing saved as {s}"))?
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, saved)).collect::<Result<_, _>>()?),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| Ok((k.clone(), substitute(x, saved)?))).collect::<Result<_, String>>()?)
        }
        other => other.clone(),
    })
}

/// `expected` matches `actual` when every key it names matches (objects), arrays have the
/// same length and match element-wise, and numbers are equal as numbers.
fn matches(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or(&Value::Null);
                if !a.contains_key(k) && !ev.is_null() {
                    return Err(format!("{path}.{k}: missing"));
                }
                matches(ev, av, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: expected {} items, got {}: {actual}", e.len(), a.len()));
            }
            e.iter().zip(a).enumerate().try_for_each(|(i, (x, y))| matches(x, y, &format!("{path}[{i}]")))
        }
        (Value::Number(e), Value::Number(a)) => {
            let (x, y) = (e.as_f64().unwrap_or(f64::NAN), a.as_f64().unwrap_or(f64::NAN));
            if (x - y).abs() < 1e-9 {
                Ok(())
            } else {
                Err(format!("{path}: expected {e}, got {a}"))
            }
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, got {a}")),
    }
}

/// Looks a dotted path (`data.0.id`) up in a value.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').filter(|p| !p.is_empty()).try_fold(v, |cur, part| match cur {
        Value::Array(a) => a.get(part.parse::<usize>().ok()?),
        Value::Object(o) => o.get(part),
        _ => None,
    })
}

fn play(steps: &[Value], export_path: &std::path::Path) -> Result<usize, String> {
    let engine = common::fresh_engine(&format!("scenario_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
    let mut saved: HashMap<String, Value> = HashMap::new();
    saved.insert("export_path".into(), Value::String(export_path.display().to_string()));
    let mut calls = 0;
    for (i, step) in steps.iter().enumerate() {
        let at = |msg: String| format!("step {i} ({}): {msg}", step.get("op").and_then(Value::as_str).unwrap_or("-"));
        if let Some(now) = step.get("now") {
            let t = now.as_str().ok_or_else(|| at("now must be a string".into()))?;
            engine.set_now(Some(Timestamp::parse(t).map_err(|e| at(e.to_string()))?.millis())).unwrap();
        }
        let Some(op) = step.get("op").and_then(Value::as_str) else { continue };
        calls += 1;
        let args = substitute(step.get("args").unwrap_or(&Value::Null), &saved).map_err(at)?;
        let result = engine.call(op, args);
        match (step.get("error"), result) {
            (Some(code), Err(e)) => {
                if code != e.code() {
                    return Err(at(format!("expected error {code}, got {} ({e})", e.code())));
                }
                if let Some(status) = step.get("status") {
                    matches(status, &Value::from(e.status()), "status").map_err(at)?;
                }
                if let Some(exp) = step.get("expect") {
                    matches(exp, &e.to_json(), "error").map_err(at)?;
                }
            }
            (Some(code), Ok(v)) => return Err(at(format!("expected error {code}, got {v}"))),
            (None, Err(e)) => return Err(at(format!("unexpected error {}: {e}", e.code()))),
            (None, Ok(v)) => {
                if let Some(exp) = step.get("expect") {
                    let exp = substitute(exp, &saved).map_err(at)?;
                    matches(&exp, &v, "result").map_err(|m| at(format!("{m}\n  full result: {v}")))?;
                }
                if let Some(Value::Object(save)) = step.get("save") {
                    for (name, path) in save {
                        let p = path.as_str().unwrap_or_default();
                        let found = lookup(&v, p).ok_or_else(|| at(format!("cannot save {name}: no {p} in {v}")))?;
                        saved.insert(name.clone(), found.clone());
                    }
                }
            }
        }
    }
    Ok(calls)
}

#[test]
fn every_scenario_passes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("tests/scenarios exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios found");
    let mut failures = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable scenario");
        let steps: Vec<Value> = match serde_json::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{}: not a JSON list of steps: {e}", f.display()));
                continue;
            }
        };
        // A fresh folder per scenario for `$export_path`, removed afterwards.
        let dir = std::env::temp_dir().join(format!(
            "timeledger-scenario-{}-{}",
            std::process::id(),
            f.file_stem().unwrap().to_string_lossy()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        match play(&steps, &dir.join("export.jsonl")) {
            Ok(0) => failures.push(format!("{}: no operation called", f.display())),
            Ok(n) => println!("{}: {n} calls ok", f.file_name().unwrap_or_default().to_string_lossy()),
            Err(e) => failures.push(format!("{}: {e}", f.display())),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{} of {} scenarios failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn matcher_rejects_differences() {
    use serde_json::json;
    assert!(matches(&json!({"a": 1}), &json!({"a": 1.0, "b": 2}), "r").is_ok());
    assert!(matches(&json!({"a": 1}), &json!({"a": 2}), "r").is_err());
    assert!(matches(&json!({"a": 1}), &json!({}), "r").is_err());
    assert!(matches(&json!([1, 2]), &json!([1]), "r").is_err());
    assert!(matches(&json!({"a": null}), &json!({}), "r").is_ok());
}
