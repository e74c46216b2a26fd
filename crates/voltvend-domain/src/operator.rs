//! Operators (people who log in), what they may do, and where.
//!
//! Every operator has one role and one premises subtree (their scope). A role is a named set of
//! [`Permission`]s: six are built in (DESIGN.md §2.8) and administrators may define custom ones. Scope and
//! permission are independent: a cashier of Building B may sell (permission) only to accounts in Building B
//! (scope). The login state (failed attempts, lockout, "log out everywhere") lives on the operator so that it
//! survives restarts and is audited with every change.

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;

use crate::account::{AccountError, str_enum};
use crate::ids::{OperatorId, PremisesId};

macro_rules! permissions {
    ($( $(#[$doc:meta])* $variant:ident => $s:literal ),+ $(,)?) => {
        /// One thing an operator may be allowed to do. The codes are part of the API (roles list them).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission { $( $(#[$doc])* $variant ),+ }

        impl Permission {
            /// Every permission, in declaration order.
            pub const ALL: &'static [Permission] = &[$(Self::$variant),+];

            pub const fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }

        impl std::str::FromStr for Permission {
            type Err = AccountError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    other => Err(AccountError::Unknown { what: "permission", value: other.to_string() }),
                }
            }
        }
    };
}

permissions! {
    /// See the premises tree within the scope.
    PremisesRead => "premises.read",
    /// Add nodes to the premises tree.
    PremisesManage => "premises.manage",
    CustomersRead => "customers.read",
    AccountsRead => "accounts.read",
    /// 开户: open an account with its customer file, meters and first sale.
    AccountsOpen => "accounts.open",
    /// 修改资料: change a customer file.
    CustomersManage => "customers.manage",
    /// 报停/复电, 销户 and 过户: suspend, resume, close and transfer accounts (settling them).
    AccountsManage => "accounts.manage",
    /// Switch an account between prepaid and postpaid (a postpaid supply is never cut off for credit).
    BillingModeManage => "accounts.billing_mode",
    MetersRead => "meters.read",
    /// Receive meters into stock; set how the head end reaches them.
    MetersManage => "meters.manage",
    /// Trip or close a meter's supply, keep-power, set its clock, read it now (the head end's commands).
    MetersControl => "meters.control",
    /// 换表: replace a meter on its account.
    MetersReplace => "meters.replace",
    /// 回抄: record a local meter's return data (its IC card's return file, a check card, its display).
    MetersReturns => "meters.returns",
    /// IC user cards: issue (发卡), reissue (补卡), report lost (挂失), take back (退卡).
    CardsIssue => "cards.issue",
    /// Field engineers' cards for IC-card meters: check, reset, clear, parameter (open-account) and test cards.
    CardsField => "cards.field",
    TariffsRead => "tariffs.read",
    /// Import a tariff or a new version of one.
    TariffsManage => "tariffs.manage",
    VendingPointsRead => "vending_points.read",
    VendingPointsManage => "vending_points.manage",
    /// Record that a vending point has remitted what it sold (restores its credit limit).
    VendingPointsSettle => "vending_points.settle",
    ShiftsRead => "shifts.read",
    /// Open and close one's own shift (交班结算).
    ShiftsOperate => "shifts.operate",
    SalesRead => "sales.read",
    /// 售电: quote and sell through one's own open shift.
    SalesCreate => "sales.create",
    /// 补收据: print a receipt again (marked COPY, audited).
    ReceiptsReprint => "receipts.reprint",
    RefusedPaymentsRead => "refused_payments.read",
    /// Hand back the money of a refused payment.
    RefusedPaymentsRefund => "refused_payments.refund",
    /// See online payment channels and the payments customers make through them.
    PaymentsRead => "payments.read",
    /// Open and close online payment channels (WeChat Pay, Alipay… merchant accounts).
    PaymentsManage => "payments.manage",
    /// STS management tokens: clear credit, clear tamper, power limits, key change.
    StsManagementTokens => "tokens.sts_management",
    /// OpenPAYGO set-time, disable and counter-sync tokens.
    OpenPaygoManagementTokens => "tokens.openpaygo_management",
    /// Import vending keys and rotate the master key.
    KeysManage => "keys.manage",
    OperatorsRead => "operators.read",
    /// Add operators, unlock them.
    OperatorsManage => "operators.manage",
    /// Define custom roles.
    RolesManage => "roles.manage",
    /// Create API tokens (for oneself or, with operators.manage, for operators in scope).
    ApiTokensManage => "api_tokens.manage",
    /// Read the audit trail.
    AuditRead => "audit.read",
    /// See corrections (纠错), adjustments and write-offs, pending and decided.
    CorrectionsRead => "corrections.read",
    /// Ask for a correction: a sale reversed or re-allocated, a wallet adjusted, arrears written off, a closed
    /// shift's count corrected. Nothing happens until another operator approves it.
    CorrectionsRequest => "corrections.request",
    /// Approve or reject someone else's correction (maker-checker: never one's own).
    CorrectionsApprove => "corrections.approve",
    /// 追缴陈欠: enter or import historical arrears on accounts.
    ArrearsManage => "arrears.manage",
    /// Reports and exports (sales summaries, the sales ledger and its reconciliation with the ledger).
    ReportsRead => "reports.read",
    /// 公摊: define how a site's common-area energy and line loss are shared among its units, and post a
    /// period's shares to the units' accounts.
    ApportionmentManage => "apportionment.manage",
    /// 房租 / 物业费: fee schedules, floor areas, the overdue policy, and issuing a month's charges.
    FeesManage => "fees.manage",
    /// See the scheduled backups and their verification, and take one now.
    BackupsManage => "backups.manage",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The built-in roles of DESIGN.md §2.8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinRole {
    Administrator,
    Manager,
    Cashier,
    FieldEngineer,
    Auditor,
    ReadOnly,
}

str_enum!(BuiltinRole, "role", {
    Administrator => "administrator", Manager => "manager", Cashier => "cashier",
    FieldEngineer => "field_engineer", Auditor => "auditor", ReadOnly => "read_only",
});

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 6] =
        [Self::Administrator, Self::Manager, Self::Cashier, Self::FieldEngineer, Self::Auditor, Self::ReadOnly];

    /// What the role may do. Administrators may do everything; the others follow the counter and office
    /// practice of the source system: cashiers open accounts and sell, managers run the office, field
    /// engineers commission meters and enter management tokens, auditors and read-only users only look.
    pub fn permissions(&self) -> BTreeSet<Permission> {
        use Permission::*;
        let reads = [
            PremisesRead,
            CustomersRead,
            AccountsRead,
            MetersRead,
            TariffsRead,
            VendingPointsRead,
            ShiftsRead,
            SalesRead,
            RefusedPaymentsRead,
        ];
        let set: Vec<Permission> = match self {
            Self::Administrator => Permission::ALL.to_vec(),
            Self::Manager => [
                &reads[..],
                &[
                    OperatorsRead,
                    AuditRead,
                    PremisesManage,
                    AccountsOpen,
                    CustomersManage,
                    AccountsManage,
                    BillingModeManage,
                    MetersReplace,
                    MetersReturns,
                    CardsIssue,
                    CardsField,
                    MetersManage,
                    VendingPointsManage,
                    VendingPointsSettle,
                    ReceiptsReprint,
                    RefusedPaymentsRefund,
                    PaymentsRead,
                    PaymentsManage,
                    StsManagementTokens,
                    OpenPaygoManagementTokens,
                    MetersControl,
                    OperatorsManage,
                    ApiTokensManage,
                    CorrectionsRead,
                    CorrectionsRequest,
                    CorrectionsApprove,
                    ArrearsManage,
                    ReportsRead,
                    ApportionmentManage,
                    FeesManage,
                ],
            ]
            .concat(),
            Self::Cashier => [
                &reads[..],
                &[
                    AccountsOpen,
                    CustomersManage,
                    AccountsManage,
                    ShiftsOperate,
                    SalesCreate,
                    MetersReturns,
                    CardsIssue,
                    ReceiptsReprint,
                    RefusedPaymentsRefund,
                    CorrectionsRead,
                    CorrectionsRequest,
                    PaymentsRead,
                ],
            ]
            .concat(),
            Self::FieldEngineer => vec![
                PremisesRead,
                CustomersRead,
                AccountsRead,
                MetersRead,
                TariffsRead,
                MetersManage,
                MetersControl,
                MetersReplace,
                MetersReturns,
                CardsField,
                StsManagementTokens,
                OpenPaygoManagementTokens,
            ],
            Self::Auditor => {
                [&reads[..], &[OperatorsRead, AuditRead, CorrectionsRead, ReportsRead, PaymentsRead]].concat()
            }
            Self::ReadOnly => reads.to_vec(),
        };
        set.into_iter().collect()
    }
}

/// A role: a name and the permissions it grants. Built-in roles are not stored; custom ones are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub permissions: BTreeSet<Permission>,
}

impl Role {
    pub const DESCRIPTION_LEN_MAX: usize = 200;

    /// A custom role, checked: a valid name that is not a built-in one, and at least one permission.
    pub fn custom(name: &str, description: &str, permissions: BTreeSet<Permission>) -> Result<Self, AccountError> {
        Operator::validate_role_name(name)?;
        if name.parse::<BuiltinRole>().is_ok() {
            return Err(AccountError::Unknown {
                what: "custom role name (it is a built-in role's)",
                value: name.into(),
            });
        }
        let description = description.trim();
        crate::text::check("role description", description, Self::DESCRIPTION_LEN_MAX)?;
        if permissions.is_empty() {
            return Err(AccountError::Unknown { what: "role without permissions", value: name.into() });
        }
        Ok(Self { name: name.to_string(), description: description.to_string(), permissions })
    }

    pub fn builtin(role: BuiltinRole) -> Self {
        Self { name: role.as_str().to_string(), description: String::new(), permissions: role.permissions() }
    }

    /// Permissions as stored: their codes separated by spaces.
    pub fn permissions_text(&self) -> String {
        self.permissions.iter().map(Permission::as_str).collect::<Vec<_>>().join(" ")
    }

    pub fn parse_permissions(text: &str) -> Result<BTreeSet<Permission>, AccountError> {
        text.split_whitespace().map(str::parse).collect()
    }
}

/// Consecutive failed logins after which an operator is locked out for [`LOCKOUT_MINUTES`].
pub const FAILED_LOGINS_LOCK: i32 = 5;
pub const LOCKOUT_MINUTES: i64 = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: OperatorId,
    pub username: String,
    pub display_name: String,
    /// A built-in role's name or a custom role's.
    pub role: String,
    /// The premises subtree this operator may see and act in.
    pub scope: PremisesId,
    /// An argon2id PHC string; never logged, never shown.
    pub password_hash: String,
    pub active: bool,
    /// Failed logins since the last successful one.
    pub failed_logins: i32,
    /// Logins are refused until then.
    pub locked_until: Option<Timestamp>,
    /// Sessions created before this instant are no longer valid ("log out everywhere", a password change).
    pub sessions_not_before: Option<Timestamp>,
    /// The language of the operator's pages (`zh-CN` or `en`), once they chose one.
    pub language: Option<String>,
}

/// The languages of the operator UI and of printed documents.
pub const LANGUAGES: [&str; 2] = ["zh-CN", "en"];

impl Operator {
    pub const USERNAME_LEN_MAX: usize = 64;
    pub const DISPLAY_NAME_LEN_MAX: usize = 120;

    /// A new active operator with no login history.
    pub fn new(
        id: OperatorId,
        username: &str,
        display_name: &str,
        role: &str,
        scope: PremisesId,
        password_hash: &str,
    ) -> Self {
        Self {
            id,
            username: username.to_string(),
            display_name: display_name.to_string(),
            role: role.to_string(),
            scope,
            password_hash: password_hash.to_string(),
            active: true,
            failed_logins: 0,
            locked_until: None,
            sessions_not_before: None,
            language: None,
        }
    }

    /// Checks the fields a person typed: the username, the display name and the role's name.
    pub fn validate(&self) -> Result<(), AccountError> {
        Self::validate_username(&self.username)?;
        crate::text::required("display name", &self.display_name, Self::DISPLAY_NAME_LEN_MAX)?;
        Self::validate_role_name(&self.role)?;
        Ok(())
    }

    /// Validates a login name: 2–64 lower-case letters, digits, `.`, `_` or `-`.
    pub fn validate_username(username: &str) -> Result<(), AccountError> {
        if name_ok(username) {
            Ok(())
        } else {
            Err(AccountError::Unknown { what: "username (2–64 of a-z 0-9 . _ -)", value: username.to_string() })
        }
    }

    /// Role names follow the same rule as usernames.
    pub fn validate_role_name(name: &str) -> Result<(), AccountError> {
        if name_ok(name) {
            Ok(())
        } else {
            Err(AccountError::Unknown { what: "role name (2–64 of a-z 0-9 . _ -)", value: name.to_string() })
        }
    }

    /// Whether logins are refused at `at` because of too many failures.
    pub fn is_locked(&self, at: Timestamp) -> bool {
        self.locked_until.is_some_and(|until| until > at)
    }

    /// Counts a failed login at `at`; locks the operator out after [`FAILED_LOGINS_LOCK`] in a row.
    /// Returns whether this failure locked the operator.
    pub fn login_failed(&mut self, at: Timestamp) -> bool {
        self.failed_logins = self.failed_logins.saturating_add(1);
        if self.failed_logins >= FAILED_LOGINS_LOCK && !self.is_locked(at) {
            self.locked_until = Some(at + jiff::SignedDuration::from_mins(LOCKOUT_MINUTES));
            return true;
        }
        false
    }

    pub fn login_succeeded(&mut self) {
        self.failed_logins = 0;
        self.locked_until = None;
    }

    pub fn unlock(&mut self) {
        self.login_succeeded();
    }
}

fn name_ok(name: &str) -> bool {
    (2..=Operator::USERNAME_LEN_MAX).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn usernames() {
        assert!(Operator::validate_username("admin").is_ok());
        assert!(Operator::validate_username("li.lei-2").is_ok());
        assert!(Operator::validate_username("A").is_err());
        assert!(Operator::validate_username("Admin").is_err());
        assert!(Operator::validate_username("x y").is_err());
        assert_eq!("field_engineer".parse::<BuiltinRole>(), Ok(BuiltinRole::FieldEngineer));
    }

    #[test]
    fn roles() {
        let admin = BuiltinRole::Administrator.permissions();
        assert_eq!(admin.len(), Permission::ALL.len());
        for role in BuiltinRole::ALL {
            assert!(role.permissions().is_subset(&admin));
            assert!(!role.permissions().is_empty());
        }
        let cashier = BuiltinRole::Cashier.permissions();
        assert!(cashier.contains(&Permission::SalesCreate) && !cashier.contains(&Permission::KeysManage));
        assert!(!BuiltinRole::ReadOnly.permissions().iter().any(|p| !p.as_str().ends_with(".read")));
        let custom = Role::custom("night_cashier", "sells only", [Permission::SalesCreate].into()).unwrap();
        assert_eq!(Role::parse_permissions(&custom.permissions_text()).unwrap(), custom.permissions);
        assert!(Role::custom("cashier", "", [Permission::SalesCreate].into()).is_err(), "built-in name");
        assert!(Role::custom("empty", "", BTreeSet::new()).is_err());
        assert!(Role::parse_permissions("sales.create nonsense").is_err());
    }

    #[test]
    fn lockout_after_repeated_failures() {
        let t0: Timestamp = "2026-12-01T08:00:00Z".parse().unwrap();
        let mut o = Operator::new(
            OperatorId::from_uuid(Uuid::nil()),
            "cashier1",
            "Cashier",
            "cashier",
            PremisesId::from_uuid(Uuid::nil()),
            "$argon2id$",
        );
        for _ in 1..FAILED_LOGINS_LOCK {
            assert!(!o.login_failed(t0));
        }
        assert!(!o.is_locked(t0));
        assert!(o.login_failed(t0), "the fifth failure locks");
        assert!(o.is_locked(t0 + jiff::SignedDuration::from_mins(LOCKOUT_MINUTES - 1)));
        assert!(!o.is_locked(t0 + jiff::SignedDuration::from_mins(LOCKOUT_MINUTES)));
        o.login_succeeded();
        assert_eq!((o.failed_logins, o.locked_until), (0, None));
    }
}
