//! `tidelog users`: SCRAM credentials, as Kafka's `kafka-configs.sh --entity-type users`
//! manages them, over DescribeUserScramCredentials and AlterUserScramCredentials. The
//! password is salted here (PBKDF2 with a fresh random salt) and only the salted password is
//! sent, as Kafka's AdminClient does; the broker keeps the stored and server keys alone.

use std::io::BufRead;

use clap::{Args, Subcommand};
use tidelog_broker::scram::{random_bytes, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS};
use tidelog_protocol::messages::alter_user_scram_credentials_request::{
    AlterUserScramCredentialsRequest, ScramCredentialDeletion, ScramCredentialUpsertion,
};
use tidelog_protocol::messages::describe_user_scram_credentials_request::{
    DescribeUserScramCredentialsRequest, UserName,
};

use crate::admin::{check, single, AdminClient};
use crate::failure::Failure;
use crate::output;

/// The salt's length: Kafka's own clients salt with fewer bytes; more costs nothing.
const SALT_BYTES: usize = 32;

#[derive(Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Users with SCRAM credentials: name, mechanism and iterations, one credential per line
    /// (every user, or the ones named).
    List { users: Vec<String> },
    /// Set a user's SCRAM password for one mechanism. The password is the first line of
    /// standard input unless --password gives it (which other local users may see in the
    /// process list).
    Set {
        user: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-256", value_parser = mechanism)]
        mechanism: ScramMechanism,
        /// PBKDF2 iterations: 4096 to 16384.
        #[arg(long, default_value_t = MIN_ITERATIONS)]
        iterations: i32,
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete a user's SCRAM credential for one mechanism.
    Delete {
        user: String,
        #[arg(long, default_value = "SCRAM-SHA-256", value_parser = mechanism)]
        mechanism: ScramMechanism,
    },
}

fn mechanism(name: &str) -> Result<ScramMechanism, String> {
    ScramMechanism::from_name(name).ok_or_else(|| format!("{name} is not SCRAM-SHA-256 or SCRAM-SHA-512"))
}

pub fn run(args: UsersArgs, bootstrap: &str) -> Result<(), Failure> {
    let mut admin = AdminClient::connect(bootstrap)?;
    match args.command {
        UsersCommand::List { users } => list(&mut admin, users),
        UsersCommand::Set {
            user,
            mechanism,
            iterations,
            password,
        } => {
            let password = match password {
                Some(password) => password,
                None => read_password()?,
            };
            let salt = random_bytes(SALT_BYTES);
            // Iterations out of range are the broker's to refuse, with its message: nothing is
            // salted for them (a billion would take minutes).
            let salted = match (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
                true => mechanism.salted_password(&password, &salt, iterations as u32),
                false => Vec::new(),
            };
            let request = AlterUserScramCredentialsRequest {
                upsertions: vec![ScramCredentialUpsertion {
                    name: user.clone(),
                    mechanism: mechanism.type_number(),
                    iterations,
                    salt: salt.into(),
                    salted_password: salted.into(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            alter(
                &mut admin,
                request,
                &format!("cannot set the {mechanism} credential of {user}"),
            )
        }
        UsersCommand::Delete { user, mechanism } => {
            let request = AlterUserScramCredentialsRequest {
                deletions: vec![ScramCredentialDeletion {
                    name: user.clone(),
                    mechanism: mechanism.type_number(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            alter(
                &mut admin,
                request,
                &format!("cannot delete the {mechanism} credential of {user}"),
            )
        }
    }
}

fn list(admin: &mut AdminClient, users: Vec<String>) -> Result<(), Failure> {
    let named = !users.is_empty();
    let response = admin.call(DescribeUserScramCredentialsRequest {
        users: named.then(|| {
            users
                .into_iter()
                .map(|name| UserName {
                    name,
                    ..Default::default()
                })
                .collect()
        }),
        ..Default::default()
    })?;
    check(response.error_code, response.error_message.as_deref())
        .map_err(|e| format!("cannot describe SCRAM credentials: {e}"))?;
    for result in response.results {
        check(result.error_code, result.error_message.as_deref()).map_err(|e| format!("user {}: {e}", result.user))?;
        for info in result.credential_infos {
            let mechanism = ScramMechanism::from_type(info.mechanism).map_or("UNKNOWN", ScramMechanism::name);
            output::line(format_args!(
                "{}\t{mechanism}\titerations={}",
                result.user, info.iterations
            ))?;
        }
    }
    Ok(())
}

fn alter(admin: &mut AdminClient, request: AlterUserScramCredentialsRequest, context: &str) -> Result<(), Failure> {
    let response = admin.call(request)?;
    let result = single(response.results)?;
    check(result.error_code, result.error_message.as_deref()).map_err(|e| format!("{context}: {e}"))?;
    Ok(())
}

/// The first line of standard input, without its line end.
fn read_password() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    match password.is_empty() {
        true => Err("no password: give it on standard input's first line or with --password"
            .to_string()
            .into()),
        false => Ok(password),
    }
}
