//! A small estate built from operations, for tests of the operations layer and the stores: a group with one
//! property and two buildings (A and B), books, a vending point and a cashier scoped to each building, a
//! flat tariff and the Zhejiang tiered tariff, a remote DL/T 645 meter on an account in A-101 and an STS
//! keypad meter on an account in B-101, and an open shift for each cashier.

use jiff::Timestamp;
use uuid::Uuid;
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_domain::{
    AccountId, BooksId, BuiltinRole, ControlMode, CtVtRatio, Currency, Customer, CustomerId, Meter, MeterId,
    MeterProtocol, OperationId, Operator, OperatorId, Premises, PremisesId, PremisesLevel, ShiftId, TransferId,
    Utility, VendingPointId,
};
use voltvend_ops::secrets::{card_key_aad, openpaygo_aad, vending_key_aad};
use voltvend_ops::{
    Actor, ApplyReadings, CloseShift, Command, CustomerRef, ImportTariff, MasterKey, MasterKeys, MeterBinding,
    OpenAccount, OpenBooks, OpenShift, OpenVendingPoint, Operation, PaymentMethod, ReadingLimits, Reverse, Sale,
    VendingKeyRecord,
};
use voltvend_ops::{CardAlgorithm, CardKeyRecord};
use voltvend_sts::keys::{KeyParams, KeyType};
use voltvend_sts::{BaseDate, Ea, MeterKeyRecord, Pan};

/// A flat tariff: 0.60 CNY per kWh, nothing else, so that charges are easy to check by hand.
pub const FLAT_TARIFF: &str = r#"
code = "test-flat"
name = "Test flat 0.60"
utility = "electricity"
currency = "CNY"
time_zone = "Asia/Shanghai"

[[versions]]
effective_from = "2020-01-01T00:00:00+08:00"

[versions.prices]
all = "0.60"
"#;

/// The shipped Zhejiang residential tariff (annual tiers, peak/valley).
pub const ZHEJIANG_TARIFF: &str = include_str!("../../../tariffs/cn-zhejiang-residential.toml");

/// The DKGA02 vending key of the tests' supply group (the README's example key).
pub const VENDING_KEY_HEX: &str = "ABABABABABABABAB";
pub const SUPPLY_GROUP: u32 = 123_456;
/// The tests' IC card root key (card key set 1, SM4).
pub const CARD_ROOT_KEY_HEX: &str = "0123456789ABCDEFFEDCBA9876543210";
/// The IC-card meter's card meter number (its address).
pub const CARD_METER_NO: &str = "000000004321";
/// The master key the tests seal secrets under (64 hex digits); never a real installation's.
pub const MASTER_KEY_HEX: &str = "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

/// An argon2id PHC string (of no particular password): operators need one, these tests never log in.
pub const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2g";

/// Ids of everything in the estate.
#[derive(Debug, Clone)]
pub struct Estate {
    pub group: Premises,
    pub property: Premises,
    pub building_a: Premises,
    pub building_b: Premises,
    pub unit_a: Premises,
    pub unit_b: Premises,
    pub books: BooksId,
    pub point_a: VendingPointId,
    pub point_b: VendingPointId,
    pub admin: OperatorId,
    pub cashier_a: OperatorId,
    pub cashier_b: OperatorId,
    pub remote_meter: MeterId,
    pub sts_meter: MeterId,
    pub account_a: AccountId,
    pub account_b: AccountId,
    pub shift_a: ShiftId,
    pub shift_b: ShiftId,
    pub sts_record: MeterKeyRecord,
    /// The operation ids that opened the two accounts (their wallets' ids derive from them).
    pub open_a: OperationId,
    pub open_b: OperationId,
    /// Every operation that builds the estate, in order.
    pub setup: Vec<Operation>,
    next: u128,
}

/// A deterministic id from a namespace and a counter, time-ordered within the namespace.
pub fn id(namespace: u16, n: u128) -> Uuid {
    Uuid::from_u128((u128::from(namespace) << 112) | n)
}

impl Estate {
    /// The estate with its ids drawn from `namespace` (tests that share a database use distinct ones).
    pub fn new(namespace: u16) -> Self {
        let mut n = 0_u128;
        let mut next = || {
            n += 1;
            id(namespace, n)
        };
        let pid = |u: Uuid| PremisesId::from_uuid(u);
        let group = Premises::new_root(pid(next()), "Test Utilities", "Asia/Shanghai").unwrap_or_else(unreachable);
        let property = child(&group, pid(next()), PremisesLevel::Property, "Riverside 滨江");
        let building_a = child(&property, pid(next()), PremisesLevel::Building, "Block A");
        let building_b = child(&property, pid(next()), PremisesLevel::Building, "Block B");
        let unit_a = child(&building_a, pid(next()), PremisesLevel::Unit, "A-101");
        let unit_b = child(&building_b, pid(next()), PremisesLevel::Unit, "B-101");
        let books = BooksId::from_uuid(next());
        let (point_a, point_b) = (VendingPointId::from_uuid(next()), VendingPointId::from_uuid(next()));
        let (admin, cashier_a, cashier_b) =
            (OperatorId::from_uuid(next()), OperatorId::from_uuid(next()), OperatorId::from_uuid(next()));
        let (remote_meter, sts_meter) = (MeterId::from_uuid(next()), MeterId::from_uuid(next()));
        let (account_a, account_b) = (AccountId::from_uuid(next()), AccountId::from_uuid(next()));
        let (shift_a, shift_b) = (ShiftId::from_uuid(next()), ShiftId::from_uuid(next()));
        let (customer_a, customer_b) = (CustomerId::from_uuid(next()), CustomerId::from_uuid(next()));
        let pan = Pan::from_parts("600727", "01234567890").unwrap_or_else(unreachable);
        let params = KeyParams {
            kt: KeyType::new(2).unwrap_or_else(unreachable),
            sgc: SUPPLY_GROUP,
            ti: 1,
            krn: 1,
            ken: 255,
            base: BaseDate::from_code("14").unwrap_or_else(unreachable),
            ea: Ea::Sta,
        };
        let sts_record = MeterKeyRecord { pan, params };
        let mut estate = Self {
            group,
            property,
            building_a,
            building_b,
            unit_a,
            unit_b,
            books,
            point_a,
            point_b,
            admin,
            cashier_a,
            cashier_b,
            remote_meter,
            sts_meter,
            account_a,
            account_b,
            shift_a,
            shift_b,
            sts_record,
            open_a: OperationId::from_uuid(Uuid::nil()),
            open_b: OperationId::from_uuid(Uuid::nil()),
            setup: Vec::new(),
            next: u128::from(u16::MAX),
        };
        let e = &estate;
        let mut commands = vec![
            Command::CreatePremises(e.group.clone()),
            Command::CreatePremises(e.property.clone()),
            Command::CreatePremises(e.building_a.clone()),
            Command::CreatePremises(e.building_b.clone()),
            Command::CreatePremises(e.unit_a.clone()),
            Command::CreatePremises(e.unit_b.clone()),
            Command::OpenBooks(OpenBooks { id: books, premises_id: e.property.id, currency: Currency::CNY }),
            Command::OpenVendingPoint(OpenVendingPoint {
                id: point_a,
                premises_id: e.building_a.id,
                name: "Counter A".into(),
                currency: Currency::CNY,
                books_id: books,
                credit_limit_minor: None,
            }),
            Command::OpenVendingPoint(OpenVendingPoint {
                id: point_b,
                premises_id: e.building_b.id,
                name: "Counter B".into(),
                currency: Currency::CNY,
                books_id: books,
                credit_limit_minor: None,
            }),
        ];
        for (oid, username, role, scope) in [
            (admin, "admin", BuiltinRole::Administrator, e.group.id),
            (cashier_a, "cashier.a", BuiltinRole::Cashier, e.building_a.id),
            (cashier_b, "cashier.b", BuiltinRole::Cashier, e.building_b.id),
        ] {
            commands.push(Command::AddOperator(Operator::new(
                oid,
                &format!("{username}.{namespace}"),
                username,
                role.as_str(),
                scope,
                PASSWORD_HASH,
            )));
        }
        commands.push(Command::ImportVendingKey(Estate::sealed_vending_key(SUPPLY_GROUP, 1, VENDING_KEY_HEX)));
        for (code, name, doc) in [
            ("test-flat", "Test flat 0.60", FLAT_TARIFF),
            ("cn-zhejiang-residential-tou", "Zhejiang residential, annual tiers with peak/valley", ZHEJIANG_TARIFF),
        ] {
            commands.push(Command::ImportTariff(ImportTariff {
                code: code.into(),
                name: name.into(),
                document: doc.into(),
            }));
        }
        let store = e.property.id;
        let meter = |id, serial: &str, control, protocol, address: &str| {
            let mut m = Meter::receive(id, serial, Utility::Electricity, control, protocol, address, CtVtRatio::DIRECT)
                .unwrap_or_else(unreachable);
            m.premises_id = Some(store);
            m
        };
        commands.push(Command::ReceiveMeter(meter(
            remote_meter,
            &format!("DDSY-{namespace}-1"),
            ControlMode::Remote,
            MeterProtocol::Dlt645,
            "000000000101",
        )));
        commands.push(Command::ReceiveMeter(meter(
            sts_meter,
            &format!("STS-{namespace}-1"),
            ControlMode::Local,
            MeterProtocol::StsKeypad,
            "01234567890",
        )));
        estate.setup = commands.into_iter().map(|c| estate.system(c)).collect();

        let open = |account_id, customer_id, unit: &Premises, name: &str, meter_id, tariff: &str, sts| {
            Command::OpenAccount(OpenAccount {
                customer: CustomerRef::New(
                    Customer::new(customer_id, unit.id, name, Some("13800000000")).unwrap_or_else(unreachable),
                ),
                account_id,
                premises_id: unit.id,
                currency: Currency::CNY,
                books_id: books,
                overdraft_limit_minor: 0,
                recovery: ArrearsRecovery::Share(200_000),
                min_purchase_minor: 100,
                max_balance_minor: Some(1_000_000),
                meters: vec![MeterBinding {
                    meter_id,
                    receive: None,
                    tariff_code: Some(tariff.into()),
                    sts,
                    opg: None,
                    max_credit_minor: None,
                }],
                first_sale: None,
            })
        };
        let open_a = estate.system(open(
            account_a,
            customer_a,
            &estate.unit_a.clone(),
            "Wang Fang 王芳",
            remote_meter,
            "test-flat",
            None,
        ));
        let record = estate.sts_record.clone();
        let open_b = estate.system(open(
            account_b,
            customer_b,
            &estate.unit_b.clone(),
            "Li Lei 李雷",
            sts_meter,
            "cn-zhejiang-residential-tou",
            Some(record),
        ));
        estate.open_a = open_a.id;
        estate.open_b = open_b.id;
        estate.setup.push(open_a);
        estate.setup.push(open_b);
        for (shift_id, point, cashier) in [(shift_a, point_a, cashier_a), (shift_b, point_b, cashier_b)] {
            let scope = if cashier == cashier_a { estate.building_a.id } else { estate.building_b.id };
            let op = Operation::new(
                estate.next_op(),
                Actor::operator(cashier, scope, "test"),
                Command::OpenShift(OpenShift {
                    shift_id,
                    vending_point_id: point,
                    operator_id: cashier,
                    opening_float_minor: 10_000,
                }),
            );
            estate.setup.push(op);
        }
        estate
    }

    /// A fresh operation id (time-ordered within the estate).
    pub fn next_op(&mut self) -> OperationId {
        self.next += 1;
        OperationId::from_uuid(id(u16::try_from(self.group.id.as_uuid().as_u128() >> 112).unwrap_or(0), self.next))
    }

    pub fn system(&mut self, command: Command) -> Operation {
        Operation::new(self.next_op(), Actor::system("test"), command)
    }

    pub fn cashier_a(&self) -> Actor {
        Actor::operator(self.cashier_a, self.building_a.id, "10.0.0.1")
    }

    pub fn cashier_b(&self) -> Actor {
        Actor::operator(self.cashier_b, self.building_b.id, "10.0.0.2")
    }

    /// A cash sale by cashier A to the remote meter of A-101.
    pub fn remote_sale(&mut self, paid_minor: i64) -> Operation {
        let command = Command::Sale(self.sale_a(paid_minor));
        Operation::new(self.next_op(), self.cashier_a(), command)
    }

    pub fn sale_a(&self, paid_minor: i64) -> Sale {
        Sale::paid(self.account_a, self.remote_meter, self.shift_a, PaymentMethod::Cash, paid_minor)
    }

    /// A cash sale by cashier B to the STS meter of B-101.
    pub fn sts_sale(&mut self, paid_minor: i64) -> Operation {
        let command =
            Command::Sale(Sale::paid(self.account_b, self.sts_meter, self.shift_b, PaymentMethod::Cash, paid_minor));
        Operation::new(self.next_op(), self.cashier_b(), command)
    }

    /// Total-register readings of the remote meter (kWh × 1000 = Wh), at the given instants.
    pub fn readings(&mut self, points: &[(&str, i64)]) -> Operation {
        let readings = points
            .iter()
            .map(|(at, wh)| Reading {
                at: at.parse::<Timestamp>().unwrap_or_else(unreachable),
                registers: Registers::Total(*wh),
            })
            .collect();
        let command = Command::ApplyReadings(ApplyReadings {
            meter_id: self.remote_meter,
            readings,
            report: None,
            limits: ReadingLimits::default(),
            demand: None,
        });
        Operation::new(self.next_op(), Actor::system("headend"), command)
    }

    pub fn reverse(&mut self, actor: Actor, transfer_id: TransferId, reason: &str) -> Operation {
        let command = Command::Reverse(Reverse { transfer_id, reason: reason.into(), lines: None, reallocate: None });
        Operation::new(self.next_op(), actor, command)
    }

    pub fn close_shift_a(&mut self, counted_minor: i64) -> Operation {
        let command =
            Command::CloseShift(CloseShift { shift_id: self.shift_a, counted_minor, denominations: Vec::new() });
        Operation::new(self.next_op(), self.cashier_a(), command)
    }

    /// The tests' master key.
    pub fn master_keys() -> MasterKeys {
        MasterKeys::new(MasterKey::from_hex(MASTER_KEY_HEX).unwrap_or_else(unreachable), Vec::new())
    }

    /// The operations' context of the tests: their master key.
    pub fn context() -> voltvend_ops::Context {
        voltvend_ops::Context::new(Self::master_keys())
    }

    /// A vending key sealed under the tests' master key (with a nonce derived from its row: fine for tests,
    /// never for a real installation, which draws nonces at random).
    pub fn sealed_vending_key(sgc: u32, krn: u8, hex: &str) -> VendingKeyRecord {
        let nonce = [u8::try_from(sgc % 251).unwrap_or(0), krn, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let sealed = Self::master_keys()
            .current()
            .map(|k| k.seal(&vending_key_aad(sgc, krn), nonce, hex.as_bytes()))
            .unwrap_or_else(|| unreachable("no master key"))
            .unwrap_or_else(unreachable);
        VendingKeyRecord { sgc, krn, sealed }
    }

    /// A card key set's root key sealed under the tests' master key.
    pub fn sealed_card_key(key_no: u32, algorithm: CardAlgorithm, hex: &str) -> CardKeyRecord {
        let nonce = [u8::try_from(key_no % 251).unwrap_or(0), 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8];
        let sealed = Self::master_keys()
            .current()
            .map(|k| k.seal(&card_key_aad(key_no), nonce, hex.as_bytes()))
            .unwrap_or_else(|| unreachable("no master key"))
            .unwrap_or_else(unreachable);
        CardKeyRecord { key_no, algorithm, sealed }
    }

    /// The operations that add an IC-card meter (card meter number `address`) on a new account in unit A-101
    /// (flat tariff), and — with `with_key` — card key set 1 (SM4): the meter's and the account's ids, and the
    /// operations, to apply after [`Estate::setup`].
    pub fn ic_card_setup(&mut self, address: &str, with_key: bool) -> (MeterId, AccountId, Vec<Operation>) {
        let meter_id = MeterId::from_uuid(self.next_op().as_uuid());
        let account_id = AccountId::from_uuid(self.next_op().as_uuid());
        let customer_id = CustomerId::from_uuid(self.next_op().as_uuid());
        let mut m = Meter::receive(
            meter_id,
            &format!("IC-{}", meter_id.as_uuid().as_u128() & 0xFFFF_FFFF),
            Utility::Electricity,
            ControlMode::Local,
            MeterProtocol::IcCard,
            address,
            CtVtRatio::DIRECT,
        )
        .unwrap_or_else(unreachable);
        m.premises_id = Some(self.property.id);
        let unit = self.unit_a.clone();
        let open = self.new_account(account_id, customer_id, &unit, meter_id);
        let mut ops = Vec::new();
        if with_key {
            ops.push(self.system(Command::ImportCardKey(Self::sealed_card_key(
                1,
                CardAlgorithm::Sm4,
                CARD_ROOT_KEY_HEX,
            ))));
        }
        ops.push(self.system(Command::ReceiveMeter(m)));
        ops.push(self.system(open));
        (meter_id, account_id, ops)
    }

    /// The opening of a new account at `unit` (a new customer, flat tariff) on a meter in stock.
    pub fn new_account(
        &self,
        account_id: AccountId,
        customer_id: CustomerId,
        unit: &Premises,
        meter_id: MeterId,
    ) -> Command {
        Command::OpenAccount(OpenAccount {
            customer: CustomerRef::New(
                Customer::new(customer_id, unit.id, "Zhao Min 赵敏", Some("13900000000")).unwrap_or_else(unreachable),
            ),
            account_id,
            premises_id: unit.id,
            currency: Currency::CNY,
            books_id: self.books,
            overdraft_limit_minor: 0,
            recovery: ArrearsRecovery::Share(200_000),
            min_purchase_minor: 100,
            max_balance_minor: None,
            meters: vec![MeterBinding {
                meter_id,
                receive: None,
                tariff_code: Some("test-flat".into()),
                sts: None,
                opg: None,
                max_credit_minor: None,
            }],
            first_sale: None,
        })
    }

    /// A second property of the group (premises id `id`) keeping its own books in CNY (books id `id + 1`): the
    /// property, its books' id, and the two commands that make them, to apply in order after [`Estate::setup`].
    pub fn property_with_books(&self, id: u128, name: &str) -> (Premises, BooksId, [Command; 2]) {
        let property =
            self.group.new_child(Uuid::from_u128(id).into(), PremisesLevel::Property, name).unwrap_or_else(unreachable);
        let books = BooksId::from_uuid(Uuid::from_u128(id + 1));
        let open = OpenBooks { id: books, premises_id: property.id, currency: Currency::CNY };
        (property.clone(), books, [Command::CreatePremises(property), Command::OpenBooks(open)])
    }

    /// A remote DL/T 645 meter (`address`) received into its property's stock, and a new account opened on it at
    /// `unit`: the meter's and the account's ids, and the two commands, to apply in order after
    /// [`Estate::setup`].
    pub fn remote_account_at(&mut self, unit: &Premises, address: &str) -> (MeterId, AccountId, Command, Command) {
        let meter_id = MeterId::from_uuid(self.next_op().as_uuid());
        let account_id = AccountId::from_uuid(self.next_op().as_uuid());
        let customer_id = CustomerId::from_uuid(self.next_op().as_uuid());
        let mut m = Meter::receive(
            meter_id,
            &format!("R-{address}"),
            Utility::Electricity,
            ControlMode::Remote,
            MeterProtocol::Dlt645,
            address,
            CtVtRatio::DIRECT,
        )
        .unwrap_or_else(unreachable);
        // In the stock of the unit's property (the second node of its path).
        m.premises_id = Some(unit.path.get(1).copied().unwrap_or(self.property.id));
        let open = self.new_account(account_id, customer_id, unit, meter_id);
        (meter_id, account_id, Command::ReceiveMeter(m), open)
    }

    /// An OpenPAYGO secret sealed for `meter` under the tests' master key.
    pub fn sealed_opg_secret(meter: MeterId, hex: &str) -> Vec<u8> {
        let nonce = [meter.as_uuid().as_bytes().last().copied().unwrap_or(0), 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1];
        Self::master_keys()
            .current()
            .map(|k| k.seal(&openpaygo_aad(meter), nonce, hex.as_bytes()))
            .unwrap_or_else(|| unreachable("no master key"))
            .unwrap_or_else(unreachable)
    }
}

fn child(parent: &Premises, id: PremisesId, level: PremisesLevel, name: &str) -> Premises {
    parent.new_child(id, level, name).unwrap_or_else(unreachable)
}

/// The fixture's constants are valid; a failure here is a bug in this file.
#[allow(clippy::panic)]
fn unreachable<E: std::fmt::Display, T>(e: E) -> T {
    panic!("test estate: {e}")
}
