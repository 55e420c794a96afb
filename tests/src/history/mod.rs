//! Histories of namespace operations and a linearizability checker for them (issue 6,
//! acceptance 4). Clients record each operation's start, end and outcome (`run`); `check`
//! searches for an order of the operations that respects real time and that the namespace
//! model (`model`) accepts with the same outcomes.

pub mod check;
pub mod local;
pub mod model;
pub mod run;

pub use check::{check, Verdict};
pub use model::{Model, Op, Outcome};

/// One operation as a client saw it. Times are nanoseconds since the history began.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub client: usize,
    pub op: Op,
    pub outcome: Outcome,
    pub start: u64,
    /// `None` when the outcome is unknown (timeout, lost connection): the operation may
    /// take effect at any time after `start`, or never.
    pub end: Option<u64>,
}
