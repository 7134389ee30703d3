//! The area tree: township → village → hamlet → grid → lane, one kind of node at every level.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// The level of an area in the governance hierarchy. Hamlet and lane are optional levels:
/// a grid may sit directly under a village, a household directly in a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AreaKind {
    Township,
    Village,
    Hamlet,
    Grid,
    Lane,
}

impl AreaKind {
    pub const ALL: [AreaKind; 5] = [
        AreaKind::Township,
        AreaKind::Village,
        AreaKind::Hamlet,
        AreaKind::Grid,
        AreaKind::Lane,
    ];

    /// Depth in the tree; a parent always has a smaller rank than its children.
    pub fn rank(self) -> u8 {
        match self {
            AreaKind::Township => 0,
            AreaKind::Village => 1,
            AreaKind::Hamlet => 2,
            AreaKind::Grid => 3,
            AreaKind::Lane => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AreaKind::Township => "township",
            AreaKind::Village => "village",
            AreaKind::Hamlet => "hamlet",
            AreaKind::Grid => "grid",
            AreaKind::Lane => "lane",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AreaKind::Township => "镇",
            AreaKind::Village => "村",
            AreaKind::Hamlet => "自然村",
            AreaKind::Grid => "网格",
            AreaKind::Lane => "街巷",
        }
    }

    /// Whether an area of this kind may have a parent of kind `parent`.
    /// Optional levels may be skipped, but the order never inverts.
    pub fn may_have_parent(self, parent: AreaKind) -> bool {
        parent.rank() < self.rank()
    }
}

impl fmt::Display for AreaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AreaKind {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AreaKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| CoreError::UnknownAreaKind(s.to_string()))
    }
}

/// A reference to an area without its geometry: what a locate answer or a breadcrumb needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaRef {
    pub id: i64,
    pub kind: AreaKind,
    pub code: String,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text() {
        for kind in AreaKind::ALL {
            assert_eq!(kind.as_str().parse::<AreaKind>(), Ok(kind));
        }
        assert!("county".parse::<AreaKind>().is_err());
    }

    #[test]
    fn optional_levels_may_be_skipped_but_not_inverted() {
        assert!(AreaKind::Grid.may_have_parent(AreaKind::Village));
        assert!(AreaKind::Grid.may_have_parent(AreaKind::Hamlet));
        assert!(!AreaKind::Village.may_have_parent(AreaKind::Grid));
        assert!(!AreaKind::Grid.may_have_parent(AreaKind::Grid));
    }
}
