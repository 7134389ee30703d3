//! Class breaks for thematic maps (choropleths) and the suppression of small counts.

/// Upper bounds of the first `classes - 1` classes by quantiles of `values` (NaN ignored):
/// each class holds about as many areas. Equal neighbouring breaks are merged, so a map of
/// few distinct values gets fewer classes rather than empty ones.
pub fn quantile_breaks(values: &[f64], classes: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() || classes < 2 {
        return Vec::new();
    }
    sorted.sort_by(f64::total_cmp);
    let mut breaks: Vec<f64> = (1..classes)
        .map(|k| {
            // The nearest-rank quantile: a value that occurs, so labels read "≤ 12" not "≤ 11.6".
            let rank = ((k * sorted.len()) as f64 / classes as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        })
        .collect();
    breaks.dedup();
    // The top class must hold something: drop a break equal to the largest value.
    if breaks.last() == sorted.last() {
        breaks.pop();
    }
    breaks
}

/// Counts that could single someone out (1 to 4) are shown as "<5" to viewers without the
/// personal-data grant; zero reveals no one and stays.
pub const SUPPRESS_BELOW: i64 = 5;

pub fn is_suppressed(count: i64) -> bool {
    count > 0 && count < SUPPRESS_BELOW
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_split_the_areas_into_equal_groups() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile_breaks(&values, 5), vec![4.0, 8.0, 12.0, 16.0]);
    }

    #[test]
    fn few_distinct_values_give_fewer_classes_and_never_an_empty_top() {
        assert_eq!(quantile_breaks(&[1.0, 1.0, 1.0, 2.0], 5), vec![1.0]);
        assert_eq!(quantile_breaks(&[3.0, 3.0], 5), Vec::<f64>::new());
        assert_eq!(quantile_breaks(&[], 5), Vec::<f64>::new());
        assert_eq!(quantile_breaks(&[f64::NAN, 2.0, 4.0], 2), vec![2.0]);
    }

    #[test]
    fn only_small_positive_counts_are_suppressed() {
        assert!(!is_suppressed(0));
        assert!(is_suppressed(1) && is_suppressed(4));
        assert!(!is_suppressed(5));
    }
}
