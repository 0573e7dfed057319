//! Python keywords → a [`ZerobusConnection`], through the options table of
//! [`crate::options`]: a keyword is an option's key, its value is read as the text SQL
//! OPTIONS would give, and the same parser checks it. `observability_config` (a dict) is
//! the one keyword that is not text.

use std::collections::HashMap;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};

use super::errors::to_py;
use crate::connection::ZerobusConnection;
use crate::options;

/// `endpoint` with every keyword of `keywords` that is not None applied; the connection is
/// not validated yet (a table completes it).
pub(crate) fn connection(
    endpoint: String,
    keywords: Option<&Bound<'_, PyDict>>,
) -> PyResult<ZerobusConnection> {
    let mut c = ZerobusConnection::new(endpoint);
    for (key, value) in keywords.into_iter().flat_map(|k| k.iter()) {
        let key: String = key.extract()?;
        if value.is_none() {
            continue;
        }
        if key == "observability_config" {
            c.observability_config = Some(observability_config(&value)?);
            continue;
        }
        let Some(option) = options::OPTIONS
            .iter()
            .find(|o| o.key == key && o.key != "endpoint")
        else {
            let known: Vec<&str> = options::OPTIONS
                .iter()
                .map(|o| o.key)
                .filter(|k| *k != "endpoint")
                .chain(["observability_config"])
                .collect();
            return Err(PyTypeError::new_err(format!(
                "unexpected keyword argument '{key}' (known: {})",
                known.join(", ")
            )));
        };
        let text = text_of(option, &value)?;
        options::apply_as(&mut c, option.key, &text, option.key).map_err(to_py)?;
    }
    Ok(c)
}

/// A keyword's value as text: `True`/`False` as `true`/`false` for flags, a whole number
/// for numbers, `str` or `os.PathLike` for the rest. Another type is a TypeError naming
/// the keyword.
fn text_of(option: &options::ConnectionOption, value: &Bound<'_, PyAny>) -> PyResult<String> {
    use options::OptionKind::*;
    let wrong = |what: &str| {
        PyTypeError::new_err(format!(
            "{} must be {what}, not {}",
            option.key,
            value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    };
    match option.kind {
        Flag => match value.cast::<PyBool>() {
            Ok(b) => Ok(if b.is_true() { "true" } else { "false" }.to_string()),
            Err(_) => Err(wrong("a bool")),
        },
        // bool is an int in Python; True is not a number of attempts.
        Number if value.is_instance_of::<PyBool>() => Err(wrong("an int")),
        Number => match value.cast::<PyInt>() {
            Ok(i) => Ok(i.to_string()),
            Err(_) => Err(wrong("an int")),
        },
        Path => {
            let os = value.py().import("os")?;
            let path = os
                .call_method1("fspath", (value,))
                .map_err(|_| wrong("a str or os.PathLike"))?;
            Ok(path.extract::<String>()?)
        }
        Text | Secret | Choice(_) => match value.cast::<PyString>() {
            Ok(s) => s.extract::<String>(),
            Err(_) => Err(wrong("a str")),
        },
    }
}

/// `observability_config` as the Rust side reads it: a dict whose values are text; a
/// nested dict (headers) becomes `key=value,key2=value2`, anything else its `str()`.
fn observability_config(value: &Bound<'_, PyAny>) -> PyResult<HashMap<String, String>> {
    let map = value
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("observability_config must be a dict of settings"))?;
    map.iter()
        .map(|(k, v)| Ok((k.str()?.to_string(), observability_value(&v)?)))
        .collect()
}

fn observability_value(v: &Bound<'_, PyAny>) -> PyResult<String> {
    match v.cast::<PyDict>() {
        Ok(d) => d
            .iter()
            .map(|(k, v)| Ok(format!("{}={}", k.str()?, v.str()?)))
            .collect::<PyResult<Vec<String>>>()
            .map(|pairs| pairs.join(",")),
        Err(_) => Ok(v.str()?.to_string()),
    }
}
