//! Reading geodata files through GDAL (and plain CSV) into `cuntu-core` types.

pub mod divisions;
pub mod export;
pub mod import;
pub mod osm;
pub mod roster;

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum GdalError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: gdal::errors::GdalError,
    },
    #[error("{path} has no layer '{layer}'")]
    MissingLayer { path: PathBuf, layer: String },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: gdal::errors::GdalError,
    },
    #[error("reading {path}: {message}")]
    Csv { path: PathBuf, message: String },
}
