//! `timeledger._native`: the engine behind the `timeledger` Python package.
//!
//! One class, `NativeEngine`, whose `call(op, args_json)` runs any engine operation with the GIL
//! released (the engine takes its own lock inside), and one exception, `NativeError`, carrying
//! the engine error's code, HTTP status, message, JSON body and headers. The Python package maps
//! these to typed methods, results and an exception hierarchy; no time-tracking logic lives here.

use std::sync::Arc;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};
use timeledger::{FieldValue, HeartbeatFields};

create_exception!(
    _native,
    NativeError,
    PyException,
    "An engine error: args are (code, status, message, body_json, headers_json)."
);

fn error_to_py(e: timeledger::Error) -> PyErr {
    let headers = serde_json::to_string(&e.headers()).unwrap_or_else(|_| "{}".into());
    NativeError::new_err((e.code(), e.status(), e.to_string(), e.to_json().to_string(), headers))
}

/// How deep converted arguments may nest: the same limit as the engine's JSON parser, so a
/// Python caller and a JSON caller get the same answer (and no input can exhaust the stack).
const MAX_DEPTH: usize = 128;

/// An `INVALID_INPUT` engine error naming the argument, raised as the engine's exception.
fn invalid(field: &str, message: &str) -> PyErr {
    error_to_py(timeledger::Error::invalid(field, message))
}

/// Python arguments to a JSON value (no text in between). Wrong types are `TypeError`s; values
/// no JSON caller could send (integers beyond 64 bits, NaN and infinities, nesting deeper than
/// 128) are the engine's `INVALID_INPUT`, naming the top-level argument they came in.
fn to_value(obj: &Bound<'_, PyAny>, field: &str, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(invalid(field, "nested more than 128 levels deep"));
    }
    let child = |x: &Bound<'_, PyAny>| to_value(x, field, depth + 1);
    if obj.is_none() {
        Ok(Value::Null)
    } else if obj.is_instance_of::<PyBool>() {
        Ok(Value::Bool(obj.extract()?))
    } else if obj.is_instance_of::<PyInt>() {
        match obj.extract::<i64>() {
            Ok(i) => Ok(Value::from(i)),
            Err(_) => {
                obj.extract::<u64>().map(Value::from).map_err(|_| invalid(field, "integer does not fit in 64 bits"))
            }
        }
    } else if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract()?;
        Number::from_f64(f).map(Value::Number).ok_or_else(|| invalid(field, "numbers must be finite"))
    } else if obj.is_instance_of::<PyString>() {
        Ok(Value::String(obj.extract()?))
    } else if let Ok(d) = obj.cast::<PyDict>() {
        let mut m = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let k: String = k.extract().map_err(|_| PyTypeError::new_err("dictionary keys must be str"))?;
            let value = if depth == 0 { to_value(&v, &k, 1)? } else { child(&v)? };
            m.insert(k, value);
        }
        Ok(Value::Object(m))
    } else if let Ok(l) = obj.cast::<PyList>() {
        l.iter().map(|x| child(&x)).collect::<PyResult<Vec<_>>>().map(Value::Array)
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().map(|x| child(&x)).collect::<PyResult<Vec<_>>>().map(Value::Array)
    } else {
        Err(PyTypeError::new_err(format!("cannot pass a {} to the engine", obj.get_type().name()?)))
    }
}

/// A JSON value to plain Python objects (dict, list, str, int, float, bool, None).
fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let items = a.iter().map(|x| to_py(py, x)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                // Keys repeat across results (`data`, `entity`, ...): interned strings are shared.
                d.set_item(PyString::intern(py, k), to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// The engine's outcomes as `{"responses": [[body, status], ...]}`, built directly as Python
/// objects (repeated keys and types interned, no JSON text in between).
fn responses_to_py<'py>(py: Python<'py>, outcomes: Vec<timeledger::IngestOutcome>) -> PyResult<Bound<'py, PyAny>> {
    let (k_data, k_error) = (PyString::intern(py, "data"), PyString::intern(py, "error"));
    let (k_id, k_entity, k_type, k_time) = (
        PyString::intern(py, "id"),
        PyString::intern(py, "entity"),
        PyString::intern(py, "type"),
        PyString::intern(py, "time"),
    );
    let mut kinds: Vec<(&str, Bound<'py, PyString>)> = Vec::new();
    let mut items = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        let body = PyDict::new(py);
        match o.heartbeat {
            Ok(h) => {
                let kind = match kinds.iter().find(|(k, _)| *k == h.kind) {
                    Some((_, s)) => s.clone(),
                    None => {
                        let s = PyString::new(py, h.kind);
                        kinds.push((h.kind, s.clone()));
                        s
                    }
                };
                let data = PyDict::new(py);
                data.set_item(&k_entity, h.entity)?;
                data.set_item(&k_id, h.id)?;
                data.set_item(&k_time, h.time)?;
                data.set_item(&k_type, kind)?;
                body.set_item(&k_data, data)?;
            }
            Err(msg) => body.set_item(&k_error, msg)?,
        }
        items.push(PyList::new(py, [body.into_any(), o.status.into_pyobject(py)?.into_any()])?);
    }
    let out = PyDict::new(py);
    out.set_item(PyString::intern(py, "responses"), PyList::new(py, items)?)?;
    Ok(out.into_any())
}

/// A dict entry held for [`NativeEngine::ingest_dicts`]: key, value, and for a list value the
/// range of its elements among the held strings.
type Pair<'py> = (Bound<'py, PyString>, Bound<'py, PyAny>, Option<std::ops::Range<usize>>);

/// An open engine. Share it between threads freely.
#[pyclass(frozen, module = "timeledger._native")]
struct NativeEngine {
    inner: Arc<timeledger::Engine>,
}

#[pymethods]
impl NativeEngine {
    /// Opens a database file (created if missing) or `":memory:"`.
    #[new]
    fn new(py: Python<'_>, path: String) -> PyResult<Self> {
        let engine = py.detach(move || timeledger::Engine::open(&path)).map_err(error_to_py)?;
        Ok(NativeEngine { inner: Arc::new(engine) })
    }

    /// Runs operation `op` with JSON arguments and returns the JSON result, GIL released.
    fn call(&self, py: Python<'_>, op: String, args_json: String) -> PyResult<String> {
        let engine = Arc::clone(&self.inner);
        py.detach(move || engine.call_json(&op, &args_json)).map_err(error_to_py)
    }

    /// Runs operation `op` with arguments given as Python objects (dict of JSON-like values) and
    /// returns plain Python objects, GIL released while the engine works.
    fn call_obj<'py>(&self, py: Python<'py>, op: String, args: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let args = to_value(args, "args", 0)?;
        let engine = Arc::clone(&self.inner);
        let out = py.detach(move || engine.call(&op, args)).map_err(error_to_py)?;
        to_py(py, &out)
    }

    /// Bulk heartbeat ingest from the arguments as JSON text (heartbeats read straight from the
    /// text), GIL released; returns `{"responses": [[body, status], ...]}` built directly as
    /// Python objects (repeated keys and types interned, no JSON text in between).
    fn ingest_text<'py>(&self, py: Python<'py>, args_json: String) -> PyResult<Bound<'py, PyAny>> {
        let engine = Arc::clone(&self.inner);
        let outcomes = py.detach(move || engine.ingest_heartbeats_text(&args_json)).map_err(error_to_py)?;
        responses_to_py(py, outcomes)
    }

    /// Bulk heartbeat ingest of a list of dicts read field by field (strings borrowed, no JSON
    /// text), GIL released while the engine works; the same answer as `ingest_text`. `None`,
    /// before anything is stored, when an item or a value is one this road does not read
    /// exactly as `json.dumps` would hand it over (not exactly a dict, a key that is not a str, an
    /// integer beyond 64 bits, a float that is not finite, a nested dict, a list holding other
    /// than str, an object of another type): the caller then takes the JSON road.
    #[pyo3(signature = (guild_id, user_id, heartbeats, user_agent=None, machine_name=None, time_zone=None))]
    #[allow(clippy::too_many_arguments)]
    fn ingest_dicts<'py>(
        &self,
        py: Python<'py>,
        guild_id: i64,
        user_id: i64,
        heartbeats: &Bound<'py, PyList>,
        user_agent: Option<String>,
        machine_name: Option<String>,
        time_zone: Option<String>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        // First every object whose text is borrowed is held here (another thread may change the
        // dicts once the GIL is released: these references keep the strings alive), then the
        // fields borrow from them.
        let mut items: Vec<std::ops::Range<usize>> = Vec::with_capacity(heartbeats.len());
        let mut pairs: Vec<Pair<'py>> = Vec::new();
        let mut elements: Vec<Bound<'py, PyString>> = Vec::new();
        for item in heartbeats.iter() {
            // Exactly a dict: json.dumps reads a subclass through its own items().
            if !item.is_exact_instance_of::<PyDict>() {
                return Ok(None);
            }
            let Ok(d) = item.cast::<PyDict>() else { return Ok(None) };
            let start = pairs.len();
            for (k, v) in d.iter() {
                let Ok(k) = k.cast_into::<PyString>() else { return Ok(None) };
                let list = match v.cast::<PyList>() {
                    Ok(l) => {
                        let from = elements.len();
                        for x in l.iter() {
                            let Ok(x) = x.cast_into::<PyString>() else { return Ok(None) };
                            elements.push(x);
                        }
                        Some(from..elements.len())
                    }
                    Err(_) => None,
                };
                pairs.push((k, v, list));
            }
            items.push(start..pairs.len());
        }
        let mut fields: Vec<Option<Vec<(&str, FieldValue<'_>)>>> = Vec::with_capacity(items.len());
        for range in items {
            let mut one = Vec::with_capacity(range.len());
            for (k, v, list) in &pairs[range] {
                let Ok(key) = k.to_str() else { return Ok(None) };
                let value = if let Some(r) = list {
                    let mut strs = Vec::with_capacity(r.len());
                    for x in &elements[r.clone()] {
                        let Ok(s) = x.to_str() else { return Ok(None) };
                        strs.push(s);
                    }
                    FieldValue::List(Some(strs))
                } else if v.is_none() {
                    FieldValue::Null
                } else if let Ok(b) = v.cast::<PyBool>() {
                    FieldValue::Bool(b.is_true())
                } else if let Ok(s) = v.cast::<PyString>() {
                    let Ok(s) = s.to_str() else { return Ok(None) };
                    FieldValue::Str(s)
                } else if let Ok(f) = v.cast::<PyFloat>() {
                    let x = f.value();
                    if !x.is_finite() {
                        return Ok(None);
                    }
                    FieldValue::Float(x)
                } else if v.is_instance_of::<PyInt>() {
                    match (v.extract::<i64>(), v.extract::<u64>()) {
                        (Ok(i), _) => FieldValue::Int(i),
                        (_, Ok(u)) => FieldValue::UInt(u),
                        _ => return Ok(None),
                    }
                } else {
                    return Ok(None);
                };
                one.push((key, value));
            }
            fields.push(Some(one));
        }
        let engine = Arc::clone(&self.inner);
        let batch = HeartbeatFields {
            guild_id,
            user_id,
            heartbeats: fields,
            user_agent: user_agent.as_deref(),
            machine_name: machine_name.as_deref(),
            time_zone: time_zone.as_deref(),
        };
        let outcomes = py.detach(|| engine.ingest_heartbeat_fields(&batch)).map_err(error_to_py)?;
        drop(batch);
        drop((pairs, elements));
        responses_to_py(py, outcomes).map(Some)
    }

    /// Freezes the clock at `ms` (Unix milliseconds), or returns to the wall clock with `None`.
    #[pyo3(signature = (ms=None))]
    fn set_now(&self, ms: Option<i64>) -> PyResult<()> {
        self.inner.set_now(ms).map_err(error_to_py)
    }

    /// The engine's current instant in Unix milliseconds.
    fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }

    /// Answers an HTTP request (method, path with query, header pairs, body bytes) with the
    /// engine's HTTP API, GIL released: returns (status, header pairs, body bytes).
    fn handle<'py>(
        &self,
        py: Python<'py>,
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> (u16, Vec<(String, String)>, Bound<'py, pyo3::types::PyBytes>) {
        let engine = Arc::clone(&self.inner);
        let reply = py.detach(move || {
            timeledger_http::handle_parts(&engine, &timeledger_http::Config::default(), &method, &url, &headers, body)
        });
        (reply.status, reply.headers, pyo3::types::PyBytes::new(py, &reply.body))
    }

    /// Every operation name `call` accepts.
    #[staticmethod]
    fn operations() -> Vec<&'static str> {
        timeledger::OPERATIONS.to_vec()
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeEngine>()?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    Ok(())
}
