//! The authorized-operation bit sets Kafka's describe APIs answer (KIP-430): bit `n` set
//! when the operation with code `n` is allowed on the resource. Without an authorizer, as
//! here until ACLs exist, a principal may do everything a resource type has; Kafka
//! answers the same sets then. ACLs will narrow them in this one place.

/// Kafka's `AclOperation` codes.
const READ: u32 = 3;
const WRITE: u32 = 4;
const CREATE: u32 = 5;
const DELETE: u32 = 6;
const ALTER: u32 = 7;
const DESCRIBE: u32 = 8;
const CLUSTER_ACTION: u32 = 9;
const DESCRIBE_CONFIGS: u32 = 10;
const ALTER_CONFIGS: u32 = 11;
const IDEMPOTENT_WRITE: u32 = 12;

const fn set(operations: &[u32]) -> i32 {
    let mut bits = 0;
    let mut i = 0;
    while i < operations.len() {
        bits |= 1 << operations[i];
        i += 1;
    }
    bits
}

/// What may be done to a topic.
pub const TOPIC: i32 = set(&[
    READ,
    WRITE,
    CREATE,
    DELETE,
    ALTER,
    DESCRIBE,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);

/// What may be done to a group (its configs too, since KIP-848).
pub const GROUP: i32 = set(&[READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS]);

/// What may be done to the cluster.
pub const CLUSTER: i32 = set(&[
    CREATE,
    ALTER,
    DESCRIBE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
]);

/// The value of an authorized-operations field the client did not ask for.
pub const NOT_ASKED: i32 = i32::MIN;

/// `operations` if the request asked for them, [`NOT_ASKED`] otherwise.
pub fn if_asked(asked: bool, operations: i32) -> i32 {
    if asked {
        operations
    } else {
        NOT_ASKED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values a Kafka 4.4 broker without an authorizer answers.
    #[test]
    fn sets_are_kafkas() {
        assert_eq!(TOPIC, 3576);
        assert_eq!(GROUP, 3400);
        assert_eq!(CLUSTER, 8096);
    }
}
