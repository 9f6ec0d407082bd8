//! A one-pass JSON parser straight into the tree.
//!
//! Why not serde_json: sops keeps member order *and* duplicate members, and
//! its plaintext numbers and error texts are Go's. The parser is iterative
//! (an explicit stack of open containers), so deep input cannot overflow the
//! thread's stack; it allocates only the tree's own strings and vectors.
//!
//! Behaviour follows Go's `encoding/json` scanner as sops 3.11 drives it
//! (`json.Decoder.Token`): strict RFC 8259 syntax, invalid UTF-8 inside
//! strings and lone surrogate escapes become U+FFFD (one per bad byte, as
//! Go's `utf8.DecodeRune`), error texts worded as Go's. Nesting is limited
//! by [`StoreLimits::max_depth`](crate::stores::StoreLimits), 1 000 by
//! default where Go's `maxNestingDepth` is 10 000 (see
//! [`DEFAULT_MAX_DEPTH`](crate::stores::DEFAULT_MAX_DEPTH) for why). Error texts never quote anything from inside a string.

use crate::stores::StoreError;
use crate::tree::{Branch, Item, Value};

/// Bytes that end the fast scan of a string: `"`, `\` and control characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// What a value starts with.
/// The start of sops 3.13's error for a file whose top level is not an
/// object.
const TOP_LEVEL_ONLY: &str =
    "SOPS only supports JSON files with a top-level object (starting with '{'), not ";

enum Start {
    Scalar(Value),
    Object,
    Array,
}

/// A container being filled. An object carries the key of the member whose
/// value is being parsed.
enum Frame {
    Object(Vec<Item>, String),
    Array(Vec<Value>),
}

impl Frame {
    fn attach(&mut self, value: Value) {
        match self {
            Frame::Object(items, key) => items.push(Item::Entry(std::mem::take(key), value)),
            Frame::Array(values) => values.push(value),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Frame::Object(items, _) => Value::Map(Branch(items)),
            Frame::Array(values) => Value::Seq(values),
        }
    }
}

/// Where a parse stopped: the top-level object and the offset just after it.
pub struct Parsed {
    pub branch: Branch,
    pub end: usize,
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    max_depth: usize,
}

/// How the top of the input is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// sops' plain load (`json.Decoder.Token`): empty input is `EOF`.
    Token,
    /// sops' encrypted load (`json.Unmarshal`): empty input is a syntax error.
    Unmarshal,
}

/// Parses the top-level object of `input`. Text after it is not looked at.
/// `max_depth` counts the top-level object as one level.
pub fn parse_object(input: &[u8], mode: Mode, max_depth: usize) -> Result<Parsed, StoreError> {
    parse_object_with(input, mode, max_depth, None)
}

/// Where [`parse_object_visiting`] hands the top-level object's members.
pub struct Visitor<'v> {
    visit: &'v mut dyn FnMut(Vec<Item>) -> bool,
    /// Where the last run handed over ended.
    last: usize,
    /// `visit` refused a run: the parse stopped there.
    pub refused: bool,
}

impl<'v> Visitor<'v> {
    pub fn new(visit: &'v mut dyn FnMut(Vec<Item>) -> bool) -> Self {
        Self {
            visit,
            last: 0,
            refused: false,
        }
    }
}

/// [`parse_object`] of an encrypted file's text ([`Mode::Unmarshal`]),
/// handing `visitor` the top-level members parsed so far each time
/// [`VISIT_EVERY`](crate::stores::VISIT_EVERY) more bytes have been read;
/// the members after the last run are the result's.
pub fn parse_object_visiting(
    input: &[u8],
    max_depth: usize,
    visitor: &mut Visitor<'_>,
) -> Result<Parsed, StoreError> {
    parse_object_with(input, Mode::Unmarshal, max_depth, Some(visitor))
}

fn parse_object_with(
    input: &[u8],
    mode: Mode,
    max_depth: usize,
    visitor: Option<&mut Visitor<'_>>,
) -> Result<Parsed, StoreError> {
    let mut p = Parser {
        input,
        pos: 0,
        max_depth,
    };
    p.skip_ws();
    match p.peek() {
        None if mode == Mode::Token => return Err(StoreError::Shape("EOF".into())),
        Some(b'{') => p.pos += 1,
        // sops 3.13's wording (#2138, `treeBranchFromJSON`); 3.11 said
        // "Expected JSON object start, got delimiter [ instead".
        Some(b'[') => {
            return Err(StoreError::Shape(format!(
                "{TOP_LEVEL_ONLY}arrays or other types. Got delimiter [ instead. To encrypt this file, wrap it in an object, e.g., {{\"data\": [...]}}"
            )));
        }
        _ => {
            // sops 3.13 prints the value too ("Got 42 of type int"): it may
            // be the secret itself, so we name only its Go type (int for an
            // integer that fits int64, as 3.13.2 decodes it).
            let go_type = match p.value_start()? {
                Start::Scalar(Value::Str(_)) => "string",
                Start::Scalar(Value::Bool(_)) => "bool",
                Start::Scalar(Value::Null) => "<nil>",
                Start::Scalar(Value::Int(_)) => "int",
                _ => "float64",
            };
            return Err(StoreError::Shape(format!(
                "{TOP_LEVEL_ONLY}other JSON types. Got a value of type {go_type} instead"
            )));
        }
    }
    let branch = p.object_body(visitor)?;
    Ok(Parsed { branch, end: p.pos })
}

/// The first non-whitespace offset at or after `pos`.
pub fn skip_ws_from(input: &[u8], pos: usize) -> usize {
    let mut p = Parser {
        input,
        pos,
        max_depth: 0,
    };
    p.skip_ws();
    p.pos
}

/// A syntax error at `pos` (line counted from the start of `input`).
pub fn syntax_error(input: &[u8], pos: usize, message: String) -> StoreError {
    StoreError::Syntax {
        format: "json",
        line: line_at(input, pos),
        message,
    }
}

/// The 1-based line of byte offset `pos`.
fn line_at(input: &[u8], pos: usize) -> usize {
    let end = pos.min(input.len());
    1 + input[..end].iter().filter(|&&b| b == b'\n').count()
}

/// `'c'` as Go's scanner quotes an offending byte outside strings.
pub fn quote_byte(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        0x07 => r"'\a'".into(),
        0x08 => r"'\b'".into(),
        0x0c => r"'\f'".into(),
        0x0b => r"'\v'".into(),
        0x00..=0x1f | 0x7f => format!(r"'\x{c:02x}'"),
        // Go converts the byte to the rune of the same number.
        0x80..=0xa0 | 0xad => format!(r"'\u{c:04x}'"),
        _ => format!("'{}'", char::from(c)),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn error(&self, message: impl Into<String>) -> StoreError {
        syntax_error(self.input, self.pos, message.into())
    }

    fn eof(&self) -> StoreError {
        self.error("unexpected EOF")
    }

    /// Go: `invalid character 'c' <context>`, or EOF at the end of input.
    fn invalid(&self, context: &str) -> StoreError {
        match self.peek() {
            None => self.eof(),
            Some(c) => self.error(format!("invalid character {} {context}", quote_byte(c))),
        }
    }

    /// Parses members after the opening `{` of the top-level object, with an
    /// explicit stack for nested containers; hands finished members to
    /// `visitor`, if any (when it refuses them, the rest is not parsed).
    fn object_body(&mut self, mut visitor: Option<&mut Visitor<'_>>) -> Result<Branch, StoreError> {
        let mut stack = vec![Frame::Object(Vec::new(), String::new())];
        let mut first = true;
        loop {
            if let (Some(v), [Frame::Object(items, _)]) = (visitor.as_deref_mut(), stack.as_mut_slice())
                && self.pos - v.last >= crate::stores::VISIT_EVERY
                && !items.is_empty()
            {
                // (Between members: every one in `items` is whole.)
                v.last = self.pos;
                if !(v.visit)(std::mem::take(items)) {
                    v.refused = true;
                    return Ok(Branch::new());
                }
            }
            self.skip_ws();
            let Some(top) = stack.last_mut() else {
                return Ok(Branch::new());
            };
            let close = match top {
                Frame::Object(_, key) => {
                    let close = match self.peek() {
                        Some(b'}') => true,
                        _ if first => false,
                        Some(b',') => {
                            self.pos += 1;
                            self.skip_ws();
                            false
                        }
                        _ => return Err(self.invalid("after object key:value pair")),
                    };
                    if !close {
                        if self.peek() != Some(b'"') {
                            return Err(self.invalid("looking for beginning of object key string"));
                        }
                        *key = self.string()?;
                        self.skip_ws();
                        if self.peek() != Some(b':') {
                            return Err(self.invalid("after object key"));
                        }
                        self.pos += 1;
                        self.skip_ws();
                    }
                    close
                }
                Frame::Array(_) => match self.peek() {
                    Some(b']') => true,
                    _ if first => false,
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                        false
                    }
                    _ => return Err(self.invalid("after array element")),
                },
            };
            if close {
                self.pos += 1;
                let Some(done) = stack.pop() else {
                    return Ok(Branch::new());
                };
                match stack.last_mut() {
                    Some(parent) => parent.attach(done.into_value()),
                    None => {
                        return Ok(match done {
                            Frame::Object(items, _) => Branch(items),
                            Frame::Array(_) => Branch::new(),
                        });
                    }
                }
                first = false;
                continue;
            }
            if let Some(b'{' | b'[') = self.peek()
                && stack.len() >= self.max_depth
            {
                return Err(StoreError::TooDeep {
                    format: "json",
                    line: line_at(self.input, self.pos),
                    max_depth: self.max_depth,
                });
            }
            match self.value_start()? {
                Start::Scalar(v) => {
                    if let Some(top) = stack.last_mut() {
                        top.attach(v);
                    }
                    first = false;
                }
                Start::Object => {
                    stack.push(Frame::Object(Vec::new(), String::new()));
                    first = true;
                }
                Start::Array => {
                    stack.push(Frame::Array(Vec::new()));
                    first = true;
                }
            }
        }
    }

    /// Reads a scalar, or the opening bracket of a container.
    fn value_start(&mut self) -> Result<Start, StoreError> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                Ok(Start::Object)
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Start::Array)
            }
            Some(b'"') => Ok(Start::Scalar(Value::Str(self.string()?))),
            Some(b'-' | b'0'..=b'9') => Ok(Start::Scalar(self.number()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            _ => Err(self.invalid("looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &'static [u8], value: Value) -> Result<Start, StoreError> {
        let name = std::str::from_utf8(word).unwrap_or_default();
        for &expected in word {
            match self.peek() {
                Some(c) if c == expected => self.pos += 1,
                _ => {
                    let want = quote_byte(expected);
                    return Err(self.invalid(&format!("in literal {name} (expecting {want})")));
                }
            }
        }
        Ok(Start::Scalar(value))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// A number: an integer that fits i64 becomes `Int` (sops 3.13.2; 3.11
    /// reads every number as float64, losing digits above 2^53), anything
    /// else `Float`. `-0` stays the float -0 so that it prints back as `-0`.
    fn number(&mut self) -> Result<Value, StoreError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.invalid("in numeric literal")),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.invalid("after decimal point in numeric literal"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.invalid("in exponent of numeric literal"));
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default();
        if integral
            && text != "-0"
            && let Ok(i) = text.parse::<i64>()
        {
            return Ok(Value::Int(i));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => {
                let err = "json: cannot unmarshal number into Go value of type float64";
                Err(syntax_error(self.input, start, err.into()))
            }
        }
    }

    /// A string starting at the current `"`; leaves `pos` after the closing quote.
    fn string(&mut self) -> Result<String, StoreError> {
        self.pos += 1;
        let input = self.input;
        let start = self.pos;
        let i = plain_run_end(input, start);
        // Fast path: no escapes.
        if input.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok(to_string_go(&input[start..i]));
        }
        let mut out = Vec::with_capacity(i - start + 16);
        out.extend_from_slice(&input[start..i]);
        self.pos = i;
        loop {
            match self.peek() {
                None => return Err(self.eof()),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(c) if c < 0x20 => {
                    return Err(self.error("invalid character in string literal"));
                }
                Some(_) => {
                    let run = self.pos;
                    let j = plain_run_end(input, run);
                    out.extend_from_slice(&input[run..j]);
                    self.pos = j;
                }
            }
        }
        Ok(match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => lossy_go(e.as_bytes()),
        })
    }

    /// Four hex digits after `\u` at `at`, if present.
    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.input.get(at..at + 4)?;
        let mut v = 0;
        for &d in digits {
            v = v * 16 + char::from(d).to_digit(16)?;
        }
        Some(v)
    }

    /// One escape sequence at `pos` (which holds the backslash).
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        self.pos += 1;
        let simple = match self.peek() {
            None => return Err(self.eof()),
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                self.pos += 1;
                let cp = self.unicode_escape()?;
                let mut buf = [0; 4];
                out.extend_from_slice(cp.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            Some(_) => return Err(self.error("invalid character in string escape code")),
        };
        self.pos += 1;
        out.push(simple);
        Ok(())
    }

    /// The code point of `XXXX` (and a following `\uYYYY` low surrogate);
    /// `pos` is just after `\u`. Lone surrogates give U+FFFD, as in Go.
    fn unicode_escape(&mut self) -> Result<char, StoreError> {
        // Errors report a line only, and a string never spans lines, so
        // they need not point at the offending digit.
        for k in 0..4 {
            match self.input.get(self.pos + k) {
                None => return Err(self.eof()),
                Some(d) if d.is_ascii_hexdigit() => {}
                Some(_) => {
                    return Err(self.error("invalid character in \\u hexadecimal character escape"));
                }
            }
        }
        let hi = self.hex4(self.pos).unwrap_or(0xfffd);
        self.pos += 4;
        if !(0xd800..0xe000).contains(&hi) {
            return Ok(char::from_u32(hi).unwrap_or('\u{fffd}'));
        }
        if (0xd800..0xdc00).contains(&hi)
            && self.input.get(self.pos..self.pos + 2) == Some(b"\\u")
            && let Some(lo @ 0xdc00..=0xdfff) = self.hex4(self.pos + 2)
        {
            self.pos += 6;
            let cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
            return Ok(char::from_u32(cp).unwrap_or('\u{fffd}'));
        }
        Ok('\u{fffd}')
    }
}

/// The offset of the first byte at or after `from` that ends a plain run
/// of string content (`"`, `\` or a control character), or the input length.
/// A vectorised search for the quote or backslash, then a vectorised check
/// (no early exit) that no control character comes before it; only a run
/// holding one is walked byte by byte (an error follows anyway).
fn plain_run_end(input: &[u8], from: usize) -> usize {
    let tail = input.get(from..).unwrap_or_default();
    let stop = memchr::memchr2(b'"', b'\\', tail).unwrap_or(tail.len());
    let run = &tail[..stop];
    if !run.iter().fold(false, |control, &b| control | (b < 0x20)) {
        return from + stop;
    }
    let mut i = from;
    while i < input.len() && !STRING_STOP[usize::from(input[i])] {
        i += 1;
    }
    i
}

/// Bytes to a string as Go's decoder does: each byte that does not start a
/// valid UTF-8 sequence becomes one U+FFFD.
pub fn to_string_go(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => lossy_go(bytes),
    }
}

fn lossy_go(mut bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    loop {
        match std::str::from_utf8(bytes) {
            Ok(valid) => {
                s.push_str(valid);
                return s;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                s.push_str(std::str::from_utf8(valid).unwrap_or_default());
                s.push('\u{fffd}');
                bytes = rest.get(1..).unwrap_or_default();
            }
        }
    }
}
