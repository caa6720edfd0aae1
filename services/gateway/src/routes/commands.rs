//! `GET /api/commands/{id}?wait=<s>`: what became of a command.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::Id;
use crate::outcomes::CommandStatus;
use crate::tokens::MaybeUser;
use crate::AppState;

/// Query parameters.
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    /// Seconds to wait for a pending command, at most 30.
    #[serde(default)]
    wait: Option<f64>,
}

/// The command's status; with `wait`, long-polls until it is no longer pending. A
/// command sent with a token is visible to that user (and admins) only: to anyone else
/// it does not exist.
pub async fn command_status(
    State(state): State<AppState>,
    Id(command_id): Id,
    Query(query): Query<WaitQuery>,
    MaybeUser(user): MaybeUser,
) -> Result<Json<CommandStatus>, ApiError> {
    let visible = |status: &CommandStatus| match (status.actor, user) {
        (None, _) => true,
        (Some(actor), Some(user)) => user.may_act_for(actor),
        (Some(_), None) => false,
    };
    let known = state.outcomes.get(command_id).filter(visible);
    if known.is_none() {
        return Err(ApiError::NotFound);
    }
    let wait = Duration::from_secs_f64(query.wait.unwrap_or(0.0).clamp(0.0, 30.0));
    state
        .outcomes
        .wait(command_id, wait)
        .await
        .map(Json)
        .ok_or(ApiError::NotFound)
}
