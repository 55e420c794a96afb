//! Harness for cluster-level tests: starts a local cluster of the real binaries with
//! `ferrofs dev up --detach`, kills and restarts single processes for real, and waits on
//! conditions with deadlines (never fixed sleeps); `mount` runs `ferrofs mount` processes.

pub mod cluster;
pub mod damage;
pub mod data;
pub mod files;
pub mod grow;
pub mod leader;
pub mod lock_agent;
pub mod metrics;
pub mod mount;
pub mod raw;
pub mod reader;
pub mod tmpfs;
pub mod wait;

pub use cluster::TestCluster;
pub use wait::wait_until;
pub mod docker;
pub mod history;
