//! Registration rules as plain functions: a `register_user` command either becomes a
//! [`NewUser`] or is refused with the reason.

use shared_events::messages::auth::RegisterUser;
use shared_events::{rules, Role};
use uuid::Uuid;

/// Why a registration command can never succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not an email address.
    #[error("invalid email address")]
    Email,
    /// Name empty, longer than 100 characters, or holding control characters.
    #[error("name must be 1 to 100 characters without control characters")]
    Name,
    /// Only auth's own configuration creates admins.
    #[error("role admin cannot be registered")]
    AdminRole,
    /// The gateway hashes with bcrypt; anything else is not a password hash.
    #[error("passwordHash is not a bcrypt hash")]
    PasswordHash,
}

/// An email address, trimmed and lower-cased: the form it is stored and compared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, at most 254
    /// characters, no whitespace.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        rules::normalize_email(raw).map(Self).ok_or(Invalid::Email)
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// Chosen by the gateway.
    pub user_id: Uuid,
    /// Normalized email.
    pub email: Email,
    /// Display name, trimmed.
    pub name: String,
    /// Buyer or seller.
    pub role: Role,
    /// bcrypt hash.
    pub password_hash: String,
}

/// Checks a registration command.
pub fn new_user(command: RegisterUser) -> Result<NewUser, Invalid> {
    let email = Email::parse(&command.email)?;
    if rules::line_problem(&command.name, rules::MAX_USER_NAME).is_some() {
        return Err(Invalid::Name);
    }
    let name = command.name.trim().to_string();
    if command.role == Role::Admin {
        return Err(Invalid::AdminRole);
    }
    if !is_bcrypt_hash(&command.password_hash) {
        return Err(Invalid::PasswordHash);
    }
    Ok(NewUser {
        user_id: command.user_id,
        email,
        name,
        role: command.role,
        password_hash: command.password_hash,
    })
}

/// `$2a$`, `$2b$` or `$2y$`, a two-digit cost, `$`, then 53 characters: 60 in all.
fn is_bcrypt_hash(hash: &str) -> bool {
    let bytes = hash.as_bytes();
    hash.len() == 60
        && (hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$"))
        && bytes[4].is_ascii_digit()
        && bytes[5].is_ascii_digit()
        && bytes[6] == b'$'
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

    fn command(email: &str, role: Role) -> RegisterUser {
        RegisterUser {
            user_id: Uuid::nil(),
            email: email.into(),
            name: " Ada ".into(),
            role,
            password_hash: HASH.into(),
        }
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@.com",
            "a da@example.com",
            "a@b@c.com",
            "ada\u{0}@example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(Invalid::Email), "{bad:?}");
        }
    }

    #[test]
    fn a_buyer_or_seller_with_a_bcrypt_hash_is_accepted() {
        let user = new_user(command("ada@example.com", Role::Seller)).unwrap();
        assert_eq!(user.name, "Ada");
        assert_eq!(user.role, Role::Seller);
    }

    #[test]
    fn an_admin_cannot_register() {
        assert_eq!(
            new_user(command("ada@example.com", Role::Admin)),
            Err(Invalid::AdminRole)
        );
    }

    #[test]
    fn a_password_hash_must_be_bcrypt() {
        let mut plain = command("ada@example.com", Role::Buyer);
        plain.password_hash = "hunter2".into();
        assert_eq!(new_user(plain), Err(Invalid::PasswordHash));
    }

    #[test]
    fn a_name_must_not_be_blank_too_long_or_hold_control_characters() {
        let mut blank = command("ada@example.com", Role::Buyer);
        blank.name = "   ".into();
        assert_eq!(new_user(blank), Err(Invalid::Name));
        let mut long = command("ada@example.com", Role::Buyer);
        long.name = "x".repeat(101);
        assert_eq!(new_user(long), Err(Invalid::Name));
        let mut nul = command("ada@example.com", Role::Buyer);
        nul.name = "Ada\u{0}".into();
        assert_eq!(new_user(nul), Err(Invalid::Name));
    }
}
