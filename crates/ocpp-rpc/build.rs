//! Embeds every official OCPP JSON schema under `schemas/ocpp/{v16,v201,v21}` into the binary,
//! so the validator never reads the file system at run time.
use std::{env, fs, path::PathBuf};

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../schemas/ocpp");
    let mut out = String::from(
        "/// (version folder, file stem, schema text) of every embedded schema.\npub static EMBEDDED: &[(&str, &str, &str)] = &[\n",
    );
    for version in ["v16", "v201", "v21"] {
        let dir = root.join(version);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = fs::read_dir(&dir)
            .expect("schemas/ocpp/<version> exists")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 file name");
            let abs = fs::canonicalize(&path).expect("schema path resolves");
            out.push_str(&format!(
                "    ({version:?}, {stem:?}, include_str!({:?})),\n",
                abs.display().to_string()
            ));
        }
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_schemas.rs");
    fs::write(dest, out).expect("write embedded_schemas.rs");
}
