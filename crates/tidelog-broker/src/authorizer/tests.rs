use super::*;

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    principal: &str,
    operation: AclOperation,
    permission: Permission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.into(),
        pattern_type,
        principal: principal.into(),
        host: WILDCARD.into(),
        operation,
        permission,
    }
}

fn alice() -> Requester<'static> {
    Requester {
        principal: "User:alice",
        host: "10.0.0.1".parse().unwrap(),
    }
}

fn acls(list: Vec<AclBinding>) -> Acls {
    let mut acls = Acls::default();
    for (i, a) in list.into_iter().enumerate() {
        acls.insert(Uuid::from_u128(i as u128 + 1), a);
    }
    acls
}

fn check(acls: &Acls, op: AclOperation, rt: ResourceType, name: &str) -> bool {
    allowed(&AuthorizerSettings::default(), acls, alice(), op, rt, name)
}

use AclOperation::*;
use PatternType::{Literal, Prefixed};
use Permission::{Allow, Deny};
use ResourceType::{Cluster, Group, Topic};

#[test]
fn prefixed_literal_and_wildcard_patterns_match_as_kafkas() {
    let a = acls(vec![
        acl(Topic, "orders-", Prefixed, "User:alice", Write, Allow),
        acl(Topic, "exact", Literal, "User:alice", Read, Allow),
        acl(Group, "*", Literal, "User:*", Read, Allow),
    ]);
    assert!(check(&a, Write, Topic, "orders-eu"));
    assert!(check(&a, Write, Topic, "orders-"));
    assert!(!check(&a, Write, Topic, "order"));
    assert!(!check(&a, Write, Topic, "payments"));
    assert!(!check(&a, Read, Topic, "orders-eu"));
    assert!(check(&a, Read, Topic, "exact"));
    assert!(!check(&a, Read, Topic, "exactly"));
    assert!(check(&a, Read, Group, "any-group"));
    assert!(!check(&a, Delete, Group, "any-group"));
    assert!(!check(&a, Describe, Cluster, CLUSTER_NAME));
}

#[test]
fn implied_operations_are_kafkas_and_only_for_allow() {
    let a = acls(vec![
        acl(Topic, "t", Literal, "User:alice", Write, Allow),
        acl(Topic, "c", Literal, "User:alice", AlterConfigs, Allow),
        acl(Topic, "all", Literal, "User:alice", All, Allow),
    ]);
    assert!(check(&a, Describe, Topic, "t"));
    assert!(!check(&a, DescribeConfigs, Topic, "t"));
    assert!(check(&a, DescribeConfigs, Topic, "c"));
    assert!(!check(&a, Describe, Topic, "c"));
    for op in [
        Read,
        Write,
        Create,
        Delete,
        Alter,
        Describe,
        DescribeConfigs,
        AlterConfigs,
    ] {
        assert!(check(&a, op, Topic, "all"), "{op:?}");
    }
    // A DENY of READ does not deny DESCRIBE.
    let d = acls(vec![
        acl(Topic, "t", Literal, "User:alice", All, Allow),
        acl(Topic, "t", Literal, "User:alice", Read, Deny),
    ]);
    assert!(!check(&d, Read, Topic, "t"));
    assert!(check(&d, Describe, Topic, "t"));
}

#[test]
fn deny_wins_over_allow_from_any_pattern() {
    let a = acls(vec![
        acl(Topic, "orders-", Prefixed, "User:alice", Write, Allow),
        acl(Topic, "orders-secret", Literal, "User:*", Write, Deny),
        acl(Topic, "*", Literal, "User:alice", All, Allow),
        acl(Topic, "x", Prefixed, "User:alice", All, Deny),
    ]);
    assert!(check(&a, Write, Topic, "orders-eu"));
    assert!(!check(&a, Write, Topic, "orders-secret"));
    assert!(check(&a, Read, Topic, "other"));
    assert!(!check(&a, Read, Topic, "xyz"));
}

#[test]
fn principal_and_host_must_match() {
    let mut bob = acl(Topic, "t", Literal, "User:bob", Read, Allow);
    let mut elsewhere = acl(Topic, "u", Literal, "User:alice", Read, Allow);
    elsewhere.host = "10.0.0.2".into();
    let mut here = acl(Topic, "v", Literal, "User:alice", Read, Allow);
    here.host = "10.0.0.1".into();
    bob.host = WILDCARD.into();
    let a = acls(vec![bob, elsewhere, here]);
    assert!(!check(&a, Read, Topic, "t"));
    assert!(!check(&a, Read, Topic, "u"));
    assert!(check(&a, Read, Topic, "v"));
}

#[test]
fn super_users_and_the_default_when_no_acl_names_the_resource() {
    let a = acls(vec![acl(Topic, "t", Literal, "User:bob", Read, Allow)]);
    let mut settings = AuthorizerSettings {
        super_users: vec!["User:alice".into()],
        allow_everyone_if_no_acl_found: false,
    };
    assert!(allowed(&settings, &a, alice(), Delete, Cluster, CLUSTER_NAME));
    settings.super_users.clear();
    assert!(!allowed(&settings, &a, alice(), Read, Topic, "t"));
    settings.allow_everyone_if_no_acl_found = true;
    // Kafka's StandardAuthorizer: the default applies only to a resource no ACL names; bob's
    // ACL on t denies alice there, and a PREFIXED or wildcard one names the resource too.
    assert!(!allowed(&settings, &a, alice(), Read, Topic, "t"));
    assert!(allowed(&settings, &a, alice(), Read, Topic, "u"));
    let others = acls(vec![
        acl(Topic, "t", Prefixed, "User:bob", Read, Allow),
        acl(Group, "*", Literal, "User:bob", Read, Allow),
    ]);
    assert!(!allowed(&settings, &others, alice(), Read, Topic, "tx"));
    assert!(!allowed(&settings, &others, alice(), Read, Group, "g"));
    assert!(allowed(&settings, &others, alice(), Read, Topic, "u"));
    let denied = acls(vec![acl(Topic, "t", Literal, "User:alice", Read, Deny)]);
    assert!(!allowed(&settings, &denied, alice(), Read, Topic, "t"));
}

#[test]
fn removal_unindexes_and_by_resource_type_checks() {
    let mut a = acls(vec![
        acl(Topic, "orders-", Prefixed, "User:alice", Write, Allow),
        acl(Topic, "orders-x", Literal, "User:alice", Write, Deny),
    ]);
    assert!(a.allowed_on_some(alice(), Write, Topic));
    assert!(a.remove(Uuid::from_u128(1)).is_some());
    assert!(!check(&a, Write, Topic, "orders-eu"));
    assert!(!a.allowed_on_some(alice(), Write, Topic));
    assert_eq!(a.len(), 1);
    let b = acl(Topic, "orders-x", Literal, "User:alice", Write, Deny);
    assert_eq!(a.id_of(&b), Some(Uuid::from_u128(2)));
    // A DENY on the wildcard overrides every ALLOW.
    let c = acls(vec![
        acl(Topic, "t", Literal, "User:alice", Write, Allow),
        acl(Topic, "*", Literal, "User:alice", Write, Deny),
    ]);
    assert!(!c.allowed_on_some(alice(), Write, Topic));
}

#[test]
fn filters_match_as_kafkas() {
    let a = acl(Topic, "orders-", Prefixed, "User:alice", Write, Allow);
    let any = AclFilter {
        resource_type: ResourceType::Any,
        resource_name: None,
        pattern_type: PatternType::Any,
        principal: None,
        host: None,
        operation: AclOperation::Any,
        permission: Permission::Any,
    };
    assert!(any.matches(&a));
    let matching = AclFilter {
        resource_name: Some("orders-eu".into()),
        pattern_type: PatternType::Match,
        ..any.clone()
    };
    assert!(matching.matches(&a));
    let literal = AclFilter {
        resource_name: Some("orders-".into()),
        pattern_type: Literal,
        ..any.clone()
    };
    assert!(!literal.matches(&a));
    let read = AclFilter { operation: Read, ..any };
    assert!(!read.matches(&a));
}

#[test]
fn creation_is_validated_as_kafka_does() {
    let ok = acl(Topic, "t", Literal, "User:alice", Read, Allow);
    assert_eq!(invalid(&ok), None);
    let bad = [
        (
            AclBinding {
                resource_name: String::new(),
                ..ok.clone()
            },
            "Invalid empty resource name",
        ),
        (
            AclBinding {
                pattern_type: PatternType::Match,
                ..ok.clone()
            },
            "Invalid patternType MATCH",
        ),
        (
            AclBinding {
                operation: AclOperation::Any,
                ..ok.clone()
            },
            "Invalid operation ANY",
        ),
        (
            AclBinding {
                principal: "alice".into(),
                ..ok.clone()
            },
            "Could not parse principal from `alice` (no colon is present separating the principal type from the principal name)",
        ),
        (
            AclBinding {
                resource_type: Cluster,
                resource_name: String::new(),
                ..ok.clone()
            },
            "The only valid name for the CLUSTER resource is kafka-cluster",
        ),
    ];
    for (acl, why) in bad {
        assert_eq!(invalid(&acl).as_deref(), Some(why), "{acl:?}");
    }
    // Kafka takes any principal with a colon.
    let empty_name = AclBinding {
        principal: "User:".into(),
        ..ok
    };
    assert_eq!(invalid(&empty_name), None);
}
