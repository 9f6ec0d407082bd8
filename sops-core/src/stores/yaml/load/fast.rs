//! A fast path for the YAML most files are: block mappings and sequences,
//! one entry per line, single-line plain or simply quoted scalars, `[]`,
//! `{}`, literal block scalars (the `enc: |` of every `sops:` block) and
//! comments on lines of their own. That is what sops and we write, and what
//! most hand-written files look like.
//!
//! It reads the text line by line and hands the same events the parser
//! would produce to the same [`Builder`], so the tree, comment placement,
//! limits and duplicate-key rules stay in one place. Anything outside that
//! shape (flow collections with content, multi-line or escaped scalars,
//! anchors, tags, tabs, same-line comments, several documents, …) makes it
//! give up; the caller then parses the whole text with the parser, as it
//! does for every error the builder reports here (so error messages and
//! their line numbers are always the parser's). Giving up costs at most one
//! extra pass over the text; differential tests (`fast_path_*` below) hold
//! the two paths to the same trees.
//!
//! Why: the general parser spends about 60 instructions per byte; this
//! shape needs a handful, and parsing bounds a large decryption.

use std::borrow::Cow;
use std::io::Read;

use granit_parser::{Event, Marker, Placement, ScalarStyle, Span, StructureStyle};
use zeroize::Zeroizing;

use super::{Body, Builder, Frame, Visit};
use crate::stores::StoreLimits;
use crate::tree::{Branch, Item};

/// The fast path gave up: the parser reads the text instead.
struct GiveUp;

type Step = Result<(), GiveUp>;

/// Where scanning resumes after a line that took the lines after it too.
type Resume = Option<(usize, usize)>;

/// The documents of `text`, or `None` if the fast path does not cover it
/// or the builder refused it (the parser then decides, with its messages).
pub(super) fn load(text: &str, limits: &StoreLimits, check_duplicates: bool) -> Option<Vec<Branch>> {
    let mut pieces = Pieces::new(limits, text.len(), check_duplicates);
    let done = pieces.feed(text);
    pieces.finish(done)
}

/// How much [`load_from`] reads at a time.
pub(super) const PIECE: usize = 512 * 1024;

/// [`load`] over text read from `reader`, a piece at a time, so that only
/// the tree and a window of the text are in memory (a large encrypted file
/// is mostly ciphertext that the tree holds again). The text is cut only
/// before a line that starts a top-level key ([`cut_before`]); a file
/// without such lines is read whole. `Ok(None)`: not the fast path's shape
/// (or not UTF-8); the caller reads the text again from its start.
/// `read_size` is [`PIECE`] outside tests.
///
/// `visit` (decryption as the file is read) takes the top-level items of
/// the document out of it in runs, in order, a run every
/// [`VISIT_EVERY`](crate::stores::VISIT_EVERY) bytes read, and the last
/// run at the end: the document comes back empty. A file of several documents, or a run `visit`
/// refuses, gives `Ok(None)` too; what was read and not handed over is
/// wiped (what was is the visitor's).
pub(super) fn load_from(
    reader: &mut dyn Read,
    limits: &StoreLimits,
    input_len: usize,
    check_duplicates: bool,
    read_size: usize,
    mut visit: Option<Visit<'_>>,
) -> std::io::Result<Option<Vec<Branch>>> {
    let mut pieces = Pieces::new(limits, input_len, check_duplicates);
    // Text read since items were last handed over.
    let mut unvisited = 0;
    // An encrypted file's text (ciphertext, and values its rules leave in
    // clear, as on disk); wiped when dropped all the same (a buffer it
    // outgrows is freed as is). `window[..filled]` is the text not yet
    // scanned; the buffer is zero-filled once, not at every read.
    // A small file gets a window its size (plus the byte that shows its
    // end): the buffer is wiped when dropped, and touching a whole piece's
    // pages for a 1 KB Secret cost more page faults than the rest of the
    // run. A file that grew since `input_len` was taken is still read whole.
    let read_size = read_size.min(input_len.saturating_add(1)).max(1);
    let mut window = Zeroizing::new(vec![0; read_size.saturating_mul(2)]);
    let mut filled = 0;
    let done = loop {
        if window.len() - filled < read_size {
            // A piece without a place to cut grows the window.
            window.resize(filled + read_size, 0);
        }
        let n = match read_some(reader, &mut window[filled..filled + read_size]) {
            Ok(n) => n,
            Err(e) => {
                pieces.builder.wipe();
                return Err(e);
            }
        };
        let before = filled;
        filled += n;
        let at_end = n == 0;
        let cut = if at_end {
            filled
        } else {
            // (A line break that ended the text before has a byte after
            // it now.)
            match last_cut(&window[..filled], before.saturating_sub(1)) {
                Some(cut) => cut,
                None => continue,
            }
        };
        let step = match std::str::from_utf8(&window[..cut]) {
            Ok(text) => pieces.feed(text),
            Err(_) => Err(GiveUp),
        };
        if step.is_err() || at_end {
            break step;
        }
        unvisited += cut;
        if unvisited >= crate::stores::VISIT_EVERY
            && let Some(visit) = visit.as_deref_mut()
        {
            unvisited = 0;
            if let Err(e) = pieces.hand_over_finished(visit) {
                break Err(e);
            }
        }
        window.copy_within(cut..filled, 0);
        filled -= cut;
    };
    let Some(mut docs) = pieces.finish(done) else {
        return Ok(None);
    };
    if let Some(visit) = visit {
        let handed = match docs.as_mut_slice() {
            [doc] => visit(std::mem::take(&mut doc.0)),
            _ => false,
        };
        if !handed {
            use zeroize::Zeroize as _;
            docs.zeroize();
            return Ok(None);
        }
    }
    Ok(Some(docs))
}

/// One `read`, retried when interrupted.
fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// A line starting with this byte at column 0 starts a top-level key (or
/// is an error the fast path gives up on wherever it stands). Nothing the
/// fast path reads goes on across such a line: a block scalar ends before
/// it, and the look-ahead after `key:` stops at it with the answer it gives
/// at the end of the text (an empty value), so scanning the text in pieces
/// cut before such lines builds what scanning it whole builds.
fn cut_before(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of the longest prefix of `window` that ends with a line break
/// at or after `from` followed by a line [`cut_before`] allows.
fn last_cut(window: &[u8], from: usize) -> Option<usize> {
    memchr::memrchr_iter(b'\n', window.get(from..)?)
        .map(|i| from + i + 1)
        .find(|&next| window.get(next).copied().is_some_and(cut_before))
}

/// The fast path's state between pieces of the text.
struct Pieces {
    builder: Builder,
    carry: Carry,
    /// Length of the last non-empty piece, and whether it ended with a
    /// line break (where the end events go).
    last: Option<(usize, bool)>,
}

impl Pieces {
    fn new(limits: &StoreLimits, input_len: usize, check_duplicates: bool) -> Self {
        let mut builder = Builder::new(limits, input_len);
        builder.check_duplicates = check_duplicates;
        Self {
            builder,
            carry: Carry {
                stack: Vec::new(),
                nested: None,
                saw_document: false,
                number: 0,
            },
            last: None,
        }
    }

    /// Scans `text`: the whole text, or a piece of it cut as
    /// [`cut_before`] allows.
    fn feed(&mut self, text: &str) -> Step {
        if text.is_empty() {
            return Ok(());
        }
        let mut scan = Scan {
            text,
            builder: &mut self.builder,
            carry: &mut self.carry,
        };
        if scan.carry.number == 0 {
            scan.carry.number = 1;
            scan.event(Event::StreamStart, Span::empty(Marker::new(0, 1, 0)))?;
        }
        scan.lines()?;
        self.last = Some((text.len(), text.ends_with('\n')));
        Ok(())
    }

    /// Hands `visit` the first document's top-level items finished so far,
    /// taking them out of the tree. The last item stays (a comment on its
    /// line would go before it), and a run ends with an entry: a comment's
    /// rule reaches the entry after it, which a later run would not know.
    fn hand_over_finished(&mut self, visit: Visit<'_>) -> Step {
        let b = &mut self.builder;
        if !b.docs.is_empty() || b.doc_index != 0 {
            // A second document: decrypted the usual way.
            return Err(GiveUp);
        }
        let Some(Frame {
            body: Body::Map { items, .. },
            flow: false,
            last,
            ..
        }) = b.stack.first_mut()
        else {
            return Ok(());
        };
        let held = items.len().saturating_sub(1);
        let end = items[..held]
            .iter()
            .rposition(|i| matches!(i, Item::Entry(..)))
            .map_or(0, |at| at + 1);
        if end == 0 {
            return Ok(());
        }
        let rest = items.split_off(end);
        let run = std::mem::replace(items, rest);
        // `last` indexes the items left.
        *last = last.and_then(|(at, start, end_line)| Some((at.checked_sub(end)?, start, end_line)));
        if visit(run) { Ok(()) } else { Err(GiveUp) }
    }

    /// Closes what is open once the text has been fed; the documents, or
    /// `None` (and the builder wiped) if the fast path gave up.
    fn finish(mut self, fed: Step) -> Option<Vec<Branch>> {
        let done = fed.and_then(|()| {
            let (len, newline) = self.last.ok_or(GiveUp)?;
            Scan {
                text: "",
                builder: &mut self.builder,
                carry: &mut self.carry,
            }
            .end_of_text(len, newline)
        });
        match done {
            Ok(()) => Some(std::mem::take(&mut self.builder.docs)),
            Err(GiveUp) => {
                self.builder.wipe();
                None
            }
        }
    }
}

/// What scanning carries from one piece of the text to the next.
struct Carry {
    stack: Vec<Open>,
    /// A `key:` or `- key:` with nothing after it whose block follows on
    /// the next content line: the column it must be indented past. (Always
    /// `None` where the text is cut: see [`cut_before`].)
    nested: Option<usize>,
    saw_document: bool,
    /// The next line's number (1-based, as the parser counts); 0 before
    /// the first piece.
    number: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Map,
    Seq,
}

/// An open block collection and the column of its entries.
struct Open {
    kind: Kind,
    col: usize,
}

/// One line of the text: where it starts and ends (without its `\n`), its
/// number (1-based, as the parser counts), its indentation, and what one
/// pass over its bytes found.
#[derive(Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    number: usize,
    indent: usize,
    /// `: ` separators: how many, and where the first is (`usize::MAX`:
    /// none).
    separators: usize,
    first_separator: usize,
    /// Where the first `:` is (`usize::MAX`: none).
    first_colon: usize,
    /// ` #` somewhere: a comment behind content.
    space_hash: bool,
    /// A character the fast path never reads: tabs (indentation and
    /// separators with their own rules), carriage returns (line breaks),
    /// other control characters, and the marks YAML 1.1 (go-yaml) reads
    /// otherwise than 1.2 (see [`odd_char`]).
    odd: bool,
}

impl Line {
    /// A line with nothing on it, for markers.
    fn empty(start: usize, number: usize) -> Self {
        Self {
            start,
            end: start,
            number,
            indent: 0,
            separators: 0,
            first_separator: usize::MAX,
            first_colon: usize::MAX,
            space_hash: false,
            odd: false,
        }
    }
}

/// Line breaks, byte order marks and C1 controls: YAML 1.1 (go-yaml)
/// reads some of them as line breaks or refuses them.
fn odd_char(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Scans one piece of the text (positions are the piece's).
struct Scan<'t, 'p> {
    text: &'t str,
    builder: &'p mut Builder,
    carry: &'p mut Carry,
}

fn marker(line: &Line, col: usize) -> Marker {
    Marker::new(line.start + col, line.number, col)
}

fn span(line: &Line, from: usize, to: usize) -> Span {
    Span::new(marker(line, from), marker(line, to))
}

/// A character that starts YAML syntax when it begins a plain scalar.
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// True if `s` (on a line without ` #`, odd characters, and `: ` or `:`
/// inside `s` as the caller checked) is exactly one plain scalar whose
/// text is `s`.
fn plain_ok(s: &str, key: bool) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    // `-x` is a plain scalar (`-1`), `- x` a sequence entry.
    if is_indicator(first) && !(first == b'-' && !key && b.len() > 1 && b[1] != b' ') {
        return false;
    }
    last != b' ' && last != b':'
}

/// The text of a one-line quoted scalar needing no unescaping, and its style.
fn quoted(v: &str) -> Option<(&str, ScalarStyle)> {
    let (q, style) = match v.as_bytes().first() {
        Some(b'"') => ('"', ScalarStyle::DoubleQuoted),
        Some(b'\'') => ('\'', ScalarStyle::SingleQuoted),
        _ => return None,
    };
    let inner = v.get(1..v.len().checked_sub(1)?)?;
    if v.len() < 2 || !v.ends_with(q) || inner.contains(q) || inner.contains('\\') {
        return None;
    }
    Some((inner, style))
}

impl Scan<'_, '_> {
    /// Every line of the piece.
    fn lines(&mut self) -> Step {
        let mut pos = 0;
        let mut number = self.carry.number;
        while pos < self.text.len() {
            let line = self.line_at(pos, number);
            let next = self.after(&line);
            let rest = &self.text[line.start + line.indent..line.end];
            if line.odd {
                return Err(GiveUp);
            }
            if rest.is_empty() {
                // A blank line.
            } else if let Some(text) = rest.strip_prefix('#') {
                let s = span(&line, line.indent, line.indent + rest.len());
                self.event(Event::Comment(Cow::Borrowed(text), Placement::Above), s)?;
            } else {
                if let Some((p, n)) = self.content(&line, rest)? {
                    (pos, number) = (p, n);
                    continue;
                }
            }
            pos = next;
            number += 1;
        }
        self.carry.number = number;
        Ok(())
    }

    /// Everything closes at the end of the text (the last piece was `len`
    /// bytes long; `newline`: it ended with a line break), where the
    /// parser puts its end events.
    fn end_of_text(&mut self, len: usize, newline: bool) -> Step {
        if !self.carry.saw_document || self.carry.nested.is_some() {
            return Err(GiveUp);
        }
        let number = self.carry.number;
        let last = if newline {
            number
        } else {
            number.saturating_sub(1).max(1)
        };
        let end = Line::empty(len, last);
        let at = span(&end, 0, 0);
        while let Some(open) = self.carry.stack.pop() {
            self.end(open.kind, at)?;
        }
        self.event(Event::DocumentEnd, at)?;
        self.event(Event::StreamEnd, at)
    }

    /// The line starting at `start`. Three vectorised scans of its bytes
    /// (the line break, control and non-ASCII bytes, then `:` and `#`).
    fn line_at(&self, start: usize, number: usize) -> Line {
        let bytes = self.text.as_bytes();
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let indent = bytes[start..end].iter().take_while(|&&b| b == b' ').count();
        let mut line = Line {
            end,
            indent,
            ..Line::empty(start, number)
        };
        let content = &bytes[start + indent..end];
        // Without an early exit, so that it compiles to vector code.
        let (control, high) = content.iter().fold((false, false), |(c, h), &b| {
            (c | (b < 0x20) | (b == 0x7F), h | (b >= 0x80))
        });
        line.odd = control || (high && self.text[start..end].chars().any(odd_char));
        for i in memchr::memchr2_iter(b':', b'#', content) {
            let at = start + indent + i;
            if content[i] == b'#' {
                line.space_hash |= i > 0 && content[i - 1] == b' ';
            } else {
                line.first_colon = line.first_colon.min(at);
                if content.get(i + 1) == Some(&b' ') {
                    line.separators += 1;
                    line.first_separator = line.first_separator.min(at);
                }
            }
        }
        line
    }

    /// Where `part` (a slice of the text) starts in the text.
    fn offset(&self, part: &str) -> usize {
        part.as_ptr() as usize - self.text.as_ptr() as usize
    }

    /// Where the line after `line` starts.
    fn after(&self, line: &Line) -> usize {
        (line.end + 1).min(self.text.len())
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Step {
        self.builder
            .apply(event, &span, &mut self.carry.saw_document)
            .map_err(|_| GiveUp)
    }

    fn end(&mut self, kind: Kind, at: Span) -> Step {
        let event = match kind {
            Kind::Map => Event::MappingEnd,
            Kind::Seq => Event::SequenceEnd,
        };
        self.event(event, at)
    }

    fn open(&mut self, kind: Kind, line: &Line, col: usize) -> Step {
        let s = span(line, col, col);
        let event = match kind {
            Kind::Map => Event::MappingStart(StructureStyle::Block, 0, None),
            Kind::Seq => Event::SequenceStart(StructureStyle::Block, 0, None),
        };
        self.event(event, s)?;
        self.carry.stack.push(Open { kind, col });
        Ok(())
    }

    /// A line with content. Returns where scanning goes on (position and
    /// line number) when the line took more lines than its own (a block
    /// scalar).
    fn content(&mut self, line: &Line, rest: &str) -> Result<Resume, GiveUp> {
        if line.space_hash {
            return Err(GiveUp);
        }
        let dash = rest == "-" || rest.starts_with("- ");
        if !self.carry.saw_document {
            if line.indent != 0 || dash {
                return Err(GiveUp);
            }
            self.event(Event::DocumentStart(false, None), span(line, 0, 0))?;
            self.open(Kind::Map, line, 0)?;
        } else if let Some(parent) = self.carry.nested.take() {
            // (The look-ahead that set `nested` saw this line deeper.)
            if line.indent <= parent {
                return Err(GiveUp);
            }
            let kind = if dash { Kind::Seq } else { Kind::Map };
            self.open(kind, line, line.indent)?;
        } else {
            while self.carry.stack.last().is_some_and(|o| o.col > line.indent) {
                let open = self.carry.stack.pop().ok_or(GiveUp)?;
                self.end(open.kind, span(line, line.indent, line.indent))?;
            }
        }
        let top = self.carry.stack.last().ok_or(GiveUp)?;
        if top.col != line.indent {
            return Err(GiveUp);
        }
        match (top.kind, dash) {
            (Kind::Seq, true) => self.item(line, rest),
            (Kind::Map, false) => self.entry(line, line.indent, rest),
            _ => Err(GiveUp),
        }
    }

    /// `- value` or `- key: value`.
    fn item(&mut self, line: &Line, rest: &str) -> Result<Resume, GiveUp> {
        let after = rest.get(2..).ok_or(GiveUp)?;
        let v = after.trim_start_matches(' ');
        let col = line.indent + 2 + (after.len() - v.len());
        if v.is_empty() || v == "-" || v.starts_with("- ") || v.starts_with('#') {
            return Err(GiveUp);
        }
        let first = v.as_bytes()[0];
        let is_entry = !matches!(first, b'"' | b'\'' | b'[' | b'{')
            && (line.separators > 0 || v.ends_with(':'));
        if is_entry {
            self.open(Kind::Map, line, col)?;
            self.entry(line, col, v)
        } else {
            self.value(line, line.indent, col, v, line.separators == 0)
        }
    }

    /// `key: value` or `key:` at column `col`.
    fn entry(&mut self, line: &Line, col: usize, rest: &str) -> Result<Resume, GiveUp> {
        let at = self.offset(rest);
        let (key, after) = if line.first_separator != usize::MAX && line.first_separator >= at {
            let p = line.first_separator - at;
            (&rest[..p], &rest[p + 2..])
        } else {
            (rest.strip_suffix(':').ok_or(GiveUp)?, "")
        };
        // No `:` inside the key (the first one ends it).
        if line.first_colon < at + key.len() || !plain_ok(key, true) {
            return Err(GiveUp);
        }
        let key_end = col + key.len();
        self.event(
            Event::Scalar(Cow::Borrowed(key), ScalarStyle::Plain, 0, None),
            span(line, col, key_end),
        )?;
        let v = after.trim_start_matches(' ');
        if v.is_empty() {
            if !after.is_empty() {
                // `key: ` with trailing spaces.
                return Err(GiveUp);
            }
            self.empty_or_block(line, col, key_end + 1)?;
            return Ok(None);
        }
        let vcol = key_end + 2 + (after.len() - v.len());
        self.value(line, col, vcol, v, line.separators == 1)
    }

    /// After `key:` with nothing behind it: a block on the next content
    /// line indented past `parent`, or an empty value (a null).
    fn empty_or_block(&mut self, line: &Line, parent: usize, after_colon: usize) -> Step {
        let mut pos = self.after(line);
        while pos < self.text.len() {
            let next = self.line_at(pos, 0);
            let rest = &self.text[next.start + next.indent..next.end];
            if !rest.is_empty() && !rest.starts_with('#') {
                if next.indent > parent {
                    self.carry.nested = Some(parent);
                    return Ok(());
                }
                // `key:` / `- a` at the key's column: an indentless
                // sequence, left to the parser.
                if next.indent == parent && (rest == "-" || rest.starts_with("- ")) {
                    return Err(GiveUp);
                }
                break;
            }
            pos = self.after(&next);
        }
        // The parser's empty scalar: `~`, zero width, right after the colon.
        self.event(
            Event::Scalar(Cow::Borrowed("~"), ScalarStyle::Plain, 0, None),
            span(line, after_colon, after_colon),
        )
    }

    /// A value starting at column `col` of `line`, in a collection whose
    /// entries are at column `parent`; `plain`: no `: ` inside it, so it
    /// may be a plain scalar.
    fn value(
        &mut self,
        line: &Line,
        parent: usize,
        col: usize,
        v: &str,
        plain: bool,
    ) -> Result<Resume, GiveUp> {
        match v {
            "[]" => self.empty_flow(line, col, Kind::Seq),
            "{}" => self.empty_flow(line, col, Kind::Map),
            "|" => self.literal(line, parent, true).map(Some),
            "|-" => self.literal(line, parent, false).map(Some),
            _ => {
                let (text, style) = match quoted(v) {
                    Some(q) => q,
                    None if plain && plain_ok(v, false) => (v, ScalarStyle::Plain),
                    None => return Err(GiveUp),
                };
                self.event(
                    Event::Scalar(Cow::Borrowed(text), style, 0, None),
                    span(line, col, col + v.len()),
                )?;
                Ok(None)
            }
        }
    }

    /// `[]` or `{}` at column `col`: a flow collection opened and closed.
    fn empty_flow(&mut self, line: &Line, col: usize, kind: Kind) -> Result<Resume, GiveUp> {
        let (start, end) = match kind {
            Kind::Seq => (Event::SequenceStart(StructureStyle::Flow, 0, None), Event::SequenceEnd),
            Kind::Map => (Event::MappingStart(StructureStyle::Flow, 0, None), Event::MappingEnd),
        };
        self.event(start, span(line, col, col + 1))?;
        self.event(end, span(line, col + 1, col + 2))?;
        Ok(None)
    }

    /// A literal block scalar whose header ends `line`; `clip` keeps one
    /// final line break (`|`), otherwise none (`|-`). Returns where the
    /// line after the block starts, and its number.
    fn literal(&mut self, line: &Line, parent: usize, clip: bool) -> Result<(usize, usize), GiveUp> {
        let mut pos = self.after(line);
        let mut number = line.number + 1;
        let first = self.line_at(pos, number);
        let indent = first.indent;
        if indent <= parent || first.start + indent == first.end {
            return Err(GiveUp);
        }
        // Wiped if the fast path gives up (it may be a secret).
        let mut value = Zeroizing::new(String::new());
        while pos < self.text.len() {
            let l = self.line_at(pos, number);
            if l.odd {
                return Err(GiveUp);
            }
            if l.indent < indent {
                // Blank lines have their own chomping rules; a line between
                // the parent's column and the block's is an error.
                if l.start + l.indent == l.end || l.indent > parent {
                    return Err(GiveUp);
                }
                break;
            }
            // The last line needs its line break for `|` to mean one.
            if l.end == self.text.len() {
                return Err(GiveUp);
            }
            value.push_str(&self.text[l.start + indent..l.end]);
            value.push('\n');
            pos = self.after(&l);
            number += 1;
        }
        if !clip {
            value.pop();
        }
        // `number` is now the line after the block (its first line is
        // always taken: it is indented past the parent and not blank).
        let end = Line::empty(pos, number);
        self.event(
            Event::Scalar(Cow::Owned(std::mem::take(&mut *value)), ScalarStyle::Literal, 0, None),
            Span::new(marker(&first, indent), marker(&end, 0)),
        )?;
        Ok((pos, end.number))
    }
}

#[cfg(test)]
mod tests {
    //! The fast path against the parser: wherever the fast path answers,
    //! the parser must build the same documents.

    use proptest::prelude::*;

    use super::super::parse;
    use super::*;
    use crate::stores::Store as _;
    use crate::stores::yaml::YamlStore;
    use crate::stores::yaml::tests::roundtrip_props::document;

    /// Checks one text (also read in pieces); returns whether the fast
    /// path answered.
    #[track_caller]
    fn same(text: &str) -> bool {
        let limits = StoreLimits::default();
        let fast = load(text, &limits, true);
        for size in [1, 5, 64] {
            let pieces = load_from(&mut text.as_bytes(), &limits, text.len(), true, size, None).unwrap();
            assert_eq!(
                format!("{fast:?}"),
                format!("{pieces:?}"),
                "read in pieces of {size} bytes: {text:?}"
            );
        }
        let slow = parse(text, &limits, true);
        match (fast, slow) {
            (None, _) => false,
            (Some(f), Ok(s)) => {
                // Debug text: NaN floats compare unequal to themselves.
                assert_eq!(format!("{f:?}"), format!("{s:?}"), "fast path differs on {text:?}");
                true
            }
            (Some(_), Err(e)) => panic!("fast path accepted what the parser refuses ({e}): {text:?}"),
        }
    }

    /// Shapes the fast path reads, and shapes it must leave to the parser.
    const CASES: &[(&str, bool)] = &[
        ("a: 1\n", true),
        ("a: 1", true),
        ("# top\na: 1\nb:\n    c: x\n    # mid\n    l:\n        - p\n        - q: 1\n          r: 2\n    e: []\n    f: {}\n    g:\n# foot\nsops:\n    enc: |\n        line1\n        line2\n    k: v\n", true),
        ("a:\n# c\n    b: 1\n", true),
        ("a:\n    b: 1\n    # trailing\n", true),
        ("a:\n    b: 1\n  # between\nc: 2\n", true),
        ("a:\n    - x\n    # in list\n    - y\n# out\n", true),
        ("a:\n    -   b: 1\n        c: 2\n    - d\n", true),
        ("a: \"x: y#\"\nb: 'it'\nc: \"\"\nd: ''\n", true),
        ("a: \"x #y\"\n", false),
        ("a: -1\nb: -x\nc: 1.5\nd: true\ne: ~\nf: null\ng: 2024-05-01\nh: 0x1F\ni: <<\n", true),
        ("a: x:y\nb: x#y\nc: [x]\n", false),
        ("a: |-\n    x\n    y\nb: |\n      indented\n        more\nc: 1\n", true),
        ("a: |\n      indented\n    less\nc: 1\n", false),
        ("é: ü\n日本: 語\n", true),
        ("l:\n    - a\n    - b: |\n        x\n      c: 2\n", true),
        ("a:\n", true),
        ("a:\nb:\n    c:\n", true),
        // Left to the parser.
        ("a:\n- x\n", false),
        ("a: 1 # c\n", false),
        ("a: &x 1\nb: *x\n", false),
        ("a: !!str 1\n", false),
        ("- a\n", false),
        ("---\na: 1\n", false),
        ("a: 1\n---\nb: 2\n", false),
        ("a: b\n  c\n", false),
        ("a:\tb\n", false),
        ("a: 1\r\n", false),
        ("a: \"x\\ny\"\n", false),
        ("a: 'it''s'\n", false),
        ("a: \"open\n  close\"\n", false),
        ("a: {b: 1}\n", false),
        ("a: >\n    x\n", false),
        ("a: |\n    x\n\n    y\n", false),
        ("a: |\n    x", false),
        ("a: 1\na: 2\n", false),
        ("? a\n: 1\n", false),
        ("\u{FEFF}a: 1\n", false),
        ("a: \u{2028}\n", false),
        ("a: x \n", false),
        ("a: \n", true),
        ("a:  \n", false),
        ("%YAML 1.1\n---\na: 1\n", false),
        ("# only a comment\n", false),
        ("", false),
    ];

    /// Cuts go before top-level keys only, and reading the text in pieces
    /// cuts it (the sops block's `enc: |` and a `key:` whose block or
    /// empty value ends a piece included).
    #[test]
    fn fast_path_reads_pieces_cut_before_top_level_keys() {
        let text = "a:\n    b: |\n        x\n\n# c\nd:\n\n e: 1\n_f: 2\n-g\n";
        assert_eq!(last_cut(text.as_bytes(), 0), Some(text.find("_f").unwrap()));
        assert_eq!(last_cut(b"a: 1\n b: 2\n", 0), None);
        assert_eq!(last_cut(b"a: 1\nb: 2\n", 5), None);
        assert_eq!(last_cut(b"a: 1\nb: 2\n", 4), Some(5));
        let text = "a:\nb:\n    c: |\n        x\nd: 1\ne:\n# e\nsops:\n    enc: |\n        y\n";
        assert!(same(text));
    }

    /// A read error is reported (and what was built wiped), not taken for
    /// the end of the text.
    #[test]
    fn fast_path_reports_read_errors() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::Error::other("disk gone"));
                }
                self.0 -= 1;
                let line = format!("key{}: value\n", self.0);
                buf[..line.len()].copy_from_slice(line.as_bytes());
                Ok(line.len())
            }
        }
        let limits = StoreLimits::default();
        let e = load_from(&mut Failing(3), &limits, 100, true, 64, None).unwrap_err();
        assert_eq!(e.to_string(), "disk gone");
    }

    #[test]
    fn fast_path_matches_the_parser_on_known_shapes() {
        for (text, fast) in CASES {
            assert_eq!(same(text), *fast, "fast path taken or not: {text:?}");
        }
    }

    /// Every YAML file in testdata/ (sops' and our encrypted files,
    /// plaintexts, bad inputs), as is and cut at every line.
    #[test]
    fn fast_path_matches_the_parser_on_testdata() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let mut stack = vec![root];
        let (mut files, mut taken) = (0, 0);
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let yaml = path
                    .extension()
                    .is_some_and(|e| e == "yaml" || e == "yml");
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if !yaml {
                    continue;
                }
                files += 1;
                taken += usize::from(same(&text));
                for (i, _) in text.match_indices('\n') {
                    same(&text[..i]);
                    same(&text[..=i]);
                }
            }
        }
        assert!(files > 50, "testdata/ holds {files} YAML files");
        // Most files are what sops writes: the fast path must take them.
        assert!(taken * 2 > files, "fast path took {taken} of {files} files");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// What our emitter writes (tricky strings, comments, nesting),
        /// then that text with a line re-indented, removed or doubled.
        #[test]
        fn fast_path_matches_the_parser_on_emitted_documents(
            docs in prop::collection::vec(document(), 1..2),
            edit in (0usize..64, 0usize..4, 0usize..6),
        ) {
            let text = String::from_utf8(YamlStore::default().emit_plain(&docs).unwrap()).unwrap();
            same(&text);
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if !lines.is_empty() {
                let (at, kind, n) = edit;
                let at = at % lines.len();
                match kind {
                    0 => lines[at] = format!("{}{}", " ".repeat(n), lines[at]),
                    1 => lines[at] = lines[at].trim_start_matches(' ').chars().skip(n % 2).collect(),
                    2 => { lines.remove(at); }
                    _ => { let l = lines[at].clone(); lines.insert(at, l); }
                }
                same(&(lines.join("\n") + "\n"));
            }
        }
    }
}
