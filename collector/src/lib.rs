//! shadowtap's collector side. For now: loading the declared catalogue from files and folders.

pub mod catalogue_files;
