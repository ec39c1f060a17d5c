//! Build script: generates the message types and codecs from `schemas/*.schema` (the APIs)
//! and `schemas/metadata/*.schema` (the records of KRaft's metadata log).

mod emit;
mod schema;

use std::{env, fs, path::Path};

use schema::{Kind, Schema};

fn main() {
    println!("cargo:rerun-if-changed=schemas");
    println!("cargo:rerun-if-changed=build");
    let out = Path::new(&env::var("OUT_DIR").unwrap()).to_owned();
    let apis = read_schemas(Path::new("schemas"), &[Kind::Api]);
    let records = read_schemas(
        Path::new("schemas/metadata"),
        &[Kind::MetadataRecord, Kind::ControlRecord],
    );
    for (schemas, file) in [(apis, "messages.rs"), (records, "metadata_records.rs")] {
        let code = emit::emit(&schemas).unwrap_or_else(|e| panic!("code generation: {e}"));
        fs::write(out.join(file), code).expect("write generated code");
    }
}

/// Every `*.schema` in `dir`, each of one of `kinds`, sorted by kind then id, ids unique
/// within a kind.
fn read_schemas(dir: &Path, kinds: &[Kind]) -> Vec<Schema> {
    let mut paths: Vec<_> = fs::read_dir(dir)
        .expect("schemas directory")
        .map(|e| e.expect("schema entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "schema"))
        .collect();
    paths.sort();
    let mut schemas = Vec::new();
    for path in &paths {
        let text = fs::read_to_string(path).expect("readable schema");
        let schema = schema::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            kinds.contains(&schema.kind),
            "{}: {:?} schemas do not belong here",
            path.display(),
            schema.kind
        );
        let expected = format!("{}.schema", emit::snake(&schema.name));
        assert_eq!(
            path.file_name().unwrap().to_str(),
            Some(expected.as_str()),
            "schema file name"
        );
        schemas.push(schema);
    }
    schemas.sort_by_key(|s| (kinds.iter().position(|k| *k == s.kind), s.id));
    for pair in schemas.windows(2) {
        assert!(
            pair[0].kind != pair[1].kind || pair[0].id != pair[1].id,
            "two {:?} schemas with id {}",
            pair[0].kind,
            pair[0].id
        );
    }
    schemas
}
