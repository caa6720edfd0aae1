//! How a handler says what went wrong, which decides what the runtime does next.
//!
//! Errors are classified where they arise. A database that refuses the data itself (a
//! NUL character in text, a value out of range, a broken constraint) will refuse it on
//! every retry, so that is a rejection: the message goes to the DLQ with the reason and
//! its partition moves on. Everything else (a connection lost, a deadlock, a timeout)
//! may pass on a later attempt, so it is transient.

/// The two ways handling a message can fail.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The message can never succeed (malformed, unknown type, invalid data). It goes to
    /// the service's DLQ with this reason and the partition moves on.
    #[error("rejected: {0}")]
    Rejected(String),
    /// Something outside the message failed (database or broker away). The message is
    /// retried with backoff and its offset is not committed meanwhile; past the retry
    /// budget, while the store answers, it is parked in the DLQ.
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
}

impl HandlerError {
    /// A transient failure from any error.
    pub fn transient(err: impl Into<anyhow::Error>) -> Self {
        Self::Transient(err.into())
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::Error> for HandlerError {
    fn from(err: sqlx::Error) -> Self {
        if postgres_refuses_the_data(&err) {
            Self::Rejected(format!("PostgreSQL refused the data: {err}"))
        } else {
            Self::Transient(err.into())
        }
    }
}

/// SQLSTATE class 22 (data exception: a NUL byte or an invalid sequence in text, a number
/// out of range, a malformed value) and class 23 (integrity constraint violation), and
/// values sqlx cannot encode. The same statement with the same data fails again.
/// Connection errors, class 40 (deadlock, serialization), 53 (resources) and 57
/// (shutdown) are transient.
#[cfg(feature = "postgres")]
fn postgres_refuses_the_data(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

#[cfg(feature = "mongo")]
impl From<mongodb::error::Error> for HandlerError {
    fn from(err: mongodb::error::Error) -> Self {
        if mongo_refuses_the_data(&err) {
            Self::Rejected(format!("MongoDB refused the data: {err}"))
        } else {
            Self::Transient(err.into())
        }
    }
}

/// MongoDB server codes that describe the document, not the server's state.
#[cfg(feature = "mongo")]
const MONGO_DATA_CODES: &[i32] = &[
    2,     // BadValue
    9,     // FailedToParse
    14,    // TypeMismatch
    52,    // DollarPrefixedFieldName
    55,    // InvalidDBRef
    56,    // EmptyFieldName
    57,    // DottedFieldName
    121,   // DocumentValidationFailure
    10334, // BSONObjectTooLarge
    DUPLICATE_KEY,
    17280, // KeyTooLong
];

#[cfg(feature = "mongo")]
const DUPLICATE_KEY: i32 = 11000;

/// Whether a write failed on a key that is there already (one of `insert_many`'s writes
/// too).
#[cfg(feature = "mongo")]
pub(crate) fn duplicate_key(err: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, InsertManyError, WriteFailure};
    match err.kind.as_ref() {
        ErrorKind::InsertMany(InsertManyError {
            write_errors: Some(errors),
            ..
        }) => errors.iter().any(|e| e.code == DUPLICATE_KEY),
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// A document the driver cannot encode, or one the server refuses for what it holds.
/// Anything labelled as retryable by the server stays transient.
#[cfg(feature = "mongo")]
fn mongo_refuses_the_data(err: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    if err.contains_label(mongodb::error::TRANSIENT_TRANSACTION_ERROR)
        || err.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
    {
        return false;
    }
    match err.kind.as_ref() {
        ErrorKind::InvalidArgument { .. } | ErrorKind::BsonSerialization(_) => true,
        ErrorKind::Command(command) => MONGO_DATA_CODES.contains(&command.code),
        ErrorKind::Write(WriteFailure::WriteError(write)) => MONGO_DATA_CODES.contains(&write.code),
        _ => false,
    }
}
