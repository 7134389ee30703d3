use thiserror::Error;

/// Errors of pure domain logic. Each variant carries what a user needs to correct the input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    #[error("unknown area kind '{0}' (expected township, village, hamlet, grid or lane)")]
    UnknownAreaKind(String),
    #[error("tile zoom {0} is out of range 0..={max}", max = crate::tile::MAX_ZOOM)]
    ZoomOutOfRange(u32),
    #[error("tile column/row {x}/{y} does not exist at zoom {z}")]
    TileOutOfRange { z: u32, x: u32, y: u32 },
    #[error("longitude {0} is outside -180..180")]
    LongitudeOutOfRange(f64),
    #[error("latitude {0} is outside -90..90")]
    LatitudeOutOfRange(f64),
    #[error("invalid grid rule: {0}")]
    InvalidGridRule(String),
}
