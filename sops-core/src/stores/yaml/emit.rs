//! The sops tree as go-yaml v3 (the emitter of sops 3.11) writes it
//! (sops-format §5.1 "Emission"), into one growing buffer, or into a
//! writer as it goes (the buffer then holds one top-level entry or so).
//!
//! Layout: a node under a mapping key at column `k` is indented to the next
//! multiple of the indent above `k` (`k + indent` in a plain nest); a node in
//! a sequence item sits two columns right of its dash, so a mapping item
//! starts on the dash line. Comments are whole lines at the column of the
//! node they precede; the comments that open a mapping or sequence which is
//! itself a sequence item are written above the dash. An inline comment
//! (sops 3.13) ends the line of the scalar after it (` #text`), or of a
//! literal block's header.

use base64::Engine as _;

use crate::numfmt;
use crate::stores::make_room_wiped;
use crate::stores::yaml::resolve::{Resolved, is_base60_float, is_old_bool, resolve_plain};
use crate::tree::{Branch, Item, Value};

pub(crate) struct Emitter<'w> {
    pub(crate) out: Vec<u8>,
    best: usize,
    /// Line comments (sops 3.13) of the scalar being written: after its
    /// text, or after a literal block's header.
    line_comments: Vec<String>,
    /// Where `out` goes between top-level entries once it holds
    /// [`FLUSH_AT`] bytes (then it is wiped and emptied); without one,
    /// `out` is the whole text.
    sink: Option<&'w mut dyn std::io::Write>,
    /// The sink's first error; nothing more is written after it.
    sink_error: Option<std::io::Error>,
}

/// How much text a streaming [`Emitter`] holds before writing it.
const FLUSH_AT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// What the character analysis of a string allows (go-yaml's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(c, ' ' | '\t' | '\0') || is_break(c),
    }
}

/// go-yaml's printable set: LF, 0x20–0x7E, U+00A0–U+D7FF, U+E000–U+FFFD
/// except U+FEFF. Everything else (C0/C1 controls, DEL, U+FEFF and all
/// characters outside the BMP) must be escaped in a double-quoted scalar.
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        && c != '\u{FEFF}'
}

fn analyze(s: &str) -> Analysis {
    // Encrypted values and most plaintext are ASCII: one byte is one
    // character there, and a byte loop is several times cheaper than
    // decoding characters (this analysis was the largest cost of emitting
    // an encrypted file).
    if s.is_ascii() {
        return analyze_ascii(s.as_bytes());
    }
    analyze_chars(s)
}

/// go-yaml's analysis, character by character.
fn analyze_chars(s: &str) -> Analysis {
    let b = s.as_bytes();
    let mut block_indicators = b.starts_with(b"---") || b.starts_with(b"...");
    let mut special = false;
    let mut tabs = false;
    let mut line_breaks = false;
    // go-yaml also tracks leading and trailing breaks, but they only ever
    // forbid plain style, which any line break already does.
    let (mut leading_space, mut trailing_space) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let mut chars = s.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let followed_by_ws = is_blankz(next);
        let last = next.is_none();
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            space_break |= prev_space;
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blankz(Some(c));
        first = false;
    }
    let no_quotes = break_space || space_break || tabs || special;
    Analysis {
        block_plain: !(leading_space
            || trailing_space
            || no_quotes
            || line_breaks
            || block_indicators),
        single: !no_quotes,
        block: !(trailing_space || space_break || special),
    }
}

/// [`analyze`] for ASCII text: the same rules, byte by byte. For ASCII,
/// go-yaml's breaks are `\n` and `\r`, its printable set is `\n` and
/// 0x20–0x7E, and a blank is a space, tab, NUL, break or the end.
fn analyze_ascii(b: &[u8]) -> Analysis {
    // Most strings (keys, ENC[…] values, tokens) are graphic characters
    // only: no blanks, breaks or specials, so only the first character,
    // a final `:` and a `---`/`...` start can keep them from being plain.
    // One vectorised pass decides that (without an early exit).
    if b.iter()
        .fold(true, |graphic, &c| graphic & (c.wrapping_sub(0x21) < 0x5E))
        && let (Some(&first), Some(&last)) = (b.first(), b.last())
    {
        let indicator = matches!(
            first,
            b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`'
        ) || (b.len() == 1 && matches!(first, b'?' | b':' | b'-'))
            || last == b':'
            || b.starts_with(b"---")
            || b.starts_with(b"...");
        return Analysis {
            block_plain: !indicator,
            single: true,
            block: true,
        };
    }
    let blankz = |c: Option<&u8>| matches!(c, None | Some(b' ' | b'\t' | 0 | b'\n' | b'\r'));
    let mut block_indicators = b.starts_with(b"---") || b.starts_with(b"...");
    let (mut special, mut tabs, mut line_breaks) = (false, false, false);
    let (mut leading_space, mut trailing_space) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    for (i, &c) in b.iter().enumerate() {
        let next = b.get(i + 1);
        let followed_by_ws = blankz(next);
        if i == 0 {
            match c {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => block_indicators = true,
                b'?' | b':' | b'-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                b':' if followed_by_ws => block_indicators = true,
                b'#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        let is_break = matches!(c, b'\n' | b'\r');
        if c == b'\t' {
            tabs = true;
        } else if !matches!(c, b'\n' | b' '..=b'~') {
            special = true;
        }
        line_breaks |= is_break;
        if c == b' ' {
            leading_space |= i == 0;
            trailing_space |= next.is_none();
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break {
            space_break |= prev_space;
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = blankz(Some(&c));
    }
    let no_quotes = break_space || space_break || tabs || special;
    Analysis {
        block_plain: !(leading_space
            || trailing_space
            || no_quotes
            || line_breaks
            || block_indicators),
        single: !no_quotes,
        block: !(trailing_space || space_break || special),
    }
}

/// The style go-yaml picks for a string; `simple_key` when it is written as
/// `key:` (not as a `? key` complex key).
pub(crate) fn string_style(s: &str, simple_key: bool) -> Style {
    let a = analyze(s);
    if s.contains('\n') {
        return if a.block && !simple_key {
            Style::Literal
        } else {
            Style::Double
        };
    }
    if resolve_plain(s) != Resolved::Str || is_base60_float(s) || is_old_bool(s) {
        return Style::Double;
    }
    if a.block_plain && !(s.is_empty() && simple_key) {
        Style::Plain
    } else if a.single {
        Style::Single
    } else {
        Style::Double
    }
}

/// A key is written as `? key` when it spans lines or is longer than 128 bytes.
fn is_complex_key(k: &str) -> bool {
    k.len() > 128 || k.chars().any(is_break)
}

fn has_entries(b: &Branch) -> bool {
    b.0.iter().any(|i| matches!(i, Item::Entry(..)))
}

fn has_elements(items: &[Value]) -> bool {
    items.iter().any(|v| !matches!(v, Value::Comment(_)))
}

/// Comments written above a sequence dash for a container item: its opening
/// comments (all of them if it has no entries), and those of its own first
/// element when that is written on the same dash line.
fn collect_hoisted<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Map(b) => {
            for item in &b.0 {
                match item {
                    Item::Comment(c) if c.inline => {}
                    Item::Comment(c) => out.push(c),
                    Item::Entry(..) => break,
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                match item {
                    Value::Comment(c) if c.inline => {}
                    Value::Comment(c) => out.push(c),
                    // A scalar hoists nothing.
                    first => {
                        collect_hoisted(first, out);
                        break;
                    }
                }
            }
        }
        _ => {}
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// One plaintext document given in runs of its top-level items, written
/// as each run comes: in the end, the text [`Emitter::document`] writes for
/// the document they make.
pub(crate) struct DocumentRuns {
    e: Emitter<'static>,
    /// Line comments (sops 3.13) still waiting for the next entry.
    waiting: Vec<String>,
    /// The items before the first entry, kept back: a document without
    /// entries is written differently (`{}`). Only comments.
    before_first: zeroize::Zeroizing<Branch>,
    started: bool,
}

impl DocumentRuns {
    pub(crate) fn new(indent: usize, capacity: usize) -> Self {
        Self {
            e: Emitter::new(indent, capacity),
            waiting: Vec::new(),
            before_first: zeroize::Zeroizing::new(Branch::new()),
            started: false,
        }
    }

    /// Writes the next items, after making room for them
    /// ([`make_room_wiped`](crate::stores::make_room_wiped)): twice the
    /// estimate, which is not a bound (escapes of control characters,
    /// literal blocks of many short lines deep down can exceed it).
    pub(crate) fn write_items(&mut self, items: &[Item]) {
        let room = |items: &[Item]| 2 * super::estimate_items(items, 0) + 64 * 1024;
        if !self.started {
            if !items.iter().any(|i| matches!(i, Item::Entry(..))) {
                self.before_first.0.extend_from_slice(items);
                return;
            }
            self.started = true;
            let before = zeroize::Zeroizing::new(std::mem::take(&mut *self.before_first));
            make_room_wiped(&mut self.e.out, room(&before.0) + room(items));
            self.e.map_items(&before.0, 0, false, &mut self.waiting);
        } else {
            make_room_wiped(&mut self.e.out, room(items));
        }
        self.e.map_items(items, 0, false, &mut self.waiting);
    }

    /// The whole text.
    pub(crate) fn into_text(mut self) -> zeroize::Zeroizing<Box<[u8]>> {
        if self.started {
            let room = self.waiting.iter().map(|c| c.len() + 2).sum();
            make_room_wiped(&mut self.e.out, room);
            for c in std::mem::take(&mut self.waiting) {
                self.e.comment_line(0, &c);
            }
        } else {
            let before = std::mem::take(&mut *self.before_first);
            self.e.document(&before, None);
            let _wiped = zeroize::Zeroizing::new(before);
        }
        // Fitted to the text, so that wiping it does not touch the room
        // left over (a `Vec` is wiped to its capacity): a buffer that size
        // is shrunk where it lies, not copied (glibc's realloc).
        zeroize::Zeroizing::new(std::mem::take(&mut self.e.out).into_boxed_slice())
    }
}

impl Drop for DocumentRuns {
    /// Not finished (a MAC or a run that failed): the text so far is
    /// plaintext.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self.e.out.as_mut_slice());
        zeroize::Zeroize::zeroize(&mut self.waiting);
    }
}

impl<'w> Emitter<'w> {
    /// An emitter that writes to `sink` as it goes (see
    /// [`Emitter::finish`]).
    pub(crate) fn streaming(indent: usize, sink: &'w mut dyn std::io::Write) -> Self {
        let mut e = Self::new(indent, FLUSH_AT * 2);
        e.sink = Some(sink);
        e
    }

    /// Writes what a streaming emitter still holds; its sink's first
    /// error, if any.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        self.write_out(0);
        self.sink_error.map_or(Ok(()), Err)
    }

    /// Writes all of `out` but its last `keep` bytes to the sink, wipes
    /// what was written and drops it from `out`.
    fn write_out(&mut self, keep: usize) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        let upto = self.out.len().saturating_sub(keep);
        if self.sink_error.is_none()
            && let Err(e) = sink.write_all(&self.out[..upto])
        {
            self.sink_error = Some(e);
        }
        zeroize::Zeroize::zeroize(&mut self.out[..upto]);
        self.out.drain(..upto);
    }

    pub(crate) fn new(indent: usize, capacity: usize) -> Self {
        let best = match indent {
            0 => 4,
            2..=9 => indent,
            _ => 2,
        };
        Self {
            out: Vec::with_capacity(capacity),
            best,
            line_comments: Vec::new(),
            sink: None,
            sink_error: None,
        }
    }

    /// Indentation of a node under a mapping key at column `k`.
    fn child(&self, k: usize) -> usize {
        self.best * ((k + self.best) / self.best)
    }

    fn pad(&mut self, n: usize) {
        self.out.resize(self.out.len() + n, b' ');
    }

    fn comment_line(&mut self, col: usize, text: &str) {
        self.pad(col);
        self.out.push(b'#');
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'\n');
    }

    /// One document: a block mapping, `{}` when it has no entries.
    pub(crate) fn document(&mut self, doc: &Branch, metadata: Option<&Branch>) {
        if !has_entries(doc) && metadata.is_none() {
            for item in &doc.0 {
                if let Item::Comment(c) = item {
                    self.comment_line(0, c);
                }
            }
            self.out.extend_from_slice(b"{}\n");
            return;
        }
        self.map_body(&doc.0, 0, false);
        if let Some(meta) = metadata {
            self.pad(0);
            self.entry("sops", &Value::Map(meta.clone()), 0);
        }
    }

    /// A single value (`--extract`).
    pub(crate) fn value(&mut self, v: &Value) {
        match v {
            Value::Map(b) => self.document(b, None),
            Value::Seq(items) if has_elements(items) => self.seq_body(items, 0, false),
            Value::Seq(items) => {
                for item in items {
                    if let Value::Comment(c) = item {
                        self.comment_line(0, c);
                    }
                }
                self.out.extend_from_slice(b"[]\n");
            }
            scalar => {
                let indent = self.best;
                self.scalar(scalar, indent, 0);
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        if self.out.last() != Some(&b'\n') {
            self.out.push(b'\n');
        }
    }

    /// Writes the first waiting line comment at the end of the current
    /// line (go-yaml: one space, then `#`) and returns the others, which
    /// go on lines of their own once the line has ended.
    fn line_comment(&mut self) -> Vec<String> {
        let mut comments = std::mem::take(&mut self.line_comments);
        if comments.is_empty() {
            return comments;
        }
        let first = comments.remove(0);
        self.out.extend_from_slice(b" #");
        self.out.extend_from_slice(first.as_bytes());
        comments
    }

    /// Mapping entries at column `indent`; with `inline` the cursor already
    /// stands at that column (after `- `) and leading comments were hoisted.
    /// A line comment waits for the next entry and goes at the end of its
    /// value's line (sops 3.13); with no entry after it, it becomes a
    /// comment line, as sops 3.13 makes it.
    fn map_body(&mut self, items: &[Item], indent: usize, inline: bool) {
        let mut waiting: Vec<String> = Vec::new();
        self.map_items(items, indent, inline, &mut waiting);
        for c in waiting {
            self.comment_line(indent, &c);
        }
    }

    /// [`Emitter::map_body`] without its end: the line comments still
    /// waiting for an entry stay in `waiting`, where the items of the same
    /// mapping given next find them.
    fn map_items(&mut self, items: &[Item], indent: usize, mut inline: bool, waiting: &mut Vec<String>) {
        for item in items {
            match item {
                Item::Comment(c) if c.inline => waiting.push(c.text.clone()),
                Item::Comment(c) => {
                    if !inline {
                        self.comment_line(indent, c);
                    }
                }
                Item::Entry(k, v) => {
                    if !inline {
                        self.pad(indent);
                    }
                    inline = false;
                    self.line_comments = std::mem::take(waiting);
                    self.entry(k, v, indent);
                    if indent == 0 && self.out.len() >= FLUSH_AT {
                        // (The last byte stays: `end_line` looks at it.)
                        self.write_out(1);
                    }
                }
            }
        }
    }

    /// Sequence items with dashes at column `indent`.
    fn seq_body(&mut self, items: &[Value], indent: usize, mut inline: bool) {
        let mut hoisted = Vec::new();
        // Line comments (sops 3.13) waiting for the next item: at the end
        // of a scalar item's line, else on lines above it (3.11's place;
        // go-yaml would drop the line comment of a nested sequence).
        let mut waiting: Vec<String> = Vec::new();
        for item in items {
            if let Value::Comment(c) = item {
                if c.inline {
                    waiting.push(c.text.clone());
                } else if !inline {
                    self.comment_line(indent, c);
                }
                continue;
            }
            if matches!(item, Value::Map(_) | Value::Seq(_)) {
                if !waiting.is_empty() && inline {
                    // (Only a tree built by hand gets here: the dash line
                    // was begun, so the comments go below it.)
                    self.out.push(b'\n');
                    inline = false;
                }
                for c in waiting.drain(..) {
                    self.comment_line(indent, &c);
                }
            }
            self.line_comments = std::mem::take(&mut waiting);
            if !inline {
                hoisted.clear();
                collect_hoisted(item, &mut hoisted);
                for c in &hoisted {
                    self.comment_line(indent, c);
                }
                self.pad(indent);
            }
            inline = false;
            self.out.extend_from_slice(b"- ");
            let inner = indent + 2;
            match item {
                // The comments before the first entry were hoisted, but for
                // line comments, which stay with their entry.
                Value::Map(b) if has_entries(b) => {
                    let start = b.0.iter().position(|i| match i {
                        Item::Entry(..) => true,
                        Item::Comment(c) => c.inline,
                    });
                    self.map_body(&b.0[start.unwrap_or(0)..], inner, true);
                }
                Value::Seq(s) if has_elements(s) => {
                    let start = s.iter().position(|v| match v {
                        Value::Comment(c) => c.inline,
                        _ => true,
                    });
                    self.seq_body(&s[start.unwrap_or(0)..], inner, true);
                }
                Value::Map(_) => self.out.extend_from_slice(b"{}\n"),
                Value::Seq(_) => self.out.extend_from_slice(b"[]\n"),
                scalar => {
                    self.scalar(scalar, inner, indent);
                    let rest = self.line_comment();
                    self.end_line();
                    for c in rest {
                        self.comment_line(indent, &c);
                    }
                }
            }
        }
        for c in waiting {
            self.comment_line(indent, &c);
        }
    }

    /// `key: value` with the cursor at the key's column `indent`.
    fn entry(&mut self, k: &str, v: &Value, indent: usize) {
        let child = self.child(indent);
        // The value's line comments, kept away from a key written as a
        // literal block.
        let line_comments = std::mem::take(&mut self.line_comments);
        if k == "<<" {
            self.out.extend_from_slice(b"!!merge <<:");
        } else if is_complex_key(k) {
            self.out.extend_from_slice(b"? ");
            let style = string_style(k, false);
            self.string(k, style, child, indent);
            self.end_line();
            self.pad(indent);
            self.out.push(b':');
        } else {
            let style = string_style(k, true);
            self.string(k, style, child, indent);
            self.out.push(b':');
        }
        self.line_comments = line_comments;
        match v {
            // A line comment of a collection follows the key (only a tree
            // built by hand has one: the loader keeps those above).
            Value::Map(b) if has_entries(b) => {
                let rest = self.line_comment();
                self.out.push(b'\n');
                for c in rest {
                    self.comment_line(child, &c);
                }
                self.map_body(&b.0, child, false);
            }
            Value::Seq(items) if has_elements(items) => {
                let rest = self.line_comment();
                self.out.push(b'\n');
                for c in rest {
                    self.comment_line(child, &c);
                }
                self.seq_body(items, child, false);
            }
            Value::Map(b) => {
                let comments = b.0.iter().filter_map(|i| match i {
                    Item::Comment(c) => Some(c.as_str()),
                    Item::Entry(..) => None,
                });
                self.empty_map(comments, child);
            }
            // go-yaml writes the head comments of an empty flow sequence
            // after it, at the key's column.
            Value::Seq(items) => {
                self.out.extend_from_slice(b" []\n");
                for item in items {
                    if let Value::Comment(c) = item {
                        self.comment_line(indent, c);
                    }
                }
            }
            scalar => {
                self.out.push(b' ');
                self.scalar(scalar, child, indent);
                let rest = self.line_comment();
                self.end_line();
                for c in rest {
                    self.comment_line(indent, &c);
                }
            }
        }
        // (An empty collection's line comments.)
        for c in std::mem::take(&mut self.line_comments) {
            self.comment_line(indent, &c);
        }
    }

    fn empty_map<'a>(&mut self, comments: impl Iterator<Item = &'a str>, child: usize) {
        let mut any = false;
        for c in comments {
            if !any {
                self.out.push(b'\n');
                any = true;
            }
            self.comment_line(child, c);
        }
        if any {
            self.pad(child);
        } else {
            self.out.push(b' ');
        }
        self.out.extend_from_slice(b"{}\n");
    }

    /// A scalar; `indent` is where block-literal lines and folded
    /// continuation lines start, `parent` the column of the key or dash it
    /// belongs to.
    fn scalar(&mut self, v: &Value, indent: usize, parent: usize) {
        match v {
            Value::Null => self.out.extend_from_slice(b"null"),
            Value::Bool(true) => self.out.extend_from_slice(b"true"),
            Value::Bool(false) => self.out.extend_from_slice(b"false"),
            Value::Int(i) => self.int(*i),
            Value::Float(f) => self
                .out
                .extend_from_slice(numfmt::format_yaml(*f).as_bytes()),
            Value::Time(t) => self.out.extend_from_slice(t.as_str().as_bytes()),
            Value::Str(s) | Value::Comment(crate::tree::Comment { text: s, .. }) => {
                let style = string_style(s, false);
                self.string(s, style, indent, parent);
            }
            Value::Bytes(bytes) => self.binary(bytes, indent, parent),
            Value::Map(_) => self.out.extend_from_slice(b"{}"),
            Value::Seq(_) => self.out.extend_from_slice(b"[]"),
        }
    }

    fn int(&mut self, i: i64) {
        let mut buf = [0u8; 20];
        let mut n = i.unsigned_abs();
        let mut pos = buf.len();
        loop {
            pos -= 1;
            buf[pos] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if i < 0 {
            self.out.push(b'-');
        }
        self.out.extend_from_slice(&buf[pos..]);
    }

    /// Invalid UTF-8: `!!binary` with base64, broken into 70-column lines
    /// (then a literal block) when it is that long.
    fn binary(&mut self, bytes: &[u8], indent: usize, parent: usize) {
        let enc = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.out.extend_from_slice(b"!!binary ");
        // (base64 text is never exactly 70 long: `<` and `<=` agree.)
        if enc.len() < 70 {
            self.out.extend_from_slice(enc.as_bytes());
            return;
        }
        let mut text = String::with_capacity(enc.len() + enc.len() / 70 + 1);
        for chunk in enc.as_bytes().chunks(70) {
            text.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            text.push('\n');
        }
        self.literal(&text, indent, parent);
    }

    fn string(&mut self, s: &str, style: Style, indent: usize, parent: usize) {
        match style {
            Style::Plain => self.out.extend_from_slice(s.as_bytes()),
            Style::Single => self.single_quoted(s, indent),
            Style::Double => self.double_quoted(s),
            Style::Literal => self.literal(s, indent, parent),
        }
    }

    /// Only strings without `\n` and without a space next to a line break
    /// get here (`string_style`), so go-yaml's doubling of the first `\n`
    /// and its special case of spaces after a break never apply.
    fn single_quoted(&mut self, s: &str, indent: usize) {
        self.out.push(b'\'');
        let mut breaks = false;
        let mut buf = [0u8; 4];
        for c in s.chars() {
            if is_break(c) {
                breaks = true;
            } else {
                if breaks {
                    self.pad(indent);
                }
                if c == '\'' {
                    self.out.push(b'\'');
                }
                breaks = false;
            }
            self.out
                .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        self.out.push(b'\'');
    }

    fn double_quoted(&mut self, s: &str) {
        self.out.push(b'"');
        // go-yaml 3.0.4 tests for a byte-order mark at the start of the
        // string instead of at each position: a leading U+FEFF makes it
        // escape every character.
        let escape_all = s.starts_with('\u{FEFF}');
        let mut buf = [0u8; 4];
        for c in s.chars() {
            if escape_all || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
                self.escape(c);
            } else {
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        self.out.push(b'"');
    }

    fn escape(&mut self, c: char) {
        let short = match c {
            '\0' => Some(b'0'),
            '\u{7}' => Some(b'a'),
            '\u{8}' => Some(b'b'),
            '\t' => Some(b't'),
            '\n' => Some(b'n'),
            '\u{B}' => Some(b'v'),
            '\u{C}' => Some(b'f'),
            '\r' => Some(b'r'),
            '\u{1B}' => Some(b'e'),
            '"' => Some(b'"'),
            '\\' => Some(b'\\'),
            '\u{85}' => Some(b'N'),
            '\u{A0}' => Some(b'_'),
            '\u{2028}' => Some(b'L'),
            '\u{2029}' => Some(b'P'),
            _ => None,
        };
        self.out.push(b'\\');
        if let Some(e) = short {
            self.out.push(e);
            return;
        }
        let v = u32::from(c);
        let (letter, digits) = if v <= 0xFF {
            (b'x', 2)
        } else if v <= 0xFFFF {
            (b'u', 4)
        } else {
            (b'U', 8)
        };
        self.out.push(letter);
        for shift in (0..digits).rev() {
            self.out.push(HEX[((v >> (shift * 4)) & 0xF) as usize]);
        }
    }

    /// A literal block `|` with its indentation and chomping indicators.
    ///
    /// The indentation indicator (needed when the text starts with a space
    /// or a line break) is the distance from the parent node's column
    /// (`parent`) to the content. go-yaml writes its indent setting there,
    /// which is the same number wherever its output is readable; under a
    /// sequence dash or a key of a mapping in a sequence it is not (go-yaml
    /// then writes YAML that neither it nor sops can read back), and we
    /// write the number a reader needs instead.
    fn literal(&mut self, s: &str, indent: usize, parent: usize) {
        self.out.push(b'|');
        let mut chars = s.chars();
        if let Some(first) = s.chars().next()
            && (first == ' ' || is_break(first))
        {
            let hint = indent.saturating_sub(parent).clamp(1, 9);
            self.out.push(b'0' + hint as u8);
        }
        let last = chars.next_back();
        let before_last = chars.next_back();
        match (last, before_last) {
            (Some(l), _) if !is_break(l) => self.out.push(b'-'),
            (Some(_), None) => self.out.push(b'+'),
            (Some(_), Some(b)) if is_break(b) => self.out.push(b'+'),
            // (The text is never empty: it holds a line break.)
            _ => {}
        }
        let rest = self.line_comment();
        self.out.push(b'\n');
        let mut breaks = true;
        let mut buf = [0u8; 4];
        for c in s.chars() {
            if is_break(c) {
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                breaks = true;
            } else {
                if breaks {
                    self.pad(indent);
                }
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                breaks = false;
            }
        }
        self.end_line();
        for c in rest {
            self.comment_line(parent, &c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte loop agrees with the character loop on every ASCII string
    /// of up to four characters drawn from the bytes the rules look at.
    #[test]
    fn ascii_analysis_matches_the_character_analysis() {
        const ALPHABET: &[u8] = b" \t\n\r\0\x7f#:-?'\"|>a.,[!%@`{}&*~";
        let mut s = Vec::new();
        fn each(s: &mut Vec<u8>, left: usize) {
            let text = std::str::from_utf8(s).unwrap();
            assert_eq!(analyze_ascii(s), analyze_chars(text), "{text:?}");
            if left == 0 {
                return;
            }
            for &c in ALPHABET {
                s.push(c);
                each(s, left - 1);
                s.pop();
            }
        }
        each(&mut s, 4);
        for text in [
            "---",
            "...",
            "--- a",
            "---a",
            "....",
            "a:b:",
            "https://example.invalid/a#b",
            "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]",
        ] {
            assert_eq!(
                analyze_ascii(text.as_bytes()),
                analyze_chars(text),
                "{text:?}"
            );
        }
    }
}
