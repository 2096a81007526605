//! A positioned YAML tree built from `saphyr-parser` events.
//!
//! Scalars keep their source text, style and tag so the decoder can apply Kubernetes' typing
//! (YAML 1.1 booleans as go-yaml v2 reads them, quoted numbers are strings, ...). Aliases are
//! expanded (with a budget against "billion laughs"), merge keys (`<<`) are applied, duplicate
//! keys are reported.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A 1-based line and column in the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub struct Scalar {
    pub text: String,
    /// Plain (unquoted, not block) scalars are the only ones subject to type resolution.
    pub plain: bool,
    /// Core-schema tag suffix (`str`, `int`, ...) or a full foreign tag.
    pub tag: Option<String>,
}

/// What a scalar means once typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str,
}

impl Value {
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str => "a string",
        }
    }
}

impl Scalar {
    /// Resolve the scalar's type as Kubernetes (go-yaml v2, YAML 1.1) does.
    pub fn value(&self) -> Value {
        match self.tag.as_deref() {
            Some("str") => return Value::Str,
            Some("null") => return Value::Null,
            Some("bool") => return resolve_bool(&self.text).map_or(Value::Str, Value::Bool),
            Some("int") => return resolve_int(&self.text).map_or(Value::Str, Value::Int),
            Some("float") => {
                return resolve_float(&self.text)
                    .or_else(|| resolve_int(&self.text).map(|i| i as f64))
                    .map_or(Value::Str, Value::Float)
            }
            _ => {}
        }
        if !self.plain {
            return Value::Str;
        }
        let t = self.text.as_str();
        if matches!(t, "" | "~" | "null" | "Null" | "NULL") {
            return Value::Null;
        }
        if let Some(b) = resolve_bool(t) {
            return Value::Bool(b);
        }
        if let Some(i) = resolve_int(t) {
            return Value::Int(i);
        }
        if let Some(f) = resolve_float(t) {
            return Value::Float(f);
        }
        Value::Str
    }
}

fn resolve_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

fn resolve_int(t: &str) -> Option<i128> {
    let (neg, rest) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || rest.starts_with('_') {
        return None;
    }
    let (radix, body) = if let Some(b) = digits.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = digits.strip_prefix("0o") {
        (8, b)
    } else if let Some(b) = digits.strip_prefix("0b") {
        (2, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        // YAML 1.1 octal, as go-yaml v2 reads it.
        (8, &digits[1..])
    } else {
        (10, digits.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(body, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn resolve_float(t: &str) -> Option<f64> {
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let b = t.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut digits = i > start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        digits |= i > f;
    }
    if !digits {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.replace('_', "").parse().ok()
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// True for an explicit or implicit null (`~`, `null`, empty value).
    pub fn is_null(&self) -> bool {
        self.scalar().is_some_and(|s| s.value() == Value::Null)
    }

    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(s) => s.value().describe(),
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    fn count(&self) -> usize {
        match &self.kind {
            Kind::Scalar(_) => 1,
            Kind::Seq(v) => 1 + v.iter().map(Node::count).sum::<usize>(),
            Kind::Map(v) => 1 + v.iter().map(|(k, v)| k.count() + v.count()).sum::<usize>(),
        }
    }
}

/// A problem found while building the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeError {
    pub pos: Pos,
    pub message: String,
}

/// The outcome of reading a file: the root of the first document (if the syntax allowed one to
/// be built) and every problem found.
#[derive(Debug)]
pub struct Document {
    pub root: Option<Node>,
    pub errors: Vec<TreeError>,
}

const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 200_000;

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: Vec<Option<Node>>,
    errors: Vec<TreeError>,
    nodes: usize,
}

enum Fatal {
    Syntax(TreeError),
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), Fatal> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(Fatal::Syntax(TreeError {
                pos: Pos {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                },
                message: format!("invalid YAML: {}", e.info()),
            })),
            None => Err(Fatal::Syntax(TreeError {
                pos: Pos::default(),
                message: "invalid YAML: unexpected end of input".into(),
            })),
        }
    }

    fn fatal(&self, pos: Pos, message: impl Into<String>) -> Fatal {
        Fatal::Syntax(TreeError {
            pos,
            message: message.into(),
        })
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor == 0 {
            return;
        }
        if self.anchors.len() <= anchor {
            self.anchors.resize(anchor + 1, None);
        }
        self.anchors[anchor] = Some(node.clone());
    }

    fn grow(&mut self, by: usize, pos: Pos) -> Result<(), Fatal> {
        self.nodes += by;
        if self.nodes > MAX_NODES {
            return Err(self.fatal(
                pos,
                format!("document too large: more than {MAX_NODES} nodes (after aliases)"),
            ));
        }
        Ok(())
    }

    /// Build the node starting with `ev`.
    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Node, Fatal> {
        let pos = Pos::of(&span);
        if depth > MAX_DEPTH {
            return Err(self.fatal(pos, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                self.grow(1, pos)?;
                let tag = tag.map(|t| {
                    if t.is_yaml_core_schema() {
                        t.suffix.clone()
                    } else {
                        t.to_string()
                    }
                });
                if let Some(t) = &tag {
                    if !matches!(t.as_str(), "str" | "int" | "bool" | "null" | "float") {
                        self.errors.push(TreeError {
                            pos,
                            message: format!("unsupported YAML tag {t}"),
                        });
                    }
                }
                let node = Node {
                    pos,
                    kind: Kind::Scalar(Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                        tag,
                    }),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(id) => {
                let Some(Some(n)) = self.anchors.get(id) else {
                    return Err(self.fatal(pos, "alias to an unknown anchor"));
                };
                let n = n.clone();
                self.grow(n.count(), pos)?;
                Ok(n)
            }
            Event::SequenceStart(anchor, tag) => {
                self.grow(1, pos)?;
                self.check_collection_tag(tag.as_deref(), "seq", pos);
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, span, depth + 1)?);
                }
                let node = Node {
                    pos,
                    kind: Kind::Seq(items),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, tag) => {
                self.grow(1, pos)?;
                self.check_collection_tag(tag.as_deref(), "map", pos);
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let mut merges: Vec<Node> = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(ev, span, depth + 1)?;
                    let (ev, span) = self.next()?;
                    let value = self.node(ev, span, depth + 1)?;
                    let key_text = match &key.kind {
                        Kind::Scalar(s) => s.text.clone(),
                        _ => {
                            self.errors.push(TreeError {
                                pos: key.pos,
                                message: "a mapping key must be a scalar".into(),
                            });
                            continue;
                        }
                    };
                    if key_text == "<<" && key.scalar().is_some_and(|s| s.plain && s.tag.is_none())
                    {
                        merges.push(value);
                        continue;
                    }
                    if let Some((first, _)) =
                        entries.iter().find(|(k, _)| key_text_of(k) == key_text)
                    {
                        self.errors.push(TreeError {
                            pos: key.pos,
                            message: format!(
                                "duplicate key {key_text:?} (first at line {})",
                                first.pos.line
                            ),
                        });
                        continue;
                    }
                    entries.push((key, value));
                }
                for m in merges {
                    let sources = match m.kind {
                        Kind::Map(_) => vec![m],
                        Kind::Seq(v) if v.iter().all(|x| matches!(x.kind, Kind::Map(_))) => v,
                        _ => {
                            self.errors.push(TreeError {
                                pos: m.pos,
                                message: "a merge key (<<) needs a mapping or a list of mappings"
                                    .into(),
                            });
                            continue;
                        }
                    };
                    for s in sources {
                        if let Kind::Map(es) = s.kind {
                            for (k, v) in es {
                                let kt = key_text_of(&k);
                                if !entries.iter().any(|(e, _)| key_text_of(e) == kt) {
                                    entries.push((k, v));
                                }
                            }
                        }
                    }
                }
                let node = Node {
                    pos,
                    kind: Kind::Map(entries),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            other => Err(self.fatal(pos, format!("invalid YAML: unexpected event {other:?}"))),
        }
    }

    fn check_collection_tag(&mut self, tag: Option<&saphyr_parser::Tag>, expect: &str, pos: Pos) {
        if let Some(t) = tag {
            if !(t.is_yaml_core_schema() && t.suffix == expect) {
                self.errors.push(TreeError {
                    pos,
                    message: format!("unsupported YAML tag {t}"),
                });
            }
        }
    }
}

fn key_text_of(n: &Node) -> &str {
    n.scalar().map_or("", |s| s.text.as_str())
}

/// Parse `text` into the tree of its single document. More than one non-empty document is an
/// error (reported at the second document).
pub fn parse(text: &str) -> Document {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: Vec::new(),
        errors: Vec::new(),
        nodes: 0,
    };
    let mut root = None;
    let mut documents = 0usize;
    let result = (|| -> Result<(), Fatal> {
        loop {
            let (ev, span) = b.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(()),
                Event::DocumentStart(_) => {
                    b.anchors.clear();
                    let (ev, span) = b.next()?;
                    let node = b.node(ev, span, 0)?;
                    if node.is_null() && documents > 0 {
                        continue; // a trailing `---` with nothing after it
                    }
                    documents += 1;
                    if documents == 2 {
                        let pos = if node.is_null() {
                            Pos::of(&span)
                        } else {
                            node.pos
                        };
                        b.errors.push(TreeError {
                            pos,
                            message: "the file holds more than one YAML document; podrt runs \
                                      exactly one Pod per file"
                                .into(),
                        });
                    }
                    if root.is_none() {
                        root = Some(node);
                    }
                }
                other => {
                    return Err(b.fatal(Pos::of(&span), format!("invalid YAML: {other:?}")));
                }
            }
        }
    })();
    if let Err(Fatal::Syntax(e)) = result {
        b.errors.push(e);
        root = None;
    }
    Document {
        root,
        errors: b.errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(t: &str) -> Node {
        let d = parse(t);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        d.root.unwrap()
    }

    #[test]
    fn positions_are_one_based() {
        let n = root("a:\n  b: 1\n");
        let Kind::Map(es) = &n.kind else { panic!() };
        assert_eq!(es[0].0.pos, Pos { line: 1, column: 1 });
        let Kind::Map(inner) = &es[0].1.kind else {
            panic!()
        };
        assert_eq!(inner[0].0.pos, Pos { line: 2, column: 3 });
        assert_eq!(inner[0].1.pos, Pos { line: 2, column: 6 });
    }

    #[test]
    fn scalar_typing() {
        let s = |t: &str, plain| Scalar {
            text: t.into(),
            plain,
            tag: None,
        };
        assert_eq!(s("80", true).value(), Value::Int(80));
        assert_eq!(s("80", false).value(), Value::Str);
        assert_eq!(s("yes", true).value(), Value::Bool(true));
        assert_eq!(s("0.5", true).value(), Value::Float(0.5));
        assert_eq!(s("1e3", true).value(), Value::Float(1000.0));
        assert_eq!(s("500m", true).value(), Value::Str);
        assert_eq!(s("~", true).value(), Value::Null);
        assert_eq!(s("0x1F", true).value(), Value::Int(31));
        assert_eq!(s("-", true).value(), Value::Str);
        assert_eq!(s(".", true).value(), Value::Str);
    }

    #[test]
    fn duplicates_multi_docs_and_syntax() {
        let d = parse("a: 1\na: 2\n");
        assert_eq!(d.errors.len(), 1);
        assert!(d.errors[0]
            .message
            .contains("duplicate key \"a\" (first at line 1)"));
        assert_eq!(d.errors[0].pos.line, 2);
        let d = parse("a: 1\n---\nb: 2\n");
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].pos.line, 3);
        let d = parse("a: 1\n---\n");
        assert!(d.errors.is_empty());
        let d = parse("a: [1\n");
        assert!(d.root.is_none() && d.errors[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn aliases_and_merges() {
        let n = root("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n");
        let Kind::Map(es) = &n.kind else { panic!() };
        let Kind::Map(m) = &es[1].1.kind else {
            panic!()
        };
        let keys: Vec<_> = m
            .iter()
            .map(|(k, v)| (key_text_of(k), key_text_of(v)))
            .collect();
        assert_eq!(keys, vec![("y", "3"), ("x", "1")]);
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut t = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            t.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let d = parse(&t);
        assert!(d.errors[0].message.contains("too large"));
        let deep = "[".repeat(500) + &"]".repeat(500);
        assert!(parse(&deep).errors[0].message.contains("recursion limit"));
        let block: String = (0..70)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let errors = parse(&block).errors;
        assert!(errors[0].message.contains("nesting"), "{errors:?}");
    }
}
