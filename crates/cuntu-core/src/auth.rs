//! Who may see what: roles bound to areas, and the household fields each role may read.
//!
//! These are pure decisions. The store applies the scope in its queries (a household outside
//! every covering assignment is never read); this module decides, for a household inside,
//! which fields the viewer gets and how they are masked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    TownshipAdmin,
    Leader,
    VillageCadre,
    GridWorker,
    Department,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::TownshipAdmin,
        Role::Leader,
        Role::VillageCadre,
        Role::GridWorker,
        Role::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::TownshipAdmin => "township_admin",
            Role::Leader => "leader",
            Role::VillageCadre => "village_cadre",
            Role::GridWorker => "grid_worker",
            Role::Department => "department",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::TownshipAdmin => "镇管理员",
            Role::Leader => "镇领导",
            Role::VillageCadre => "村干部",
            Role::GridWorker => "网格员",
            Role::Department => "部门",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role '{s}' (township_admin, leader, village_cadre, grid_worker, department)")
            })
    }
}

/// Extra rights on one assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Names and roster details for a role that otherwise sees counts only (a leader).
    Personal,
    /// Phones and ID numbers unmasked.
    FullView,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Personal => "personal",
            Grant::FullView => "full_view",
        }
    }
}

impl FromStr for Grant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "personal" => Ok(Grant::Personal),
            "full_view" => Ok(Grant::FullView),
            _ => Err(format!("unknown grant '{s}' (personal, full_view)")),
        }
    }
}

/// A role held on one area (and so on everything below it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub role: Role,
    pub area_id: i64,
    pub grants: Vec<Grant>,
}

impl Assignment {
    pub fn has(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }

    /// Whether this assignment lets its holder read the households below its area at all.
    /// A leader reads counts unless granted personal data; a department reads incidents.
    pub fn reads_households(&self) -> bool {
        match self.role {
            Role::TownshipAdmin | Role::VillageCadre | Role::GridWorker => true,
            Role::Leader => self.has(Grant::Personal),
            Role::Department => false,
        }
    }
}

/// How a personal field reaches the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    Hidden,
    Masked,
    Full,
}

/// The household fields one viewer may read of one household.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HouseholdAccess {
    pub names: Visibility,
    pub phone: Visibility,
    pub id_card: Visibility,
    pub tags: Visibility,
}

impl HouseholdAccess {
    fn of(a: &Assignment) -> Option<Self> {
        if !a.reads_households() {
            return None;
        }
        let full = a.has(Grant::FullView);
        let masked_unless_full = if full {
            Visibility::Full
        } else {
            Visibility::Masked
        };
        Some(match a.role {
            // A grid worker calls their households: the phone is whole; the ID number is not
            // needed for a visit.
            Role::GridWorker => HouseholdAccess {
                names: Visibility::Full,
                phone: Visibility::Full,
                id_card: masked_unless_full,
                tags: Visibility::Full,
            },
            Role::VillageCadre | Role::TownshipAdmin => HouseholdAccess {
                names: Visibility::Full,
                phone: masked_unless_full,
                id_card: masked_unless_full,
                tags: Visibility::Full,
            },
            Role::Leader => HouseholdAccess {
                names: Visibility::Full,
                phone: masked_unless_full,
                id_card: masked_unless_full,
                tags: Visibility::Full,
            },
            Role::Department => return None,
        })
    }

    fn widest(self, other: Self) -> Self {
        HouseholdAccess {
            names: self.names.max(other.names),
            phone: self.phone.max(other.phone),
            id_card: self.id_card.max(other.id_card),
            tags: self.tags.max(other.tags),
        }
    }
}

/// What a viewer holding `assignments` may read of a household whose grid has the
/// ancestors-or-self `chain` (area ids). `None`: the household is outside their scope.
pub fn household_access(assignments: &[Assignment], chain: &[i64]) -> Option<HouseholdAccess> {
    assignments
        .iter()
        .filter(|a| chain.contains(&a.area_id))
        .filter_map(HouseholdAccess::of)
        .reduce(HouseholdAccess::widest)
}

/// The areas below which a viewer reads households: the roots of their household scope.
pub fn household_scope_roots(assignments: &[Assignment]) -> Vec<i64> {
    let mut roots: Vec<i64> = assignments
        .iter()
        .filter(|a| a.reads_households())
        .map(|a| a.area_id)
        .collect();
    roots.sort_unstable();
    roots.dedup();
    roots
}

/// Whether a viewer may change the grids (and lanes) of the area whose ancestors-or-self are
/// `chain`: village cadres of that village and township admins of its township may.
pub fn may_edit_grids(assignments: &[Assignment], chain: &[i64]) -> bool {
    assignments.iter().any(|a| {
        matches!(a.role, Role::VillageCadre | Role::TownshipAdmin) && chain.contains(&a.area_id)
    })
}

/// `13812345678` → `138****5678`: the carrier prefix and last four digits stay.
pub fn mask_phone(phone: &str) -> String {
    mask_middle(phone, 3, 4)
}

/// `330102199001011234` → `3301**********1234`: the province/city and last four stay.
pub fn mask_id_card(id: &str) -> String {
    mask_middle(id, 4, 4)
}

fn mask_middle(s: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= keep_start + keep_end {
        return "*".repeat(chars.len());
    }
    let hidden = chars.len() - keep_start - keep_end;
    chars[..keep_start]
        .iter()
        .chain(std::iter::repeat_n(&'*', hidden))
        .chain(chars[chars.len() - keep_end..].iter())
        .collect()
}

/// Applies a visibility to a value: hidden fields are dropped, masked ones masked.
pub fn reveal(
    value: Option<String>,
    visibility: Visibility,
    mask: fn(&str) -> String,
) -> Option<String> {
    match visibility {
        Visibility::Hidden => None,
        Visibility::Masked => value.map(|v| mask(&v)),
        Visibility::Full => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(role: Role, area_id: i64, grants: &[Grant]) -> Assignment {
        Assignment {
            role,
            area_id,
            grants: grants.to_vec(),
        }
    }

    #[test]
    fn masks_keep_only_what_identifies_nobody() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_id_card("330102199001011234"), "3301**********1234");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn a_role_covers_the_areas_below_it_and_nothing_beside() {
        // township 1 > village 2 > grid 3; village 5 > grid 6 is a neighbour.
        let worker = [a(Role::GridWorker, 3, &[])];
        assert!(household_access(&worker, &[1, 2, 3]).is_some());
        assert!(household_access(&worker, &[1, 5, 6]).is_none());
        let cadre = [a(Role::VillageCadre, 2, &[])];
        assert!(household_access(&cadre, &[1, 2, 3]).is_some());
        assert!(household_access(&cadre, &[1, 5, 6]).is_none());
        let admin = [a(Role::TownshipAdmin, 1, &[])];
        assert!(household_access(&admin, &[1, 5, 6]).is_some());
    }

    #[test]
    fn leaders_read_counts_unless_granted_and_departments_never() {
        assert!(household_access(&[a(Role::Leader, 1, &[])], &[1, 2, 3]).is_none());
        assert!(household_access(&[a(Role::Department, 1, &[])], &[1, 2, 3]).is_none());
        let granted =
            household_access(&[a(Role::Leader, 1, &[Grant::Personal])], &[1, 2, 3]).unwrap();
        assert_eq!(granted.phone, Visibility::Masked);
        assert_eq!(
            household_scope_roots(&[a(Role::Leader, 1, &[]), a(Role::GridWorker, 3, &[])]),
            vec![3]
        );
    }

    #[test]
    fn full_view_unmasks_and_the_widest_assignment_wins() {
        let cadre = household_access(&[a(Role::VillageCadre, 2, &[])], &[1, 2, 3]).unwrap();
        assert_eq!(
            (cadre.phone, cadre.id_card),
            (Visibility::Masked, Visibility::Masked)
        );
        let both = household_access(
            &[a(Role::VillageCadre, 2, &[]), a(Role::GridWorker, 3, &[])],
            &[1, 2, 3],
        )
        .unwrap();
        assert_eq!(
            (both.phone, both.id_card),
            (Visibility::Full, Visibility::Masked)
        );
        let full =
            household_access(&[a(Role::TownshipAdmin, 1, &[Grant::FullView])], &[1, 2, 3]).unwrap();
        assert_eq!(full.id_card, Visibility::Full);
        assert_eq!(
            reveal(Some("13812345678".into()), Visibility::Masked, mask_phone).as_deref(),
            Some("138****5678")
        );
        assert_eq!(
            reveal(Some("x".into()), Visibility::Hidden, mask_phone),
            None
        );
    }

    #[test]
    fn only_cadres_and_admins_above_a_grid_edit_it() {
        let chain = [1, 2, 3];
        assert!(may_edit_grids(&[a(Role::VillageCadre, 2, &[])], &chain));
        assert!(may_edit_grids(&[a(Role::TownshipAdmin, 1, &[])], &chain));
        assert!(!may_edit_grids(&[a(Role::GridWorker, 3, &[])], &chain));
        assert!(!may_edit_grids(&[a(Role::VillageCadre, 5, &[])], &chain));
        assert!(!may_edit_grids(
            &[a(Role::Leader, 1, &[Grant::FullView])],
            &chain
        ));
    }

    #[test]
    fn roles_parse_from_their_codes() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("mayor".parse::<Role>().is_err());
        assert_eq!("full_view".parse::<Grant>(), Ok(Grant::FullView));
    }
}
