//! Turns parsed schemas into Rust source: one module per message with its structs,
//! `Default`, `Decode`, `Encode` and (behind the `sample` feature) `Sample` impls, plus,
//! for each kind of schema, the table of its ids (`ApiKey`, `MetadataRecordType`,
//! `KraftControlType`) and the enums of its bodies (`RequestBody`/`ResponseBody`,
//! `MetadataRecord`, `KraftControlRecord`).

use std::fmt::Write;

use crate::schema::{Field, FieldType, Kind, Message, Primitive, Role, Schema, StructDef, Versions};

/// Rust keywords that Kafka uses as field names.
const KEYWORDS: &[&str] = &["match", "type", "in", "ref", "mod", "move", "self", "fn"];

fn ident(name: &str) -> String {
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// snake_case for a CamelCase name.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A Rust boolean expression: is `version` inside `v`? `outer` is what is already known
/// to hold (the message's versions), so bounds it implies are left out.
fn version_test(v: Versions, outer: Versions) -> Option<String> {
    let low = (v.min > outer.min).then(|| format!("version >= {}", v.min));
    let high = (v.max < outer.max).then(|| format!("version <= {}", v.max));
    match (low, high) {
        (None, None) => None,
        (Some(a), None) | (None, Some(a)) => Some(a),
        (Some(_), Some(_)) => Some(format!("({}..={}).contains(&version)", v.min, v.max)),
    }
}

/// The Rust type of a primitive; `records` are [`Payload`] in responses (the broker may
/// send them from a file) and `Bytes` elsewhere (they arrive in memory).
fn primitive_type(p: Primitive, role: Role) -> &'static str {
    match p {
        Primitive::Bool => "bool",
        Primitive::Int8 => "i8",
        Primitive::Int16 => "i16",
        Primitive::Uint16 => "u16",
        Primitive::Int32 => "i32",
        Primitive::Uint32 => "u32",
        Primitive::Int64 => "i64",
        Primitive::Float64 => "f64",
        Primitive::String => "String",
        Primitive::Bytes => "Bytes",
        Primitive::Records if role == Role::Response => "Payload",
        Primitive::Records => "Bytes",
        Primitive::Uuid => "Uuid",
    }
}

/// The value of a field when it is absent from a version.
fn default_expr(f: &Field) -> Result<String, String> {
    let non_null = match f.default.as_deref() {
        Some("null") => return Ok("None".into()),
        Some(literal) => literal_expr(&f.ty, literal).map_err(|e| format!("field {}: {e}", f.name))?,
        None if f.is_nullable() && matches!(f.ty, FieldType::Struct(_)) => return Ok("None".into()),
        None => "Default::default()".into(),
    };
    Ok(if f.is_nullable() {
        format!("Some({non_null})")
    } else {
        non_null
    })
}

fn literal_expr(ty: &FieldType, literal: &str) -> Result<String, String> {
    let p = match ty {
        FieldType::Primitive(p) => *p,
        _ => return Err("only primitive fields take a default".into()),
    };
    Ok(match p {
        Primitive::Bool if literal == "true" || literal == "false" => literal.to_string(),
        Primitive::String => {
            let text = literal
                .strip_prefix('"')
                .and_then(|l| l.strip_suffix('"'))
                .ok_or("quote string defaults")?;
            if text.is_empty() {
                "String::new()".into()
            } else {
                format!("String::from({literal})")
            }
        }
        Primitive::Float64 => format!("{literal}_f64"),
        Primitive::Int8
        | Primitive::Int16
        | Primitive::Uint16
        | Primitive::Int32
        | Primitive::Uint32
        | Primitive::Int64 => {
            let ok = literal
                .strip_prefix('-')
                .unwrap_or(literal)
                .chars()
                .all(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(format!("bad integer default `{literal}`"));
            }
            literal.to_string()
        }
        _ => return Err(format!("unsupported default `{literal}`")),
    })
}

/// How a kind of schema is exposed: the enum of its ids, and an enum of bodies per role.
struct KindNames {
    /// What the id is called in docs.
    id_doc: &'static str,
    id_enum: &'static str,
    /// The bodies' method that gives their id.
    id_method: &'static str,
    bodies: &'static [(Role, &'static str, &'static str)],
}

impl Kind {
    fn names(self) -> KindNames {
        match self {
            Kind::Api => KindNames {
                id_doc: "API key",
                id_enum: "ApiKey",
                id_method: "api_key",
                bodies: &[
                    (Role::Request, "RequestBody", "request body, by API"),
                    (Role::Response, "ResponseBody", "response body, by API"),
                ],
            },
            Kind::MetadataRecord => KindNames {
                id_doc: "metadata record type",
                id_enum: "MetadataRecordType",
                id_method: "record_type",
                bodies: &[(Role::Record, "MetadataRecord", "metadata record, by type")],
            },
            Kind::ControlRecord => KindNames {
                id_doc: "control record type",
                id_enum: "KraftControlType",
                id_method: "control_type",
                bodies: &[(Role::Record, "KraftControlRecord", "KRaft control record, by type")],
            },
        }
    }
}

/// Emits the Rust source for `schemas`: their modules, then the id table and body enums
/// of each kind among them.
pub fn emit(schemas: &[Schema]) -> Result<String, String> {
    let mut out = String::new();
    for schema in schemas {
        for message in &schema.messages {
            let root = &message.root;
            writeln!(
                out,
                "/// {} ({} {}), versions {}-{}.",
                root.name,
                schema.kind.names().id_doc,
                schema.id,
                schema.versions.min,
                schema.versions.max
            )
            .unwrap();
            writeln!(out, "pub mod {} {{", snake(&root.name)).unwrap();
            writeln!(out, "    #[allow(unused_imports)]\n    use crate::codec::prelude::*;\n").unwrap();
            let emitter = Emitter { schema, message };
            emitter.structure(&mut out, root, true)?;
            for def in message.structs.values() {
                emitter.structure(&mut out, def, false)?;
            }
            writeln!(out, "}}\n").unwrap();
        }
    }
    for kind in [Kind::Api, Kind::MetadataRecord, Kind::ControlRecord] {
        let of_kind: Vec<&Schema> = schemas.iter().filter(|s| s.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let names = kind.names();
        emit_id_enum(&mut out, &names, &of_kind);
        for &(role, enum_name, doc) in names.bodies {
            emit_body_enum(&mut out, &names, &of_kind, role, enum_name, doc);
        }
    }
    Ok(out)
}

struct Emitter<'a> {
    schema: &'a Schema,
    message: &'a Message,
}

impl Emitter<'_> {
    fn value_type(&self, ty: &FieldType) -> String {
        match ty {
            FieldType::Primitive(p) => primitive_type(*p, self.message.role).to_string(),
            FieldType::Struct(name) => name.clone(),
            FieldType::Array(inner) => format!("Vec<{}>", self.value_type(inner)),
        }
    }

    fn field_type(&self, f: &Field) -> String {
        let inner = self.value_type(&f.ty);
        if f.is_nullable() {
            format!("Option<{inner}>")
        } else {
            inner
        }
    }

    fn flexible_expr(&self) -> String {
        match self.schema.flexible_from {
            Some(v) if v <= self.schema.versions.min => "true".into(),
            Some(v) => format!("version >= {v}"),
            None => "false".into(),
        }
    }

    fn in_versions(&self, v: Versions) -> Option<String> {
        version_test(v, self.schema.versions)
    }

    fn structure(&self, out: &mut String, def: &StructDef, is_root: bool) -> Result<(), String> {
        let name = &def.name;
        // The type.
        writeln!(out, "    #[derive(Debug, Clone, PartialEq)]\n    pub struct {name} {{").unwrap();
        for f in &def.fields {
            writeln!(out, "        pub {}: {},", ident(&f.name), self.field_type(f)).unwrap();
        }
        writeln!(
            out,
            "        /// Tagged fields this version does not know, kept to be written back."
        )
        .unwrap();
        writeln!(out, "        pub unknown_tagged_fields: TaggedFields,\n    }}\n").unwrap();

        // Default.
        writeln!(
            out,
            "    impl Default for {name} {{\n        fn default() -> Self {{\n            Self {{"
        )
        .unwrap();
        for f in &def.fields {
            writeln!(out, "                {}: {},", ident(&f.name), default_expr(f)?).unwrap();
        }
        writeln!(
            out,
            "                unknown_tagged_fields: TaggedFields::new(),\n            }}\n        }}\n    }}\n"
        )
        .unwrap();

        self.decode_impl(out, def, is_root)?;
        self.encode_impl(out, def, is_root)?;
        self.sample_impl(out, def);
        // Every response answers `error_codes`; its nested structs where they hold one.
        let nested_errors = || self.holds_error_codes(&FieldType::Struct(def.name.clone()));
        if self.message.role == Role::Response && (is_root || nested_errors()) {
            self.error_codes_impl(out, def);
        }
        if is_root && self.schema.kind == Kind::Api {
            writeln!(out, "    impl ApiMessage for {name} {{").unwrap();
            writeln!(out, "        const API_KEY: ApiKey = ApiKey::{};", self.schema.name).unwrap();
            let is_request = self.message.role == Role::Request;
            writeln!(out, "        const IS_REQUEST: bool = {is_request};\n    }}\n").unwrap();
        }
        Ok(())
    }

    /// The statement refusing a version outside the schema's range, for decoding or encoding.
    /// Records have a type, not an API key, and metadata and control record types overlap:
    /// their error names the record.
    fn version_check(&self, decode: bool) -> String {
        let (check, error) = match decode {
            true => ("check_version", "DecodeError"),
            false => ("check_encode_version", "EncodeError"),
        };
        let Schema { name, versions, .. } = self.schema;
        match self.schema.kind {
            Kind::Api => format!("{check}(ApiKey::{name}, version)?;"),
            _ => format!(
                "if !({}..={}).contains(&version) {{ return Err({error}::UnsupportedRecordVersion {{ record: \"{name}\", version }}); }}",
                versions.min, versions.max
            ),
        }
    }

    fn decode_impl(&self, out: &mut String, def: &StructDef, is_root: bool) -> Result<(), String> {
        writeln!(out, "    impl Decode for {} {{", def.name).unwrap();
        writeln!(
            out,
            "        fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {{"
        )
        .unwrap();
        if is_root {
            writeln!(out, "            {}", self.version_check(true)).unwrap();
        }
        writeln!(out, "            let flexible = {};", self.flexible_expr()).unwrap();
        writeln!(out, "            let mut this = Self::default();").unwrap();
        for f in def.fields.iter().filter(|f| f.tag.is_none()) {
            let assign = format!("this.{} = {};", ident(&f.name), self.decode_field(f)?);
            match self.in_versions(f.versions) {
                Some(test) => writeln!(out, "            if {test} {{ {assign} }}").unwrap(),
                None => writeln!(out, "            {assign}").unwrap(),
            }
        }
        writeln!(out, "            if flexible {{").unwrap();
        writeln!(out, "                for _ in 0..r.tagged_field_count()? {{").unwrap();
        writeln!(out, "                    let tag = r.uvarint()?;").unwrap();
        writeln!(out, "                    let size = r.uvarint()? as usize;").unwrap();
        let binding = if self.tagged_fields(def).is_empty() {
            "field"
        } else {
            "mut field"
        };
        writeln!(out, "                    let {binding} = r.sub_reader(size)?;").unwrap();
        writeln!(out, "                    match tag {{").unwrap();
        for f in self.tagged_fields(def) {
            let guard = self
                .in_versions(f.versions)
                .map(|t| format!(" if {t}"))
                .unwrap_or_default();
            writeln!(out, "                        {}{guard} => {{", f.tag.unwrap()).unwrap();
            writeln!(out, "                            let r = &mut field;").unwrap();
            writeln!(
                out,
                "                            this.{} = {};",
                ident(&f.name),
                self.decode_field(f)?
            )
            .unwrap();
            writeln!(out, "                            r.finish().map_err(|_| DecodeError::TaggedFieldTrailingBytes {{ tag, left: r.remaining() }})?;").unwrap();
            writeln!(out, "                        }}").unwrap();
        }
        writeln!(out, "                        _ => this.unknown_tagged_fields.push(RawTaggedField {{ tag, data: field.into_bytes() }}),").unwrap();
        writeln!(out, "                    }}\n                }}\n            }}").unwrap();
        writeln!(out, "            Ok(this)\n        }}\n    }}\n").unwrap();
        Ok(())
    }

    fn tagged_fields<'d>(&self, def: &'d StructDef) -> Vec<&'d Field> {
        let mut tagged: Vec<&Field> = def.fields.iter().filter(|f| f.tag.is_some()).collect();
        tagged.sort_by_key(|f| f.tag);
        tagged
    }

    /// An expression of the field's Rust type, read from `r`.
    fn decode_field(&self, f: &Field) -> Result<String, String> {
        let Some(nullable) = f.nullable else {
            return self.decode_value(&f.ty, &f.name);
        };
        let maybe = self.decode_nullable(&f.ty, &f.name)?;
        if nullable == f.versions {
            return Ok(maybe);
        }
        let test = version_test(nullable, self.schema.versions).unwrap_or_else(|| "true".into());
        Ok(format!(
            "if {test} {{ {maybe} }} else {{ Some({}) }}",
            self.decode_value(&f.ty, &f.name)?
        ))
    }

    fn decode_value(&self, ty: &FieldType, name: &str) -> Result<String, String> {
        Ok(match ty {
            FieldType::Primitive(p) => match p {
                Primitive::Bool => "r.bool()?".into(),
                Primitive::Int8 => "r.i8()?".into(),
                Primitive::Int16 => "r.i16()?".into(),
                Primitive::Uint16 => "r.u16()?".into(),
                Primitive::Int32 => "r.i32()?".into(),
                Primitive::Uint32 => "r.u32()?".into(),
                Primitive::Int64 => "r.i64()?".into(),
                Primitive::Float64 => "r.f64()?".into(),
                Primitive::Uuid => "r.uuid()?".into(),
                Primitive::String => format!("r.string(flexible, \"{name}\")?"),
                Primitive::Bytes => format!("r.bytes(flexible, \"{name}\")?"),
                Primitive::Records => format!("r.bytes(flexible, \"{name}\")?.into()"),
            },
            FieldType::Struct(s) => format!("{s}::decode(r, version)?"),
            FieldType::Array(inner) => format!(
                "{{ let n = r.array_len(flexible, \"{name}\")?; r.elements(n, |r| Ok({}))? }}",
                self.decode_value(inner, name)?
            ),
        })
    }

    fn decode_nullable(&self, ty: &FieldType, name: &str) -> Result<String, String> {
        Ok(match ty {
            FieldType::Primitive(Primitive::String) => "r.nullable_string(flexible)?".into(),
            FieldType::Primitive(Primitive::Bytes) => "r.nullable_bytes(flexible)?".into(),
            FieldType::Primitive(Primitive::Records) => "r.nullable_bytes(flexible)?.map(Into::into)".into(),
            FieldType::Primitive(p) => return Err(format!("field {name}: {p:?} cannot be nullable")),
            FieldType::Struct(s) => format!("if r.i8()? < 0 {{ None }} else {{ Some({s}::decode(r, version)?) }}"),
            FieldType::Array(inner) => format!(
                "match r.nullable_array_len(flexible)? {{ None => None, Some(n) => Some(r.elements(n, |r| Ok({}))?) }}",
                self.decode_value(inner, name)?
            ),
        })
    }

    fn encode_impl(&self, out: &mut String, def: &StructDef, is_root: bool) -> Result<(), String> {
        writeln!(out, "    impl Encode for {} {{", def.name).unwrap();
        writeln!(
            out,
            "        fn encode(&self, w: &mut EncodeBuf, version: i16) -> Result<(), EncodeError> {{"
        )
        .unwrap();
        if is_root {
            writeln!(out, "            {}", self.version_check(false)).unwrap();
        }
        writeln!(out, "            let flexible = {};", self.flexible_expr()).unwrap();
        for f in def.fields.iter().filter(|f| f.tag.is_none()) {
            let body = self.encode_field(f, &format!("self.{}", ident(&f.name)))?;
            match self.in_versions(f.versions) {
                Some(test) => writeln!(out, "            if {test} {{ {body} }}").unwrap(),
                None => writeln!(out, "            {body}").unwrap(),
            }
        }
        writeln!(out, "            if flexible {{").unwrap();
        writeln!(
            out,
            "                #[allow(unused_mut)]\n                let mut tagged = TaggedWriter::new();"
        )
        .unwrap();
        for f in self.tagged_fields(def) {
            let default = format!("{{ let d: {} = {}; d }}", self.field_type(f), default_expr(f)?);
            let mut test = format!("self.{} != {default}", ident(&f.name));
            if let Some(v) = self.in_versions(f.versions) {
                test = format!("{v} && {test}");
            }
            let body = self.encode_field(f, &format!("self.{}", ident(&f.name)))?;
            writeln!(
                out,
                "                if {test} {{ let w = tagged.field({}); {body} }}",
                f.tag.unwrap()
            )
            .unwrap();
        }
        writeln!(
            out,
            "                tagged.finish(w, &self.unknown_tagged_fields);\n            }}"
        )
        .unwrap();
        writeln!(out, "            Ok(())\n        }}\n    }}\n").unwrap();
        Ok(())
    }

    /// Statements writing the field at `place` (an expression of the field's Rust type).
    fn encode_field(&self, f: &Field, place: &str) -> Result<String, String> {
        let Some(nullable) = f.nullable else {
            return self.encode_value(&f.ty, &format!("&{place}"), &f.name);
        };
        let null = match &f.ty {
            FieldType::Primitive(Primitive::String) => "w.put_null_string(flexible);".to_string(),
            FieldType::Primitive(Primitive::Bytes | Primitive::Records) => "w.put_null_bytes(flexible);".into(),
            FieldType::Array(_) => "w.put_null_array(flexible);".into(),
            FieldType::Struct(_) => "w.put_i8(-1);".into(),
            FieldType::Primitive(p) => return Err(format!("field {}: {p:?} cannot be nullable", f.name)),
        };
        let refused = format!(
            "return Err(EncodeError::NullNotAllowed {{ field: \"{}\", version }});",
            f.name
        );
        let on_null = match version_test(nullable, self.schema.versions) {
            _ if nullable == f.versions => null,
            Some(test) => format!("if {test} {{ {null} }} else {{ {refused} }}"),
            None => null,
        };
        let marker = if matches!(f.ty, FieldType::Struct(_)) {
            "w.put_i8(1); "
        } else {
            ""
        };
        Ok(format!(
            "match &{place} {{ None => {{ {on_null} }} Some(v) => {{ {marker}{} }} }}",
            self.encode_value(&f.ty, "v", &f.name)?
        ))
    }

    /// Statements writing `value` (a reference to a value of `ty`).
    fn encode_value(&self, ty: &FieldType, value: &str, name: &str) -> Result<String, String> {
        Ok(match ty {
            FieldType::Primitive(p) => match p {
                Primitive::Bool => format!("w.put_bool(*{value});"),
                Primitive::Int8 => format!("w.put_i8(*{value});"),
                Primitive::Int16 => format!("w.put_i16(*{value});"),
                Primitive::Uint16 => format!("w.put_u16(*{value});"),
                Primitive::Int32 => format!("w.put_i32(*{value});"),
                Primitive::Uint32 => format!("w.put_u32(*{value});"),
                Primitive::Int64 => format!("w.put_i64(*{value});"),
                Primitive::Float64 => format!("w.put_f64(*{value});"),
                Primitive::Uuid => format!("w.put_uuid({value});"),
                Primitive::String => format!("w.put_string(flexible, {value}, \"{name}\")?;"),
                Primitive::Records if self.message.role == Role::Response => {
                    format!("w.put_payload(flexible, {value}, \"{name}\")?;")
                }
                Primitive::Bytes | Primitive::Records => format!("w.put_bytes(flexible, {value}, \"{name}\")?;"),
            },
            FieldType::Struct(_) => format!("({value}).encode(w, version)?;"),
            FieldType::Array(inner) => format!(
                "w.put_array_len(flexible, ({value}).len(), \"{name}\")?; for e in ({value}).iter() {{ {} }}",
                self.encode_value(inner, "e", name)?
            ),
        })
    }

    /// Whether a value of `ty` holds an error code, itself or in a struct it contains.
    fn holds_error_codes(&self, ty: &FieldType) -> bool {
        match ty {
            FieldType::Primitive(_) => false,
            FieldType::Struct(name) => self.message.structs.get(name).is_some_and(|def| {
                def.fields
                    .iter()
                    .any(|f| is_error_code(f) || self.holds_error_codes(&f.ty))
            }),
            FieldType::Array(inner) => self.holds_error_codes(inner),
        }
    }

    /// `error_codes(f)`: calls `f` with every error code in the message, top level and
    /// nested (per topic, partition, ...), as Kafka's `AbstractResponse.errorCounts` counts.
    fn error_codes_impl(&self, out: &mut String, def: &StructDef) {
        let doc = "/// Calls `f` with each error code in this message, nested ones included.";
        let signature = "pub fn error_codes(&self, f: &mut impl FnMut(i16))";
        writeln!(out, "    impl {} {{\n        {doc}\n        {signature} {{", def.name).unwrap();
        for field in &def.fields {
            let name = ident(&field.name);
            let visit = match &field.ty {
                _ if is_error_code(field) => "f(*v);".to_string(),
                ty if !self.holds_error_codes(ty) => continue,
                FieldType::Array(_) => "for e in v.iter() { e.error_codes(f); }".to_string(),
                _ => "v.error_codes(f);".to_string(),
            };
            match field.is_nullable() {
                true => writeln!(out, "            if let Some(v) = &self.{name} {{ {visit} }}").unwrap(),
                false => writeln!(out, "            {{ let v = &self.{name}; {visit} }}").unwrap(),
            }
        }
        writeln!(out, "        }}\n    }}\n").unwrap();
    }

    fn sample_impl(&self, out: &mut String, def: &StructDef) {
        writeln!(out, "    #[cfg(feature = \"sample\")]").unwrap();
        writeln!(out, "    impl crate::sample::Sample for {} {{", def.name).unwrap();
        writeln!(
            out,
            "        fn sample(rng: &mut crate::sample::SampleRng, version: i16) -> Self {{"
        )
        .unwrap();
        writeln!(out, "            let mut this = Self::default();").unwrap();
        for f in &def.fields {
            let value = sample_value(&f.ty);
            let expr = match f.nullable {
                None => value,
                Some(n) => {
                    let test = version_test(n, self.schema.versions)
                        .map(|t| format!("{t} && "))
                        .unwrap_or_default();
                    format!("if {test}rng.one_in(4) {{ None }} else {{ Some({value}) }}")
                }
            };
            let assign = format!("this.{} = {expr};", ident(&f.name));
            match self.in_versions(f.versions) {
                Some(test) => writeln!(out, "            if {test} {{ {assign} }}").unwrap(),
                None => writeln!(out, "            {assign}").unwrap(),
            }
        }
        writeln!(out, "            if ({}) && rng.one_in(4) {{", self.flexible_expr()).unwrap();
        writeln!(
            out,
            "                this.unknown_tagged_fields.push(rng.unknown_tagged_field());\n            }}"
        )
        .unwrap();
        writeln!(out, "            this\n        }}\n    }}\n").unwrap();
    }
}

/// An `int16` named `error_code` or `..._error_code`.
fn is_error_code(f: &Field) -> bool {
    matches!(f.ty, FieldType::Primitive(Primitive::Int16))
        && (f.name == "error_code" || f.name.ends_with("_error_code"))
}

fn sample_value(ty: &FieldType) -> String {
    match ty {
        FieldType::Primitive(p) => match p {
            Primitive::Bool => "rng.bool()".into(),
            Primitive::Int8 => "rng.next() as i8".into(),
            Primitive::Int16 => "rng.next() as i16".into(),
            Primitive::Uint16 => "rng.next() as u16".into(),
            Primitive::Int32 => "rng.next() as i32".into(),
            Primitive::Uint32 => "rng.next() as u32".into(),
            Primitive::Int64 => "rng.next() as i64".into(),
            Primitive::Float64 => "rng.f64()".into(),
            Primitive::Uuid => "rng.uuid()".into(),
            Primitive::String => "rng.string()".into(),
            Primitive::Bytes => "rng.bytes()".into(),
            Primitive::Records => "rng.bytes().into()".into(),
        },
        FieldType::Struct(s) => format!("{s}::sample(rng, version)"),
        FieldType::Array(inner) => format!("(0..rng.array_len()).map(|_| {}).collect()", sample_value(inner)),
    }
}

/// The enum of a kind's ids (`ApiKey`, ...) with its table of names and versions.
fn emit_id_enum(out: &mut String, names: &KindNames, schemas: &[&Schema]) {
    let id_enum = names.id_enum;
    writeln!(out, "/// Every {} this crate has a schema for.", names.id_doc).unwrap();
    writeln!(
        out,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum {id_enum} {{"
    )
    .unwrap();
    for s in schemas {
        writeln!(out, "    {} = {},", s.name, s.id).unwrap();
    }
    writeln!(out, "}}\n\nimpl {id_enum} {{").unwrap();
    writeln!(
        out,
        "    pub const ALL: [{id_enum}; {}] = [{}];",
        schemas.len(),
        schemas
            .iter()
            .map(|s| format!("{id_enum}::{}", s.name))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    let table = |out: &mut String, sig: &str, value: &dyn Fn(&Schema) -> String| {
        writeln!(out, "    pub const fn {sig} {{\n        match self {{").unwrap();
        for s in schemas {
            writeln!(out, "            {id_enum}::{} => {},", s.name, value(s)).unwrap();
        }
        writeln!(out, "        }}\n    }}").unwrap();
    };
    writeln!(
        out,
        "    /// Where the id is in [`Self::ALL`]: a dense index for per-id tables."
    )
    .unwrap();
    writeln!(
        out,
        "    pub const fn position(self) -> usize {{\n        match self {{"
    )
    .unwrap();
    for (i, s) in schemas.iter().enumerate() {
        writeln!(out, "            {id_enum}::{} => {i},", s.name).unwrap();
    }
    writeln!(out, "        }}\n    }}").unwrap();
    table(out, "name(self) -> &'static str", &|s| format!("\"{}\"", s.name));
    table(out, "min_version(self) -> i16", &|s| s.versions.min.to_string());
    table(out, "max_version(self) -> i16", &|s| s.versions.max.to_string());
    table(out, "flexible_from(self) -> Option<i16>", &|s| match s.flexible_from {
        Some(v) => format!("Some({v})"),
        None => "None".into(),
    });
    writeln!(
        out,
        "    pub const fn from_i16(id: i16) -> Option<{id_enum}> {{\n        match id {{"
    )
    .unwrap();
    for s in schemas {
        writeln!(out, "            {} => Some({id_enum}::{}),", s.id, s.name).unwrap();
    }
    writeln!(out, "            _ => None,\n        }}\n    }}\n}}\n").unwrap();
}

/// `throttle_time_ms_mut`: the top-level `throttle_time_ms` of the responses that have one,
/// so a quota can set it whatever the API.
fn throttle_time_accessor(out: &mut String, schemas: &[&Schema], enum_name: &str) {
    writeln!(
        out,
        "    /// The response's `throttle_time_ms`, if its API has one.\n    \
         pub fn throttle_time_ms_mut(&mut self) -> Option<&mut i32> {{\n        match self {{"
    )
    .unwrap();
    for s in schemas {
        let has = s
            .messages
            .iter()
            .find(|m| m.role == Role::Response)
            .is_some_and(|m| m.root.fields.iter().any(|f| f.name == "throttle_time_ms"));
        let arm = match has {
            true => "(m) => Some(&mut m.throttle_time_ms)",
            false => "(_) => None",
        };
        writeln!(out, "            {enum_name}::{}{arm},", s.name).unwrap();
    }
    writeln!(out, "        }}\n    }}\n").unwrap();
}

/// The enum of every message playing `role` in `schemas`, decoded and encoded by id.
fn emit_body_enum(out: &mut String, names: &KindNames, schemas: &[&Schema], role: Role, enum_name: &str, doc: &str) {
    let KindNames { id_enum, id_method, .. } = names;
    let path = |s: &Schema| {
        let root = &s
            .messages
            .iter()
            .find(|m| m.role == role)
            .expect("every role has a message")
            .root;
        format!("{}::{}", snake(&root.name), root.name)
    };
    // One match arm per message, making its body with `call` on its type.
    let arms = |out: &mut String, call: &str| {
        for s in schemas {
            let (name, path) = (&s.name, path(s));
            writeln!(
                out,
                "            {id_enum}::{name} => {enum_name}::{name}({path}::{call}),"
            )
            .unwrap();
        }
    };
    writeln!(out, "/// Any {doc}.").unwrap();
    writeln!(out, "#[derive(Debug, Clone, PartialEq)]\npub enum {enum_name} {{").unwrap();
    for s in schemas {
        writeln!(out, "    {}({}),", s.name, path(s)).unwrap();
    }
    writeln!(out, "}}\n\nimpl {enum_name} {{").unwrap();
    writeln!(
        out,
        "    pub fn {id_method}(&self) -> {id_enum} {{\n        match self {{"
    )
    .unwrap();
    for s in schemas {
        writeln!(out, "            {enum_name}::{}(_) => {id_enum}::{},", s.name, s.name).unwrap();
    }
    writeln!(out, "        }}\n    }}\n").unwrap();
    writeln!(out, "    /// Decodes the body of `{id_method}` at `version`.").unwrap();
    writeln!(
        out,
        "    pub fn decode({id_method}: {id_enum}, r: &mut Reader, version: i16) -> Result<Self, DecodeError> {{"
    )
    .unwrap();
    writeln!(out, "        Ok(match {id_method} {{").unwrap();
    arms(out, "decode(r, version)?");
    writeln!(out, "        }})\n    }}\n").unwrap();
    // A method calling the same one on whichever message the body holds.
    let delegate = |out: &mut String, head: &str, call: &str| {
        writeln!(out, "    {head} {{\n        match self {{").unwrap();
        for s in schemas {
            writeln!(out, "            {enum_name}::{}(m) => m.{call},", s.name).unwrap();
        }
        writeln!(out, "        }}\n    }}\n").unwrap();
    };
    let encode = "pub fn encode(&self, w: &mut EncodeBuf, version: i16) -> Result<(), EncodeError>";
    delegate(out, encode, "encode(w, version)");
    if role == Role::Response {
        let doc = "/// Calls `f` with each error code in the response, nested ones included.";
        let head = format!("{doc}\n    pub fn error_codes(&self, f: &mut impl FnMut(i16))");
        delegate(out, &head, "error_codes(f)");
        throttle_time_accessor(out, schemas, enum_name);
    }
    writeln!(out, "    /// A random body of `{id_method}`, valid at `version`.").unwrap();
    writeln!(out, "    #[cfg(feature = \"sample\")]").unwrap();
    writeln!(
        out,
        "    pub fn sample({id_method}: {id_enum}, rng: &mut crate::sample::SampleRng, version: i16) -> Self {{"
    )
    .unwrap();
    writeln!(out, "        use crate::sample::Sample;\n        match {id_method} {{").unwrap();
    arms(out, "sample(rng, version)");
    writeln!(out, "        }}\n    }}\n}}\n").unwrap();
}
