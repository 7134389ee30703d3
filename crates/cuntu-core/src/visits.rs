//! Visit cadence (走访频次): how often each household must be visited, when its next visit is
//! due, and which quarter a day belongs to. The seeds' rule: every household once a quarter
//! ("户户到"); households in difficulty, elderly living alone and children in difficulty or
//! left behind once a month. A township may set its own days per tag.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::feature::KeyPopulation;

/// Days between visits of every household, when no tag asks for more.
pub const EVERY_HOUSEHOLD_DAYS: i32 = 91;
/// A household is "due" this many days before its visit falls due.
pub const DUE_SOON_DAYS: i64 = 7;

/// One rule: households with `tag` (every household when `None`) are visited every `days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CadenceRule {
    pub tag: Option<String>,
    pub days: i32,
}

/// The default rules; a township's own rules replace them tag by tag.
pub fn default_rules() -> Vec<CadenceRule> {
    let monthly = [
        KeyPopulation::ElderlyAlone,
        KeyPopulation::LowIncome,
        KeyPopulation::ExtremeHardship,
        KeyPopulation::LeftBehindChild,
        KeyPopulation::ChildInDifficulty,
    ];
    std::iter::once(CadenceRule {
        tag: None,
        days: EVERY_HOUSEHOLD_DAYS,
    })
    .chain(monthly.into_iter().map(|k| CadenceRule {
        tag: Some(k.code().to_string()),
        days: 30,
    }))
    .collect()
}

/// The defaults with a township's own rules laid over them.
pub fn merge_rules(own: &[CadenceRule]) -> Vec<CadenceRule> {
    let mut rules = default_rules();
    for rule in own {
        match rules.iter_mut().find(|r| r.tag == rule.tag) {
            Some(r) => r.days = rule.days,
            None => rules.push(rule.clone()),
        }
    }
    rules
}

/// Days between visits for a household with these tags: the strictest rule that applies.
pub fn cadence_days(rules: &[CadenceRule], tags: &[String]) -> i32 {
    rules
        .iter()
        .filter(|r| match &r.tag {
            None => true,
            Some(t) => tags.contains(t),
        })
        .map(|r| r.days)
        .min()
        .unwrap_or(EVERY_HOUSEHOLD_DAYS)
        .max(1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitState {
    /// Visited within its cadence.
    Visited,
    /// Needs a visit soon (or has never had one, and is not late yet).
    Due,
    /// Past its due day.
    Overdue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub due_at: DateTime<Utc>,
    /// Whole days from now until due; negative when overdue.
    pub days_until_due: i64,
    pub state: VisitState,
}

/// When a household's next visit is due. Never visited: due one cadence after the quarter
/// began, so a new quarter does not make every household late on its first day.
pub fn due(last_visit: Option<DateTime<Utc>>, cadence: i32, now: DateTime<Utc>) -> Due {
    let cadence = Duration::days(i64::from(cadence.max(1)));
    let due_at = match last_visit {
        Some(v) => v + cadence,
        None => quarter_start(now) + cadence,
    };
    let days_until_due = (due_at - now).num_days()
        - i64::from(due_at < now && (due_at - now).num_seconds() % 86_400 != 0);
    let state = if now > due_at {
        VisitState::Overdue
    } else if last_visit.is_some() && days_until_due > DUE_SOON_DAYS {
        VisitState::Visited
    } else {
        VisitState::Due
    };
    Due {
        due_at,
        days_until_due,
        state,
    }
}

/// The first moment of the quarter `t` lies in (UTC+8: the day begins in China).
pub fn quarter_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let china = t + Duration::hours(8);
    let month = (china.month0() / 3) * 3 + 1;
    let day = NaiveDate::from_ymd_opt(china.year(), month, 1).unwrap_or_default();
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default()) - Duration::hours(8)
}

/// "2026Q4".
pub fn quarter_label(t: DateTime<Utc>) -> String {
    let china = t + Duration::hours(8);
    format!("{}Q{}", china.year(), china.month0() / 3 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_strictest_rule_applies() {
        let rules = default_rules();
        assert_eq!(cadence_days(&rules, &[]), 91);
        assert_eq!(cadence_days(&rules, &["elderly_alone".into()]), 30);
        assert_eq!(cadence_days(&rules, &["disabled".into()]), 91);
        let own = merge_rules(&[
            CadenceRule {
                tag: Some("disabled".into()),
                days: 14,
            },
            CadenceRule {
                tag: None,
                days: 60,
            },
        ]);
        assert_eq!(
            cadence_days(&own, &["disabled".into(), "elderly_alone".into()]),
            14
        );
        assert_eq!(cadence_days(&own, &[]), 60);
    }

    #[test]
    fn quarters_begin_in_china_time() {
        assert_eq!(
            quarter_start(at("2026-11-22T02:00:00Z")),
            at("2026-09-30T16:00:00Z")
        );
        // 1 October 00:30 in Beijing is still 30 September in UTC.
        assert_eq!(quarter_label(at("2026-09-30T16:30:00Z")), "2026Q4");
        assert_eq!(quarter_label(at("2026-09-30T15:30:00Z")), "2026Q3");
    }

    #[test]
    fn due_days_and_states() {
        let now = at("2026-11-22T02:00:00Z");
        let visited = due(Some(at("2026-11-10T02:00:00Z")), 30, now);
        assert_eq!(visited.state, VisitState::Visited);
        assert_eq!(visited.days_until_due, 18);
        let soon = due(Some(at("2026-10-26T02:00:00Z")), 30, now);
        assert_eq!(soon.state, VisitState::Due);
        assert_eq!(soon.days_until_due, 3);
        let late = due(Some(at("2026-10-01T02:00:00Z")), 30, now);
        assert_eq!(late.state, VisitState::Overdue);
        assert_eq!(late.days_until_due, -22);
        // Never visited, quarterly: due at the quarter's end, so "due", not late.
        let never = due(None, 91, now);
        assert_eq!(never.state, VisitState::Due);
        assert!(never.days_until_due > 0);
        // Never visited, monthly: a month into the quarter it is late.
        assert_eq!(due(None, 30, now).state, VisitState::Overdue);
    }
}
