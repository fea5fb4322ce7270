//! Reading OpenAPI documents from disk into an `analyzer::catalogue::Catalogue`.
//!
//! The I/O half of the catalogue: find spec files (`*.yaml`, `*.yml`, `*.json`) under the given
//! files and folders, read them, and hand the text to the pure parser, including the files their
//! relative `$ref`s name. One bad file does not stop the others: it is recorded in
//! [`LoadedCatalogue::errors`]. Only a path that does not exist, or a folder with no spec files
//! at all, is a hard error: that is a misconfiguration, not a bad document.

use analyzer::catalogue::{Catalogue, CatalogueError};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// What loading produced.
#[derive(Debug, Default)]
pub struct LoadedCatalogue {
    pub catalogue: Catalogue,
    /// Documents that loaded (possibly with `catalogue.problems`).
    pub files_loaded: usize,
    /// Files that could not be read or parsed at all; the rest loaded.
    pub errors: Vec<CatalogueError>,
}

/// A catalogue location that cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueLoadError {
    /// A path given on the command line or in configuration does not exist.
    #[error("catalogue path {} does not exist", path.display())]
    NotFound { path: PathBuf },
    /// A folder was given but nothing in it (recursively) looks like a spec file.
    #[error("catalogue folder {} holds no *.yaml, *.yml or *.json file", path.display())]
    NoSpecFiles { path: PathBuf },
    /// A path given exists but cannot be inspected or listed.
    #[error("cannot read catalogue path {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
}

/// Load every spec under `paths` (files, or folders walked recursively).
///
/// Within a folder, files load in path order, so the result does not depend on the file
/// system's listing order; across `paths`, the given order is kept (an earlier document wins in
/// `find_operation`). A file named explicitly loads whatever its extension. In folders, hidden
/// entries (`.git`, ...) are skipped and symlinked folders are not followed (no loops).
///
/// A file that parses but is not an OpenAPI document is not an error when another document
/// `$ref`s it: it is a shared fragment (`common/parameters.yaml`), read through that reference.
pub fn load_catalogue(paths: &[PathBuf]) -> Result<LoadedCatalogue, CatalogueLoadError> {
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => CatalogueLoadError::NotFound { path: path.clone() },
            _ => CatalogueLoadError::Unreadable {
                path: path.clone(),
                source,
            },
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found, &mut errors).map_err(|source| {
                CatalogueLoadError::Unreadable {
                    path: path.clone(),
                    source,
                }
            })?;
            if found.is_empty() {
                return Err(CatalogueLoadError::NoSpecFiles { path: path.clone() });
            }
            found.sort();
            files.extend(found.into_iter().map(|f| (f, true)));
        } else {
            files.push((path.clone(), false));
        }
    }
    let mut seen = BTreeSet::new();
    files.retain(|(f, _)| seen.insert(f.clone()));

    let mut loaded = LoadedCatalogue {
        errors,
        ..LoadedCatalogue::default()
    };
    // Every file some `$ref` asked for, by the name the analyzer used.
    let referenced: RefCell<BTreeSet<String>> = RefCell::new(BTreeSet::new());
    let mut not_openapi: Vec<(String, CatalogueError)> = Vec::new();
    for (file, from_walk) in &files {
        let name = display_name(file);
        let text = match fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                loaded.errors.push(CatalogueError {
                    source_name: name,
                    pointer: String::new(),
                    message: format!("cannot read file: {e}"),
                });
                continue;
            }
        };
        let read_ref = |doc: &str| {
            referenced.borrow_mut().insert(doc.to_string());
            fs::read_to_string(doc).ok()
        };
        match loaded.catalogue.add_document_set(&name, &text, read_ref) {
            Ok(()) => loaded.files_loaded += 1,
            Err(e) if *from_walk && e.is_not_openapi() => not_openapi.push((name, e)),
            Err(e) => loaded.errors.push(e),
        }
    }
    let referenced = referenced.into_inner();
    loaded.errors.extend(
        not_openapi
            .into_iter()
            .filter(|(name, _)| !referenced.contains(name))
            .map(|(_, e)| e),
    );
    Ok(loaded)
}

/// The name a file goes by in errors, problems and `$ref` loading: its path as given, with `.`
/// and `dir/..` collapsed lexically, the way the analyzer joins a `$ref` to the name of the
/// file holding it, so both spellings of one file compare equal.
fn display_name(path: &Path) -> String {
    let mut parts: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts
        .iter()
        .collect::<PathBuf>()
        .to_string_lossy()
        .into_owned()
}

/// Collect spec files under `dir`. The top folder must be listable (else `Err`); a sub-folder
/// that cannot be listed is recorded in `errors` and skipped.
fn walk(dir: &Path, found: &mut Vec<PathBuf>, errors: &mut Vec<CatalogueError>) -> io::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = match fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if current == dir => return Err(e),
            Err(e) => {
                errors.push(unreadable(&current, &e));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    errors.push(unreadable(&current, &e));
                    continue;
                }
            };
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            // `file_type` does not follow symlinks: a symlinked folder is skipped (a link back
            // up the tree would loop), a symlinked file is read like any other.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if is_spec_file(&path) && (kind.is_file() || path.is_file()) {
                found.push(path);
            }
        }
    }
    Ok(())
}

fn unreadable(path: &Path, e: &io::Error) -> CatalogueError {
    CatalogueError {
        source_name: display_name(path),
        pointer: String::new(),
        message: format!("cannot read folder: {e}"),
    }
}

fn is_spec_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["yaml", "yml", "json"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/catalogue")
    }

    fn load(paths: &[PathBuf]) -> LoadedCatalogue {
        load_catalogue(paths).unwrap_or_else(|e| panic!("load failed: {e}"))
    }

    #[test]
    fn folder_with_one_bad_file_loads_the_rest() {
        let dir = fixtures().join("dir");
        let loaded = load(&[dir]);
        assert_eq!(loaded.files_loaded, 2);
        assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
        let err = &loaded.errors[0];
        assert!(err.source_name.ends_with("dir/c-future.yaml"), "{err}");
        assert_eq!(err.pointer, "/openapi");
        assert!(err.to_string().contains("c-future.yaml at /openapi"));
        // Path order: a-accounts.yaml before sub/b-orders.json; README.txt is not a spec.
        let titles: Vec<_> = loaded
            .catalogue
            .apis
            .iter()
            .map(|a| a.title.as_str())
            .collect();
        assert_eq!(titles, vec!["Dir A", "Dir B"]);
        let cat = &loaded.catalogue;
        assert!(cat
            .find_operation("a.example.com", "GET", "/api/items")
            .is_some());
        assert!(cat
            .find_operation("b.example.com", "POST", "/orders")
            .is_some());
    }

    #[test]
    fn syntax_errors_and_unreadable_files_are_recorded_with_place() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let good = "openapi: 3.0.0\ninfo: {title: ok, version: '1'}\npaths: {/a: {get: {responses: {}}}}\n";
        let files: [(&str, &[u8]); 4] = [
            ("good.yaml", good.as_bytes()),
            (
                "nested/broken.json",
                b"{\n  \"openapi\": \"3.0.0\",\n  \"paths\": {\n}",
            ),
            (
                "nested/latin1.yml",
                b"openapi: 3.0.0\ninfo: {title: caf\xe9}\n",
            ),
            ("notes.md", b"# ignored"),
        ];
        for (name, bytes) in files {
            let path = tmp.path().join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        }
        let loaded = load(&[tmp.path().to_path_buf()]);
        assert_eq!(loaded.files_loaded, 1);
        assert_eq!(loaded.catalogue.operations.len(), 1);
        let errors: Vec<(String, String)> = loaded
            .errors
            .iter()
            .map(|e| {
                (
                    Path::new(&e.source_name)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    e.pointer.clone(),
                )
            })
            .collect();
        assert_eq!(
            errors,
            vec![
                ("broken.json".to_string(), "line 4 column 1".to_string()),
                ("latin1.yml".to_string(), String::new()),
            ]
        );
        assert!(loaded.errors[1].message.contains("cannot read file"));
    }

    #[test]
    fn missing_paths_and_empty_folders_are_hard_errors() {
        let missing = fixtures().join("no-such-thing");
        match load_catalogue(&[fixtures().join("dir"), missing.clone()]) {
            Err(CatalogueLoadError::NotFound { path }) => assert_eq!(path, missing),
            other => panic!("expected NotFound, got {other:?}"),
        }
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        fs::write(tmp.path().join("readme.txt"), "no specs").unwrap_or_else(|e| panic!("{e}"));
        match load_catalogue(&[tmp.path().to_path_buf()]) {
            Err(e @ CatalogueLoadError::NoSpecFiles { .. }) => {
                assert!(e.to_string().contains(&tmp.path().display().to_string()));
            }
            other => panic!("expected NoSpecFiles, got {other:?}"),
        }
    }

    #[test]
    fn multi_file_documents_resolve_and_fragments_are_not_errors() {
        let loaded = load(&[fixtures().join("multi")]);
        assert_eq!(loaded.errors, vec![]);
        assert_eq!(loaded.catalogue.problems, vec![]);
        // Only api.yaml is a document; the other two files are fragments it references.
        assert_eq!(loaded.files_loaded, 1);
        let op = loaded
            .catalogue
            .find_operation("any.example", "GET", "/multi/users/{id}");
        assert_eq!(op.and_then(|o| o.operation_id.as_deref()), Some("getUser"));
        assert_eq!(op.map(|o| o.parameters.len()), Some(1));
    }

    #[test]
    fn explicit_files_and_duplicates() {
        let pets = fixtures().join("petstore-v2.json");
        let loaded = load(&[pets.clone(), pets, fixtures().join("./accounts-v30.yaml")]);
        assert_eq!(loaded.files_loaded, 2);
        assert_eq!(
            loaded.catalogue.apis[1].source,
            display_name(&fixtures().join("accounts-v30.yaml"))
        );
        // A fragment named explicitly is an error: the caller asked for it as a document.
        let loaded = load(&[fixtures().join("multi/common/parameters.yaml")]);
        assert_eq!(loaded.files_loaded, 0);
        assert!(loaded.errors[0].is_not_openapi());
    }

    #[test]
    fn the_whole_fixture_tree() {
        let loaded = load(&[fixtures()]);
        // petstore, accounts, payments, bad-refs, dir/a, dir/b, multi/api; dir/c is refused.
        assert_eq!(loaded.files_loaded, 7);
        assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
        // Only the deliberately broken document has problems.
        assert!(!loaded.catalogue.problems.is_empty());
        assert!(loaded
            .catalogue
            .problems
            .iter()
            .all(|p| p.source.ends_with("bad-refs.yaml")));
    }
}
