//! Coordinators: state machines fed by requests and by replay of their internal topics.

pub mod group;
pub mod txn;
