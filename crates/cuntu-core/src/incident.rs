//! Incidents: "网格吹哨、部门报到". A problem found in a grid is accepted there, solved there
//! or escalated to the village, solved there or whistled to township departments, which sign,
//! arrive and solve it; the reporter or the grid verifies (or reopens), and it is closed.
//!
//! This module is the workflow's rulebook: which action may follow which state and by whom
//! ([`next`]), and when each step is due ([`due_at`], working days in China time). It holds no
//! clock: every function takes `now`, so tests drive time.

use chrono::{DateTime, Datelike, Duration, Utc, Weekday};

macro_rules! coded {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:literal, $zh:literal, $en:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }
            pub fn label_en(self) -> &'static str {
                match self { $($name::$variant => $en),+ }
            }
            pub fn from_code(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }
        }
    };
}

coded! {
    /// 普通 / 重大 / 紧急.
    Grade {
        Normal => "normal", "普通", "normal";
        Major => "major", "重大", "major";
        Urgent => "urgent", "紧急", "urgent";
    }
}

coded! {
    State {
        Reported => "reported", "已上报", "reported";
        Accepted => "accepted", "网格已受理", "accepted by the grid";
        Escalated => "escalated", "已上报村级", "escalated to the village";
        Whistled => "whistled", "已吹哨", "whistled to departments";
        DeptAccepted => "dept_accepted", "部门已签收", "signed by the department";
        DeptArrived => "dept_arrived", "部门已到场", "department on site";
        Resolved => "resolved", "已处置", "resolved";
        Verified => "verified", "已核查", "verified";
        Closed => "closed", "已办结", "closed";
    }
}

coded! {
    Action {
        Accept => "accept", "受理", "accept";
        Resolve => "resolve", "处置完毕", "resolve";
        Escalate => "escalate", "上报村级", "escalate to the village";
        Whistle => "whistle", "吹哨（派给部门）", "whistle to departments";
        DeptAccept => "dept_accept", "部门签收", "sign as department";
        DeptArrive => "dept_arrive", "部门到场", "arrive on site";
        Verify => "verify", "核查通过", "verify";
        Reopen => "reopen", "退回重办", "reopen";
        Close => "close", "办结", "close";
    }
}

coded! {
    /// Who holds the incident when it is resolved: "小事不出村" counts grid and village.
    Level {
        Grid => "grid", "网格", "grid";
        Village => "village", "村", "village";
        Department => "department", "镇部门", "township department";
    }
}

coded! {
    /// The deadline steps (configurable per grade).
    Step {
        Accept => "accept", "网格受理", "grid accepts";
        DeptAccept => "dept_accept", "部门签收", "department signs";
        DeptArrive => "dept_arrive", "部门到场", "department on site";
        Resolve => "resolve", "处置完毕", "resolved";
    }
}

/// In what capacity someone acts on an incident (the server derives it from their roles and
/// the incident's place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// A grid worker of the incident's grid.
    Grid,
    /// A cadre of the incident's village.
    Village,
    /// A township admin or leader of the incident's township.
    Township,
    /// A member of a department the incident was whistled to.
    Department,
    /// Whoever reported it.
    Reporter,
}

impl Capacity {
    fn label(self) -> (&'static str, &'static str) {
        match self {
            Capacity::Grid => ("网格员", "the grid worker"),
            Capacity::Village => ("村干部", "the village cadre"),
            Capacity::Township => ("镇里", "the township"),
            Capacity::Department => ("被吹哨的部门", "a department it was whistled to"),
            Capacity::Reporter => ("报告人", "the reporter"),
        }
    }
}

/// Why an action is refused, in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub zh: String,
    pub en: String,
}

/// Who may take `action` from `state`, and the state it leads to. `resolved_by` is the level
/// that resolved the incident (it decides where a reopened incident goes back to).
fn rule(
    state: State,
    action: Action,
    resolved_by: Option<Level>,
) -> Option<(&'static [Capacity], State)> {
    use Capacity as C;
    Some(match (state, action) {
        (State::Reported, Action::Accept) => (&[C::Grid, C::Village, C::Township], State::Accepted),
        (State::Accepted, Action::Resolve) => (&[C::Grid, C::Village], State::Resolved),
        (State::Accepted, Action::Escalate) => (&[C::Grid, C::Village], State::Escalated),
        (State::Escalated, Action::Resolve) => (&[C::Village, C::Township], State::Resolved),
        (State::Escalated, Action::Whistle) => (&[C::Village, C::Township], State::Whistled),
        (State::Whistled, Action::DeptAccept) => (&[C::Department], State::DeptAccepted),
        (State::DeptAccepted, Action::DeptArrive) => (&[C::Department], State::DeptArrived),
        (State::DeptArrived, Action::Resolve) => (&[C::Department], State::Resolved),
        (State::Resolved, Action::Verify) => (&[C::Reporter, C::Grid, C::Village], State::Verified),
        (State::Resolved, Action::Reopen) => (
            &[C::Reporter, C::Grid, C::Village],
            match resolved_by {
                Some(Level::Department) => State::DeptAccepted,
                Some(Level::Village) => State::Escalated,
                _ => State::Accepted,
            },
        ),
        (State::Verified, Action::Close) => (&[C::Grid, C::Village, C::Township], State::Closed),
        _ => return None,
    })
}

/// The actions that may follow `state` (for the page's buttons and the refusal message).
pub fn actions_from(state: State) -> Vec<Action> {
    Action::ALL
        .iter()
        .copied()
        .filter(|a| rule(state, *a, None).is_some())
        .collect()
}

/// Whether someone acting in any of `capacities` may take `action` now, and the state after.
pub fn next(
    state: State,
    action: Action,
    capacities: &[Capacity],
    resolved_by: Option<Level>,
) -> Result<State, Refusal> {
    let Some((allowed, to)) = rule(state, action, resolved_by) else {
        let possible = actions_from(state);
        let list = |f: fn(Action) -> &'static str, sep: &str| {
            if possible.is_empty() {
                None
            } else {
                Some(possible.iter().map(|a| f(*a)).collect::<Vec<_>>().join(sep))
            }
        };
        return Err(Refusal {
            zh: format!(
                "事件当前为“{}”，不能“{}”；{}",
                state.label_zh(),
                action.label_zh(),
                list(Action::label_zh, "、")
                    .map_or("事件已办结，不能再变更".to_string(), |l| format!(
                        "此时可以：{l}"
                    ))
            ),
            en: format!(
                "The incident is {}; it cannot be given '{}' now. {}",
                state.label_en(),
                action.label_en(),
                list(Action::label_en, ", ")
                    .map_or("It is closed and cannot change.".to_string(), |l| format!(
                        "Possible now: {l}."
                    ))
            ),
        });
    };
    if !capacities.iter().any(|c| allowed.contains(c)) {
        let who_zh: Vec<&str> = allowed.iter().map(|c| c.label().0).collect();
        let who_en: Vec<&str> = allowed.iter().map(|c| c.label().1).collect();
        return Err(Refusal {
            zh: format!("“{}”只能由{}操作", action.label_zh(), who_zh.join("或")),
            en: format!(
                "Only {} may '{}' this incident",
                who_en.join(" or "),
                action.label_en()
            ),
        });
    }
    Ok(to)
}

/// The level that resolves an incident in `state` (before the resolve action).
pub fn level_of(state: State) -> Level {
    match state {
        State::Reported | State::Accepted => Level::Grid,
        State::Escalated => Level::Village,
        _ => Level::Department,
    }
}

/// The deadline step that runs while an incident is in `state`, and from which event it
/// counts: the step's own start, or the report / the whistle.
pub fn step_in(state: State) -> Option<(Step, Since)> {
    match state {
        State::Reported => Some((Step::Accept, Since::Report)),
        State::Accepted | State::Escalated => Some((Step::Resolve, Since::Report)),
        State::Whistled => Some((Step::DeptAccept, Since::Entered)),
        State::DeptAccepted => Some((Step::DeptArrive, Since::Entered)),
        State::DeptArrived => Some((Step::Resolve, Since::Whistle)),
        State::Resolved | State::Verified | State::Closed => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Report,
    Whistle,
    Entered,
}

/// How long a step may take: minutes of the clock, or working days (Monday to Friday in China
/// time; public holidays are not known here and count as working days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub minutes: i64,
    pub working_days: i64,
}

/// Defaults after published practice: a department signs within an hour and is on site
/// within 24 hours, reports within 5 working days (major: 3); urgent: on site in 30 minutes.
pub fn default_allowance(grade: Grade, step: Step) -> Allowance {
    let m = |minutes| Allowance {
        minutes,
        working_days: 0,
    };
    let d = |working_days| Allowance {
        minutes: 0,
        working_days,
    };
    match (grade, step) {
        (Grade::Normal, Step::Accept) => m(24 * 60),
        (Grade::Normal, Step::DeptAccept) => m(60),
        (Grade::Normal, Step::DeptArrive) => m(24 * 60),
        (Grade::Normal, Step::Resolve) => d(5),
        (Grade::Major, Step::Accept) => m(2 * 60),
        (Grade::Major, Step::DeptAccept) => m(60),
        (Grade::Major, Step::DeptArrive) => m(4 * 60),
        (Grade::Major, Step::Resolve) => d(3),
        (Grade::Urgent, Step::Accept) => m(15),
        (Grade::Urgent, Step::DeptAccept) => m(15),
        (Grade::Urgent, Step::DeptArrive) => m(30),
        (Grade::Urgent, Step::Resolve) => d(1),
    }
}

/// When a step that started at `start` is due.
pub fn due_at(start: DateTime<Utc>, allowance: Allowance) -> DateTime<Utc> {
    let china = Duration::hours(8);
    let mut t = start + china + Duration::minutes(allowance.minutes);
    let mut left = allowance.working_days;
    while left > 0 {
        t += Duration::days(1);
        if !matches!(t.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    t - china
}

/// An unanswered whistle escalates by itself (哨声升级): once per missed signing deadline, to
/// the township office and then the discipline office. Returns the new escalation level.
pub fn whistle_escalation(level: i32) -> (i32, &'static str, &'static str) {
    match level {
        0 => (
            1,
            "哨声升级：报镇综治办协调",
            "whistle escalated to the township office",
        ),
        _ => (
            level + 1,
            "哨声升级：报镇纪委督办",
            "whistle escalated to the discipline office",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use Capacity as C;

    fn walk(steps: &[(Action, Capacity)]) -> Result<State, Refusal> {
        let mut state = State::Reported;
        let mut resolved_by = None;
        for (action, who) in steps {
            let before = state;
            state = next(state, *action, &[*who], resolved_by)?;
            if *action == Action::Resolve {
                resolved_by = Some(level_of(before));
            }
        }
        Ok(state)
    }

    #[test]
    fn every_legal_path_ends_closed() {
        use Action::*;
        let grid = [
            (Accept, C::Grid),
            (Resolve, C::Grid),
            (Verify, C::Reporter),
            (Close, C::Grid),
        ];
        let village = [
            (Accept, C::Grid),
            (Escalate, C::Grid),
            (Resolve, C::Village),
            (Verify, C::Grid),
            (Close, C::Village),
        ];
        let department = [
            (Accept, C::Grid),
            (Escalate, C::Grid),
            (Whistle, C::Village),
            (DeptAccept, C::Department),
            (DeptArrive, C::Department),
            (Resolve, C::Department),
            (Verify, C::Reporter),
            (Close, C::Township),
        ];
        for path in [&grid[..], &village[..], &department[..]] {
            assert_eq!(walk(path), Ok(State::Closed), "{path:?}");
        }
    }

    #[test]
    fn a_reopened_incident_goes_back_to_whoever_resolved_it() {
        use Action::*;
        let base = [
            (Accept, C::Grid),
            (Escalate, C::Grid),
            (Whistle, C::Village),
            (DeptAccept, C::Department),
            (DeptArrive, C::Department),
            (Resolve, C::Department),
            (Reopen, C::Reporter),
        ];
        assert_eq!(walk(&base), Ok(State::DeptAccepted));
        assert_eq!(
            walk(&[(Accept, C::Grid), (Resolve, C::Grid), (Reopen, C::Grid)]),
            Ok(State::Accepted)
        );
        assert_eq!(
            walk(&[
                (Accept, C::Grid),
                (Escalate, C::Grid),
                (Resolve, C::Village),
                (Reopen, C::Reporter)
            ]),
            Ok(State::Escalated)
        );
    }

    #[test]
    fn illegal_steps_and_wrong_people_are_refused_with_the_reason() {
        use Action::*;
        let e = next(State::Reported, Resolve, &[C::Grid], None).unwrap_err();
        assert!(e.zh.contains("已上报") && e.zh.contains("受理"), "{}", e.zh);
        assert!(e.en.contains("Possible now: accept"), "{}", e.en);
        let e = next(State::Whistled, DeptAccept, &[C::Grid, C::Village], None).unwrap_err();
        assert!(e.zh.contains("被吹哨的部门"), "{}", e.zh);
        let e = next(State::Closed, Reopen, &[C::Reporter], Some(Level::Grid)).unwrap_err();
        assert!(e.en.contains("closed and cannot change"), "{}", e.en);
        // A department cannot skip signing, nor a grid worker whistle.
        assert!(next(State::Whistled, DeptArrive, &[C::Department], None).is_err());
        assert!(next(State::Escalated, Whistle, &[C::Grid], None).is_err());
        assert!(next(State::Resolved, Close, &[C::Grid], Some(Level::Grid)).is_err());
    }

    #[test]
    fn working_days_skip_the_weekend_in_china_time() {
        // Friday 2026-11-20 10:00 in China (02:00 UTC) + 1 working day = Monday 10:00.
        let friday = Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap();
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        assert_eq!(
            due_at(
                friday,
                Allowance {
                    minutes: 0,
                    working_days: 1
                }
            ),
            monday
        );
        // Friday 23:30 UTC is Saturday 07:30 in China: one working day is Monday 07:30 there.
        let late = Utc.with_ymd_and_hms(2026, 11, 20, 23, 30, 0).unwrap();
        assert_eq!(
            due_at(
                late,
                Allowance {
                    minutes: 0,
                    working_days: 1
                }
            ),
            Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap()
        );
        assert_eq!(
            due_at(friday, default_allowance(Grade::Urgent, Step::DeptArrive)),
            friday + Duration::minutes(30)
        );
        assert_eq!(
            due_at(friday, default_allowance(Grade::Normal, Step::Resolve)),
            Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap()
        );
    }
}
