//! UpdateFeatures (v0-2): sets finalized feature levels, as `kafka-features upgrade` and
//! `downgrade` do. All the updates of a request are applied together or none is.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use tidelog_protocol::messages::update_features_request::UpdateFeaturesRequest;
use tidelog_protocol::messages::update_features_response::{UpdatableFeatureResult, UpdateFeaturesResponse};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::info;

use crate::broker::ApiError;
use crate::features::{self, UpgradeType};
use crate::handlers::{Reply, RequestContext};
use crate::metadata::MetadataEvent;

/// The versions served, as ApiVersions advertises them: 0 to 2.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: &RequestContext, request: UpdateFeaturesRequest) -> Reply {
    Reply::Now(ResponseBody::UpdateFeatures(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: UpdateFeaturesRequest) -> UpdateFeaturesResponse {
    let (broker, version) = (&ctx.broker, ctx.api_version);
    if !ctx.authorize_cluster() {
        return UpdateFeaturesResponse {
            error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED.0,
            ..Default::default()
        };
    }
    let outcome = broker.change_metadata(
        |image| {
            let mut levels = BTreeMap::new();
            for update in &request.feature_updates {
                // v0 only said whether a downgrade is allowed.
                let upgrade = match version {
                    0 if update.allow_downgrade => Some(UpgradeType::SafeDowngrade),
                    0 => Some(UpgradeType::Upgrade),
                    _ => UpgradeType::from_wire(update.upgrade_type),
                };
                let current = image.feature_level(&update.feature);
                let level = update.max_version_level;
                if let Some(why) = features::refuse_update(&update.feature, current, level, upgrade) {
                    return Err(ApiError::new(
                        ErrorCode::INVALID_UPDATE_VERSION,
                        format!("The update failed for all features since the following feature had an error: {why}"),
                    ));
                }
                levels.insert(update.feature.clone(), level);
            }
            Ok(MetadataEvent::FeatureLevelsChanged { levels })
        },
        request.validate_only,
    );
    match outcome {
        Ok(()) => {
            if !request.validate_only {
                info!(updates = ?request.feature_updates.iter().map(|u| (&u.feature, u.max_version_level)).collect::<Vec<_>>(),
                    "finalized feature levels changed");
            }
            // Up to v1, each feature's result too.
            UpdateFeaturesResponse {
                results: request
                    .feature_updates
                    .into_iter()
                    .map(|update| UpdatableFeatureResult {
                        feature: update.feature,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
        }
        // A refusal is the request's alone, with no per-feature results.
        Err(e) => UpdateFeaturesResponse {
            error_code: e.code.0,
            error_message: Some(e.message),
            ..Default::default()
        },
    }
}
