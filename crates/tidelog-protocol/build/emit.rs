//! Turns parsed schemas into Rust source: one module per message with its structs,
//! `Default`, `Decode`, `Encode` and (behind the `sample` feature) `Sample` impls, plus
//! the `ApiKey` table and the `RequestBody`/`ResponseBody` enums.

use std::fmt::Write;

use crate::schema::{Api, Field, FieldType, Primitive, StructDef, Versions};

/// Rust keywords that Kafka uses as field names.
const KEYWORDS: &[&str] = &["match", "type", "in", "ref", "mod", "move", "self", "fn"];

fn ident(name: &str) -> String {
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// snake_case for a CamelCase API name.
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
/// send them from a file) and `Bytes` in requests (they arrive in memory).
fn primitive_type(p: Primitive, is_request: bool) -> &'static str {
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
        Primitive::Records if is_request => "Bytes",
        Primitive::Records => "Payload",
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

/// Emits the Rust source for every API.
pub fn emit(apis: &[Api]) -> Result<String, String> {
    let mut out = String::new();
    for api in apis {
        for (is_request, root, structs) in [
            (true, &api.request, &api.request_structs),
            (false, &api.response, &api.response_structs),
        ] {
            let module = snake(&root.name);
            writeln!(
                out,
                "/// {} (API key {}), versions {}-{}.",
                root.name, api.key, api.versions.min, api.versions.max
            )
            .unwrap();
            writeln!(out, "pub mod {module} {{").unwrap();
            writeln!(out, "    #[allow(unused_imports)]\n    use crate::codec::prelude::*;\n").unwrap();
            let emitter = Emitter { api, is_request };
            emitter.structure(&mut out, root, true)?;
            for def in structs.values() {
                emitter.structure(&mut out, def, false)?;
            }
            writeln!(out, "}}\n").unwrap();
        }
    }
    emit_api_keys(&mut out, apis);
    emit_body_enum(&mut out, apis, "RequestBody", true);
    emit_body_enum(&mut out, apis, "ResponseBody", false);
    Ok(out)
}

struct Emitter<'a> {
    api: &'a Api,
    is_request: bool,
}

impl Emitter<'_> {
    fn value_type(&self, ty: &FieldType) -> String {
        match ty {
            FieldType::Primitive(p) => primitive_type(*p, self.is_request).to_string(),
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
        match self.api.flexible_from {
            Some(v) if v <= self.api.versions.min => "true".into(),
            Some(v) => format!("version >= {v}"),
            None => "false".into(),
        }
    }

    fn in_versions(&self, v: Versions) -> Option<String> {
        version_test(v, self.api.versions)
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
        if is_root {
            writeln!(out, "    impl ApiMessage for {name} {{").unwrap();
            writeln!(out, "        const API_KEY: ApiKey = ApiKey::{};", self.api.name).unwrap();
            writeln!(out, "        const IS_REQUEST: bool = {};\n    }}\n", self.is_request).unwrap();
        }
        Ok(())
    }

    fn decode_impl(&self, out: &mut String, def: &StructDef, is_root: bool) -> Result<(), String> {
        writeln!(out, "    impl Decode for {} {{", def.name).unwrap();
        writeln!(
            out,
            "        fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {{"
        )
        .unwrap();
        if is_root {
            writeln!(out, "            check_version(ApiKey::{}, version)?;", self.api.name).unwrap();
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
        let test = version_test(nullable, self.api.versions).unwrap_or_else(|| "true".into());
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
            writeln!(
                out,
                "            check_encode_version(ApiKey::{}, version)?;",
                self.api.name
            )
            .unwrap();
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
        let on_null = match version_test(nullable, self.api.versions) {
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
                Primitive::Records if !self.is_request => format!("w.put_payload(flexible, {value}, \"{name}\")?;"),
                Primitive::Bytes | Primitive::Records => format!("w.put_bytes(flexible, {value}, \"{name}\")?;"),
            },
            FieldType::Struct(_) => format!("({value}).encode(w, version)?;"),
            FieldType::Array(inner) => format!(
                "w.put_array_len(flexible, ({value}).len(), \"{name}\")?; for e in ({value}).iter() {{ {} }}",
                self.encode_value(inner, "e", name)?
            ),
        })
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
                    let test = version_test(n, self.api.versions)
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

fn emit_api_keys(out: &mut String, apis: &[Api]) {
    writeln!(out, "/// Every API this crate has a schema for.").unwrap();
    writeln!(
        out,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum ApiKey {{"
    )
    .unwrap();
    for api in apis {
        writeln!(out, "    {} = {},", api.name, api.key).unwrap();
    }
    writeln!(out, "}}\n\nimpl ApiKey {{").unwrap();
    writeln!(
        out,
        "    pub const ALL: [ApiKey; {}] = [{}];",
        apis.len(),
        apis.iter()
            .map(|a| format!("ApiKey::{}", a.name))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    let table = |out: &mut String, sig: &str, value: &dyn Fn(&Api) -> String| {
        writeln!(out, "    pub const fn {sig} {{\n        match self {{").unwrap();
        for api in apis {
            writeln!(out, "            ApiKey::{} => {},", api.name, value(api)).unwrap();
        }
        writeln!(out, "        }}\n    }}").unwrap();
    };
    table(out, "name(self) -> &'static str", &|a| format!("\"{}\"", a.name));
    table(out, "min_version(self) -> i16", &|a| a.versions.min.to_string());
    table(out, "max_version(self) -> i16", &|a| a.versions.max.to_string());
    table(out, "flexible_from(self) -> Option<i16>", &|a| match a.flexible_from {
        Some(v) => format!("Some({v})"),
        None => "None".into(),
    });
    writeln!(
        out,
        "    pub const fn from_i16(key: i16) -> Option<ApiKey> {{\n        match key {{"
    )
    .unwrap();
    for api in apis {
        writeln!(out, "            {} => Some(ApiKey::{}),", api.key, api.name).unwrap();
    }
    writeln!(out, "            _ => None,\n        }}\n    }}\n}}\n").unwrap();
}

fn emit_body_enum(out: &mut String, apis: &[Api], enum_name: &str, is_request: bool) {
    let root = |a: &Api| {
        if is_request {
            a.request.name.clone()
        } else {
            a.response.name.clone()
        }
    };
    let path = |a: &Api| format!("{}::{}", snake(&root(a)), root(a));
    let kind = if is_request { "request" } else { "response" };
    writeln!(out, "/// Any {kind} body, by API.").unwrap();
    writeln!(out, "#[derive(Debug, Clone, PartialEq)]\npub enum {enum_name} {{").unwrap();
    for a in apis {
        writeln!(out, "    {}({}),", a.name, path(a)).unwrap();
    }
    writeln!(out, "}}\n\nimpl {enum_name} {{").unwrap();
    writeln!(out, "    pub fn api_key(&self) -> ApiKey {{\n        match self {{").unwrap();
    for a in apis {
        writeln!(out, "            {enum_name}::{}(_) => ApiKey::{},", a.name, a.name).unwrap();
    }
    writeln!(out, "        }}\n    }}\n").unwrap();
    writeln!(out, "    /// Decodes the {kind} body of `api_key` at `version`.").unwrap();
    writeln!(
        out,
        "    pub fn decode(api_key: ApiKey, r: &mut Reader, version: i16) -> Result<Self, DecodeError> {{"
    )
    .unwrap();
    writeln!(out, "        Ok(match api_key {{").unwrap();
    for a in apis {
        writeln!(
            out,
            "            ApiKey::{} => {enum_name}::{}({}::decode(r, version)?),",
            a.name,
            a.name,
            path(a)
        )
        .unwrap();
    }
    writeln!(out, "        }})\n    }}\n").unwrap();
    writeln!(
        out,
        "    pub fn encode(&self, w: &mut EncodeBuf, version: i16) -> Result<(), EncodeError> {{"
    )
    .unwrap();
    writeln!(out, "        match self {{").unwrap();
    for a in apis {
        writeln!(out, "            {enum_name}::{}(m) => m.encode(w, version),", a.name).unwrap();
    }
    writeln!(out, "        }}\n    }}\n").unwrap();
    writeln!(out, "    /// A random {kind} of `api_key`, valid at `version`.").unwrap();
    writeln!(out, "    #[cfg(feature = \"sample\")]").unwrap();
    writeln!(
        out,
        "    pub fn sample(api_key: ApiKey, rng: &mut crate::sample::SampleRng, version: i16) -> Self {{"
    )
    .unwrap();
    writeln!(out, "        use crate::sample::Sample;\n        match api_key {{").unwrap();
    for a in apis {
        writeln!(
            out,
            "            ApiKey::{} => {enum_name}::{}({}::sample(rng, version)),",
            a.name,
            a.name,
            path(a)
        )
        .unwrap();
    }
    writeln!(out, "        }}\n    }}\n}}\n").unwrap();
}
