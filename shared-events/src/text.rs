//! One text form per status enum, for SQL columns, logs and messages.
//!
//! Statuses travel as JSON through serde and sit in PostgreSQL as `text`. Writing the
//! names twice (serde attributes here, a `match` in each service's store) let them drift
//! apart; [`text_enum!`](crate::text_enum) writes them once, and a unit test per enum
//! checks that serde writes the same names.

use std::fmt;

/// A name that is none of an enum's names, e.g. a status column holding `"LOST"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The enum, e.g. `OrderStatus`.
    pub kind: &'static str,
    /// What was read.
    pub name: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a {}", self.name, self.kind)
    }
}

impl std::error::Error for UnknownName {}

/// Gives a fieldless enum its one text form: `ALL`, `as_str`, `Display`, `FromStr`, and
/// `TryFrom<String>` (so a `sqlx::FromRow` field reads it with
/// `#[sqlx(try_from = "String")]`).
///
/// ```
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// enum Light { Red, Green }
/// shared_events::text_enum!(Light { Red => "red", Green => "green" });
///
/// assert_eq!(Light::Red.as_str(), "red");
/// assert_eq!("green".parse::<Light>(), Ok(Light::Green));
/// assert!("blue".parse::<Light>().is_err());
/// ```
#[macro_export]
macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The value's one text form.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::text::UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                match name {
                    $($text => Ok($ty::$variant),)+
                    other => Err($crate::text::UnknownName {
                        kind: stringify!($ty),
                        name: other.to_string(),
                    }),
                }
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $crate::text::UnknownName;

            fn try_from(name: String) -> Result<Self, Self::Error> {
                name.parse()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::messages::order::OrderStatus;
    use crate::messages::payment::PaymentStatus;
    use crate::Role;

    /// serde and `as_str` name every value alike, so a status read back from SQL is the
    /// one a message carried.
    fn names_agree<T>(all: &[T], as_str: impl Fn(&T) -> &'static str)
    where
        T: serde::Serialize + std::str::FromStr + PartialEq + std::fmt::Debug,
        T::Err: std::fmt::Debug,
    {
        for value in all {
            let text = as_str(value);
            assert_eq!(serde_json::to_value(value).unwrap(), text, "{value:?}");
            assert_eq!(&text.parse::<T>().unwrap(), value);
        }
    }

    #[test]
    fn serde_and_the_text_form_name_every_status_alike() {
        names_agree(OrderStatus::ALL, OrderStatus::as_str);
        names_agree(PaymentStatus::ALL, PaymentStatus::as_str);
        names_agree(Role::ALL, Role::as_str);
    }

    #[test]
    fn an_unknown_name_says_what_it_is_not() {
        let err = "LOST".parse::<OrderStatus>().unwrap_err();
        assert_eq!(err.to_string(), r#""LOST" is not a OrderStatus"#);
    }
}
