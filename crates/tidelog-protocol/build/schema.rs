//! The schema model and its parser. The format is described in `schemas/README.md`.

use std::collections::BTreeMap;

/// An inclusive range of versions; `max == i16::MAX` means "and every later version".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const ALL: Versions = Versions { min: 0, max: i16::MAX };

    fn parse(text: &str) -> Result<Versions, String> {
        let body = text.strip_prefix('v').ok_or_else(|| format!("bad versions `{text}`"))?;
        let num = |s: &str| s.parse::<i16>().map_err(|_| format!("bad version number in `{text}`"));
        if let Some(min) = body.strip_suffix('+') {
            Ok(Versions {
                min: num(min)?,
                max: i16::MAX,
            })
        } else if let Some((min, max)) = body.split_once('-') {
            Ok(Versions {
                min: num(min)?,
                max: num(max)?,
            })
        } else {
            let v = num(body)?;
            Ok(Versions { min: v, max: v })
        }
    }

    /// This range clipped to `outer`, or `None` when they do not overlap.
    pub fn within(self, outer: Versions) -> Option<Versions> {
        let clipped = Versions {
            min: self.min.max(outer.min),
            max: self.max.min(outer.max),
        };
        (clipped.min <= clipped.max).then_some(clipped)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Int64,
    Float64,
    String,
    Bytes,
    Records,
    Uuid,
}

impl Primitive {
    fn parse(name: &str) -> Option<Primitive> {
        Some(match name {
            "bool" => Primitive::Bool,
            "int8" => Primitive::Int8,
            "int16" => Primitive::Int16,
            "uint16" => Primitive::Uint16,
            "int32" => Primitive::Int32,
            "uint32" => Primitive::Uint32,
            "int64" => Primitive::Int64,
            "float64" => Primitive::Float64,
            "string" => Primitive::String,
            "bytes" => Primitive::Bytes,
            "records" => Primitive::Records,
            "uuid" => Primitive::Uuid,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Primitive(Primitive),
    Struct(String),
    Array(Box<FieldType>),
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    /// Versions the field exists in, clipped to the schema's versions.
    pub versions: Versions,
    /// Versions in which the field may be null.
    pub nullable: Option<Versions>,
    pub tag: Option<u32>,
    /// The literal from the schema, if any.
    pub default: Option<String>,
}

impl Field {
    pub fn is_nullable(&self) -> bool {
        self.nullable.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

/// What a schema file describes, named by the first word of its header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `api`: a request and a response, identified by an API key.
    Api,
    /// `metadata_record`: one record of KRaft's metadata log, identified by its record type.
    MetadataRecord,
    /// `control_record`: one KRaft control record, identified by its control record type.
    ControlRecord,
}

impl Kind {
    fn parse(keyword: &str) -> Option<(Kind, &'static str)> {
        Some(match keyword {
            "api" => (Kind::Api, "key"),
            "metadata_record" => (Kind::MetadataRecord, "type"),
            "control_record" => (Kind::ControlRecord, "type"),
            _ => return None,
        })
    }
}

/// The part a message plays: one side of an API, or a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Request,
    Response,
    Record,
}

/// One message with the structs it uses, by name (each message gets its own module).
#[derive(Debug)]
pub struct Message {
    pub role: Role,
    pub root: StructDef,
    pub structs: BTreeMap<String, StructDef>,
}

/// One schema file.
#[derive(Debug)]
pub struct Schema {
    pub kind: Kind,
    pub name: String,
    /// The API key or the record type.
    pub id: i16,
    pub versions: Versions,
    pub flexible_from: Option<i16>,
    /// Request and response of an API; the record of a record schema.
    pub messages: Vec<Message>,
}

/// A line of the file with its indentation level, comments stripped.
struct Line<'a> {
    number: usize,
    indent: usize,
    words: Vec<&'a str>,
}

fn lines(text: &str) -> Result<Vec<Line<'_>>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let without_comment = raw.split('#').next().unwrap_or("");
        if without_comment.trim().is_empty() {
            continue;
        }
        let spaces = without_comment.len() - without_comment.trim_start().len();
        if spaces % 2 != 0 || without_comment.starts_with('\t') {
            return Err(format!("line {}: indent with pairs of spaces", i + 1));
        }
        out.push(Line {
            number: i + 1,
            indent: spaces / 2,
            words: split_words(without_comment),
        });
    }
    Ok(out)
}

/// Splits on whitespace, keeping a quoted string (possibly empty) as one word.
fn split_words(line: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let end = match rest.strip_prefix('"') {
            Some(quoted) => quoted.find('"').map(|i| i + 2).unwrap_or(rest.len()),
            None => rest.find(char::is_whitespace).unwrap_or(rest.len()),
        };
        words.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    words
}

/// A struct body collected while parsing: field lines plus inline struct definitions.
struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    versions: Versions,
    /// Structs defined inline in the section being parsed, by name.
    structs: BTreeMap<String, StructDef>,
}

impl<'a> Parser<'a> {
    fn error(&self, line: &Line, message: &str) -> String {
        format!("line {}: {message}", line.number)
    }

    /// Parses the fields indented at `indent` until the indentation drops.
    fn fields(&mut self, indent: usize) -> Result<Vec<Field>, String> {
        let mut fields = Vec::new();
        while self.pos < self.lines.len() && self.lines[self.pos].indent >= indent {
            if self.lines[self.pos].indent > indent {
                let line = &self.lines[self.pos];
                return Err(self.error(line, "unexpected indentation"));
            }
            let field = self.field()?;
            let has_children = self.pos < self.lines.len() && self.lines[self.pos].indent > indent;
            if has_children {
                let struct_name = match struct_name_of(&field.ty) {
                    Some(name) => name.to_string(),
                    None => {
                        let line = &self.lines[self.pos];
                        return Err(self.error(line, "children under a non-struct field"));
                    }
                };
                let children = self.fields(indent + 1)?;
                if self.structs.contains_key(&struct_name) {
                    return Err(format!("struct {struct_name} defined twice"));
                }
                self.structs.insert(
                    struct_name.clone(),
                    StructDef {
                        name: struct_name,
                        fields: children,
                    },
                );
            }
            fields.push(field);
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<Field, String> {
        let line = &self.lines[self.pos];
        self.pos += 1;
        let words = &line.words;
        if words.len() < 2 {
            return Err(self.error(line, "a field needs a name and a type"));
        }
        let name = words[0].to_string();
        let (type_text, all_nullable) = match words[1].strip_suffix('?') {
            Some(t) => (t, true),
            None => (words[1], false),
        };
        let ty = parse_type(type_text).map_err(|e| self.error(line, &e))?;
        let mut versions = Versions::ALL;
        let mut nullable = None;
        let mut tag = None;
        let mut default = None;
        let mut i = 2;
        while i < words.len() {
            let word = words[i];
            let next = words.get(i + 1).copied();
            match word {
                w if w.starts_with('v') => versions = Versions::parse(w).map_err(|e| self.error(line, &e))?,
                "null" => {
                    let v = next.ok_or_else(|| self.error(line, "`null` needs versions"))?;
                    nullable = Some(Versions::parse(v).map_err(|e| self.error(line, &e))?);
                    i += 1;
                }
                "tag" => {
                    let n = next.and_then(|n| n.parse().ok());
                    tag = Some(n.ok_or_else(|| self.error(line, "`tag` needs a number"))?);
                    i += 1;
                }
                "default" => {
                    default = Some(
                        next.ok_or_else(|| self.error(line, "`default` needs a value"))?
                            .to_string(),
                    );
                    i += 1;
                }
                other => return Err(self.error(line, &format!("unknown attribute `{other}`"))),
            }
            i += 1;
        }
        let versions = versions
            .within(self.versions)
            .ok_or_else(|| self.error(line, "field versions outside the schema's versions"))?;
        if all_nullable {
            nullable = Some(versions);
        }
        let nullable = nullable.and_then(|n| n.within(versions));
        if default.as_deref() == Some("null") && nullable.is_none() {
            return Err(self.error(line, "default null on a field that is never nullable"));
        }
        Ok(Field {
            name,
            ty,
            versions,
            nullable,
            tag,
            default,
        })
    }
}

fn struct_name_of(ty: &FieldType) -> Option<&str> {
    match ty {
        FieldType::Struct(name) => Some(name),
        FieldType::Array(inner) => struct_name_of(inner),
        FieldType::Primitive(_) => None,
    }
}

fn parse_type(text: &str) -> Result<FieldType, String> {
    if let Some(inner) = text.strip_prefix("[]") {
        return Ok(FieldType::Array(Box::new(parse_type(inner)?)));
    }
    if let Some(p) = Primitive::parse(text) {
        return Ok(FieldType::Primitive(p));
    }
    if text.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && text.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(FieldType::Struct(text.to_string()));
    }
    Err(format!("unknown type `{text}`"))
}

/// Parses one schema file.
pub fn parse(text: &str) -> Result<Schema, String> {
    let lines = lines(text)?;
    let header = lines.first().ok_or("empty schema")?;
    let w = &header.words;
    let kind = w.first().and_then(|k| Kind::parse(k));
    let (kind, id_word) = match kind {
        Some(found) if w.len() == 8 && w[2] == found.1 && w[4] == "versions" && w[6] == "flexible" => found,
        _ => {
            return Err(
                "first line must be `api <Name> key <n>`, `metadata_record <Name> type <n>` or \
                        `control_record <Name> type <n>`, then `versions <a-b> flexible <n+|none>`"
                    .into(),
            )
        }
    };
    let name = w[1].to_string();
    let id = w[3].parse().map_err(|_| format!("bad {id_word}"))?;
    let versions = Versions::parse(&format!("v{}", w[5]))?;
    let flexible_from = match w[7] {
        "none" => None,
        f => Some(
            f.strip_suffix('+')
                .and_then(|n| n.parse().ok())
                .ok_or("bad flexible version")?,
        ),
    };
    let mut parser = Parser {
        lines,
        pos: 1,
        versions,
        structs: BTreeMap::new(),
    };
    // A record's fields follow its header line; an API's messages are sections.
    let mut sections = Vec::new();
    if kind != Kind::Api {
        let fields = parser.fields(1)?;
        let inline = std::mem::take(&mut parser.structs);
        sections.push((
            Role::Record,
            StructDef {
                name: name.clone(),
                fields,
            },
            inline,
        ));
    }
    // Structs declared at the top level, with the structs nested inside them, are visible
    // to every message; structs declared inside a message belong to that message only.
    let mut shared = BTreeMap::new();
    while parser.pos < parser.lines.len() {
        let line = &parser.lines[parser.pos];
        let (section, type_name) = match line.words.as_slice() {
            [section, type_name] if line.indent == 0 => (section.to_string(), type_name.to_string()),
            _ => return Err(parser.error(line, "expected `request <Name>`, `response <Name>` or `struct <Name>`")),
        };
        parser.pos += 1;
        let fields = parser.fields(1)?;
        let inline = std::mem::take(&mut parser.structs);
        let def = StructDef {
            name: type_name.clone(),
            fields,
        };
        match section.as_str() {
            "request" if kind == Kind::Api => sections.push((Role::Request, def, inline)),
            "response" if kind == Kind::Api => sections.push((Role::Response, def, inline)),
            "struct" => {
                shared.extend(inline);
                if shared.insert(type_name.clone(), def).is_some() {
                    return Err(format!("struct {type_name} defined twice"));
                }
            }
            other => return Err(format!("unexpected section `{other}`")),
        }
    }
    if kind == Kind::Api {
        let roles: Vec<Role> = sections.iter().map(|(role, ..)| *role).collect();
        if roles != [Role::Request, Role::Response] {
            return Err("an API needs a `request` section, then a `response` section".into());
        }
    }
    let messages = sections
        .into_iter()
        .map(|(role, root, inline)| {
            let structs = reachable(&root, &inline, &shared)?;
            Ok(Message { role, root, structs })
        })
        .collect::<Result<_, String>>()?;
    Ok(Schema {
        kind,
        name,
        id,
        versions,
        flexible_from,
        messages,
    })
}

/// The structs used by `root`, transitively, looked up in its own inline structs first.
fn reachable(
    root: &StructDef,
    inline: &BTreeMap<String, StructDef>,
    shared: &BTreeMap<String, StructDef>,
) -> Result<BTreeMap<String, StructDef>, String> {
    for name in inline.keys() {
        if shared.contains_key(name) {
            return Err(format!("struct {name} defined twice"));
        }
    }
    let mut found = BTreeMap::new();
    let mut pending: Vec<&StructDef> = vec![root];
    while let Some(def) = pending.pop() {
        for field in &def.fields {
            if let Some(name) = struct_name_of(&field.ty) {
                if found.contains_key(name) {
                    continue;
                }
                let child = inline
                    .get(name)
                    .or_else(|| shared.get(name))
                    .ok_or_else(|| format!("struct {name} is used but never defined"))?;
                found.insert(name.to_string(), child.clone());
                pending.push(child);
            }
        }
    }
    Ok(found)
}
