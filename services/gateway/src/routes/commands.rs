//! `GET /api/commands/{id}?wait=<s>`: what became of a command.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::Json;
use shared_events::rules::Problems;

use crate::error::ApiError;
use crate::extract::Id;
use crate::outcomes::CommandStatus;
use crate::tokens::MaybeUser;
use crate::AppState;
use shared_events::access::Owner;

/// Longest `wait`, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

/// `wait`: whole seconds from 0 to 30; absent is 0. Anything else (`NaN`, `-1`, `1e9`,
/// `soon`) is a 400 naming the parameter.
fn wait_seconds(params: &HashMap<String, String>) -> Result<Duration, ApiError> {
    let Some(raw) = params.get("wait") else {
        return Ok(Duration::ZERO);
    };
    match raw.parse::<u64>() {
        Ok(secs) if secs <= MAX_WAIT_SECS => Ok(Duration::from_secs(secs)),
        _ => Err(ApiError::query_problems(Problems::from([(
            "wait",
            format!("must be a whole number of seconds from 0 to {MAX_WAIT_SECS}"),
        )]))),
    }
}

/// The command's status; with `wait`, long-polls until it is no longer pending. A
/// command sent with a token is visible to that user (and admins) only: to anyone else
/// it does not exist. A command no reply has named yet is pending: it may have been
/// sent through another instance, or before this one started.
pub async fn command_status(
    State(state): State<AppState>,
    Id(command_id): Id,
    Query(params): Query<HashMap<String, String>>,
    MaybeUser(user): MaybeUser,
) -> Result<Json<CommandStatus>, ApiError> {
    let visible = |status: &CommandStatus| match (status.actor, user) {
        (None, _) => true,
        (Some(actor), Some(user)) => user.may_act_on(Owner::User(actor)),
        (Some(_), None) => false,
    };
    let wait = wait_seconds(&params)?;
    if state.outcomes.get(command_id).is_some_and(|s| !visible(&s)) {
        return Err(ApiError::NotFound);
    }
    let status = state.outcomes.wait(command_id, wait).await;
    if visible(&status) {
        Ok(Json(status))
    } else {
        Err(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(raw: &str) -> Result<Duration, ApiError> {
        wait_seconds(&HashMap::from([("wait".to_string(), raw.to_string())]))
    }

    #[test]
    fn wait_is_whole_seconds_up_to_thirty() {
        assert_eq!(wait("0").ok(), Some(Duration::ZERO));
        assert_eq!(wait("30").ok(), Some(Duration::from_secs(30)));
        assert_eq!(wait_seconds(&HashMap::new()).ok(), Some(Duration::ZERO));
    }

    #[test]
    fn a_wait_that_is_not_a_bounded_whole_number_is_refused() {
        for raw in ["NaN", "inf", "-1", "31", "1e9", "2.5", "soon", ""] {
            assert!(
                matches!(wait(raw), Err(ApiError::Invalid { .. })),
                "{raw} accepted"
            );
        }
    }
}
