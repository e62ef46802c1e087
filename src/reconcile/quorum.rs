//! Quorum with hysteresis, as keepalived keeps it per virtual server.
//!
//! A virtual server has quorum while the summed weight of its live real
//! servers is at least `quorum`. It is lost when that sum drops below
//! `quorum - hysteresis` and regained when it reaches `quorum + hysteresis`;
//! in between, the previous state holds. A virtual server starts *without*
//! quorum, so its first evaluation with enough live weight is a gain (and runs
//! `quorum_up`), as keepalived 2.2.7 does at start.

/// What a quorum evaluation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumChange {
    /// The state held.
    Same,
    /// Quorum was lost: run `quorum_down`, bring in the sorry server.
    Lost,
    /// Quorum was regained: run `quorum_up`, retire the sorry server.
    Regained,
}

/// Update `up` (the current quorum state) for `live_weight`.
pub fn evaluate(up: &mut bool, live_weight: i64, quorum: u32, hysteresis: u32) -> QuorumChange {
    let quorum = i64::from(quorum);
    let hysteresis = i64::from(hysteresis);
    if *up && live_weight < quorum - hysteresis {
        *up = false;
        QuorumChange::Lost
    } else if !*up && live_weight >= quorum + hysteresis {
        *up = true;
        QuorumChange::Regained
    } else {
        QuorumChange::Same
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_quorum_is_lost_only_when_nothing_lives() {
        let mut up = true;
        assert_eq!(evaluate(&mut up, 1, 1, 0), QuorumChange::Same);
        assert_eq!(evaluate(&mut up, 0, 1, 0), QuorumChange::Lost);
        assert!(!up);
        assert_eq!(evaluate(&mut up, 0, 1, 0), QuorumChange::Same);
        assert_eq!(evaluate(&mut up, 1, 1, 0), QuorumChange::Regained);
        assert!(up);
    }

    #[test]
    fn hysteresis_holds_the_state_in_between() {
        let mut up = true;
        // quorum 5, hysteresis 2: lost below 3, regained at 7.
        assert_eq!(evaluate(&mut up, 3, 5, 2), QuorumChange::Same);
        assert_eq!(evaluate(&mut up, 2, 5, 2), QuorumChange::Lost);
        assert_eq!(evaluate(&mut up, 6, 5, 2), QuorumChange::Same);
        assert!(!up);
        assert_eq!(evaluate(&mut up, 7, 5, 2), QuorumChange::Regained);
    }
}
