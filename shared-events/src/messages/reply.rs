//! The outcome of a command or the answer to a query, on `gateway.replies`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::impl_message;

/// `{correlationId, ok: true, data}` or `{correlationId, ok: false, error}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    /// The correlation id of the request this answers.
    pub correlation_id: Uuid,
    /// Whether the request succeeded.
    pub ok: bool,
    /// The answer, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Why it failed, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
}

/// A failure a client may see: a stable code and a human sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplyError {
    /// Machine-readable, e.g. `email_taken`.
    pub code: String,
    /// For people.
    pub message: String,
}

impl Reply {
    /// A success carrying `data`.
    pub fn success(correlation_id: Uuid, data: serde_json::Value) -> Self {
        Self {
            correlation_id,
            ok: true,
            data: Some(data),
            error: None,
        }
    }

    /// A failure with a code and message.
    pub fn failure(
        correlation_id: Uuid,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let error = ReplyError {
            code: code.into(),
            message: message.into(),
        };
        Self {
            correlation_id,
            ok: false,
            data: None,
            error: Some(error),
        }
    }
}

impl_message! {
    Reply => "gateway.reply",
}
