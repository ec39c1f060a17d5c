//! Coordinators: state machines fed by requests and by replay of their internal topics.

pub mod consumer;
pub mod group;
pub mod internal_topic;
pub mod txn;
