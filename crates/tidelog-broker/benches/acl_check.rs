//! The cost of one ACL check (`authorizer::allowed`) with 100, 10 000 and 100 000 ACLs: a
//! check looks up the resource's exact name, the wildcard and each prefix length some
//! PREFIXED ACL has, so its cost follows the ACLs of the resource, not their number.
//! A simple timing loop (no criterion): the median of 9 runs of 200 000 checks each.
//!
//! `cargo bench -p tidelog-broker --bench acl_check`

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use tidelog_broker::authorizer::{
    allowed, AclBinding, AclOperation, Acls, AuthorizerSettings, PatternType, Permission, Requester, ResourceType,
};
use tidelog_protocol::Uuid;

const CHECKS: u32 = 200_000;
const RUNS: usize = 9;

/// `count` ACLs: per 100, 50 LITERAL topic WRITE ALLOWs of 100 users, 30 PREFIXED
/// topic ALLOWs of distinct prefixes of 10 lengths, 15 group READs, 4 transactional id
/// WRITEs and 1 topic DENY for everyone.
fn acls(count: usize) -> Acls {
    let mut acls = Acls::default();
    for i in 0..count {
        let user = format!("User:u{}", i % 100);
        let (resource_type, name, pattern, principal, operation, permission) = match i % 100 {
            0..50 => (
                ResourceType::Topic,
                format!("topic-{i}"),
                PatternType::Literal,
                user,
                AclOperation::Write,
                Permission::Allow,
            ),
            50..80 => {
                // Distinct prefixes of 7 to 16 characters: 10 lengths to look up.
                let prefix = format!("{}team{i}-", "x".repeat(i % 10));
                (
                    ResourceType::Topic,
                    prefix,
                    PatternType::Prefixed,
                    user,
                    AclOperation::Read,
                    Permission::Allow,
                )
            }
            80..95 => (
                ResourceType::Group,
                format!("group-{i}"),
                PatternType::Literal,
                user,
                AclOperation::Read,
                Permission::Allow,
            ),
            95..99 => (
                ResourceType::TransactionalId,
                format!("tx-{i}"),
                PatternType::Literal,
                user,
                AclOperation::Write,
                Permission::Allow,
            ),
            _ => (
                ResourceType::Topic,
                format!("secret-{i}"),
                PatternType::Literal,
                "User:*".into(),
                AclOperation::All,
                Permission::Deny,
            ),
        };
        let acl = AclBinding {
            resource_type,
            resource_name: name,
            pattern_type: pattern,
            principal,
            host: "*".into(),
            operation,
            permission,
        };
        acls.insert(Uuid::from_u128(i as u128 + 2), acl);
    }
    acls
}

/// Nanoseconds per check of `operation` on topic `name` by `principal`, the median of
/// [`RUNS`] runs.
fn time(acls: &Acls, principal: &str, operation: AclOperation, name: &str, expect: bool) -> f64 {
    let settings = AuthorizerSettings {
        super_users: vec!["User:admin".into()],
        allow_everyone_if_no_acl_found: false,
    };
    let who = Requester {
        principal,
        host: IpAddr::from([10, 0, 0, 1]),
    };
    assert_eq!(
        allowed(&settings, acls, who, operation, ResourceType::Topic, name),
        expect,
        "{name}"
    );
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CHECKS {
                black_box(allowed(
                    black_box(&settings),
                    black_box(acls),
                    black_box(who),
                    operation,
                    ResourceType::Topic,
                    black_box(name),
                ));
            }
            start.elapsed().as_nanos() as f64 / f64::from(CHECKS)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

fn main() {
    println!(
        "{:>8}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}",
        "ACLs", "literal", "prefixed", "described", "refused", "super"
    );
    for count in [100, 10_000, 100_000] {
        let acls = acls(count);
        // topic-0 is u0's (LITERAL WRITE); team50- prefixes u50's READ; WRITE implies
        // DESCRIBE; nothing gives u7 topic-0; a super user needs no ACL.
        let literal = time(&acls, "User:u0", AclOperation::Write, "topic-0", true);
        let prefixed = time(&acls, "User:u50", AclOperation::Read, "team50-orders", true);
        let described = time(&acls, "User:u0", AclOperation::Describe, "topic-0", true);
        let refused = time(&acls, "User:u7", AclOperation::Write, "topic-0", false);
        let super_user = time(&acls, "User:admin", AclOperation::Write, "topic-0", true);
        println!("{count:>8}  {literal:>8.0}ns  {prefixed:>8.0}ns  {described:>8.0}ns  {refused:>8.0}ns  {super_user:>8.0}ns");
    }
}
