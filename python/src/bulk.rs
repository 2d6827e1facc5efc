//! Bulk paths: gather many inputs while attached to the interpreter, then
//! work on plain bytes with the interpreter released (and, for large inputs,
//! on several threads).

use kwh_btc_iot_core::Error;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

use crate::convert::{write_source, Source};

/// Inputs below this count are handled on the calling thread.
const MIN_PARALLEL: usize = 2048;

enum Slot {
    Kept(usize),
    Written(usize, usize),
    Failed(Error),
}

/// Many JSON inputs read from a Python iterable: `bytes` objects are kept
/// and read in place, everything else is written into one buffer.
pub struct Gathered<'py> {
    kept: Vec<Bound<'py, PyBytes>>,
    buf: Vec<u8>,
    slots: Vec<Slot>,
}

impl<'py> Gathered<'py> {
    /// Reads every item of `items`; an item that is not JSON becomes a
    /// per-item error, not an exception.
    pub fn from_iterable(items: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if items.is_instance_of::<PyString>()
            || items.is_instance_of::<PyBytes>()
            || items.is_instance_of::<PyByteArray>()
            || items.is_instance_of::<PyDict>()
        {
            let t = items.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "expected an iterable of {what}, got a single {t}; wrap it in a list"
            )));
        }
        let mut g = Gathered {
            kept: Vec::new(),
            buf: Vec::new(),
            slots: Vec::new(),
        };
        if let Ok(n) = items.len() {
            g.slots.reserve(n);
        }
        for item in items.try_iter()? {
            let item = item?;
            let slot = match write_source(&item, &mut g.buf) {
                Ok(Source::Bytes(b)) => {
                    g.kept.push(b);
                    Slot::Kept(g.kept.len() - 1)
                }
                Ok(Source::Written(start, end)) => Slot::Written(start, end),
                Err(e) => Slot::Failed(e),
            };
            g.slots.push(slot);
        }
        Ok(g)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Each item's JSON text, or the reason it has none. The slices are plain
    /// bytes and can be used with the interpreter released.
    pub fn sources(&self) -> Vec<Result<&[u8], &Error>> {
        self.slots
            .iter()
            .map(|s| match s {
                Slot::Kept(i) => Ok(self.kept[*i].as_bytes()),
                Slot::Written(a, b) => Ok(&self.buf[*a..*b]),
                Slot::Failed(e) => Err(e),
            })
            .collect()
    }
}

/// How many threads to use: `None` means one per available core.
pub fn thread_count(threads: Option<usize>) -> usize {
    match threads {
        Some(n) => n.max(1),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// Maps `f` over `items` in order, on up to `threads` threads; each thread
/// has its own scratch state from `init`.
pub fn par_map<S, T, St, I, F>(items: &[S], threads: usize, init: I, f: F) -> Vec<T>
where
    S: Sync,
    T: Send,
    I: Fn() -> St + Sync,
    F: Fn(&mut St, &S) -> T + Sync,
{
    let run = |chunk: &[S]| {
        let mut state = init();
        chunk.iter().map(|s| f(&mut state, s)).collect::<Vec<T>>()
    };
    if threads <= 1 || items.len() < MIN_PARALLEL {
        return run(items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(move || run(c)))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_keeps_order_on_any_thread_count() {
        let items: Vec<u32> = (0..10_000).collect();
        for threads in [1, 2, 3, 8] {
            let out = par_map(
                &items,
                threads,
                || 0u32,
                |calls, x| {
                    *calls += 1;
                    x * 2
                },
            );
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
    }
}
