//! Meters: what they measure, who holds the credit, how they are reached, and their lifecycle
//! (in stock → installed → active → replaced or retired).

use thiserror::Error;

use crate::account::{AccountError, str_enum};
use crate::ids::{AccountId, MeterId, PremisesId};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MeterError {
    #[error("meter cannot go from {from} to {to}")]
    IllegalTransition { from: MeterState, to: MeterState },
    #[error("meter {0} is not active")]
    NotActive(MeterId),
    #[error("invalid meter address {address:?} for {protocol}: {why}")]
    BadAddress { protocol: MeterProtocol, address: String, why: &'static str },
    #[error("CT/VT ratio must be between 1 and {max}", max = CtVtRatio::RATIO_MAX)]
    BadRatio,
    #[error("meter serial must be 1–{max} letters, digits or dashes", max = Meter::SERIAL_LEN_MAX)]
    BadSerial,
    #[error(transparent)]
    Parse(#[from] AccountError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Utility {
    Electricity,
    Water,
}

/// Local: the meter holds the credit (IC card or STS keypad). Remote: the master station holds the balance,
/// reads the meter and commands its relay or valve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlMode {
    Local,
    Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeterProtocol {
    /// DL/T 645-2007 over an RS-485 gateway or a 4G link; address = 12 BCD digits.
    Dlt645,
    /// Modbus TCP; address = `host:port/unit`.
    ModbusTcp,
    /// Telemetry through an MQTT gateway; address = topic segment.
    Mqtt,
    /// STS keypad meter with no communication link; address = 11- or 13-digit meter number.
    StsKeypad,
    /// IC-card meter with no communication link; address = card meter number.
    IcCard,
    /// OpenPAYGO Token device (solar home system, appliance) with a keypad; address = device serial.
    OpenPaygo,
}

/// in stock → installed (commissioned) → active → replaced | retired; an active meter whose account closes goes
/// back to installed; stock and installed meters may also be retired (scrapped) directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeterState {
    InStock,
    Installed,
    Active,
    Replaced,
    Retired,
}

/// 分类: the category of use a meter measures, after the Chinese public-building energy sub-metering scheme
/// (照明插座用电, 空调用电, 动力用电, 特殊用电); its sub-item (分项: lifts, pumps, a data room…) is free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnergyCategory {
    /// Lighting and sockets.
    LightingSockets,
    /// Air conditioning and heating.
    Hvac,
    /// Power: lifts, pumps, fans.
    Power,
    /// Special loads: data rooms, kitchens, laboratories.
    Special,
}

str_enum!(EnergyCategory, "energy category", {
    LightingSockets => "lighting_sockets", Hvac => "hvac", Power => "power", Special => "special",
});

str_enum!(Utility, "utility", { Electricity => "electricity", Water => "water" });
str_enum!(ControlMode, "control mode", { Local => "local", Remote => "remote" });
str_enum!(MeterProtocol, "meter protocol", {
    Dlt645 => "dlt645", ModbusTcp => "modbus_tcp", Mqtt => "mqtt", StsKeypad => "sts_keypad", IcCard => "ic_card",
    OpenPaygo => "openpaygo",
});
impl MeterProtocol {
    /// Whether meters of this protocol hold their own credit (keypad and card meters): they are local.
    pub const fn is_local(&self) -> bool {
        matches!(self, Self::StsKeypad | Self::IcCard | Self::OpenPaygo)
    }
}

str_enum!(MeterState, "meter state", {
    InStock => "in_stock", Installed => "installed", Active => "active", Replaced => "replaced", Retired => "retired",
});

/// Instrument-transformer ratios: the meter's registers times `ct × vt` is the primary-side energy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CtVtRatio {
    ct: u32,
    vt: u32,
}

impl CtVtRatio {
    pub const RATIO_MAX: u32 = 100_000;
    pub const DIRECT: CtVtRatio = CtVtRatio { ct: 1, vt: 1 };

    pub fn new(ct: u32, vt: u32) -> Result<Self, MeterError> {
        if !(1..=Self::RATIO_MAX).contains(&ct) || !(1..=Self::RATIO_MAX).contains(&vt) {
            return Err(MeterError::BadRatio);
        }
        Ok(Self { ct, vt })
    }

    pub const fn ct(&self) -> u32 {
        self.ct
    }

    pub const fn vt(&self) -> u32 {
        self.vt
    }

    pub const fn multiplier(&self) -> u64 {
        self.ct as u64 * self.vt as u64
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    pub id: MeterId,
    pub serial: String,
    pub utility: Utility,
    pub control_mode: ControlMode,
    pub protocol: MeterProtocol,
    pub address: String,
    pub ratio: CtVtRatio,
    pub state: MeterState,
    pub premises_id: Option<PremisesId>,
    pub account_id: Option<AccountId>,
}

impl Meter {
    pub const SERIAL_LEN_MAX: usize = 32;

    /// A meter received into stock, not yet at any premises (the operation that receives it records where it is
    /// stocked).
    pub fn receive(
        id: MeterId,
        serial: &str,
        utility: Utility,
        control_mode: ControlMode,
        protocol: MeterProtocol,
        address: &str,
        ratio: CtVtRatio,
    ) -> Result<Self, MeterError> {
        let serial = serial.trim();
        if serial.is_empty()
            || serial.len() > Self::SERIAL_LEN_MAX
            || !serial.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(MeterError::BadSerial);
        }
        validate_address(protocol, address)?;
        Ok(Self {
            id,
            serial: serial.to_string(),
            utility,
            control_mode,
            protocol,
            address: address.to_string(),
            ratio,
            state: MeterState::InStock,
            premises_id: None,
            account_id: None,
        })
    }

    fn transition(&mut self, to: MeterState) -> Result<(), MeterError> {
        use MeterState::*;
        let legal = matches!(
            (self.state, to),
            (InStock, Installed)
                | (Installed, Active)
                | (Active, Installed)
                | (Active, Replaced)
                | (InStock | Installed | Active, Retired)
        );
        if !legal {
            return Err(MeterError::IllegalTransition { from: self.state, to });
        }
        self.state = to;
        Ok(())
    }

    /// Installed and commissioned at a premises (field step: reset, clear, open, verify, seal).
    pub fn install(&mut self, premises_id: PremisesId) -> Result<(), MeterError> {
        self.transition(MeterState::Installed)?;
        self.premises_id = Some(premises_id);
        Ok(())
    }

    /// Bound to an account and in service.
    pub fn activate(&mut self, account_id: AccountId) -> Result<(), MeterError> {
        self.transition(MeterState::Active)?;
        self.account_id = Some(account_id);
        Ok(())
    }

    /// Unbound from its account (销户, 过户) and left installed at its premises for the next account.
    pub fn unbind(&mut self) -> Result<(), MeterError> {
        self.transition(MeterState::Installed)?;
        self.account_id = None;
        Ok(())
    }

    /// Taken out in a meter replacement (换表); its successor carries the account on.
    pub fn replace(&mut self) -> Result<(), MeterError> {
        self.transition(MeterState::Replaced)
    }

    pub fn retire(&mut self) -> Result<(), MeterError> {
        self.transition(MeterState::Retired)
    }

    pub fn ensure_active(&self) -> Result<(), MeterError> {
        if self.state == MeterState::Active { Ok(()) } else { Err(MeterError::NotActive(self.id)) }
    }
}

fn validate_address(protocol: MeterProtocol, address: &str) -> Result<(), MeterError> {
    let bad = |why| MeterError::BadAddress { protocol, address: address.to_string(), why };
    match protocol {
        MeterProtocol::Dlt645 => {
            if address.len() != 12 || !address.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("expected 12 decimal digits (BCD meter number)"));
            }
        }
        MeterProtocol::ModbusTcp => {
            let (host_port, unit) = address.rsplit_once('/').ok_or_else(|| bad("expected host:port/unit"))?;
            let unit: u8 = unit.parse().map_err(|_| bad("unit id must be 1–247"))?;
            if !(1..=247).contains(&unit) {
                return Err(bad("unit id must be 1–247"));
            }
            let (host, port) = host_port.rsplit_once(':').ok_or_else(|| bad("expected host:port/unit"))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad("expected host:port/unit"));
            }
        }
        MeterProtocol::StsKeypad => {
            if !(address.len() == 11 || address.len() == 13) || !address.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("expected an 11- or 13-digit STS meter number"));
            }
        }
        MeterProtocol::Mqtt | MeterProtocol::IcCard | MeterProtocol::OpenPaygo => {
            if address.is_empty()
                || address.len() > 64
                || address.contains(['#', '+', '/'])
                || address.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(bad("expected 1–64 characters without spaces, '/', '#' or '+'"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn meter(protocol: MeterProtocol, address: &str) -> Result<Meter, MeterError> {
        Meter::receive(
            MeterId::from_uuid(Uuid::from_u128(1)),
            "DDSY1352-0001",
            Utility::Electricity,
            ControlMode::Remote,
            protocol,
            address,
            CtVtRatio::DIRECT,
        )
    }

    #[test]
    fn addresses() {
        assert!(meter(MeterProtocol::Dlt645, "000000000161").is_ok());
        assert!(meter(MeterProtocol::Dlt645, "00000000016").is_err());
        assert!(meter(MeterProtocol::ModbusTcp, "10.0.0.5:502/3").is_ok());
        assert!(meter(MeterProtocol::ModbusTcp, "10.0.0.5:502/0").is_err());
        assert!(meter(MeterProtocol::ModbusTcp, "10.0.0.5/3").is_err());
        assert!(meter(MeterProtocol::StsKeypad, "01234567890").is_ok());
        assert!(meter(MeterProtocol::Mqtt, "site/1").is_err());
        assert!(
            Meter::receive(
                MeterId::from_uuid(Uuid::nil()),
                "bad serial",
                Utility::Water,
                ControlMode::Local,
                MeterProtocol::IcCard,
                "C1",
                CtVtRatio::DIRECT
            )
            .is_err()
        );
    }

    #[test]
    fn lifecycle() {
        let mut m = meter(MeterProtocol::Dlt645, "000000000161").unwrap();
        assert_eq!(m.ensure_active(), Err(MeterError::NotActive(m.id)));
        assert!(m.activate(AccountId::from_uuid(Uuid::nil())).is_err(), "must be installed first");
        m.install(PremisesId::from_uuid(Uuid::from_u128(7))).unwrap();
        m.activate(AccountId::from_uuid(Uuid::from_u128(8))).unwrap();
        m.ensure_active().unwrap();
        m.replace().unwrap();
        assert_eq!(
            m.retire(),
            Err(MeterError::IllegalTransition { from: MeterState::Replaced, to: MeterState::Retired })
        );
        assert_eq!(CtVtRatio::new(40, 100).unwrap().multiplier(), 4000);
        assert_eq!(CtVtRatio::new(0, 1), Err(MeterError::BadRatio));
    }
}
