//! Reading OpenAPI documents from disk into an `analyzer::catalogue::Catalogue`.
//!
//! The I/O half of the catalogue: find spec files (`*.yaml`, `*.yml`, `*.json`) under the given
//! files and folders, read them, and hand the text to the pure parser, including the files their
//! relative `$ref`s name. gRPC declarations (`*.proto` sources, FileDescriptorSets as
//! `*.pb`, `*.desc`, `*.binpb`, `*.protoset`, reflection dumps `*.reflection.json`) are read as bytes and handed to
//! [`Catalogue::add_grpc_file`]; they have no `$ref`s and are not kept for `last_good`. WSDL files
//! (`*.wsdl`) go to [`Catalogue::add_wsdl`], their imports read like `$ref`s (inside the roots,
//! within the set total); they are not kept for `last_good` either. GraphQL SDL files
//! (`*.graphql`, `*.graphqls`, `*.gql`) and introspection results (JSON with `__schema`) go to
//! the GraphQL readers, not kept for `last_good` either. One bad file does not stop the others: it is recorded in
//! [`LoadedCatalogue::errors`]. Only a path that does not exist, or a folder with no spec files
//! at all, is a hard error: that is a misconfiguration, not a bad document.
//!
//! Spec documents are input from whoever writes them, not from whoever runs shadowtap, so what a
//! document can make us read is fenced:
//! - a `$ref` (and a symlinked spec file in a folder) is read only if it resolves, symlinks and
//!   `..` followed, inside the *catalogue roots*: the folders given, the folder of each file
//!   given, and any extra root ([`CatalogueOptions::extra_roots`], `--catalog-root`). Anything
//!   else becomes a problem saying it is outside the catalogue roots; it is never opened.
//! - only regular files are read: a FIFO would block the reader for ever (freezing the
//!   collector's hot reload), a device can be endless (`/dev/zero`).
//! - each file is read through a size limit, and a document set (a spec and the files its
//!   `$ref`s pull in) through a total, so a huge file stops early with an error naming it.

use analyzer::catalogue::{is_wsdl_file, Catalogue, CatalogueError, GrpcFileKind, LoadStatus};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Largest spec or referenced file read, in bytes.
///
/// Real specs are a few megabytes (Stripe's, one of the largest public ones, is 4 MB as JSON);
/// 64 MiB is 16 times that, and reading stops one byte past it, so an endless or huge file
/// costs at most this much memory before it is refused.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Most bytes one document set (a spec plus every file its `$ref`s pull in, up to 64 of them)
/// reads in total: twice the largest single file, so a set of 64 large fragments cannot read
/// 4 GiB between them. The parsed size is bounded separately (`MAX_SET_NODES` in the analyzer).
pub const MAX_SET_BYTES: u64 = 128 << 20;

/// What may be read while loading, beyond the paths themselves.
#[derive(Debug, Clone)]
pub struct CatalogueOptions {
    /// Folders besides the catalogue paths' own that `$ref`s may reach (`--catalog-root`,
    /// `catalog_root` in the config): for specs that share fragments in a sibling folder.
    pub extra_roots: Vec<PathBuf>,
    /// Largest file read (see [`MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
    /// Most bytes read for one document set (see [`MAX_SET_BYTES`]).
    pub max_set_bytes: u64,
}

impl Default for CatalogueOptions {
    fn default() -> Self {
        CatalogueOptions {
            extra_roots: Vec::new(),
            max_file_bytes: MAX_FILE_BYTES,
            max_set_bytes: MAX_SET_BYTES,
        }
    }
}

/// What loading produced.
#[derive(Debug, Default)]
pub struct LoadedCatalogue {
    pub catalogue: Catalogue,
    /// Documents that loaded (possibly with `catalogue.problems`).
    pub files_loaded: usize,
    /// Files that could not be read or parsed at all; the rest loaded.
    pub errors: Vec<CatalogueError>,
    /// Files among `errors` that were served from their last good version instead
    /// ([`LastGood`], hot reload): their APIs are still in the catalogue, as they were.
    pub stale: Vec<String>,
}

/// The last version of each catalogue document that loaded (its text and the texts its `$ref`s
/// pulled in), kept across reloads.
///
/// A spec edited in place is briefly truncated or half written; without this, the reload in
/// that moment drops the API and every one of its hosts becomes a HIGH `shadow_host` until the
/// next good write. With it, a file that fails is loaded from its last good text, the failure
/// is still reported ([`LoadedCatalogue::errors`], [`LoadStatus::stale`]), and nothing is lost.
/// Bounded by what loading reads: one document set per catalogue file, each under
/// [`MAX_SET_BYTES`].
#[derive(Debug, Default)]
pub struct LastGood {
    files: BTreeMap<String, GoodDocument>,
}

#[derive(Debug, Clone)]
struct GoodDocument {
    text: String,
    /// Referenced documents by the name the analyzer asked for.
    refs: BTreeMap<String, String>,
}

impl LastGood {
    /// Documents kept.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// What the collector's catalogue looks like now, for the dashboard and `/metrics`: which files
/// failed at the last (re)load and which of them are served from their last good version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogueStatus {
    /// Loads done (the first one and every reload).
    pub loads: u64,
    /// Loads in which at least one file failed, or the whole catalogue could not be loaded.
    pub failed_loads: u64,
    /// Files that failed at the last load, with where and why.
    pub failed: Vec<CatalogueError>,
    /// Files among `failed` served from their last good version.
    pub stale: Vec<String>,
    /// The last load stopped before reading any file (a path vanished, a folder emptied): the
    /// previous catalogue stays in service as a whole.
    pub unusable: Option<String>,
}

impl CatalogueStatus {
    /// One line for a banner, `None` when the last load was clean.
    pub fn banner(&self) -> Option<String> {
        if let Some(why) = &self.unusable {
            return Some(format!(
                "the catalogue could not be reloaded ({why}); the previous one is still in use"
            ));
        }
        if self.failed.is_empty() {
            return None;
        }
        let names: Vec<String> = self.failed.iter().map(|e| e.to_string()).collect();
        Some(format!(
            "{} catalogue file{} failed to load ({} served from the last good version): {}",
            self.failed.len(),
            if self.failed.len() == 1 { "" } else { "s" },
            self.stale.len(),
            names.join("; ")
        ))
    }
}

/// Loads a catalogue again and again (the collector's hot reload), keeping the last good
/// version of every file and a [`CatalogueStatus`].
#[derive(Debug)]
pub struct CatalogueReloader {
    paths: Vec<PathBuf>,
    options: CatalogueOptions,
    last_good: LastGood,
    status: CatalogueStatus,
}

impl CatalogueReloader {
    pub fn new(paths: &[PathBuf], options: CatalogueOptions) -> Self {
        CatalogueReloader {
            paths: paths.to_vec(),
            options,
            last_good: LastGood::default(),
            status: CatalogueStatus::default(),
        }
    }

    /// Load now. A file that fails is served from its last good version when there is one;
    /// an `Err` (a path vanished) leaves the caller's previous catalogue in service, and both
    /// are counted in [`CatalogueReloader::status`].
    pub fn load(&mut self) -> Result<Catalogue, CatalogueLoadError> {
        self.status.loads += 1;
        match load_catalogue_keeping(&self.paths, &self.options, Some(&mut self.last_good)) {
            Ok(loaded) => {
                if !loaded.errors.is_empty() {
                    self.status.failed_loads += 1;
                }
                self.status.failed = loaded.errors;
                self.status.stale = loaded.stale;
                self.status.unusable = None;
                Ok(loaded.catalogue)
            }
            Err(e) => {
                self.status.failed_loads += 1;
                self.status.unusable = Some(e.to_string());
                Err(e)
            }
        }
    }

    pub fn status(&self) -> &CatalogueStatus {
        &self.status
    }
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
    /// A path given is neither a regular file nor a folder (a FIFO, a device, a socket).
    #[error("catalogue path {} is {kind}, not a file or folder", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },
    /// An extra catalogue root is missing or not a folder.
    #[error("catalogue root {} is not a folder{}", path.display(), source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    BadRoot {
        path: PathBuf,
        source: Option<io::Error>,
    },
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
    load_catalogue_with(paths, &CatalogueOptions::default())
}

/// [`load_catalogue`] with extra roots and other limits.
pub fn load_catalogue_with(
    paths: &[PathBuf],
    options: &CatalogueOptions,
) -> Result<LoadedCatalogue, CatalogueLoadError> {
    load_catalogue_keeping(paths, options, None)
}

/// [`load_catalogue_with`], serving a file that fails from `last_good` (and updating it with
/// every file that loads). See [`LastGood`].
pub fn load_catalogue_keeping(
    paths: &[PathBuf],
    options: &CatalogueOptions,
    mut last_good: Option<&mut LastGood>,
) -> Result<LoadedCatalogue, CatalogueLoadError> {
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    let mut errors = Vec::new();
    let mut roots = Roots::default();
    for root in &options.extra_roots {
        match fs::metadata(root) {
            Ok(meta) if meta.is_dir() => roots.add(root),
            Ok(_) => {
                return Err(CatalogueLoadError::BadRoot {
                    path: root.clone(),
                    source: None,
                })
            }
            Err(e) => {
                return Err(CatalogueLoadError::BadRoot {
                    path: root.clone(),
                    source: Some(e),
                })
            }
        }
    }
    for path in paths {
        // `metadata` does not open the file: a FIFO named here is reported, not waited on.
        let meta = fs::metadata(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => CatalogueLoadError::NotFound { path: path.clone() },
            _ => CatalogueLoadError::Unreadable {
                path: path.clone(),
                source,
            },
        })?;
        if !meta.is_dir() && !meta.is_file() {
            return Err(CatalogueLoadError::NotAFile {
                path: path.clone(),
                kind: kind_of(&meta.file_type()),
            });
        }
        if meta.is_dir() {
            roots.add(path);
        } else {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            roots.add(parent.unwrap_or(Path::new(".")));
        }
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
        let cannot_read = |e: ReadError| CatalogueError {
            source_name: name.clone(),
            pointer: String::new(),
            message: match e {
                ReadError::OutsideRoots { .. } => format!("not read: it resolves {e}"),
                e => format!("cannot read file: {e}"),
            },
        };
        // A file the walk found through a symlink must resolve inside the roots like a `$ref`;
        // a file named explicitly is inside by definition (its folder is a root).
        let checked = if *from_walk {
            roots.check(file)
        } else {
            Ok(file.clone())
        };
        if analyzer::catalogue::is_graphql_sdl(&name) {
            // A GraphQL SDL file: text, no `$ref`s.
            let added = checked
                .and_then(|path| read_limited(&path, options.max_file_bytes))
                .map_err(cannot_read)
                .and_then(|text| loaded.catalogue.add_graphql_sdl(&name, &text));
            match added {
                Ok(()) => loaded.files_loaded += 1,
                Err(e) => loaded.errors.push(e),
            }
            continue;
        }
        if let Some(kind) = GrpcFileKind::of(&name) {
            // A gRPC catalogue file (FileDescriptorSet or `.proto`): bytes, no `$ref`s.
            let added = checked
                .and_then(|path| read_limited_bytes(&path, options.max_file_bytes))
                .map_err(cannot_read)
                .and_then(|bytes| loaded.catalogue.add_grpc_file(&name, kind, &bytes));
            match added {
                Ok(()) => loaded.files_loaded += 1,
                Err(e) => loaded.errors.push(e),
            }
            continue;
        }
        let text = match checked.and_then(|path| read_limited(&path, options.max_file_bytes)) {
            Ok(text) => text,
            Err(e) => {
                let error = cannot_read(e);
                serve_last_good(&mut loaded, last_good.as_deref(), &name, error);
                continue;
            }
        };
        // A GraphQL introspection result (JSON with `__schema`) declares a GraphQL schema.
        if analyzer::catalogue::is_graphql_introspection(&text) {
            match loaded.catalogue.add_graphql_introspection(&name, &text) {
                Ok(()) => loaded.files_loaded += 1,
                Err(e) => loaded.errors.push(e),
            }
            continue;
        }
        // Bytes read for this document set so far.
        let set_bytes = Cell::new(text.len() as u64);
        // The referenced texts, kept for `last_good`.
        let ref_texts: RefCell<BTreeMap<String, String>> = RefCell::new(BTreeMap::new());
        let read_ref = |doc: &str| {
            referenced.borrow_mut().insert(doc.to_string());
            let left = options.max_set_bytes.saturating_sub(set_bytes.get());
            let limit = options.max_file_bytes.min(left);
            let text = roots
                .check(Path::new(doc))
                .and_then(|path| read_limited(&path, limit))
                .map_err(|e| match e {
                    ReadError::OutsideRoots { .. } => format!("document `{doc}` is {e}"),
                    ReadError::TooLarge { .. } if limit < options.max_file_bytes => format!(
                        "document `{doc}` cannot be read: the files of `{name}` together are \
                         larger than the limit of {} for one document set",
                        bytes(options.max_set_bytes)
                    ),
                    e => format!("document `{doc}` cannot be read: {e}"),
                })?;
            set_bytes.set(set_bytes.get() + text.len() as u64);
            if last_good.is_some() {
                ref_texts.borrow_mut().insert(doc.to_string(), text.clone());
            }
            Ok(text)
        };
        let wsdl = is_wsdl_file(&name);
        let added = if wsdl {
            // A WSDL: its imports are read like `$ref`s, inside the roots and the set total.
            loaded.catalogue.add_wsdl(&name, &text, read_ref)
        } else {
            loaded
                .catalogue
                .add_document_set_with(&name, &text, read_ref)
        };
        match added {
            Ok(()) => {
                loaded.files_loaded += 1;
                // The last good version is replayed as OpenAPI: a WSDL is not kept for it.
                if let Some(keep) = last_good.as_deref_mut().filter(|_| !wsdl) {
                    let refs = ref_texts.into_inner();
                    keep.files.insert(name, GoodDocument { text, refs });
                }
            }
            // A fragment in a folder is not an error, unless it was a good document before
            // (then it is one being rewritten).
            Err(e)
                if *from_walk
                    && e.is_not_openapi()
                    && !last_good
                        .as_deref()
                        .is_some_and(|k| k.files.contains_key(&name)) =>
            {
                not_openapi.push((name, e))
            }
            Err(e) => serve_last_good(&mut loaded, last_good.as_deref(), &name, e),
        }
    }
    let referenced = referenced.into_inner();
    loaded.errors.extend(
        not_openapi
            .into_iter()
            .filter(|(name, _)| !referenced.contains(name))
            .map(|(_, e)| e),
    );
    loaded.catalogue.load = LoadStatus {
        paths_given: paths.len(),
        files_loaded: loaded.files_loaded,
        failed: loaded.errors.clone(),
        stale: loaded.stale.clone(),
    };
    Ok(loaded)
}

/// Record that `name` failed with `error`, and load its last good version when there is one.
fn serve_last_good(
    loaded: &mut LoadedCatalogue,
    last_good: Option<&LastGood>,
    name: &str,
    error: CatalogueError,
) {
    loaded.errors.push(error);
    let Some(good) = last_good.and_then(|k| k.files.get(name)) else {
        return;
    };
    let refs = &good.refs;
    let reload = loaded
        .catalogue
        .add_document_set_with(name, &good.text, |doc| {
            refs.get(doc)
                .cloned()
                .ok_or_else(|| format!("document `{doc}` was not part of the last good version"))
        });
    // The text loaded before, so it loads again; if it somehow did not, the error above stands.
    if reload.is_ok() {
        loaded.stale.push(name.to_string());
    }
}

/// The folders files may be read from, each as given (made absolute, `..` collapsed) and
/// canonical (symlinks resolved).
#[derive(Debug, Default)]
struct Roots {
    dirs: Vec<(PathBuf, PathBuf)>,
}

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(
        "outside the catalogue roots ({roots}); to allow it, add a root with --catalog-root \
         (catalog_root in the config)"
    )]
    OutsideRoots { roots: String },
    #[error("not a regular file ({kind}); only regular files are read")]
    NotRegular { kind: &'static str },
    #[error("larger than the limit of {}", bytes(*limit))]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Roots {
    fn add(&mut self, dir: &Path) {
        let lexical = lexical_absolute(dir);
        // A root that cannot be canonicalised (it vanished meanwhile) is kept as spelled: a path
        // under it then fails to resolve anyway.
        let canonical = fs::canonicalize(dir).unwrap_or_else(|_| lexical.clone());
        if !self.dirs.iter().any(|(_, c)| *c == canonical) {
            self.dirs.push((lexical, canonical));
        }
    }

    /// The canonical path of `path` if it lies inside a root. A path whose spelling already
    /// leads outside (`../../secret`, `/etc/shadow`) is refused before the file system is asked
    /// anything, so the answer does not tell whether such a file exists; one that is spelled
    /// inside but resolves outside (a symlink) is refused after resolving.
    fn check(&self, path: &Path) -> Result<PathBuf, ReadError> {
        let lexical = lexical_absolute(path);
        let spelled_inside = self
            .dirs
            .iter()
            .any(|(l, c)| lexical.starts_with(l) || lexical.starts_with(c));
        if !spelled_inside {
            return Err(self.outside());
        }
        let canonical = fs::canonicalize(path)?;
        if self.dirs.iter().any(|(_, c)| canonical.starts_with(c)) {
            Ok(canonical)
        } else {
            Err(self.outside())
        }
    }

    fn outside(&self) -> ReadError {
        let roots: Vec<String> = self
            .dirs
            .iter()
            .map(|(l, _)| l.display().to_string())
            .collect();
        ReadError::OutsideRoots {
            roots: roots.join(", "),
        }
    }
}

/// `path` made absolute against the working directory, `.` and `..` collapsed by spelling.
fn lexical_absolute(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Read a regular file as UTF-8 text, at most `limit` bytes.
///
/// The type is checked before opening (opening a FIFO blocks until a writer comes; opening a
/// device can act on it), and again on the open handle, opened without blocking, in case the
/// path was swapped in between. Reading stops one byte past `limit`, so an endless file costs
/// `limit` bytes, not all memory.
fn read_limited(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_limited_bytes(path, limit)?).map_err(|_| {
        ReadError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// [`read_limited`] for files that are not text (gRPC FileDescriptorSets).
fn read_limited_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(&meta.file_type()),
        });
    }
    let mut open = fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK);
    }
    let file = open.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(&meta.file_type()),
        });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    // The length is a hint only (a file can grow while read); the `take` is the bound.
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    file.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(buf)
}

/// What kind of file system entry this is, for messages.
fn kind_of(kind: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// A byte count for messages: `64 MiB (67108864 bytes)`.
fn bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB ({n} bytes)", n >> 20)
    } else {
        format!("{n} bytes")
    }
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
    }) || GrpcFileKind::of(&path.to_string_lossy()).is_some()
        || is_wsdl_file(&path.to_string_lossy())
        || analyzer::catalogue::is_graphql_sdl(&path.to_string_lossy())
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
    fn reading_stops_at_the_limit_even_when_the_size_is_not_known() {
        // /proc files say they are empty and are not: only the `take` bound stops them.
        let status = Path::new("/proc/self/status");
        if !status.is_file() {
            println!("SKIP: no /proc");
            return;
        }
        assert!(matches!(
            read_limited(status, 16),
            Err(ReadError::TooLarge { limit: 16 })
        ));
        assert!(read_limited(status, MAX_FILE_BYTES).is_ok_and(|t| t.contains("Name:")));
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

    /// The SOAP fixture's catalogue: the WSDL loads with the schema it imports (inside the
    /// folder); a copy importing a file outside the roots loads, with a problem saying so.
    #[test]
    fn wsdl_files_load_with_their_imports_inside_the_roots_only() {
        let soap = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/soap/catalog");
        let loaded = load(std::slice::from_ref(&soap));
        assert_eq!(loaded.files_loaded, 1, "{:?}", loaded.errors);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert!(
            loaded.catalogue.problems.is_empty(),
            "{:?}",
            loaded.catalogue.problems
        );
        assert_eq!(loaded.catalogue.soap.len(), 1);
        assert_eq!(
            loaded.catalogue.soap[0]
                .port
                .iso20022
                .iter()
                .collect::<Vec<_>>(),
            ["pain.001.001.03"]
        );
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().join("cat");
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let text = fs::read_to_string(soap.join("corebank.wsdl")).unwrap_or_else(|e| panic!("{e}"));
        write(&tmp.path().join("secret.xsd"), "<x/>");
        write(
            &dir.join("escape.wsdl"),
            &text.replace("xsd/pain.001.001.03.xsd", "../secret.xsd"),
        );
        let loaded = load(&[dir]);
        assert_eq!(loaded.files_loaded, 1);
        let problems: Vec<&str> = loaded
            .catalogue
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("outside the catalogue roots"),
            "{problems:?}"
        );
    }

    const SPEC_A: &str = "openapi: 3.0.0\ninfo: {title: A, version: '1'}\nservers: [{url: 'https://a.example'}]\npaths: {/a: {get: {responses: {'200': {description: ok}}}}}\n";
    const SPEC_B: &str = "{\"openapi\": \"3.0.0\", \"info\": {\"title\": \"B\", \"version\": \"1\"},\n \"servers\": [{\"url\": \"https://b.example\"}],\n \"paths\": {\"/b\": {\"get\": {\"responses\": {}}}}}\n";

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn load_status_names_failed_files_with_line_and_column() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(&tmp.path().join("a.yaml"), SPEC_A);
        write(
            &tmp.path().join("bad.yaml"),
            "openapi: 3.0.0\npaths: {\n  /x: [\n",
        );
        let loaded = load(&[tmp.path().to_path_buf()]);
        let status = &loaded.catalogue.load;
        assert_eq!(status.paths_given, 1);
        assert_eq!(status.files_loaded, 1);
        assert_eq!(status.failed.len(), 1, "{status:?}");
        assert!(status.failed[0].source_name.ends_with("bad.yaml"));
        assert!(status.failed[0].message.contains("invalid YAML"));
        assert!(
            status.failed[0].line_column().is_some(),
            "{:?}",
            status.failed[0]
        );
        assert!(status.stale.is_empty());
    }

    #[test]
    fn reload_serves_the_last_good_version_of_a_file_that_fails() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (tmp.path().join("a.yaml"), tmp.path().join("b.json"));
        write(&a, SPEC_A);
        write(&b, SPEC_B);
        let mut reloader =
            CatalogueReloader::new(&[tmp.path().to_path_buf()], CatalogueOptions::default());
        let first = reloader.load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.apis.len(), 2);
        assert_eq!(reloader.status().banner(), None);

        // b.json truncated mid-write: the reload keeps serving its last good version.
        write(&b, &SPEC_B[..SPEC_B.len() / 2]);
        let second = reloader.load().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            second.covers_host("b.example"),
            "B dropped on a failed reload"
        );
        assert!(second.find_operation("b.example", "GET", "/b").is_some());
        let status = reloader.status().clone();
        assert_eq!(status.loads, 2);
        assert_eq!(status.failed_loads, 1);
        assert_eq!(status.failed.len(), 1);
        assert!(status.failed[0].source_name.ends_with("b.json"));
        assert!(status.failed[0].line_column().is_some());
        assert_eq!(status.stale.len(), 1);
        assert_eq!(second.load.stale, status.stale);
        let banner = status.banner().unwrap_or_default();
        assert!(
            banner.contains("b.json") && banner.contains("last good"),
            "{banner}"
        );

        // A file never good before has nothing to fall back on: it is reported, not served.
        write(&tmp.path().join("c.yaml"), "openapi: [\n");
        let third = reloader.load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(third.apis.len(), 2);
        assert_eq!(reloader.status().failed.len(), 2);
        assert_eq!(reloader.status().stale.len(), 1);

        // Fixed again: a clean load, the new text in service.
        write(&b, &SPEC_B.replace("/b\"", "/b2\""));
        fs::remove_file(tmp.path().join("c.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let fourth = reloader.load().unwrap_or_else(|e| panic!("{e}"));
        assert!(fourth.find_operation("b.example", "GET", "/b2").is_some());
        assert!(fourth.find_operation("b.example", "GET", "/b").is_none());
        assert_eq!(reloader.status().banner(), None);
        assert_eq!(reloader.status().failed_loads, 2);
    }

    #[test]
    fn reload_of_a_vanished_path_is_counted_and_said() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = tmp.path().join("a.yaml");
        write(&a, SPEC_A);
        let mut reloader =
            CatalogueReloader::new(std::slice::from_ref(&a), CatalogueOptions::default());
        assert!(reloader.load().is_ok());
        fs::remove_file(&a).unwrap_or_else(|e| panic!("{e}"));
        assert!(reloader.load().is_err());
        assert_eq!(reloader.status().failed_loads, 1);
        let banner = reloader.status().banner().unwrap_or_default();
        assert!(banner.contains("previous one is still in use"), "{banner}");
    }
}
