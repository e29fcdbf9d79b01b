//! The layers of DESIGN.md, enforced: the table's "may use" column is read from DESIGN.md
//! itself, and every `crate::` (in `main.rs`, `tokengate::`) path in `src/` must name the file's
//! own module or one its row allows. So the stores never import the engine, the dialects never
//! import a store, and no module imports one above it. The layers below HTTP never use actix
//! (their comments may name it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::helpers::repo_path;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module name -> the modules it may use, from the "Layers" table of DESIGN.md.
fn layer_table(design: &str) -> BTreeMap<String, BTreeSet<String>> {
    let section = design
        .split("\n## ")
        .find(|s| s.starts_with("Layers"))
        .expect("DESIGN.md has a Layers section");
    let names = |cell: &str| -> BTreeSet<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mut table = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(cells.len() >= 5, "a layer row has four cells: {row}");
        let may_use = names(cells[4]);
        for module in names(cells[2]) {
            table.insert(module, may_use.clone());
        }
    }
    assert!(
        table.len() >= 10,
        "layers not found in DESIGN.md: {table:?}"
    );
    table
}

/// The top-level module a source file belongs to (`src/store/memory.rs` -> `store`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The modules a file's code names through `prefix` (`crate::` or `tokengate::`), comments
/// left out (doc links may point anywhere).
fn named_modules(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                named.insert(name);
            }
            rest = after;
        }
    }
    named
}

/// Every breach of the table: `file: names module (allowed: ...)`.
fn breaches(
    table: &BTreeMap<String, BTreeSet<String>>,
    files: &[(String, String, String)],
) -> Vec<String> {
    let mut found = Vec::new();
    for (file, module, text) in files {
        let Some(allowed) = table.get(module) else {
            found.push(format!("{file}: module {module:?} has no row in DESIGN.md"));
            continue;
        };
        let prefix = if module == "main" {
            "tokengate::"
        } else {
            "crate::"
        };
        for named in named_modules(text, prefix) {
            if named != *module && !allowed.contains(&named) {
                found.push(format!(
                    "{file}: uses `{named}`, which the {module:?} row does not allow \
                     (may use: {allowed:?})"
                ));
            }
        }
    }
    found
}

fn source_files() -> Vec<(String, String, String)> {
    let src = repo_path("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths
        .iter()
        .filter(|p| !p.ends_with("lib.rs"))
        .map(|p| {
            (
                p.display().to_string(),
                module_of(&src, p),
                std::fs::read_to_string(p).expect("read"),
            )
        })
        .collect()
}

#[test]
fn no_module_uses_one_its_layer_may_not() {
    let design = std::fs::read_to_string(repo_path("DESIGN.md")).expect("DESIGN.md");
    let table = layer_table(&design);
    let files = source_files();
    assert!(files.len() >= 30, "sources not found: {}", files.len());
    let found = breaches(&table, &files);
    assert!(found.is_empty(), "layering breaches:\n{}", found.join("\n"));
}

#[test]
fn the_layering_check_catches_an_upward_import_and_a_store_that_imports_the_engine() {
    let design = std::fs::read_to_string(repo_path("DESIGN.md")).expect("DESIGN.md");
    let table = layer_table(&design);
    let fake =
        |module: &str, text: &str| (format!("src/{module}/x.rs"), module.into(), text.into());
    let found = breaches(
        &table,
        &[
            fake("store", "use crate::engine::Engine;\n"),
            fake(
                "engine",
                "use crate::dialect::TokenRoute; // a comment: crate::http\n",
            ),
            fake(
                "domain",
                "/// A doc link to [`crate::engine`] is no import.\nuse crate::json;\n",
            ),
        ],
    );
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].contains("src/store/x.rs: uses `engine`"));
    assert!(found[1].contains("src/engine/x.rs: uses `dialect`"));
}

#[test]
fn the_layers_below_http_never_name_actix() {
    let below_http = [
        "domain",
        "wire",
        "engine",
        "store",
        "directory",
        "dialect",
        "endpoints",
        "gateway",
        "json",
    ];
    let offenders: Vec<_> = source_files()
        .into_iter()
        .filter(|(_, module, text)| {
            below_http.contains(&module.as_str())
                && text.lines().any(|line| {
                    line.split("//")
                        .next()
                        .is_some_and(|code| code.contains("actix"))
                })
        })
        .map(|(file, ..)| file)
        .collect();
    assert!(
        offenders.is_empty(),
        "these files mention actix: {offenders:?}"
    );
}
