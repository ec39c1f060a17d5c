//! DescribeUserScramCredentials (v0): which SCRAM mechanisms each user has and their
//! iterations, as Kafka's `ScramImage.describe` answers: never a salt or a key. No users
//! named (null or empty) describes every user with a credential.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use tidelog_protocol::messages::describe_user_scram_credentials_request::DescribeUserScramCredentialsRequest;
use tidelog_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResponse, DescribeUserScramCredentialsResult,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::handlers::{Reply, RequestContext};
use crate::metadata::MetadataImage;

/// The versions served, as ApiVersions advertises them.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: &RequestContext, request: DescribeUserScramCredentialsRequest) -> Reply {
    if !ctx.authorize_cluster() {
        return Reply::Now(ResponseBody::DescribeUserScramCredentials(
            DescribeUserScramCredentialsResponse {
                error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED.0,
                ..Default::default()
            },
        ));
    }
    let image = ctx.broker.metadata.image();
    Reply::Now(ResponseBody::DescribeUserScramCredentials(describe(&image, request)))
}

fn describe(
    image: &MetadataImage,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let mut credentials: BTreeMap<&str, Vec<CredentialInfo>> = BTreeMap::new();
    for ((user, mechanism), credential) in image.scram_credentials() {
        credentials.entry(user).or_default().push(CredentialInfo {
            mechanism: mechanism.type_number(),
            iterations: credential.iterations,
            ..Default::default()
        });
    }
    // The users asked for, in the request's order, each once, with whether it was named twice.
    let mut users: Vec<(String, bool)> = Vec::new();
    match request.users.filter(|users| !users.is_empty()) {
        None => users.extend(credentials.keys().map(|user| (user.to_string(), false))),
        Some(named) => {
            for name in named {
                match users.iter_mut().find(|(user, _)| *user == name.name) {
                    Some((_, twice)) => *twice = true,
                    None => users.push((name.name, false)),
                }
            }
        }
    }
    let results = users
        .into_iter()
        .map(|(user, twice)| {
            let infos = credentials.get(user.as_str());
            let (error, message) = match (twice, infos) {
                (true, _) => (
                    ErrorCode::DUPLICATE_RESOURCE,
                    Some(format!(
                        "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                    )),
                ),
                (false, None) => (
                    ErrorCode::RESOURCE_NOT_FOUND,
                    Some(format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )),
                ),
                (false, Some(_)) => (ErrorCode::NONE, None),
            };
            let credential_infos = match error {
                ErrorCode::NONE => infos.cloned().unwrap_or_default(),
                _ => Vec::new(),
            };
            DescribeUserScramCredentialsResult {
                user,
                error_code: error.0,
                error_message: message,
                credential_infos,
                ..Default::default()
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse {
        results,
        ..Default::default()
    }
}
