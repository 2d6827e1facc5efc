//! Splitting bulk input into records, the one way every part of the project
//! does it (the CLI's input reader, the Python bulk functions, the gateway's
//! bulk endpoint):
//!
//! - JSON Lines ([`lines`]): each line that is not blank is a record; `\r\n`
//!   line endings are accepted; blank lines (JSON whitespace only) are
//!   skipped but still counted, so line numbers match an editor's.
//! - One document pretty-printed over many lines ([`records`]): the whole
//!   input is one record when it parses as one JSON document.
//! - One JSON array ([`array_items`]): each element is a record, found
//!   without parsing it, so that each element is validated (and may fail) on
//!   its own.
//!
//! Records are slices of the input; nothing is copied or parsed here except
//! where [`records`] has to decide between one document and JSON Lines.
//!
//! ```
//! use kwh_btc_iot_core::json_lines::{array_items, lines};
//! let got: Vec<_> = lines(b"{\"a\":1}\r\n\n{\"a\":2}\n").map(|r| (r.line, r.bytes)).collect();
//! assert_eq!(got, vec![(1, &b"{\"a\":1}"[..]), (3, &b"{\"a\":2}"[..])]);
//! assert_eq!(array_items(b"[{}, [1]]", 32).unwrap().len(), 2);
//! ```

use std::fmt;

use crate::error::{Error, ErrorCode};
use crate::json;

/// One record of a bulk input.
///
/// ```
/// let r = kwh_btc_iot_core::json_lines::lines(b"\n{}").next().unwrap();
/// assert_eq!((r.line, r.index, r.bytes), (2, 0, &b"{}"[..]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The 1-based number of the line the record starts on.
    pub line: usize,
    /// The 0-based position of the record among the records of the input
    /// (for a JSON array, the element's index).
    pub index: usize,
    /// The record: a line without its line ending, a whole document, or an
    /// array element without the whitespace around it.
    pub bytes: &'a [u8],
}

/// JSON whitespace (RFC 8259): space, tab, line feed, carriage return.
fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn trim_json_ws(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| !is_json_ws(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_json_ws(c))
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// One raw line (as read, with or without its `\n` or `\r\n`) as a JSON Lines
/// record: the line without its ending, or `None` when it is blank (JSON
/// whitespace only). For readers that stream a line at a time.
///
/// ```
/// use kwh_btc_iot_core::json_lines::line_content;
///
/// assert_eq!(line_content(b"{\"a\":1}\r\n"), Some(&b"{\"a\":1}"[..]));
/// assert_eq!(line_content(b" [2] "), Some(&b" [2] "[..]));
/// assert_eq!(line_content(b" \t\r\n"), None);
/// ```
pub fn line_content(raw: &[u8]) -> Option<&[u8]> {
    let l = raw.strip_suffix(b"\n").unwrap_or(raw);
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    if l.iter().all(|&c| is_json_ws(c)) {
        None
    } else {
        Some(l)
    }
}

/// Whether a line is a lone `{` or `[` (whitespace aside): the first line of
/// a pretty-printed document, which a streaming reader then takes whole.
///
/// ```
/// use kwh_btc_iot_core::json_lines::opens_document;
///
/// assert!(opens_document(b"  {"));
/// assert!(opens_document(b"[\r"));
/// assert!(!opens_document(b"{\"a\":1}"));
/// ```
pub fn opens_document(line: &[u8]) -> bool {
    matches!(trim_json_ws(line), b"{" | b"[")
}

/// The records of a JSON Lines text: its lines that are not blank, in order.
///
/// ```
/// use kwh_btc_iot_core::json_lines::lines;
///
/// let text = b"{\"a\":1}\r\n\n  \t\n[2]\n";
/// let found: Vec<(usize, &[u8])> = lines(text).map(|r| (r.line, r.bytes)).collect();
/// assert_eq!(found, vec![(1, &b"{\"a\":1}"[..]), (4, &b"[2]"[..])]);
/// ```
pub fn lines(text: &[u8]) -> Lines<'_> {
    Lines {
        rest: Some(text),
        line: 0,
        index: 0,
    }
}

/// The iterator of [`lines`].
///
/// ```
/// let mut it: kwh_btc_iot_core::json_lines::Lines<'_> = kwh_btc_iot_core::json_lines::lines(b"1\n2");
/// assert_eq!(it.next().map(|r| r.bytes), Some(&b"1"[..]));
/// assert_eq!(it.next().map(|r| r.index), Some(1));
/// assert!(it.next().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: Option<&'a [u8]>,
    line: usize,
    index: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        loop {
            let rest = self.rest?;
            let raw = match rest.iter().position(|&c| c == b'\n') {
                Some(i) => {
                    self.rest = Some(&rest[i + 1..]);
                    &rest[..i]
                }
                None => {
                    self.rest = None;
                    rest
                }
            };
            self.line += 1;
            if let Some(bytes) = line_content(raw) {
                let r = Record {
                    line: self.line,
                    index: self.index,
                    bytes,
                };
                self.index += 1;
                return Some(r);
            }
        }
    }
}

/// The records of a whole input that is either one JSON document (possibly
/// pretty-printed over many lines, kept whole with the whitespace around it)
/// or JSON Lines ([`lines`]). An input of more than one line that parses as
/// one document is that document; anything else is read as JSON Lines.
///
/// ```
/// use kwh_btc_iot_core::json_lines::records;
///
/// let pretty = b"\n{\n  \"a\": 1\n}\n";
/// let one = records(pretty);
/// assert_eq!((one.len(), one[0].line, one[0].bytes), (1, 2, &pretty[..]));
///
/// let jsonl = b"{\"a\":1}\n{\"a\":2}\n";
/// assert_eq!(records(jsonl).len(), 2);
/// ```
pub fn records(text: &[u8]) -> Vec<Record<'_>> {
    let start = text
        .iter()
        .position(|&c| !is_json_ws(c))
        .unwrap_or(text.len());
    let multi_line = text[start..].iter().filter(|&&c| c == b'\n').count() > 1;
    if multi_line && json::parse(text).is_ok() {
        let line = text[..start].iter().filter(|&&c| c == b'\n').count() + 1;
        return vec![Record {
            line,
            index: 0,
            bytes: text,
        }];
    }
    lines(text).collect()
}

/// Why a text could not be split as one JSON array.
///
/// ```
/// use kwh_btc_iot_core::json_lines::{array_items, ArrayError};
/// assert_eq!(array_items(b"[1,]", 32), Err(ArrayError::EmptyElement { index: 1 }));
/// assert_eq!(array_items(b"{}", 32), Err(ArrayError::NotAnArray));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayError {
    /// The text does not start (whitespace aside) with `[`.
    NotAnArray,
    /// The array ends before its closing `]`.
    Unterminated,
    /// An element is empty (`[1,]`, `[,1]`).
    EmptyElement {
        /// Its index.
        index: usize,
    },
    /// A `}` closes the array, or a `]` an object.
    Unbalanced,
    /// Something other than whitespace follows the closing `]`.
    TrailingData,
    /// An element nests deeper than allowed.
    TooDeep {
        /// The element's index.
        index: usize,
        /// The depth allowed.
        max_depth: usize,
    },
}

impl ArrayError {
    /// The error code: `too_deep` for [`ArrayError::TooDeep`], `invalid_json` otherwise.
    ///
    /// ```
    /// use kwh_btc_iot_core::json_lines::ArrayError;
    /// use kwh_btc_iot_core::ErrorCode;
    ///
    /// assert_eq!(ArrayError::TrailingData.code(), ErrorCode::InvalidJson);
    /// ```
    pub fn code(&self) -> ErrorCode {
        match self {
            ArrayError::TooDeep { .. } => ErrorCode::TooDeep,
            _ => ErrorCode::InvalidJson,
        }
    }
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArrayError::NotAnArray => f.write_str("expected a JSON array"),
            ArrayError::Unterminated => f.write_str("the array is not terminated"),
            ArrayError::EmptyElement { index } => {
                write!(f, "the array has an empty element at index {index}")
            }
            ArrayError::Unbalanced => f.write_str("unbalanced '}' in the array"),
            ArrayError::TrailingData => f.write_str("trailing data after the array"),
            ArrayError::TooDeep { index, max_depth } => {
                write!(f, "element {index} nests deeper than {max_depth} levels")
            }
        }
    }
}

impl std::error::Error for ArrayError {}

impl From<ArrayError> for Error {
    fn from(e: ArrayError) -> Error {
        Error::new(e.code(), e.to_string())
    }
}

/// The elements of one JSON array, found by their top-level commas without
/// parsing them (strings and nesting are followed, nothing is validated), so
/// that each element is validated on its own. `max_depth` bounds the nesting
/// inside an element.
///
/// ```
/// use kwh_btc_iot_core::json_lines::{array_items, ArrayError};
///
/// let text = b"[\n  {\"a\": \"x,]\"},\n  [1, [2]]\n]";
/// let items = array_items(text, 16).unwrap();
/// let found: Vec<(usize, usize, &[u8])> = items.iter().map(|r| (r.index, r.line, r.bytes)).collect();
/// assert_eq!(found, vec![(0, 2, &b"{\"a\": \"x,]\"}"[..]), (1, 3, &b"[1, [2]]"[..])]);
/// assert_eq!(array_items(b"[1,]", 16), Err(ArrayError::EmptyElement { index: 1 }));
/// ```
pub fn array_items(b: &[u8], max_depth: usize) -> Result<Vec<Record<'_>>, ArrayError> {
    let mut i = 0;
    while i < b.len() && is_json_ws(b[i]) {
        i += 1;
    }
    if b.get(i) != Some(&b'[') {
        return Err(ArrayError::NotAnArray);
    }
    i += 1;
    let mut items = Vec::new();
    // Line numbers: newlines counted up to `counted`.
    let (mut line, mut counted) = (1usize, 0usize);
    let mut j = i;
    while j < b.len() && is_json_ws(b[j]) {
        j += 1;
    }
    if b.get(j) == Some(&b']') {
        i = j + 1;
    } else {
        loop {
            let start = i;
            let (mut depth, mut in_str) = (0usize, false);
            while i < b.len() {
                let c = b[i];
                if in_str {
                    match c {
                        b'\\' => i += 1,
                        b'"' => in_str = false,
                        _ => {}
                    }
                } else {
                    match c {
                        b'"' => in_str = true,
                        b'[' | b'{' => {
                            depth += 1;
                            if depth > max_depth {
                                return Err(ArrayError::TooDeep {
                                    index: items.len(),
                                    max_depth,
                                });
                            }
                        }
                        b']' | b'}' if depth == 0 => break,
                        b']' | b'}' => depth -= 1,
                        b',' if depth == 0 => break,
                        _ => {}
                    }
                }
                i += 1;
            }
            if i >= b.len() {
                return Err(ArrayError::Unterminated);
            }
            let (mut s, mut e) = (start, i);
            while s < e && is_json_ws(b[s]) {
                s += 1;
            }
            while e > s && is_json_ws(b[e - 1]) {
                e -= 1;
            }
            if s == e {
                return Err(ArrayError::EmptyElement { index: items.len() });
            }
            line += b[counted..s].iter().filter(|&&c| c == b'\n').count();
            counted = s;
            items.push(Record {
                line,
                index: items.len(),
                bytes: &b[s..e],
            });
            match b[i] {
                b',' => i += 1,
                b']' => {
                    i += 1;
                    break;
                }
                _ => return Err(ArrayError::Unbalanced),
            }
        }
    }
    if b[i..].iter().any(|&c| !is_json_ws(c)) {
        return Err(ArrayError::TrailingData);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found<'a>(rs: impl IntoIterator<Item = Record<'a>>) -> Vec<(usize, usize, &'a [u8])> {
        rs.into_iter().map(|r| (r.line, r.index, r.bytes)).collect()
    }

    #[test]
    fn lines_skip_blank_lines_strip_crlf_and_keep_line_numbers() {
        let text = b"{\"a\":1}\r\n\n  \t\n \r\n[2]\nlast";
        assert_eq!(
            found(lines(text)),
            vec![(1, 0, &b"{\"a\":1}"[..]), (5, 1, b"[2]"), (6, 2, b"last")]
        );
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n\r\n").count(), 0);
        // Only the line ending is removed: the record keeps its own spaces.
        assert_eq!(found(lines(b"  a \r\n")), vec![(1, 0, &b"  a "[..])]);
        // Not JSON whitespace: a record (which then fails to parse).
        assert_eq!(lines(b"\x0c\n").count(), 1);
    }

    #[test]
    fn a_document_over_many_lines_is_one_record() {
        let pretty = b"\r\n\n{\r\n \"a\": [1,\n 2]\n}\n\n";
        assert_eq!(found(records(pretty)), vec![(3, 0, &pretty[..])]);
        // One line with its newline: JSON Lines, without the line ending.
        assert_eq!(
            found(records(b"{\"a\":1}\n")),
            vec![(1, 0, &b"{\"a\":1}"[..])]
        );
        // Lines that do not parse as one document stay lines.
        assert_eq!(
            found(records(b"{}\n\n{}\n")),
            vec![(1, 0, &b"{}"[..]), (3, 1, b"{}")]
        );
        // A document that does not parse is read as lines (each then fails).
        assert_eq!(records(b"{\n\"a\":\n}\n").len(), 3);
        assert!(records(b"").is_empty());
    }

    #[test]
    fn array_items_split_by_top_level_commas() {
        let b = br#" [ {"a":"x,]}"} , [1,[2]], "s\"]" ] "#;
        let items = array_items(b, 8).unwrap();
        assert_eq!(
            items.iter().map(|r| r.bytes).collect::<Vec<_>>(),
            vec![&br#"{"a":"x,]}"}"#[..], b"[1,[2]]", br#""s\"]""#]
        );
        assert!(array_items(b"[]", 8).unwrap().is_empty());
        assert!(array_items(b" [ \n ] \n", 8).unwrap().is_empty());
        for (bad, want) in [
            (&b"[1,]"[..], ArrayError::EmptyElement { index: 1 }),
            (b"[,1]", ArrayError::EmptyElement { index: 0 }),
            (b"[1", ArrayError::Unterminated),
            (b"{}", ArrayError::NotAnArray),
            (b"", ArrayError::NotAnArray),
            (b"[1]x", ArrayError::TrailingData),
            (b"[1}", ArrayError::Unbalanced),
            (
                b"[1,[[[2]]]]",
                ArrayError::TooDeep {
                    index: 1,
                    max_depth: 2,
                },
            ),
        ] {
            assert_eq!(
                array_items(bad, 2),
                Err(want),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn array_items_know_their_lines() {
        let b = b"[\n{\"a\":1},\n\n{\"a\":\n2}, 3\n]";
        assert_eq!(
            found(array_items(b, 8).unwrap()),
            vec![
                (2, 0, &b"{\"a\":1}"[..]),
                (4, 1, b"{\"a\":\n2}"),
                (5, 2, b"3")
            ]
        );
    }

    #[test]
    fn array_errors_carry_their_codes() {
        let e: Error = ArrayError::TooDeep {
            index: 3,
            max_depth: 16,
        }
        .into();
        assert_eq!(e.code, ErrorCode::TooDeep);
        assert_eq!(e.message, "element 3 nests deeper than 16 levels");
        let e: Error = ArrayError::Unterminated.into();
        assert_eq!(e.code, ErrorCode::InvalidJson);
    }

    #[test]
    fn streaming_helpers_agree_with_lines() {
        assert!(opens_document(b"{"));
        assert!(opens_document(b" [ \r\n"));
        assert!(!opens_document(b"{}"));
        assert!(!opens_document(b""));
        assert_eq!(line_content(b"x\r"), Some(&b"x"[..]));
        assert_eq!(line_content(b"\n"), None);
        assert_eq!(line_content(b""), None);
    }
}
