//! Users: registration, login and lookups (`auth.commands`, `auth.events`, `auth.queries`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::impl_message;
use crate::envelope::Role;

/// Command: create a user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterUser {
    /// The new user's id, chosen by the gateway so it can answer before the user exists.
    pub user_id: Uuid,
    /// Login email; unique across users (auth rejects a duplicate).
    pub email: String,
    /// Display name.
    pub name: String,
    /// `buyer` or `seller`; auth rejects `admin`, which only comes from its own configuration.
    pub role: Role,
    /// The password hash (PHC string), computed by the gateway: the plaintext never reaches a topic.
    pub password_hash: String,
}

/// Event: a user account exists. Carries no password hash, so the event is safe to share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistered {
    /// The user's id.
    pub user_id: Uuid,
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

/// Query: check credentials and issue a token. Only on the short-lived `auth.queries` topic,
/// because it carries the plaintext password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    /// Login email.
    pub email: String,
    /// The password as typed.
    pub password: String,
}

/// Query: one user's public profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetUser {
    /// The user's id.
    pub user_id: Uuid,
}

impl_message! {
    RegisterUser => "auth.register_user",
    UserRegistered => "auth.user_registered",
    Login => "auth.login",
    GetUser => "auth.get_user",
}
