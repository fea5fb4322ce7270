//! What a hostile spec can make the catalogue loader read: `$ref`s and symlinks stay inside the
//! catalogue roots, only regular files are read (a FIFO never blocks, `/dev/zero` never streams),
//! and every file and document set is read through a size limit. Each load runs on a thread
//! with a deadline, so a regression fails the test instead of hanging it.

use collector::catalogue_files::{
    load_catalogue, load_catalogue_with, CatalogueLoadError, CatalogueOptions, LoadedCatalogue,
};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Written into files outside the roots: must never show up in what was loaded.
const SECRET: &str = "hunter2-creds";

/// How long a load may take before it counts as hung (they take milliseconds).
const DEADLINE: Duration = Duration::from_secs(20);

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {parent:?}: {e}"));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("mkfifo: {e}"));
    assert!(status.success(), "mkfifo {path:?}");
}

/// If a regression left a reader blocked on `fifo`, open its write end (on a thread of its own,
/// as that open waits for a reader) so the blocked reader returns and the test process can end.
fn unblock(fifo: &Path) {
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(fifo)));
}

/// A 3.0 document with one plain operation (`/ok`) and one path item per reference, `/r0`...
fn spec_with_refs(refs: &[&str]) -> String {
    let mut text = String::from(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  \
         /ok: {get: {responses: {'200': {description: ok}}}}\n",
    );
    for (i, r) in refs.iter().enumerate() {
        text.push_str(&format!("  /r{i}: {{$ref: '{r}#/p'}}\n"));
    }
    text
}

/// A fragment whose path item carries `SECRET` in an extension (extensions are kept, so a read
/// of it would show).
fn secret_fragment() -> String {
    format!("p: {{get: {{x-secret: {SECRET}, responses: {{'200': {{description: ok}}}}}}}}\n")
}

fn load_in_time(paths: &[PathBuf], options: CatalogueOptions) -> Result<LoadedCatalogue, String> {
    let (tx, rx) = mpsc::channel();
    let paths = paths.to_vec();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(load_catalogue_with(&paths, &options).map_err(|e| e.to_string()));
    });
    let result = rx
        .recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("the catalogue load did not return within {DEADLINE:?}"));
    assert!(started.elapsed() < DEADLINE);
    result
}

fn load_ok(paths: &[PathBuf], options: CatalogueOptions) -> LoadedCatalogue {
    load_in_time(paths, options).unwrap_or_else(|e| panic!("load failed: {e}"))
}

/// (pointer, message) of every problem, for assertions that name them.
fn problem_list(loaded: &LoadedCatalogue) -> Vec<(String, String)> {
    loaded
        .catalogue
        .problems
        .iter()
        .map(|p| (p.pointer.clone(), p.message.clone()))
        .collect()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

#[test]
fn refs_outside_the_roots_are_problems_and_never_read() {
    let tmp = tempdir();
    let specs = tmp.path().join("specs");
    let outside = tmp.path().join("outside.yaml");
    let creds = tmp.path().join("secret/creds.yaml");
    let elsewhere = tmp.path().join("elsewhere/keys.yaml");
    for file in [&outside, &creds, &elsewhere] {
        write(file, &secret_fragment());
    }
    // A symlink inside the folder that leads out of it.
    write(&specs.join("placeholder.txt"), "");
    std::os::unix::fs::symlink(&outside, specs.join("link.yaml"))
        .unwrap_or_else(|e| panic!("symlink: {e}"));
    let absolute = elsewhere.display().to_string();
    write(
        &specs.join("api.yaml"),
        &spec_with_refs(&[
            "../outside.yaml",
            "../secret/creds.yaml",
            &absolute,
            "/etc/shadow",
            "link.yaml",
        ]),
    );
    let loaded = load_ok(std::slice::from_ref(&specs), CatalogueOptions::default());

    let source = loaded.catalogue.problems.iter().map(|p| p.source.as_str());
    assert!(
        source.clone().all(|s| s.ends_with("specs/api.yaml")),
        "{:?}",
        source.collect::<Vec<_>>()
    );
    let problems = problem_list(&loaded);
    let refs = [
        "../outside.yaml",
        "../secret/creds.yaml",
        absolute.as_str(),
        "/etc/shadow",
        "link.yaml",
    ];
    assert_eq!(problems.len(), refs.len(), "{problems:#?}");
    for (i, r) in refs.iter().enumerate() {
        let (pointer, message) = &problems[i];
        assert_eq!(pointer, &format!("/paths/~1r{i}"));
        assert!(
            message.starts_with(&format!("$ref `{r}#/p`: document `")),
            "{message}"
        );
        assert!(message.contains("outside the catalogue roots"), "{message}");
        assert!(message.contains(&specs.display().to_string()), "{message}");
    }
    // `link.yaml` is also in the folder walk: not read there either.
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    assert!(loaded.errors[0].source_name.ends_with("specs/link.yaml"));
    assert!(
        loaded.errors[0]
            .message
            .contains("outside the catalogue roots"),
        "{}",
        loaded.errors[0]
    );

    let everything = serde_json::to_string(&loaded.catalogue).unwrap_or_default();
    assert!(!everything.contains(SECRET), "outside content was read");
    assert!(loaded.catalogue.find_operation("h", "GET", "/ok").is_some());
    assert!(loaded.catalogue.find_operation("h", "GET", "/r0").is_none());
}

#[test]
fn an_extra_root_lets_refs_reach_a_sibling_folder() {
    let tmp = tempdir();
    let specs = tmp.path().join("specs");
    write(&tmp.path().join("shared/common.yaml"), &secret_fragment());
    write(
        &specs.join("api.yaml"),
        &spec_with_refs(&["../shared/common.yaml"]),
    );
    // Without the root: refused.
    let loaded = load_ok(std::slice::from_ref(&specs), CatalogueOptions::default());
    assert_eq!(loaded.catalogue.problems.len(), 1);
    // With it: read, and the fragment's content is in the catalogue.
    let options = CatalogueOptions {
        extra_roots: vec![tmp.path().join("shared")],
        ..CatalogueOptions::default()
    };
    let loaded = load_ok(std::slice::from_ref(&specs), options);
    assert_eq!(loaded.catalogue.problems, vec![]);
    assert!(loaded.catalogue.find_operation("h", "GET", "/r0").is_some());
    // A file named explicitly makes its own folder a root.
    let loaded = load_ok(&[specs.join("api.yaml")], CatalogueOptions::default());
    assert_eq!(loaded.catalogue.problems.len(), 1);
    // A root that is not a folder is a hard error.
    let options = CatalogueOptions {
        extra_roots: vec![tmp.path().join("nope")],
        ..CatalogueOptions::default()
    };
    let e = load_in_time(&[specs], options).err().unwrap_or_default();
    assert!(e.contains("catalogue root") && e.contains("nope"), "{e}");
}

#[test]
fn only_regular_files_are_read() {
    let tmp = tempdir();
    let specs = tmp.path().join("specs");
    write(&specs.join("sub/placeholder.txt"), "");
    let fifo = specs.join("pipe.yaml");
    mkfifo(&fifo);
    std::os::unix::fs::symlink("/dev/zero", specs.join("zero.yaml"))
        .unwrap_or_else(|e| panic!("symlink: {e}"));
    write(
        &specs.join("api.yaml"),
        &spec_with_refs(&["pipe.yaml", "sub", "/dev/zero", "zero.yaml"]),
    );
    let result = load_in_time(std::slice::from_ref(&specs), CatalogueOptions::default());
    unblock(&fifo);
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    let problems = problem_list(&loaded);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0]
            .1
            .contains("pipe.yaml` cannot be read: not a regular file (a FIFO)"),
        "{problems:?}"
    );
    assert!(
        problems[1]
            .1
            .contains("cannot be read: not a regular file (a folder)"),
        "{problems:?}"
    );
    // `/dev/zero` is outside the roots, directly or through a symlink.
    assert!(problems[2].1.contains("outside the catalogue roots"));
    assert!(problems[3].1.contains("outside the catalogue roots"));
    // The walk lists regular files only: not the FIFO, not the symlink to a device.
    assert_eq!(loaded.files_loaded, 1);
    assert_eq!(loaded.errors, vec![]);

    // With /dev allowed as a root, the device is still not read: it is not a regular file.
    let options = CatalogueOptions {
        extra_roots: vec![PathBuf::from("/dev")],
        ..CatalogueOptions::default()
    };
    let result = load_in_time(&[specs.join("api.yaml")], options);
    unblock(&fifo);
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    let problems = problem_list(&loaded);
    assert!(
        problems[2]
            .1
            .contains("/dev/zero` cannot be read: not a regular file (a character device)"),
        "{problems:#?}"
    );
}

#[test]
fn a_fifo_named_as_a_catalogue_path_is_an_error_not_a_hang() {
    let tmp = tempdir();
    let fifo = tmp.path().join("api.yaml");
    mkfifo(&fifo);
    let result = load_in_time(std::slice::from_ref(&fifo), CatalogueOptions::default());
    unblock(&fifo);
    let e = result.err().unwrap_or_default();
    assert!(
        e.contains("api.yaml is a FIFO, not a file or folder"),
        "{e}"
    );
    // Same through the plain entry point.
    assert!(matches!(
        load_catalogue(&[fifo]),
        Err(CatalogueLoadError::NotAFile { kind: "a FIFO", .. })
    ));
}

#[test]
fn huge_files_stop_at_the_size_limit() {
    let tmp = tempdir();
    let specs = tmp.path().join("specs");
    // Sparse: a gigabyte of zeros that takes no disk.
    write(&specs.join("big.yaml"), "");
    std::fs::OpenOptions::new()
        .write(true)
        .open(specs.join("big.yaml"))
        .and_then(|f| f.set_len(1 << 30))
        .unwrap_or_else(|e| panic!("sparse file: {e}"));
    write(&specs.join("api.yaml"), &spec_with_refs(&["big.yaml"]));
    let loaded = load_ok(std::slice::from_ref(&specs), CatalogueOptions::default());
    let limit = "larger than the limit of 64 MiB (67108864 bytes)";
    let problems = problem_list(&loaded);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].1.contains("big.yaml` cannot be read: ") && problems[0].1.contains(limit),
        "{problems:?}"
    );
    assert_eq!(loaded.errors.len(), 1, "{:?}", loaded.errors);
    assert!(loaded.errors[0].source_name.ends_with("big.yaml"));
    assert!(
        loaded.errors[0].message.contains(limit),
        "{}",
        loaded.errors[0]
    );
}

#[test]
fn a_document_set_has_a_total_byte_budget() {
    let tmp = tempdir();
    let specs = tmp.path().join("specs");
    // Each fragment fits the per-file limit; the document and both together do not fit the
    // set's budget, so the second one pulled in is refused.
    let fragment = format!("{}# {}\n", secret_fragment(), "x".repeat(600));
    write(&specs.join("a.yaml"), &fragment);
    write(&specs.join("b.yaml"), &fragment);
    write(
        &specs.join("api.yaml"),
        &spec_with_refs(&["a.yaml", "b.yaml"]),
    );
    let options = CatalogueOptions {
        max_file_bytes: 1000,
        max_set_bytes: 1500,
        ..CatalogueOptions::default()
    };
    let loaded = load_ok(&[specs.join("api.yaml")], options);
    let problems = problem_list(&loaded);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, "/paths/~1r1");
    assert!(
        problems[0]
            .1
            .contains("together are larger than the limit of 1500 bytes for one document set"),
        "{problems:?}"
    );
    assert!(loaded.catalogue.find_operation("h", "GET", "/r0").is_some());
    // The per-file limit applies to the spec itself too.
    let options = CatalogueOptions {
        max_file_bytes: 100,
        ..CatalogueOptions::default()
    };
    let loaded = load_ok(&[specs.join("api.yaml")], options);
    assert_eq!(loaded.files_loaded, 0);
    assert!(loaded.errors[0]
        .message
        .contains("cannot read file: larger than the limit of 100 bytes"));
}
