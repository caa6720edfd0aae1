//! How a handler says what went wrong, which decides what the runtime does next.

/// The two ways handling a message can fail.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The message can never succeed (malformed, unknown type, invalid data). It goes to
    /// the service's DLQ with this reason and the partition moves on.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Something outside the message failed (database or broker away). The message is
    /// retried with backoff, never skipped, and its offset is not committed meanwhile.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
}

impl HandlerError {
    /// A transient failure from any error.
    pub fn transient(err: impl Into<anyhow::Error>) -> Self {
        Self::Transient(err.into())
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(err: sqlx::Error) -> Self {
        Self::Transient(err.into())
    }
}

impl From<mongodb::error::Error> for HandlerError {
    fn from(err: mongodb::error::Error) -> Self {
        Self::Transient(err.into())
    }
}
