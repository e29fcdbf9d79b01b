//! The layering rule of DESIGN.md, enforced: the engine, the store, the dialects and content
//! negotiation compile without actix, so none of them may name it.

use crate::helpers::repo_path;

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn engine_store_dialect_and_negotiate_never_import_actix() {
    let mut files = Vec::new();
    for layer in ["src/engine", "src/store", "src/dialect"] {
        rust_files(&repo_path(layer), &mut files);
    }
    assert!(files.len() >= 5, "layers not found: {files:?}");
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).expect("read").contains("actix"))
        .collect();
    assert!(
        offenders.is_empty(),
        "these files mention actix: {offenders:?}"
    );
}

#[test]
fn dialects_never_reach_into_storage() {
    let mut files = Vec::new();
    rust_files(&repo_path("src/dialect"), &mut files);
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .expect("read")
                .contains("crate::store")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "these dialect files use the store: {offenders:?}"
    );
}
