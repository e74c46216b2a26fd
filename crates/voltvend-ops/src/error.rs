use thiserror::Error;
use voltvend_domain::tariff::pricing::PricingError;
use voltvend_domain::{AccountError, LedgerError, MeterError, OperationId, PremisesError, TextError, VendingError};
use voltvend_sts::StsError;

/// Why an operation was refused. Every refusal changes nothing, and every one has a stable code
/// ([`OpError::code`]) that the API, the CLI and the tests match on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Meter(#[from] MeterError),
    #[error(transparent)]
    Premises(#[from] PremisesError),
    #[error(transparent)]
    Vending(#[from] VendingError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("pricing: {0}")]
    Pricing(#[from] PricingError),
    #[error("token: {0}")]
    Sts(#[from] StsError),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{what} {id} already exists")]
    Exists { what: &'static str, id: String },
    #[error("operation {0} was already submitted with different contents")]
    IdempotencyConflict(OperationId),
    /// Something outside the operator's premises scope. Deliberately indistinguishable, in the API, from a
    /// thing that does not exist.
    #[error("{what} {id} not found")]
    OutOfScope { what: &'static str, id: String },
    /// A business rule said no; `code` is stable, `message` is for people.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The database refused what this operation wrote (the others in its batch were not affected).
    #[error("database refused the operation: {0}")]
    Database(String),
    /// A bug: the operation touched state its footprint did not name.
    #[error("internal error: {0}")]
    Internal(String),
}

impl OpError {
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused { code, message: message.into() }
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound { what, id: id.to_string() }
    }

    /// The stable machine-readable code, part of the API contract (docs/errors.md lists them).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Ledger(e) => e.code(),
            Self::Account(e) => match e {
                AccountError::Closed(_) => "account_closed",
                AccountError::Suspended(_) => "account_suspended",
                AccountError::IllegalTransition { .. } => "account_illegal_transition",
                AccountError::Unknown { .. } => "bad_value",
                AccountError::BadName => "bad_name",
                AccountError::Text(t) => t.code(),
            },
            Self::Meter(e) => match e {
                MeterError::IllegalTransition { .. } => "meter_illegal_transition",
                MeterError::NotActive(_) => "meter_not_active",
                MeterError::BadAddress { .. } => "meter_bad_address",
                MeterError::BadRatio => "meter_bad_ratio",
                MeterError::BadSerial => "meter_bad_serial",
                MeterError::Parse(_) => "bad_value",
            },
            Self::Premises(e) => match e {
                PremisesError::Text(t) => t.code(),
                PremisesError::BadNesting { .. } | PremisesError::RootMustBeGroup(_) => "premises_bad_nesting",
                _ => "premises_bad_value",
            },
            Self::Vending(e) => e.code(),
            Self::Text(e) => e.code(),
            Self::Pricing(_) => "pricing_refused",
            Self::Sts(e) => match e {
                StsError::TidOverflow => "sts_tid_exhausted",
                StsError::KeyExpired { .. } => "sts_key_expired",
                StsError::AmountTooLarge { .. } => "sts_amount_too_large",
                _ => "sts_refused",
            },
            Self::NotFound { .. } | Self::OutOfScope { .. } => "not_found",
            Self::Exists { .. } => "already_exists",
            Self::IdempotencyConflict(_) => "idempotency_conflict",
            Self::Refused { code, .. } => code,
            Self::Database(_) => "database_refused",
            Self::Internal(_) => "internal",
        }
    }
}
