//! Operators (people who log in) and their roles, each scoped to a subtree of the premises tree.

use crate::account::{AccountError, str_enum};
use crate::ids::{OperatorId, PremisesId};

/// The built-in roles of DESIGN.md §2.8. Permissions per role are decided by the server's policy layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Administrator,
    Manager,
    Cashier,
    FieldEngineer,
    Auditor,
    ReadOnly,
}

str_enum!(Role, "role", {
    Administrator => "administrator", Manager => "manager", Cashier => "cashier",
    FieldEngineer => "field_engineer", Auditor => "auditor", ReadOnly => "read_only",
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: OperatorId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The premises subtree this operator may see and act in.
    pub scope: PremisesId,
    /// An argon2id PHC string; never logged, never shown.
    pub password_hash: String,
    pub active: bool,
}

impl Operator {
    pub const USERNAME_LEN_MAX: usize = 64;
    pub const DISPLAY_NAME_LEN_MAX: usize = 120;

    /// Checks the fields a person typed: the username and the display name.
    pub fn validate(&self) -> Result<(), AccountError> {
        Self::validate_username(&self.username)?;
        crate::text::required("display name", &self.display_name, Self::DISPLAY_NAME_LEN_MAX)?;
        Ok(())
    }

    /// Validates a login name: 2–64 lower-case letters, digits, `.`, `_` or `-`.
    pub fn validate_username(username: &str) -> Result<(), AccountError> {
        let ok = (2..=Self::USERNAME_LEN_MAX).contains(&username.len())
            && username.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(AccountError::Unknown { what: "username (2–64 of a-z 0-9 . _ -)", value: username.to_string() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Operator::validate_username("admin").is_ok());
        assert!(Operator::validate_username("li.lei-2").is_ok());
        assert!(Operator::validate_username("A").is_err());
        assert!(Operator::validate_username("Admin").is_err());
        assert!(Operator::validate_username("x y").is_err());
        assert_eq!("field_engineer".parse::<Role>(), Ok(Role::FieldEngineer));
    }
}
