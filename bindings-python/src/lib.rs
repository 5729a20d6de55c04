//! `timekeeper._native`: the engine behind the `timekeeper` Python package.
//!
//! One class, `NativeEngine`, whose `call(op, args_json)` runs any engine operation with the GIL
//! released (the engine takes its own lock inside), and one exception, `NativeError`, carrying
//! the engine error's code, HTTP status, message, JSON body and headers. The Python package maps
//! these to typed methods, results and an exception hierarchy; no time-tracking logic lives here.

use std::sync::Arc;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _native,
    NativeError,
    PyException,
    "An engine error: args are (code, status, message, body_json, headers_json)."
);

fn to_py(e: timekeeper::Error) -> PyErr {
    let headers = serde_json::to_string(&e.headers()).unwrap_or_else(|_| "{}".into());
    NativeError::new_err((e.code(), e.status(), e.to_string(), e.to_json().to_string(), headers))
}

/// An open engine. Share it between threads freely.
#[pyclass(frozen, module = "timekeeper._native")]
struct NativeEngine {
    inner: Arc<timekeeper::Engine>,
}

#[pymethods]
impl NativeEngine {
    /// Opens a database file (created if missing) or `":memory:"`.
    #[new]
    fn new(py: Python<'_>, path: String) -> PyResult<Self> {
        let engine = py.detach(move || timekeeper::Engine::open(&path)).map_err(to_py)?;
        Ok(NativeEngine { inner: Arc::new(engine) })
    }

    /// Runs operation `op` with JSON arguments and returns the JSON result, GIL released.
    fn call(&self, py: Python<'_>, op: String, args_json: String) -> PyResult<String> {
        let engine = Arc::clone(&self.inner);
        py.detach(move || engine.call_json(&op, &args_json)).map_err(to_py)
    }

    /// Freezes the clock at `ms` (Unix milliseconds), or returns to the wall clock with `None`.
    #[pyo3(signature = (ms=None))]
    fn set_now(&self, ms: Option<i64>) {
        self.inner.set_now(ms);
    }

    /// The engine's current instant in Unix milliseconds.
    fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }

    /// Every operation name `call` accepts.
    #[staticmethod]
    fn operations() -> Vec<&'static str> {
        timekeeper::OPERATIONS.to_vec()
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeEngine>()?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    Ok(())
}
