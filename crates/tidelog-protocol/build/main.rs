//! Build script: generates the message types and codecs from `schemas/*.schema`.

mod emit;
mod schema;

use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new("schemas");
    println!("cargo:rerun-if-changed=schemas");
    println!("cargo:rerun-if-changed=build");
    let mut paths: Vec<_> = fs::read_dir(dir)
        .expect("schemas directory")
        .map(|e| e.expect("schema entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "schema"))
        .collect();
    paths.sort();
    let mut apis = Vec::new();
    for path in &paths {
        let text = fs::read_to_string(path).expect("readable schema");
        let api = schema::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let expected = format!("{}.schema", emit::snake(&api.name));
        assert_eq!(
            path.file_name().unwrap().to_str(),
            Some(expected.as_str()),
            "schema file name"
        );
        apis.push(api);
    }
    apis.sort_by_key(|a| a.key);
    for pair in apis.windows(2) {
        assert_ne!(pair[0].key, pair[1].key, "two schemas for API key {}", pair[0].key);
    }
    let code = emit::emit(&apis).unwrap_or_else(|e| panic!("code generation: {e}"));
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("messages.rs");
    fs::write(out, code).expect("write generated code");
}
