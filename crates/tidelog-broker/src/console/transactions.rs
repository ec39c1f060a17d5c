//! Transactions and producers: every transactional id this node coordinates (ListTransactions,
//! then DescribeTransactions for their state, producer, timeout, start and partitions), and
//! the producers a chosen topic's partitions keep state for (DescribeProducers), as
//! `kafka-transactions list / describe / describe-producers` show them. Producer state lives
//! in each partition's log, so it is read for one topic at a time, on a blocking thread.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::response::IntoResponse;
use maud::html;
use serde::Deserialize;
use tidelog_protocol::messages::describe_producers_request::{DescribeProducersRequest, TopicRequest};
use tidelog_protocol::messages::describe_producers_response::PartitionResponse;
use tidelog_protocol::messages::describe_transactions_request::DescribeTransactionsRequest;
use tidelog_protocol::messages::list_transactions_request::ListTransactionsRequest;
use tidelog_protocol::{ApiKey, ErrorCode};

use super::auth::Viewer;
use super::layout::{page, table};
use super::messages::utc;
use super::segments::producer_table;
use super::{blocking, segment, unknown_topic, Console, Page, PageError};
use crate::authorizer::ResourceType;
use crate::handlers;

#[derive(Debug, Default, Deserialize)]
pub struct TransactionsQuery {
    topic: Option<String>,
}

pub async fn transactions(
    Console(broker): Console,
    viewer: Viewer,
    query: Result<Query<TransactionsQuery>, QueryRejection>,
) -> Page {
    let query = query?.0;
    let listed = call!(
        &broker,
        viewer,
        list_transactions,
        ListTransactionsRequest::default(),
        ListTransactions
    )?;
    if listed.error_code != 0 {
        return Err(PageError::kafka(ErrorCode(listed.error_code), None));
    }
    let request = DescribeTransactionsRequest {
        transactional_ids: listed
            .transaction_states
            .into_iter()
            .map(|t| t.transactional_id)
            .collect(),
        ..Default::default()
    };
    let described = call!(&broker, viewer, describe_transactions, request, DescribeTransactions)?;
    // An id expired between the two calls is answered TRANSACTIONAL_ID_NOT_FOUND: left out.
    let transactions: Vec<_> = described
        .transaction_states
        .into_iter()
        .filter(|t| t.error_code == 0)
        .collect();

    let topic = query.topic.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let producers: Option<Vec<PartitionResponse>> = match &topic {
        None => None,
        Some(topic) => {
            viewer.require(&broker, ApiKey::DescribeProducers, ResourceType::Topic, topic)?;
            let partitions = broker
                .metadata
                .image()
                .topic(topic)
                .map(|t| t.partitions)
                .ok_or_else(|| unknown_topic(topic))?;
            let request = DescribeProducersRequest {
                topics: vec![TopicRequest {
                    name: topic.clone(),
                    partition_indexes: (0..partitions).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let reader = broker.clone();
            // A partition's producer state is in its log, opened at its first use: file I/O.
            Some(
                blocking(move || {
                    Ok(handlers::describe_producers::respond(&reader, request)
                        .topics
                        .into_iter()
                        .flat_map(|t| t.partitions)
                        .collect())
                })
                .await?,
            )
        }
    };
    let topics: Vec<String> = broker
        .metadata
        .image()
        .topics()
        .map(|t| t.name.clone())
        .filter(|name| viewer.may_describe(&broker, ResourceType::Topic, name))
        .collect();

    let body = html! {
        h2 { "Transactions" }
        p.note { "The transactional ids this node coordinates (ListTransactions, DescribeTransactions)." }
        @if transactions.is_empty() {
            p.card { "No transactional ids." }
        } @else {
            (table("transactions", ["Transactional id", "State", "Producer id", "Epoch", "Timeout (ms)", "Started", "Partitions"], html! {
                @for t in &transactions {
                    tr {
                        td.txn-id { code { (t.transactional_id) } }
                        td.state { (t.transaction_state) }
                        td.num.pid { (t.producer_id) }
                        td.num.epoch { (t.producer_epoch) }
                        td.num { (t.transaction_timeout_ms) }
                        td.num { @if t.transaction_start_time_ms >= 0 { (t.transaction_start_time_ms) br; span.note { (utc(t.transaction_start_time_ms)) } } @else { "-" } }
                        td.partitions {
                            @for data in &t.topics {
                                @for p in &data.partitions {
                                    a href={ "/topics/" (segment(&data.topic)) "/partitions/" (p) "/segments" } { (data.topic) "-" (p) } " "
                                }
                            }
                        }
                    }
                }
            }))
        }
        h2 { "Producers" }
        form.card method="get" action="/transactions" {
            label { "Topic"
                select name="topic" {
                    @for name in &topics {
                        option value=(name) selected[topic.as_deref() == Some(name.as_str())] { (name) }
                    }
                }
            }
            button type="submit" { "Describe producers" }
        }
        @if let (Some(topic), Some(partitions)) = (&topic, &producers) {
            p.note { "The idempotent and transactional producers each partition of " (topic)
                " keeps state for (DescribeProducers)." }
            @for p in partitions {
                h2 { (topic) "-" (p.partition_index) }
                @if p.error_code != 0 {
                    p.error { (ErrorCode(p.error_code).name()) }
                } @else if p.active_producers.is_empty() {
                    p.note { "No producers." }
                } @else {
                    (producer_table(&p.active_producers))
                }
            }
        }
    };
    Ok(page("Transactions and producers", body).into_response())
}
