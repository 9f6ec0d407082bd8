//! The writer: the output of sops' compact encoding followed by Go's
//! `json.Indent`, produced in one pass into one buffer.
//!
//! Layout (sops 3.11): every member and element on its own line, indented by
//! one unit per level (tab by default, N spaces, or nothing for N = 0),
//! `"key": value`, empty containers as `{}`/`[]`. Strings are escaped as
//! Go's `encoding/json` (`HTMLEscape` on): `\"`, `\\`, `\b`, `\f`, `\n`,
//! `\r`, `\t`, other C0 controls as `\u00XX`, `<`, `>`, `&`, U+2028 and
//! U+2029 as `\uXXXX`, bytes that are not valid UTF-8 as `\ufffd`; all other
//! characters raw. Comments are dropped. The walk uses an explicit stack.

use crate::numfmt;
use crate::stores::StoreError;
use crate::tree::{Branch, Item, Value};

/// Escape class of each byte: 0 = copy, `b'u'` = `\u00XX`, `b'e'` = maybe
/// U+2028/U+2029, anything else = the letter after a backslash.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'<' as usize] = b'u';
    t[b'>' as usize] = b'u';
    t[b'&' as usize] = b'u';
    t[0xe2] = b'e';
    t
};

/// `ESCAPE[b] != 0` as comparisons, which vectorise (a table lookup per
/// byte does not); a test checks the two agree on every byte.
#[inline(always)]
fn marked(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\') | (b == b'<') | (b == b'>') | (b == b'&') | (b == 0xe2)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A node of the tree being written.
#[derive(Clone, Copy)]
enum Node<'a> {
    Value(&'a Value),
    Branch(&'a Branch),
}

/// An open container: its remaining children, and for the top-level object
/// an extra trailing member (`"sops"`).
enum Frame<'a> {
    Map {
        items: std::slice::Iter<'a, Item>,
        extra: Option<(&'a str, &'a Branch)>,
    },
    Seq(std::slice::Iter<'a, Value>),
}

impl<'a> Frame<'a> {
    fn next_child(&mut self) -> Option<(Option<&'a str>, Node<'a>)> {
        match self {
            Frame::Map { items, extra } => items
                .find_map(|item| match item {
                    Item::Entry(k, v) if !matches!(v, Value::Comment(_)) => {
                        Some((Some(k.as_str()), Node::Value(v)))
                    }
                    _ => None,
                })
                .or_else(|| extra.take().map(|(k, b)| (Some(k), Node::Branch(b)))),
            Frame::Seq(values) => values
                .find(|v| !matches!(v, Value::Comment(_)))
                .map(|v| (None, Node::Value(v))),
        }
    }

    fn close_byte(&self) -> u8 {
        match self {
            Frame::Map { .. } => b'}',
            Frame::Seq(_) => b']',
        }
    }
}

fn branch_is_empty(b: &Branch) -> bool {
    !b.0.iter()
        .any(|i| matches!(i, Item::Entry(_, v) if !matches!(v, Value::Comment(_))))
}

fn seq_is_empty(values: &[Value]) -> bool {
    values.iter().all(|v| matches!(v, Value::Comment(_)))
}

/// Writes JSON text into one buffer.
pub struct Writer<'i> {
    pub out: Vec<u8>,
    /// One level of indentation.
    indent: &'i [u8],
    /// `indent` repeated for the deepest level seen so far.
    pad: Vec<u8>,
    /// The level of what [`Writer::value`] writes (1: a top-level member's).
    base: usize,
}

impl<'i> Writer<'i> {
    pub fn new(indent: &'i [u8], capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            indent,
            pad: Vec::new(),
            base: 0,
        }
    }

    /// Writes a whole document: `root` plus, when given, a last member
    /// `extra` (the sops metadata). No trailing newline.
    pub fn document(
        &mut self,
        root: &Branch,
        extra: Option<(&str, &Branch)>,
    ) -> Result<(), StoreError> {
        if extra.is_none() && branch_is_empty(root) {
            self.out.extend_from_slice(b"{}");
            return Ok(());
        }
        self.out.push(b'{');
        let frame = Frame::Map {
            items: root.0.iter(),
            extra,
        };
        self.containers(frame)
    }

    /// Writes one value. No trailing newline.
    pub fn value(&mut self, value: &Value) -> Result<(), StoreError> {
        match self.open(Node::Value(value))? {
            Some(frame) => self.containers(frame),
            None => Ok(()),
        }
    }

    /// Writes a scalar or empty container and returns `None`, or writes the
    /// opening bracket of a non-empty container and returns its frame.
    fn open<'a>(&mut self, node: Node<'a>) -> Result<Option<Frame<'a>>, StoreError> {
        let value = match node {
            Node::Branch(b) => {
                return Ok(self.open_map(b));
            }
            Node::Value(v) => v,
        };
        match value {
            Value::Map(b) => return Ok(self.open_map(b)),
            Value::Seq(values) => {
                if seq_is_empty(values) {
                    self.out.extend_from_slice(b"[]");
                } else {
                    self.out.push(b'[');
                    return Ok(Some(Frame::Seq(values.iter())));
                }
            }
            Value::Null => self.out.extend_from_slice(b"null"),
            Value::Bool(true) => self.out.extend_from_slice(b"true"),
            Value::Bool(false) => self.out.extend_from_slice(b"false"),
            Value::Int(i) => self.int(*i),
            Value::Float(f) => match numfmt::format_json(*f) {
                Some(text) => self.out.extend_from_slice(text.as_bytes()),
                None => {
                    return Err(StoreError::Emit(format!(
                        "json: unsupported value: {}",
                        numfmt::format_f(*f)
                    )));
                }
            },
            // Go's `Time.MarshalJSON` refuses an offset of a day or more.
            Value::Time(t) if !t.zone_hour_in_range() => {
                return Err(StoreError::Emit(
                    "json: error calling MarshalJSON for type time.Time: \
                     Time.MarshalJSON: timezone hour outside of range [0,23]"
                        .into(),
                ));
            }
            Value::Time(t) => self.string(t.as_str()),
            Value::Str(s) | Value::Comment(crate::tree::Comment { text: s, .. }) => self.string(s),
            Value::Bytes(b) => self.bytes(b),
        }
        Ok(None)
    }

    fn open_map<'a>(&mut self, b: &'a Branch) -> Option<Frame<'a>> {
        if branch_is_empty(b) {
            self.out.extend_from_slice(b"{}");
            None
        } else {
            self.out.push(b'{');
            Some(Frame::Map {
                items: b.0.iter(),
                extra: None,
            })
        }
    }

    /// Writes the children of `root` (already opened) and everything below.
    fn containers<'a>(&mut self, root: Frame<'a>) -> Result<(), StoreError> {
        let mut stack = vec![(root, true)];
        loop {
            let depth = self.base + stack.len();
            let Some((frame, first)) = stack.last_mut() else {
                return Ok(());
            };
            match frame.next_child() {
                Some((key, node)) => {
                    if !std::mem::replace(first, false) {
                        self.out.push(b',');
                    }
                    self.newline(depth);
                    if let Some(key) = key {
                        self.string(key);
                        self.out.extend_from_slice(b": ");
                    }
                    if let Some(child) = self.open(node)? {
                        stack.push((child, true));
                    }
                }
                None => {
                    let close = frame.close_byte();
                    stack.pop();
                    self.newline(depth - 1);
                    self.out.push(close);
                }
            }
        }
    }

    fn newline(&mut self, depth: usize) {
        self.out.push(b'\n');
        let width = depth * self.indent.len();
        while self.pad.len() < width {
            self.pad.extend_from_slice(self.indent);
        }
        self.out.extend_from_slice(&self.pad[..width]);
    }

    fn int(&mut self, i: i64) {
        let mut buf = [0u8; 20];
        let mut n = i.unsigned_abs();
        let mut at = buf.len();
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if i < 0 {
            self.out.push(b'-');
        }
        self.out.extend_from_slice(&buf[at..]);
    }

    /// A quoted, escaped string.
    pub fn string(&mut self, s: &str) {
        self.out.push(b'"');
        self.escaped(s.as_bytes());
        self.out.push(b'"');
    }

    /// A quoted byte string; bytes that are not valid UTF-8 become `\ufffd`
    /// one by one (Go's `utf8.DecodeRune` steps one byte on error).
    fn bytes(&mut self, mut b: &[u8]) {
        self.out.push(b'"');
        loop {
            match std::str::from_utf8(b) {
                Ok(_) => {
                    self.escaped(b);
                    break;
                }
                Err(e) => {
                    let (valid, rest) = b.split_at(e.valid_up_to());
                    self.escaped(valid);
                    self.out.extend_from_slice(br"\ufffd");
                    b = rest.get(1..).unwrap_or_default();
                }
            }
        }
        self.out.push(b'"');
    }

    /// Escapes valid UTF-8 `s` (without quotes).
    fn escaped(&mut self, s: &[u8]) {
        // Most strings need no escape: one vectorised pass (no early exit)
        // over the bytes ESCAPE marks says so.
        let plain = !s.iter().fold(false, |any, &b| any | marked(b));
        if plain {
            self.out.extend_from_slice(s);
            return;
        }
        let mut run = 0;
        let mut i = 0;
        while i < s.len() {
            let class = ESCAPE[usize::from(s[i])];
            if class == 0 {
                i += 1;
                continue;
            }
            if class == b'e' {
                // U+2028 = E2 80 A8, U+2029 = E2 80 A9.
                match s.get(i + 1..i + 3) {
                    Some([0x80, 0xa8 | 0xa9]) => {}
                    _ => {
                        i += 1;
                        continue;
                    }
                }
                self.out.extend_from_slice(&s[run..i]);
                let last = if s[i + 2] == 0xa8 { b'8' } else { b'9' };
                self.out.extend_from_slice(br"\u202");
                self.out.push(last);
                i += 3;
                run = i;
                continue;
            }
            self.out.extend_from_slice(&s[run..i]);
            if class == b'u' {
                let c = s[i];
                self.out.extend_from_slice(br"\u00");
                self.out.push(HEX[usize::from(c >> 4)]);
                self.out.push(HEX[usize::from(c & 0xf)]);
            } else {
                self.out.push(b'\\');
                self.out.push(class);
            }
            i += 1;
            run = i;
        }
        self.out.extend_from_slice(&s[run..]);
    }
}

/// One plaintext document (the top-level object) given in runs of its
/// members, written as each run comes: in the end, the text
/// [`Writer::document`] and a newline make of it.
pub(crate) struct DocumentRuns {
    out: Vec<u8>,
    pad: Vec<u8>,
    indent: Vec<u8>,
    started: bool,
}

impl DocumentRuns {
    pub(crate) fn new(indent: Vec<u8>, capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            pad: Vec::new(),
            indent,
            started: false,
        }
    }

    /// Writes the next members, after making room for them
    /// ([`make_room_wiped`](crate::stores::make_room_wiped)): the
    /// estimate, generous but not a bound (strings of `<`, `&` or control
    /// characters, escaped six bytes to one, can exceed it).
    pub(crate) fn write_items(&mut self, items: &[Item]) -> Result<(), StoreError> {
        crate::stores::make_room_wiped(&mut self.out, estimate_members(items, self.indent.len()));
        let mut w = Writer {
            out: std::mem::take(&mut self.out),
            indent: &self.indent,
            pad: std::mem::take(&mut self.pad),
            base: 1,
        };
        let written = items.iter().try_for_each(|item| {
            let Item::Entry(key, value) = item else {
                return Ok(());
            };
            if matches!(value, Value::Comment(_)) {
                return Ok(());
            }
            w.out.push(if std::mem::replace(&mut self.started, true) { b',' } else { b'{' });
            w.newline(1);
            w.string(key);
            w.out.extend_from_slice(b": ");
            w.value(value)
        });
        self.out = w.out;
        self.pad = w.pad;
        written
    }

    /// The whole text.
    pub(crate) fn into_text(mut self) -> zeroize::Zeroizing<Box<[u8]>> {
        self.out.extend_from_slice(if self.started { b"\n}\n" } else { b"{}\n" });
        // Fitted to the text (see the YAML store's `DocumentRuns`).
        zeroize::Zeroizing::new(std::mem::take(&mut self.out).into_boxed_slice())
    }
}

impl Drop for DocumentRuns {
    /// Not finished (a MAC or a run that failed): the text so far is
    /// plaintext.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self.out.as_mut_slice());
    }
}

/// A generous guess of the output size, so that the buffer rarely grows.
pub fn estimate_size(root: &Branch, indent: usize) -> usize {
    estimate_members(&root.0, indent)
}

/// [`estimate_size`] of an object of the members `items` (some of the
/// top-level object's).
fn estimate_members(items: &[Item], indent: usize) -> usize {
    enum Node<'a> {
        Members(&'a [Item]),
        Value(&'a Value),
    }
    let mut size = 4;
    let mut stack: Vec<(Node<'_>, usize)> = vec![(Node::Members(items), 0)];
    while let Some((node, depth)) = stack.pop() {
        // A member of a branch at `depth` sits one level deeper: `,\n`,
        // its indentation, and `"`, `"`, `: ` around the key.
        let line = 4 + (depth + 1) * indent;
        match node {
            Node::Members(items) => {
                for item in items {
                    if let Item::Entry(k, v) = item {
                        size += line + k.len() + 4;
                        stack.push((Node::Value(v), depth + 1));
                    }
                }
                size += line;
            }
            Node::Value(v) => match v {
                Value::Map(b) => stack.push((Node::Members(&b.0), depth)),
                Value::Seq(values) => {
                    for v in values {
                        size += line;
                        stack.push((Node::Value(v), depth + 1));
                    }
                    size += line;
                }
                Value::Str(s) | Value::Comment(crate::tree::Comment { text: s, .. }) => {
                    size += s.len() + s.len() / 16 + 2;
                }
                Value::Bytes(b) => size += b.len() + b.len() / 8 + 2,
                Value::Time(t) => size += t.as_str().len() + 2,
                _ => size += 24,
            },
        }
    }
    size
}

#[cfg(test)]
mod marked_tests {
    use super::*;

    #[test]
    fn marked_is_the_escape_table() {
        for b in 0..=255u8 {
            assert_eq!(marked(b), ESCAPE[usize::from(b)] != 0, "byte {b:#04x}");
        }
    }
}
