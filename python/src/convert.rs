//! Python objects <-> JSON.
//!
//! Every function of the wheel takes JSON either as text (`str`, `bytes`,
//! `bytearray`, `memoryview`) or as a Python value (`dict`, `list`, `tuple`,
//! `str`, `int`, `float`, `bool`, `None`). Python values are written out as
//! JSON text and handed to the core's byte API, so both forms go through
//! exactly the same parser rules (size and depth limits, number range).
//!
//! Values coming back from the core become plain Python objects; a number that
//! is whole and within ±2^53 becomes an `int`, any other a `float`, so that
//! `json.dumps` of the result canonicalizes to the same RFC 8785 text.

use std::borrow::Cow;

use kwh_btc_iot_core::json::{Value, DEFAULT_MAX_DEPTH};
use kwh_btc_iot_core::{jcs, Error, ErrorCode};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};

/// 2^53: the largest whole number below which every integer is a double.
const MAX_SAFE_WHOLE: f64 = 9_007_199_254_740_992.0;

/// JSON text taken from a Python argument: borrowed from a `bytes` object or
/// owned (a `str` encoded as UTF-8, a Python value written as RFC 8785).
pub enum JsonInput<'py> {
    /// The bytes of a `bytes` object, no copy.
    Bytes(Bound<'py, PyBytes>),
    /// Owned UTF-8.
    Owned(Vec<u8>),
}

impl JsonInput<'_> {
    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            JsonInput::Bytes(b) => b.as_bytes(),
            JsonInput::Owned(v) => v,
        }
    }
}

/// What a Python object holds: JSON text to borrow, or bytes written into a buffer.
pub enum Source<'py> {
    /// A `bytes` object: its bytes are read in place.
    Bytes(Bound<'py, PyBytes>),
    /// The text was appended to the caller's buffer (start, end).
    Written(usize, usize),
}

/// Reads a Python argument as JSON text, converting Python values.
pub fn json_input<'py>(obj: &Bound<'py, PyAny>) -> Result<JsonInput<'py>, Error> {
    let mut buf = Vec::new();
    match write_source(obj, &mut buf)? {
        Source::Bytes(b) => Ok(JsonInput::Bytes(b)),
        Source::Written(..) => Ok(JsonInput::Owned(buf)),
    }
}

/// Appends the JSON text of `obj` to `buf` (or returns the `bytes` object to
/// read in place). `str`/`bytes`-like objects are JSON text; anything else is
/// a Python value to serialize.
pub fn write_source<'py>(obj: &Bound<'py, PyAny>, buf: &mut Vec<u8>) -> Result<Source<'py>, Error> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Source::Bytes(b.clone()));
    }
    let start = buf.len();
    if let Ok(s) = obj.cast::<PyString>() {
        buf.extend_from_slice(str_of(s, "input")?.as_bytes());
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        buf.extend_from_slice(&b.to_vec());
    } else if obj.is_instance_of::<PyMemoryView>() {
        let bytes = obj
            .call_method0("tobytes")
            .and_then(|b| b.cast_into::<PyBytes>().map_err(PyErr::from))
            .map_err(|e| {
                Error::new(
                    ErrorCode::InvalidJson,
                    format!("memoryview could not be read: {e}"),
                )
            })?;
        buf.extend_from_slice(bytes.as_bytes());
    } else {
        if let Err(e) = write_py_json(obj, buf) {
            buf.truncate(start);
            return Err(e);
        }
    }
    Ok(Source::Written(start, buf.len()))
}

fn str_of<'a>(s: &'a Bound<'_, PyString>, member: &str) -> Result<Cow<'a, str>, Error> {
    s.to_cow().map_err(|_| {
        Error::member(
            ErrorCode::LoneSurrogate,
            member,
            "contains a lone UTF-16 surrogate, which is not valid Unicode text",
        )
    })
}

/// Writes a Python value as JSON text (members in dict order; the core's
/// parser reads it next, with all its rules).
pub fn write_py_json(obj: &Bound<'_, PyAny>, buf: &mut Vec<u8>) -> Result<(), Error> {
    let mut path = Vec::new();
    write_value(obj, buf, 0, &mut path)
}

enum Seg<'py> {
    Key(Bound<'py, PyString>),
    Index(usize),
}

/// The member path, rendered only for error messages.
fn render(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&k.to_string_lossy());
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        out.push_str("value");
    }
    out
}

fn write_value<'py>(
    obj: &Bound<'py, PyAny>,
    buf: &mut Vec<u8>,
    depth: usize,
    path: &mut Vec<Seg<'py>>,
) -> Result<(), Error> {
    if obj.is_none() {
        buf.extend_from_slice(b"null");
        return Ok(());
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        buf.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        return Ok(());
    }
    if obj.is_instance_of::<PyInt>() {
        jcs::write_number(buf, int_value(obj, path)?);
        return Ok(());
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let n = f.value();
        if !n.is_finite() {
            return Err(Error::member(
                ErrorCode::NumberOutOfRange,
                render(path),
                format!("{n} is not a finite number; JSON has no NaN or Infinity"),
            ));
        }
        jcs::write_number(buf, n);
        return Ok(());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        jcs::write_string(buf, &str_of(s, &render(path))?);
        return Ok(());
    }
    // One level more than the parser allows, so that the parser (which sees
    // the serialized text) reports the depth error with its own limit, and
    // self-referencing containers stop here instead of recursing forever.
    if depth > DEFAULT_MAX_DEPTH {
        return Err(Error::new(
            ErrorCode::TooDeep,
            format!(
                "{}: nested more than {DEFAULT_MAX_DEPTH} levels deep",
                render(path)
            ),
        ));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        buf.push(b'{');
        for (i, (k, v)) in d.iter().enumerate() {
            if !k.is_instance_of::<PyString>() {
                return Err(Error::member(
                    ErrorCode::InvalidJson,
                    render(path),
                    format!(
                        "has a key of type {}; JSON member names are strings",
                        type_name(&k)
                    ),
                ));
            }
            let key = k
                .cast_into::<PyString>()
                .map_err(|_| Error::new(ErrorCode::InvalidJson, "key"))?;
            if i > 0 {
                buf.push(b',');
            }
            jcs::write_string(buf, &str_of(&key, &render(path))?);
            buf.push(b':');
            path.push(Seg::Key(key));
            write_value(&v, buf, depth + 1, path)?;
            path.pop();
        }
        buf.push(b'}');
        return Ok(());
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return write_seq(l.iter(), buf, depth, path);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return write_seq(t.iter(), buf, depth, path);
    }
    Err(Error::member(
        ErrorCode::InvalidJson,
        render(path),
        format!("is of type {}, which is not a JSON value", type_name(obj)),
    ))
}

fn write_seq<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    buf: &mut Vec<u8>,
    depth: usize,
    path: &mut Vec<Seg<'py>>,
) -> Result<(), Error> {
    buf.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        path.push(Seg::Index(i));
        write_value(&item, buf, depth + 1, path)?;
        path.pop();
    }
    buf.push(b']');
    Ok(())
}

fn int_value(obj: &Bound<'_, PyAny>, path: &[Seg<'_>]) -> Result<f64, Error> {
    // Rust's i64 -> f64 cast rounds to nearest, ties to even: the same double
    // the parser reads from the decimal text.
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(i as f64);
    }
    match obj.extract::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err(Error::member(
            ErrorCode::NumberOutOfRange,
            render(path),
            "is an integer outside the IEEE-754 double range",
        )),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Converts a JSON value into Python objects.
pub fn value_to_py<'py>(py: Python<'py>, v: &Value<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => number_to_py(py, *n)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(members) => {
            let dict = PyDict::new(py);
            for (k, item) in members {
                dict.set_item(PyString::new(py, k), value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A whole number within ±2^53 as `int`, any other as `float`.
pub fn number_to_py(py: Python<'_>, n: f64) -> PyResult<Bound<'_, PyAny>> {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_WHOLE {
        Ok((n as i64).into_pyobject(py)?.into_any())
    } else {
        Ok(PyFloat::new(py, n).into_any())
    }
}
