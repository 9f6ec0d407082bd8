//! Parser events into the sops tree, streaming: every event is consumed as
//! it arrives and only the open containers are kept on a stack.
//!
//! Comment placement reproduces what sops 3.11 makes of go-yaml's head, line
//! and foot comments (sops-format §5.1 "Comments", dependencies.md §4.3):
//! * a same-line comment goes before the entry that started on its line
//!   (also while that entry's key still waits for its value: `list: # c`);
//!   behind a scalar it is marked inline (`Comment::inline`), which sops
//!   3.13 writes back at the end of the line; behind a mapping's flow
//!   collection it opens that collection;
//! * any other comment waits for the next event and then joins the innermost
//!   open container, so it lands before the next entry, or at the start of a
//!   collection that opens next (`key:` / `# c` / `- item`);
//! * when a block collection closes, only the waiting comments indented at
//!   least as far as the collection stay in it; the others move outwards;
//! * a comment right after a sequence's dash (`- # c`) waits for a node on
//!   a later line (so it follows an empty item), and leaves the sequence
//!   when it closes first, with the comments after it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use base64::Engine as _;
use granit_parser::{ErrorKind, Event, Parser, Placement, ScalarStyle, Span, StructureStyle, Tag};

use crate::stores::yaml::resolve::{Resolved, resolve_plain};
use crate::stores::{StoreError, StoreLimits};
use crate::tree::{Branch, Comment, Item, Time, Value};

mod fast;

/// FNV-1a: the maps below are keyed by small integers and key hashes, and
/// nothing an attacker sends can make a document slower than its size.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    /// (Each hasher here sees one `write`; a zero start would hash as
    /// well, so `self.0 == 0` mutated to `!=` changes no behaviour.)
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

fn key_hash(k: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(k.as_bytes());
    h.finish()
}

fn syntax(line: usize, message: impl Into<String>) -> StoreError {
    StoreError::Syntax {
        format: "yaml",
        line,
        message: message.into(),
    }
}

fn non_string_key() -> StoreError {
    StoreError::Shape("Tree contains a non-string key".into())
}

struct PendingComment {
    text: String,
    col: usize,
    /// The line of a comment written right after a sequence's dash
    /// (`- # c`). go-yaml gives it to the node that starts on a later
    /// line: the item's collection (`- # c` / `  x: 1`: inside the mapping),
    /// else whatever follows an empty item (`- # c` / `- x`: after the null,
    /// before `x`), and when the sequence closes first, it moves outwards
    /// whatever its column (sops 3.11).
    after_dash: Option<usize>,
}

enum Body {
    /// `keys`: hash of each key -> line where it was defined (duplicate check).
    Map {
        items: Vec<Item>,
        key: Option<(String, usize)>,
        keys: Option<FastMap<u64, usize>>,
    },
    Seq(Vec<Value>),
}

struct Frame {
    body: Body,
    /// Column of the collection (block collections only).
    indent: usize,
    flow: bool,
    anchor: usize,
    /// Line where this collection started (its entry line in the parent).
    line: usize,
    /// Index and lines of the last entry pushed (for same-line comments).
    last: Option<(usize, usize, usize)>,
    /// The last entry pushed is an empty scalar (`key:`, `- `).
    last_empty: bool,
}

impl Frame {
    fn push_comment(&mut self, text: String) {
        match &mut self.body {
            Body::Map { items, .. } => items.push(Item::Comment(text.into())),
            Body::Seq(items) => items.push(Value::Comment(text.into())),
        }
    }

    /// Places a same-line comment of the entry at `at`. Behind a scalar
    /// (`key: value # c`, `- item # c`, also a block scalar's header and an
    /// alias of a scalar) it goes before the entry and is inline: go-yaml's
    /// line comment of that value, which sops 3.13 writes back at the end
    /// of the line (3.11 above it). Behind a mapping's flow collection
    /// (`key: [1, 2] # c`) it opens that collection, as in sops (the
    /// collection's own line comment). Behind a sequence's collection item
    /// it stays a line above the item (3.11; go-yaml 3.13 drops it).
    /// `empty`: the entry is an empty scalar (`key: # c`), whose comment is
    /// the key's in go-yaml, so a line of its own.
    fn insert_comment(&mut self, at: usize, text: String, empty: bool) {
        let scalar = |v: &Value| !empty && !matches!(v, Value::Map(_) | Value::Seq(_));
        match &mut self.body {
            Body::Map { items, .. } => match items.get_mut(at) {
                Some(Item::Entry(_, Value::Map(b))) => {
                    b.0.insert(0, Item::Comment(text.into()));
                    return;
                }
                Some(Item::Entry(_, Value::Seq(s))) => {
                    s.insert(0, Value::Comment(text.into()));
                    return;
                }
                entry => {
                    let inline = matches!(entry, Some(Item::Entry(_, v)) if scalar(v));
                    items.insert(at, Item::Comment(Comment { text, inline }));
                }
            },
            Body::Seq(items) => {
                let inline = items.get(at).is_some_and(scalar);
                items.insert(at, Value::Comment(Comment { text, inline }));
            }
        }
        // Keeps `last` on its entry. (No input found reuses it after an
        // insert: an entry's first-line comment goes to its key or to an
        // inner collection, so at most its last line's comment is inserted;
        // the `+=` -> `*=` mutant survives for that reason.)
        if let Some((idx, ..)) = &mut self.last {
            *idx += 1;
        }
    }
}

/// The size of an anchored value, which every alias of it adds again.
#[derive(Clone, Copy)]
struct Size {
    /// Nodes (node budget); a mapping entry counts its key.
    nodes: usize,
    /// Nesting: a scalar is 0 deep, `[1]` 1.
    depth: usize,
    /// Bytes of text (byte budget): strings, keys, comments, binary data.
    /// Other scalars are a few bytes each and bounded by the node budget.
    bytes: usize,
}

/// Measures an anchored value. Iterative, as the value may be as deep as
/// the limit allows.
fn measure(v: &Value) -> Size {
    let mut size = Size {
        nodes: 0,
        depth: 0,
        bytes: 0,
    };
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        size.nodes += 1;
        match v {
            Value::Map(b) => {
                size.depth = size.depth.max(d + 1);
                for item in &b.0 {
                    match item {
                        Item::Entry(k, v) => {
                            size.nodes += 1;
                            size.bytes = size.bytes.saturating_add(k.len());
                            stack.push((v, d + 1));
                        }
                        Item::Comment(c) => size.bytes = size.bytes.saturating_add(c.len()),
                    }
                }
            }
            Value::Seq(items) => {
                size.depth = size.depth.max(d + 1);
                stack.extend(items.iter().map(|v| (v, d + 1)));
            }
            Value::Str(s) | Value::Comment(Comment { text: s, .. }) => {
                size.bytes = size.bytes.saturating_add(s.len());
            }
            Value::Bytes(b) => size.bytes = size.bytes.saturating_add(b.len()),
            _ => {}
        }
    }
    size
}

struct Builder {
    docs: Vec<Branch>,
    stack: Vec<Frame>,
    pending: Vec<PendingComment>,
    /// The document's root once complete (`None` until then).
    root: Option<Value>,
    root_line: usize,
    /// Anchored values of the current document and their sizes.
    anchors: FastMap<usize, (Value, Size)>,
    doc_index: usize,
    check_duplicates: bool,
    /// The scalar being placed has no text (`key:` with nothing after).
    empty_scalar: bool,
    parsed_nodes: usize,
    alias_nodes: usize,
    alias_bytes: usize,
    /// Length of the whole input (proportional part of the byte budget).
    input_len: usize,
    limits: StoreLimits,
}

impl Builder {
    fn new(limits: &StoreLimits, input_len: usize) -> Self {
        Self {
            input_len,
            alias_bytes: 0,
            limits: *limits,
            docs: Vec::new(),
            stack: Vec::new(),
            pending: Vec::new(),
            root: None,
            root_line: 1,
            anchors: FastMap::default(),
            doc_index: 0,
            check_duplicates: true,
            empty_scalar: false,
            parsed_nodes: 0,
            alias_nodes: 0,
        }
    }

    /// [`Builder::flush_pending`] before a node starting on `line`, unless
    /// a comment after a dash waits for a later line (see
    /// [`PendingComment::after_dash`]); `line` is `None` for a node that
    /// takes them whatever its line.
    fn flush_pending_before(&mut self, line: Option<usize>) {
        if line.is_some() && self.pending.iter().any(|c| c.after_dash == line) {
            return;
        }
        self.flush_pending();
    }

    /// Moves the waiting comments into the innermost open container.
    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Some(top) = self.stack.last_mut() {
            for c in self.pending.drain(..) {
                top.push_comment(c.text);
            }
        }
    }

    fn comment(&mut self, text: String, placement: Placement, span: &Span) {
        let line = span.start.line();
        if placement == Placement::Right {
            for frame in self.stack.iter_mut().rev() {
                if let Body::Map {
                    key: Some((_, key_line)),
                    ..
                } = &frame.body
                    && *key_line == line
                {
                    frame.push_comment(text);
                    return;
                }
                // A block scalar's header comment (`- | # c`) comes after
                // the scalar, whose text starts on a later line.
                if let Some((idx, start, end)) = frame.last
                    && (start == line || end == line || start > line)
                {
                    let empty = frame.last_empty;
                    frame.insert_comment(idx, text, empty);
                    return;
                }
            }
        }
        // A same-line comment that follows no entry follows a dash (or
        // `---`, which waits for the root collection anyway).
        let after_dash = (placement == Placement::Right).then_some(line);
        self.pending.push(PendingComment {
            text,
            col: span.start.col(),
            after_dash,
        });
    }

    /// Resolves a scalar event into a value.
    fn scalar_value(
        &self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        tag: Option<&Tag>,
        line: usize,
    ) -> Result<Value, StoreError> {
        // `!!x` resolves to `tag:yaml.org,2002:x`; other tags are dropped.
        let core = tag.and_then(|t| {
            if t.handle() == "tag:yaml.org,2002:" {
                Some(t.suffix())
            } else {
                None
            }
        });
        match (tag, core) {
            (None, _) => {
                if style == ScalarStyle::Plain {
                    resolved_value(resolve_plain(&text), text)
                } else {
                    Ok(Value::Str(text.into_owned()))
                }
            }
            (Some(_), Some("binary")) => {
                let cleaned: Vec<u8> = text
                    .bytes()
                    .filter(|b| !matches!(b, b'\n' | b'\r'))
                    .collect();
                let data = base64::engine::general_purpose::STANDARD
                    .decode(&cleaned)
                    .map_err(|_| syntax(line, "!!binary value contains invalid base64 data"))?;
                Ok(match String::from_utf8(data) {
                    Ok(s) => Value::Str(s),
                    Err(e) => Value::Bytes(e.into_bytes()),
                })
            }
            (Some(_), Some(kind @ ("null" | "bool" | "int" | "float" | "timestamp"))) => {
                let r = resolve_plain(&text);
                let ok = matches!(
                    (kind, r),
                    ("null", Resolved::Null)
                        | ("bool", Resolved::Bool(_))
                        | ("int", Resolved::Int(_) | Resolved::Uint)
                        | ("float", Resolved::Float(_))
                        | ("timestamp", Resolved::Time(_))
                );
                match (kind, r) {
                    _ if ok => resolved_value(r, text),
                    ("float", Resolved::Int(i)) => Ok(Value::Float(i as f64)),
                    _ => Err(syntax(
                        line,
                        format!("cannot decode a scalar as a !!{kind}"),
                    )),
                }
            }
            // `!!str`, and unknown and local tags, which are dropped: the
            // text stays a string.
            _ => Ok(Value::Str(text.into_owned())),
        }
    }

    /// Places a completed node (scalar, alias copy or closed collection).
    fn add_node(
        &mut self,
        value: Value,
        start_line: usize,
        end_line: usize,
        is_scalar: bool,
    ) -> Result<(), StoreError> {
        let check_duplicates = self.check_duplicates && self.doc_index == 0;
        let empty = std::mem::take(&mut self.empty_scalar);
        let Some(top) = self.stack.last_mut() else {
            self.root = Some(value);
            self.root_line = start_line;
            return Ok(());
        };
        match &mut top.body {
            Body::Map { items, key, keys } => match key.take() {
                None => {
                    let Value::Str(k) = value else {
                        return Err(non_string_key());
                    };
                    if !is_scalar {
                        return Err(non_string_key());
                    }
                    // sops 3.11 rejects duplicates while decoding the first
                    // document into a Go map; later documents are not checked.
                    if check_duplicates && k != "<<" {
                        let hash = key_hash(&k);
                        let keys = keys.get_or_insert_with(FastMap::default);
                        if let Some(&first_line) = keys.get(&hash) {
                            let dup = items
                                .iter()
                                .any(|i| matches!(i, Item::Entry(e, _) if *e == k));
                            if dup {
                                return Err(StoreError::Shape(format!(
                                    "yaml: unmarshal errors:\n  line {start_line}: mapping key \"{k}\" already defined at line {first_line}"
                                )));
                            }
                        } else {
                            keys.insert(hash, start_line);
                        }
                    }
                    *key = Some((k, start_line));
                }
                Some((k, key_line)) => {
                    top.last = Some((items.len(), key_line, end_line.max(key_line)));
                    top.last_empty = empty;
                    items.push(Item::Entry(k, value));
                }
            },
            Body::Seq(items) => {
                top.last = Some((items.len(), start_line, end_line));
                top.last_empty = empty;
                items.push(value);
            }
        }
        Ok(())
    }

    fn remember_anchor(&mut self, anchor: usize, value: &Value) {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), measure(value)));
        }
    }

    fn too_deep(&self, line: usize) -> StoreError {
        StoreError::TooDeep {
            format: "yaml",
            line,
            max_depth: self.limits.max_depth,
        }
    }

    fn open(
        &mut self,
        body: Body,
        span: &Span,
        flow: bool,
        anchor: usize,
    ) -> Result<(), StoreError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.too_deep(span.start.line()));
        }
        self.parsed_nodes += 1;
        self.stack.push(Frame {
            body,
            indent: span.start.col(),
            flow,
            anchor,
            line: span.start.line(),
            last: None,
            last_empty: false,
        });
        // Comments between a key and the first entry of its block belong to
        // the block (go-yaml: the collection's own head comment).
        self.flush_pending_before(Some(span.start.line()));
        Ok(())
    }

    fn close(&mut self, span: &Span) -> Result<(), StoreError> {
        let Some(mut frame) = self.stack.pop() else {
            return Err(syntax(span.start.line(), "unbalanced collection end"));
        };
        if !self.pending.is_empty() {
            let keep_all = frame.flow;
            let indent = frame.indent;
            // A block sequence written at its key's column (`key:` / `- a`)
            // keeps only comments indented further than the dashes.
            // The parser so far ends such a sequence before a comment at
            // the dashes' column reaches us, so dropping this test (the
            // mutants `frame.flow` for `!frame.flow`, `>=` for `>` below)
            // changes no output; it stays for a parser that orders them
            // otherwise.
            let indentless = matches!(frame.body, Body::Seq(_))
                && !frame.flow
                && self
                    .stack
                    .last()
                    .is_some_and(|p| matches!(p.body, Body::Map { .. }) && p.indent == indent);
            let mut rest = Vec::new();
            // A comment after a dash takes the comments that follow it
            // along (go-yaml reads them as one block).
            let mut after_dash = false;
            for c in self.pending.drain(..) {
                after_dash |= c.after_dash.is_some();
                let stays = keep_all || c.col > indent || (c.col == indent && !indentless);
                if stays && !after_dash {
                    frame.push_comment(c.text);
                } else {
                    rest.push(c);
                }
            }
            self.pending = rest;
        }
        // A closed collection keeps no spare capacity: a large file is
        // mostly small collections, whose doubling growth left about a
        // third of their items' memory unused.
        let value = match frame.body {
            Body::Map { mut items, key, .. } => {
                if let Some((k, _)) = key {
                    // `key:` with nothing after it inside a flow mapping.
                    items.push(Item::Entry(k, Value::Null));
                }
                items.shrink_to_fit();
                Value::Map(Branch(items))
            }
            Body::Seq(mut items) => {
                items.shrink_to_fit();
                Value::Seq(items)
            }
        };
        self.remember_anchor(frame.anchor, &value);
        let end_line = if frame.flow {
            span.end.line()
        } else {
            frame.line
        };
        self.add_node(value, frame.line, end_line, false)
    }

    fn alias(&mut self, id: usize, span: &Span) -> Result<(), StoreError> {
        let Some(&(_, size)) = self.anchors.get(&id) else {
            return Err(syntax(span.start.line(), "unknown anchor"));
        };
        self.alias_nodes = self.alias_nodes.saturating_add(size.nodes);
        let budget = self.limits.max_alias_nodes.saturating_add(
            self.parsed_nodes
                .saturating_mul(self.limits.alias_nodes_per_node),
        );
        if self.alias_nodes > budget {
            return Err(StoreError::ExcessiveAliasing { budget });
        }
        // Checked before the copy is made, so a refused input never holds
        // more than the budget in memory.
        self.alias_bytes = self.alias_bytes.saturating_add(size.bytes);
        let budget = self.limits.max_alias_bytes.saturating_add(
            self.input_len
                .saturating_mul(self.limits.alias_bytes_per_input_byte),
        );
        if self.alias_bytes > budget {
            return Err(StoreError::AliasExpansionTooLarge { budget });
        }
        // The copy is pasted at the current depth.
        if self.stack.len().saturating_add(size.depth) > self.limits.max_depth {
            return Err(self.too_deep(span.start.line()));
        }
        let Some((value, ..)) = self.anchors.get(&id) else {
            return Err(syntax(span.start.line(), "unknown anchor"));
        };
        let value = value.clone();
        let is_scalar = !matches!(value, Value::Map(_) | Value::Seq(_));
        self.flush_pending();
        let line = span.start.line();
        self.add_node(value, line, span.end.line(), is_scalar)
    }

    /// Wipes what was built so far (a fast path that gives up drops it;
    /// it may hold plaintext).
    fn wipe(&mut self) {
        use zeroize::Zeroize;
        self.docs.iter_mut().for_each(Zeroize::zeroize);
        for frame in &mut self.stack {
            match &mut frame.body {
                Body::Map { items, key, .. } => {
                    items.iter_mut().for_each(Zeroize::zeroize);
                    if let Some((k, _)) = key {
                        k.zeroize();
                    }
                }
                Body::Seq(items) => items.iter_mut().for_each(Zeroize::zeroize),
            }
        }
        if let Some(root) = &mut self.root {
            root.zeroize();
        }
        for (value, _) in self.anchors.values_mut() {
            value.zeroize();
        }
        for c in &mut self.pending {
            c.text.zeroize();
        }
    }

    /// Takes one parser event (the one place events become tree: both the
    /// parser's events and [`fast`]'s go through here).
    fn apply(
        &mut self,
        event: Event<'_>,
        span: &Span,
        saw_document: &mut bool,
    ) -> Result<(), StoreError> {
        match event {
            // Also ignored by the catch-all arm (deleting this arm changes
            // nothing); listed so that the events handled are explicit.
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_, version) => {
                if let Some(v) = version
                    && (v.major, v.minor) != (1, 1)
                {
                    return Err(syntax(
                        span.start.line(),
                        "found incompatible YAML document",
                    ));
                }
                *saw_document = true;
                self.root = None;
            }
            Event::DocumentEnd => self.end_document()?,
            Event::Comment(text, placement) => {
                self.comment(text.into_owned(), placement, span);
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.parsed_nodes += 1;
                let line = span.start.line();
                let value = self.scalar_value(text, style, tag.as_deref(), line)?;
                self.remember_anchor(anchor, &value);
                // An empty node (`- # c`) does not take a comment after its
                // dash; any other scalar starts on a later line than it.
                let empty = span.start.index() == span.end.index();
                self.flush_pending_before(empty.then_some(line));
                self.empty_scalar = empty;
                let end_line = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => line,
                    _ => span.end.line(),
                };
                self.add_node(value, line, end_line, true)?;
            }
            Event::Alias(id) => self.alias(id, span)?,
            Event::MappingStart(style, anchor, _) => {
                let body = Body::Map {
                    items: Vec::new(),
                    key: None,
                    keys: None,
                };
                self.open(body, span, style == StructureStyle::Flow, anchor)?;
            }
            Event::SequenceStart(style, anchor, _) => {
                self.open(
                    Body::Seq(Vec::new()),
                    span,
                    style == StructureStyle::Flow,
                    anchor,
                )?;
            }
            Event::MappingEnd | Event::SequenceEnd => self.close(span)?,
            _ => {}
        }
        Ok(())
    }

    fn end_document(&mut self) -> Result<(), StoreError> {
        let root = self.root.take();
        let is_map = matches!(root, Some(Value::Map(_)));
        let branch = match root {
            None | Some(Value::Null) => Branch::new(),
            Some(Value::Map(b)) => b,
            Some(other) => {
                let tag = match other {
                    Value::Seq(_) => "!!seq",
                    Value::Bool(_) => "!!bool",
                    Value::Int(_) => "!!int",
                    Value::Float(_) => "!!float",
                    Value::Time(_) => "!!timestamp",
                    Value::Bytes(_) => "!!binary",
                    _ => "!!str",
                };
                return Err(StoreError::Shape(format!(
                    "yaml: unmarshal errors:\n  line {}: cannot unmarshal {tag} into map[string]interface {{}}",
                    self.root_line.max(1)
                )));
            }
        };
        let mut branch = branch;
        // Comments after the root mapping closed (document foot); a null
        // document has no mapping to hold them.
        if is_map {
            for c in self.pending.drain(..) {
                branch.0.push(Item::Comment(c.text.into()));
            }
        }
        self.pending.clear();
        self.anchors.clear();
        self.docs.push(branch);
        self.doc_index += 1;
        Ok(())
    }
}

fn resolved_value(r: Resolved, text: Cow<'_, str>) -> Result<Value, StoreError> {
    Ok(match r {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Int(i),
        Resolved::Uint => {
            return Err(StoreError::Shape(
                "Cannot walk value, unknown type: uint64".into(),
            ));
        }
        Resolved::Float(f) => Value::Float(f),
        Resolved::Time(p) => Value::Time(Time::from_parts(p)),
        Resolved::Merge | Resolved::Str => Value::Str(text.into_owned()),
    })
}

/// UTF-16 input (little or big endian, told by its byte order mark) as
/// UTF-8; `None` for input without such a mark.
fn utf16_to_utf8(input: &[u8]) -> Option<Result<String, StoreError>> {
    let decode: fn([u8; 2]) -> u16 = match input {
        [0xFF, 0xFE, ..] => u16::from_le_bytes,
        [0xFE, 0xFF, ..] => u16::from_be_bytes,
        _ => return None,
    };
    let body = &input[2..];
    if !body.len().is_multiple_of(2) {
        return Some(Err(syntax(1, "invalid UTF-16: odd number of bytes")));
    }
    let units = body.chunks_exact(2).map(|p| decode([p[0], p[1]]));
    Some(
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| syntax(1, "invalid UTF-16")),
    )
}

/// go-yaml v3's error for input with no document but some text (blank
/// lines, comments); empty input is [`StoreError::Empty`].
const NO_DOCUMENT: &str = "EOF";

/// True for the errors of input that holds no document.
pub(crate) fn is_no_document(e: &StoreError) -> bool {
    match e {
        StoreError::Empty => true,
        StoreError::Shape(m) => m == NO_DOCUMENT,
        _ => false,
    }
}

/// Parses YAML text into documents.
pub(crate) fn load(input: &[u8], limits: &StoreLimits) -> Result<Vec<Branch>, StoreError> {
    load_with(input, limits, true)
}

/// [`load`], optionally without the duplicate-key check (tests read sops'
/// JSON files, which may repeat keys, through this parser).
pub(crate) fn load_with(
    input: &[u8],
    limits: &StoreLimits,
    check_duplicates: bool,
) -> Result<Vec<Branch>, StoreError> {
    if input.is_empty() {
        return Err(StoreError::Empty);
    }
    // go-yaml (sops 3.11) reads UTF-16 with a byte order mark; the text is
    // then UTF-8 like any other (and so is what we write).
    let transcoded;
    let input = match utf16_to_utf8(input) {
        Some(result) => {
            transcoded = result?;
            transcoded.as_bytes()
        }
        None => input,
    };
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = input[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        syntax(line, "invalid leading UTF-8 octet")
    })?;
    if let Some(docs) = fast::load(text, limits, check_duplicates) {
        return Ok(docs);
    }
    parse(text, limits, check_duplicates)
}

/// [`load`] of an open file. A regular file goes through the fast path
/// piece by piece ([`fast::load_from`]), so that its whole text and the
/// tree are never in memory together; when the fast path does not cover
/// it, the file is read again from its start and loaded as a whole. Other
/// files (pipes, devices) cannot be read twice and are read whole. The
/// outer error is reading's.
pub(crate) fn load_file(
    file: &mut std::fs::File,
    limits: &StoreLimits,
) -> std::io::Result<Result<Vec<Branch>, StoreError>> {
    use std::io::{Seek as _, SeekFrom};
    if file.metadata()?.is_file() {
        if let Some(docs) = load_file_visiting(file, limits, None)? {
            return Ok(Ok(docs));
        }
        file.seek(SeekFrom::Start(0))?;
    }
    let bytes = crate::stores::read_whole(file)?;
    Ok(load(&bytes, limits))
}

/// Takes a run of the first document's top-level items once they are
/// finished (see [`fast::load_from`]); `false` stops the reading.
pub(crate) type Visit<'v> = &'v mut dyn FnMut(Vec<Item>) -> bool;

/// The fast path over a regular file, piece by piece, handing `visit` the
/// top-level items as they are finished (see [`fast::load_from`]).
/// `Ok(None)`: not a regular file, or not the fast path's shape, or
/// `visit` refused; nothing read is kept.
pub(crate) fn load_file_visiting(
    file: &mut std::fs::File,
    limits: &StoreLimits,
    visit: Option<Visit<'_>>,
) -> std::io::Result<Option<Vec<Branch>>> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    fast::load_from(file, limits, len, true, fast::PIECE, visit)
}

/// The fast path over a text (`None`: not its shape).
pub(crate) fn load_fast(text: &str, limits: &StoreLimits) -> Option<Vec<Branch>> {
    fast::load(text, limits, true)
}

/// The general path: the parser's events into the builder. What it built
/// is wiped when it fails.
fn parse(
    text: &str,
    limits: &StoreLimits,
    check_duplicates: bool,
) -> Result<Vec<Branch>, StoreError> {
    let mut options = granit_parser::Options::default();
    options.max_buffered_comment_events = usize::MAX;
    options.block_scalar_eof_without_line_feed = true;
    // The parser's own nesting limits (255 by default) count flow levels
    // and block indentation apart; ours, in `Builder::open`, counts every
    // open collection and is the one that applies. The parser keeps its
    // state on the heap, so raising its limits costs no stack.
    let parser_limit = limits.max_depth.saturating_add(1);
    options.flow_nesting_limit = parser_limit;
    options.block_nesting_limit = parser_limit;
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut b = Builder::new(limits, text.len());
    b.check_duplicates = check_duplicates;
    let mut saw_document = false;
    let mut feed = || {
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| {
                let line = e.marker().line().max(1);
                if matches!(e.kind(), ErrorKind::RecursionLimitExceeded) {
                    b.too_deep(line)
                } else {
                    syntax(line, e.info())
                }
            })?;
            b.apply(event, &span, &mut saw_document)?;
        }
        Ok(())
    };
    if let Err(e) = feed() {
        b.wipe();
        return Err(e);
    }
    if !saw_document {
        return Err(StoreError::Shape(NO_DOCUMENT.into()));
    }
    Ok(std::mem::take(&mut b.docs))
}
