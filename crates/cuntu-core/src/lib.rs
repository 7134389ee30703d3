//! Domain types and pure algorithms of cuntu.
//!
//! This crate does no I/O: no files, no network, no SQL, no async. Everything here is a
//! function of its inputs, so it is tested with plain unit tests and reused by the store,
//! the GDAL reader and the server alike.

pub mod area;
pub mod auth;
pub mod coords;
pub mod demo;
pub mod error;
pub mod exposure;
pub mod feature;
pub mod gridding;
pub mod import;
pub mod incident;
pub mod index;
pub mod layers;
pub mod metric;
pub mod proposal;
pub mod routing;
pub mod thematic;
pub mod tile;
pub mod tilesource;
pub mod visits;
pub mod vtile;

pub use area::{AreaKind, AreaRef};
pub use error::CoreError;
pub use index::AreaIndex;
pub use tile::TileCoord;
