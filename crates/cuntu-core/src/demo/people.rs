//! Synthetic people for the demo township.
//!
//! OpenStreetMap gives the demo real buildings and addresses but, rightly, no residents. The
//! roster fields the product handles (head of household, members, phone, ID-card number,
//! key-population tags, party-member central households) are generated here, deterministically
//! from a seed, with prevalences of the order the seeds report. They are fiction and say so.

use geo::{Distance, Euclidean, Point};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::feature::KeyPopulation;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧",
];
const GIVEN: &[&str] = &[
    "建国", "秀英", "桂兰", "志强", "海燕", "立新", "玉梅", "国华", "红霞", "春生", "淑珍", "文军",
    "小平", "金凤", "德胜", "丽娟", "永刚", "凤英", "明", "伟", "芳", "军", "敏", "静", "强", "磊",
    "洋", "勇", "艳", "杰", "娟", "涛", "超", "霞", "平", "刚",
];

/// Share of households carrying each key-population tag.
const TAG_PREVALENCE: &[(KeyPopulation, f64)] = &[
    (KeyPopulation::ElderlyAlone, 0.06),
    (KeyPopulation::Disabled, 0.03),
    (KeyPopulation::LowIncome, 0.04),
    (KeyPopulation::ExtremeHardship, 0.01),
    (KeyPopulation::LeftBehindChild, 0.02),
    (KeyPopulation::ChildInDifficulty, 0.01),
];

#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticHousehold {
    pub head_name: String,
    pub members: i16,
    pub phone: String,
    pub id_card: String,
    pub tags: Vec<KeyPopulation>,
}

/// The synthetic roster entry of household number `index` under `seed`.
pub fn synthetic_household(seed: u64, index: u64) -> SyntheticHousehold {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let head_name = format!(
        "{}{}",
        SURNAMES[rng.gen_range(0..SURNAMES.len())],
        GIVEN[rng.gen_range(0..GIVEN.len())]
    );
    let mut tags: Vec<KeyPopulation> = TAG_PREVALENCE
        .iter()
        .filter(|(_, p)| rng.gen_bool(*p))
        .map(|(t, _)| *t)
        .collect();
    let members = if tags.contains(&KeyPopulation::ElderlyAlone) {
        1
    } else {
        rng.gen_range(1..=6)
    };
    if members == 1 {
        // A child cannot be the whole household.
        tags.retain(|t| {
            !matches!(
                t,
                KeyPopulation::LeftBehindChild | KeyPopulation::ChildInDifficulty
            )
        });
    }
    let prefix = [
        "139", "138", "137", "150", "151", "158", "186", "188", "177", "199",
    ];
    let phone = format!(
        "{}{:08}",
        prefix[rng.gen_range(0..prefix.len())],
        rng.gen_range(0..100_000_000u32)
    );
    let birth_year = if tags.contains(&KeyPopulation::ElderlyAlone) {
        rng.gen_range(1935..1960)
    } else {
        rng.gen_range(1950..2000)
    };
    let body = format!(
        "130111{birth_year}{:02}{:02}{:03}",
        rng.gen_range(1..=12),
        rng.gen_range(1..=28),
        rng.gen_range(0..1000)
    );
    let id_card = format!("{body}{}", id_card_check_digit(&body));
    SyntheticHousehold {
        head_name,
        members,
        phone,
        id_card,
        tags,
    }
}

/// The GB 11643-1999 check character of the first 17 digits of a resident ID number.
pub fn id_card_check_digit(first17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = first17
        .chars()
        .filter_map(|c| c.to_digit(10))
        .zip(WEIGHTS)
        .map(|(d, w)| d * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

/// Party-member central households (党员中心户) of one grid and the households each links.
///
/// About one household in `per_central + 1` becomes central, chosen by farthest-point
/// sampling so the centrals spread over the grid; every other household links to its
/// nearest central. Returns `(central, linked)` index pairs into `households` and the list
/// of centrals. Points are lon/lat; at grid scale plain planar distance orders them well.
pub fn party_member_links(
    households: &[Point<f64>],
    per_central: usize,
) -> (Vec<usize>, Vec<(usize, usize)>) {
    let n = households.len();
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let centrals_wanted = n.div_ceil(per_central + 1).max(1);
    let mut centrals = vec![0usize];
    let mut nearest: Vec<f64> = households
        .iter()
        .map(|p| Euclidean.distance(*p, households[0]))
        .collect();
    while centrals.len() < centrals_wanted {
        let (far, _) = nearest
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .expect("non-empty");
        centrals.push(far);
        for (i, p) in households.iter().enumerate() {
            nearest[i] = nearest[i].min(Euclidean.distance(*p, households[far]));
        }
    }
    let links = (0..n)
        .filter(|i| !centrals.contains(i))
        .map(|i| {
            let c = *centrals
                .iter()
                .min_by(|&&a, &&b| {
                    Euclidean
                        .distance(households[i], households[a])
                        .total_cmp(&Euclidean.distance(households[i], households[b]))
                })
                .expect("at least one central");
            (c, i)
        })
        .collect();
    (centrals, links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_is_deterministic_and_plausible() {
        let a = synthetic_household(7, 42);
        assert_eq!(a, synthetic_household(7, 42));
        assert_ne!(a, synthetic_household(7, 43));
        assert_eq!(a.phone.len(), 11);
        assert_eq!(a.id_card.len(), 18);
        assert!((1..=6).contains(&a.members));
    }

    #[test]
    fn id_check_digit_matches_the_standard_example() {
        // The worked example of GB 11643-1999.
        assert_eq!(id_card_check_digit("11010519491231002"), 'X');
    }

    #[test]
    fn tag_prevalence_is_near_the_configured_share() {
        let n = 20_000;
        let elderly = (0..n)
            .filter(|&i| {
                synthetic_household(1, i)
                    .tags
                    .contains(&KeyPopulation::ElderlyAlone)
            })
            .count();
        let share = elderly as f64 / n as f64;
        assert!((0.05..0.07).contains(&share), "{share}");
    }

    #[test]
    fn every_household_links_to_one_central() {
        let pts: Vec<Point<f64>> = (0..45)
            .map(|i| Point::new(f64::from(i % 9), f64::from(i / 9)))
            .collect();
        let (centrals, links) = party_member_links(&pts, 10);
        assert_eq!(centrals.len(), 5);
        assert_eq!(links.len(), 40);
        let mut linked: Vec<usize> = links.iter().map(|l| l.1).collect();
        linked.sort();
        linked.dedup();
        assert_eq!(linked.len(), 40);
    }
}
