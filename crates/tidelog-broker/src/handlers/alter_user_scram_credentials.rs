//! AlterUserScramCredentials (v0): deletes and sets users' SCRAM credentials, as Kafka's
//! `ScramControlManager.alterCredentials` does. The client salts the password itself
//! (`salted_password`); the broker keeps only the salt, the stored key, the server key and
//! the iterations, written to the metadata log as `UserScramCredentialRecord` and
//! `RemoveUserScramCredentialRecord` in one append. A user may appear once per request; each
//! user's change is accepted or refused on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use tidelog_protocol::messages::alter_user_scram_credentials_request::AlterUserScramCredentialsRequest;
use tidelog_protocol::messages::alter_user_scram_credentials_response::{
    AlterUserScramCredentialsResponse, AlterUserScramCredentialsResult,
};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::info;

use crate::broker::ApiError;
use crate::handlers::{Reply, RequestContext};
use crate::metadata::{MetadataEvent, MetadataImage};
use crate::scram::{ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};

/// The versions served, as ApiVersions advertises them.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: &RequestContext, request: AlterUserScramCredentialsRequest) -> Reply {
    Reply::Now(ResponseBody::AlterUserScramCredentials(respond(ctx, request)))
}

/// One user's change, once validated.
enum Change {
    Delete(ScramMechanism),
    Upsert(ScramMechanism, ScramCredential),
}

fn respond(ctx: &RequestContext, request: AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse {
    // Kafka's controller checks ALTER on the cluster before anything else, and answers each
    // user named, sorted and once, with the refusal (`AlterUserScramCredentialsRequest.getErrorResponse`).
    if !ctx.authorize_cluster() {
        let users: BTreeSet<&str> = (request.deletions.iter().map(|d| d.name.as_str()))
            .chain(request.upsertions.iter().map(|u| u.name.as_str()))
            .collect();
        let results = users
            .into_iter()
            .map(|user| AlterUserScramCredentialsResult {
                user: user.to_string(),
                error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED.0,
                error_message: Some("Authorization failed.".to_string()),
                ..Default::default()
            })
            .collect();
        return AlterUserScramCredentialsResponse {
            results,
            ..Default::default()
        };
    }
    // Users in the order the request first names them, so the answer's order is the request's.
    let mut order: Vec<String> = Vec::new();
    let mut outcome: BTreeMap<String, Result<Change, ApiError>> = BTreeMap::new();
    let mut see = |name: &str, change: &dyn Fn() -> Result<Change, ApiError>| match outcome.get(name) {
        Some(Err(_)) => {}
        Some(Ok(_)) => {
            outcome.insert(name.to_string(), Err(twice()));
        }
        None => {
            order.push(name.to_string());
            outcome.insert(name.to_string(), change());
        }
    };
    for deletion in &request.deletions {
        see(&deletion.name, &|| {
            validate_name_and_mechanism(&deletion.name, deletion.mechanism).map(Change::Delete)
        });
    }
    for upsertion in &request.upsertions {
        see(&upsertion.name, &|| {
            let mechanism = validate_name_and_mechanism(&upsertion.name, upsertion.mechanism)?;
            if upsertion.iterations < MIN_ITERATIONS {
                return Err(unacceptable("Too few iterations"));
            }
            if upsertion.iterations > MAX_ITERATIONS {
                return Err(unacceptable("Too many iterations"));
            }
            let credential = mechanism.credential(&upsertion.salt, &upsertion.salted_password, upsertion.iterations);
            Ok(Change::Upsert(mechanism, credential))
        });
    }
    // A deletion of a credential that does not exist is refused against the image the
    // change applies to, under its lock.
    let mut refused_deletions: BTreeMap<String, ApiError> = BTreeMap::new();
    let committed = ctx.broker.change_metadata(
        |image: &MetadataImage| {
            let mut deleted = Vec::new();
            let mut upserted = Vec::new();
            for (name, change) in &outcome {
                match change {
                    Ok(Change::Delete(mechanism)) if image.scram_credential(name, *mechanism).is_none() => {
                        refused_deletions.insert(
                            name.clone(),
                            ApiError::new(
                                ErrorCode::RESOURCE_NOT_FOUND,
                                "Attempt to delete a user credential that does not exist",
                            ),
                        );
                    }
                    Ok(Change::Delete(mechanism)) => deleted.push((name.clone(), *mechanism)),
                    Ok(Change::Upsert(mechanism, credential)) => {
                        upserted.push((name.clone(), *mechanism, credential.clone()))
                    }
                    Err(_) => {}
                }
            }
            Ok(MetadataEvent::ScramCredentialsAltered { deleted, upserted })
        },
        false,
    );
    let results = order
        .into_iter()
        .map(|user| {
            let error = match (&committed, refused_deletions.get(&user), &outcome[&user]) {
                (_, _, Err(e)) | (_, Some(e), _) | (Err(e), _, _) => Some(e.clone()),
                (Ok(()), None, Ok(change)) => {
                    let (action, mechanism) = match change {
                        Change::Delete(m) => ("deleted", m),
                        Change::Upsert(m, _) => ("set", m),
                    };
                    info!(%user, %mechanism, "SCRAM credential {action}");
                    None
                }
            };
            AlterUserScramCredentialsResult {
                user,
                error_code: error.as_ref().map_or(ErrorCode::NONE, |e| e.code).0,
                error_message: error.map(|e| e.message),
                ..Default::default()
            }
        })
        .collect();
    AlterUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}

/// Kafka's `validateScramUsernameAndMechanism`.
fn validate_name_and_mechanism(name: &str, mechanism: i8) -> Result<ScramMechanism, ApiError> {
    if name.is_empty() {
        return Err(unacceptable("Username must not be empty"));
    }
    ScramMechanism::from_type(mechanism)
        .ok_or_else(|| ApiError::new(ErrorCode::UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"))
}

fn unacceptable(message: &str) -> ApiError {
    ApiError::new(ErrorCode::UNACCEPTABLE_CREDENTIAL, message)
}

fn twice() -> ApiError {
    ApiError::new(
        ErrorCode::DUPLICATE_RESOURCE,
        "A user credential cannot be altered twice in the same request",
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tidelog_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use tidelog_protocol::messages::describe_user_scram_credentials_request::{
        DescribeUserScramCredentialsRequest, UserName,
    };

    use super::*;
    use crate::broker::Broker;
    use crate::config::BrokerConfig;
    use crate::handlers::describe_user_scram_credentials;

    fn open(dir: &std::path::Path) -> Arc<Broker> {
        Broker::open(BrokerConfig {
            log_dirs: vec![dir.to_path_buf()],
            ..BrokerConfig::default()
        })
        .unwrap()
    }

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> ScramCredentialUpsertion {
        ScramCredentialUpsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec().into(),
            salted_password: b"salted".to_vec().into(),
            ..Default::default()
        }
    }

    fn delete(name: &str, mechanism: i8) -> ScramCredentialDeletion {
        ScramCredentialDeletion {
            name: name.into(),
            mechanism,
            ..Default::default()
        }
    }

    fn alter(
        broker: &Arc<Broker>,
        deletions: Vec<ScramCredentialDeletion>,
        upsertions: Vec<ScramCredentialUpsertion>,
    ) -> Vec<(String, ErrorCode, Option<String>)> {
        let request = AlterUserScramCredentialsRequest {
            deletions,
            upsertions,
            ..Default::default()
        };
        respond(&RequestContext::for_test(broker, 0), request)
            .results
            .into_iter()
            .map(|r| (r.user, ErrorCode(r.error_code), r.error_message))
            .collect()
    }

    /// A described user: name, error, message, and (mechanism, iterations) per credential.
    type Described = (String, ErrorCode, Option<String>, Vec<(i8, i32)>);

    fn describe(broker: &Arc<Broker>, users: Option<&[&str]>) -> Vec<Described> {
        let request = DescribeUserScramCredentialsRequest {
            users: users.map(|users| {
                users
                    .iter()
                    .map(|u| UserName {
                        name: u.to_string(),
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let reply = runtime.block_on(describe_user_scram_credentials::handle(
            &RequestContext::for_test(broker, 0),
            request,
        ));
        let Reply::Now(ResponseBody::DescribeUserScramCredentials(response)) = reply else {
            panic!("not a DescribeUserScramCredentials response");
        };
        assert_eq!(response.error_code, 0);
        response
            .results
            .into_iter()
            .map(|r| {
                let infos = r.credential_infos.iter().map(|i| (i.mechanism, i.iterations)).collect();
                (r.user, ErrorCode(r.error_code), r.error_message, infos)
            })
            .collect()
    }

    fn alice_sha256(broker: &Broker) -> Option<ScramCredential> {
        let image = broker.metadata.image();
        image.scram_credential("alice", ScramMechanism::Sha256).cloned()
    }

    fn ok(user: &str) -> (String, ErrorCode, Option<String>) {
        (user.into(), ErrorCode::NONE, None)
    }

    fn refused(user: &str, code: ErrorCode, message: &str) -> (String, ErrorCode, Option<String>) {
        (user.into(), code, Some(message.into()))
    }

    #[test]
    fn changes_are_validated_as_kafka_does_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(dir.path());
        let answers = alter(
            &broker,
            vec![delete("gone", 1), delete("", 1), delete("d", 1), delete("d", 2)],
            vec![
                upsert("alice", 1, 8192),
                upsert("bob", 2, 4096),
                upsert("few", 1, 4095),
                upsert("many", 1, 16385),
                upsert("odd", 3, 4096),
                upsert("twice", 1, 4096),
                upsert("twice", 2, 4096),
            ],
        );
        let twice = "A user credential cannot be altered twice in the same request";
        assert_eq!(
            answers,
            [
                refused(
                    "gone",
                    ErrorCode::RESOURCE_NOT_FOUND,
                    "Attempt to delete a user credential that does not exist"
                ),
                refused("", ErrorCode::UNACCEPTABLE_CREDENTIAL, "Username must not be empty"),
                refused("d", ErrorCode::DUPLICATE_RESOURCE, twice),
                ok("alice"),
                ok("bob"),
                refused("few", ErrorCode::UNACCEPTABLE_CREDENTIAL, "Too few iterations"),
                refused("many", ErrorCode::UNACCEPTABLE_CREDENTIAL, "Too many iterations"),
                refused("odd", ErrorCode::UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
                refused("twice", ErrorCode::DUPLICATE_RESOURCE, twice),
            ]
        );
        // Stored as Kafka's controller stores it: the keys of the salted password, not it.
        let expected = ScramMechanism::Sha256.credential(b"salt", b"salted", 8192);
        assert_eq!(alice_sha256(&broker), Some(expected.clone()));
        assert_eq!(
            describe(&broker, None),
            [
                ("alice".into(), ErrorCode::NONE, None, vec![(1, 8192)]),
                ("bob".into(), ErrorCode::NONE, None, vec![(2, 4096)]),
            ]
        );
        assert_eq!(
            describe(&broker, Some(&["bob", "nobody", "alice", "alice"])),
            [
                ("bob".into(), ErrorCode::NONE, None, vec![(2, 4096)]),
                (
                    "nobody".into(),
                    ErrorCode::RESOURCE_NOT_FOUND,
                    Some("Attempt to describe a user credential that does not exist: nobody".into()),
                    vec![]
                ),
                (
                    "alice".into(),
                    ErrorCode::DUPLICATE_RESOURCE,
                    Some("Cannot describe SCRAM credentials for the same user twice in a single request: alice".into()),
                    vec![]
                ),
            ]
        );
        // A deletion and an upsertion of others in one request; then the metadata log is
        // read again from disk.
        assert_eq!(
            alter(&broker, vec![delete("bob", 2)], vec![upsert("carol", 2, 16384)]),
            [ok("bob"), ok("carol")]
        );
        drop(broker);
        let broker = open(dir.path());
        assert_eq!(
            describe(&broker, Some(&[])),
            [
                ("alice".into(), ErrorCode::NONE, None, vec![(1, 8192)]),
                ("carol".into(), ErrorCode::NONE, None, vec![(2, 16384)]),
            ]
        );
        assert_eq!(alice_sha256(&broker), Some(expected.clone()));
    }

    /// Without ALTER on the cluster nothing is validated nor changed: every user named is
    /// refused once, sorted, as Kafka's `getErrorResponse` answers.
    #[test]
    fn an_unauthorized_request_refuses_every_user_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig {
            log_dirs: vec![dir.path().to_path_buf()],
            authorizer: Some(crate::authorizer::AuthorizerSettings {
                super_users: Vec::new(),
                allow_everyone_if_no_acl_found: false,
            }),
            ..BrokerConfig::default()
        })
        .unwrap();
        let denied = |user: &str| refused(user, ErrorCode::CLUSTER_AUTHORIZATION_FAILED, "Authorization failed.");
        assert_eq!(
            alter(
                &broker,
                vec![delete("zed", 1)],
                vec![upsert("alice", 1, 8192), upsert("zed", 1, 8192), upsert("", 3, 1)]
            ),
            [denied(""), denied("alice"), denied("zed")]
        );
        assert_eq!(alice_sha256(&broker), None);
    }
}
