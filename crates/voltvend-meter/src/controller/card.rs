//! IC-card acceptance (the card reader of the prepaid controller, DESIGN.md §1 and §2.4).
//!
//! The controller acts as the terminal of `voltvend-card`: three-pass mutual authentication with the card keys
//! diversified from its ESAM's root key, then the card's records are read with their MACs verified. By card
//! kind (rules also in `docs/cards.md`):
//! * **User**: refused if it names another meter (Err-11) or is older than the bound card (Err-12); the first
//!   user card after the open-account card binds; a later-generation card (a reissue) rebinds, so the card it
//!   replaced is refused from then on. Purchase count = last + 1 loads through [`Controller::add_credit`]
//!   (hoarding limit included); = last is already loaded; anything else is out of sequence (Err-14). The
//!   return record is then always written back.
//! * **Check**: only the return record is written.
//! * **Reset**: clears tamper, overpower and the error display.
//! * **Clear**: zeroes credit, counters and the last purchase count (commissioning).
//! * **Parameter** (open account): applies the parameters, binds the meter number, forgets any bound user card
//!   and resets the last purchase count to 0.
//! * **Test**: shows Err-17 (relay test); nothing else changes.

use jiff::Timestamp;
use voltvend_card::{
    CardError, CardImage, CardKind, CardSerial, Header, Parameters, Purchase, QuantityUnit, ReturnData, RngCore,
    RootKey, Terminal, Transport,
};

use super::{Controller, CreditUnit, ErrorCode, Event, Relay, TripReason};

/// What an accepted card did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardOutcome {
    /// A purchase was loaded: `amount` credit units, purchase `count`.
    Loaded {
        amount: i64,
        count: u32,
    },
    /// The card's purchase had been loaded before; nothing was added.
    AlreadyLoaded {
        count: u32,
    },
    /// A user card without a purchase on it.
    NoPurchase,
    Checked,
    Reset,
    Cleared,
    AccountOpened,
    Tested,
}

/// The result of inserting a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInserted {
    pub serial: CardSerial,
    pub kind: CardKind,
    pub outcome: CardOutcome,
    pub events: Vec<Event>,
    /// Whether the return record reached the card (a card pulled too early keeps its old one).
    pub return_written: bool,
}

fn card_code(e: &CardError) -> ErrorCode {
    match e {
        CardError::NoCard(_) | CardError::Status { .. } | CardError::BadApdu(_) => ErrorCode::CardRead,
        CardError::Damaged(_) => ErrorCode::CardDamaged,
        CardError::Blank
        | CardError::AlreadyIssued
        | CardError::NotOurs
        | CardError::KeyLocked
        | CardError::InvalidData(_) => ErrorCode::CardRejected,
    }
}

impl Controller {
    /// Sets the meter number printed on the nameplate (an open-account card for another number is refused).
    pub fn with_meter_no(mut self, meter_no: impl Into<String>) -> Self {
        self.meter_no = meter_no.into();
        self
    }

    pub fn meter_no(&self) -> &str {
        &self.meter_no
    }

    /// The user card bound to this meter and its generation.
    pub fn bound_card(&self) -> Option<(CardSerial, u8)> {
        self.card_bound
    }

    /// The last card purchase count loaded.
    pub fn card_purchase_count(&self) -> u32 {
        self.card_count
    }

    /// A card inserted into the reader. `esam` is the meter's ESAM root key, `rng` the reader's random source.
    pub fn insert_card<T: Transport + ?Sized>(
        &mut self,
        card: &mut T,
        esam: &RootKey,
        now: Timestamp,
        rng: &mut dyn RngCore,
    ) -> Result<CardInserted, ErrorCode> {
        let mut terminal = Terminal::new(card, esam, rng);
        let image = match terminal.read() {
            Ok(image) => image,
            Err(e) => return Err(self.refuse(card_code(&e))),
        };
        let CardImage { serial, header, purchase, parameters, .. } = image;
        let Some(header) = header else { return Err(self.refuse(ErrorCode::CardRejected)) };
        let mut events = Vec::new();
        let outcome = match header.kind {
            CardKind::User => self.user_card(&header, purchase.as_ref(), now, &mut events),
            kind => {
                if !header.meter_no.is_empty() && header.meter_no != self.meter_no && kind != CardKind::Parameter {
                    return Err(self.refuse(ErrorCode::CardWrongMeter));
                }
                match kind {
                    CardKind::Check => Ok(CardOutcome::Checked),
                    CardKind::Reset => Ok(self.reset_card(now, &mut events)),
                    CardKind::Clear => Ok(self.clear_card(now, &mut events)),
                    CardKind::Parameter => self.parameter_card(&header, parameters.as_ref(), now, &mut events),
                    CardKind::Test => {
                        self.show(ErrorCode::CardTest);
                        events.push(Event::Display(ErrorCode::CardTest));
                        Ok(CardOutcome::Tested)
                    }
                    CardKind::User => Err(ErrorCode::CardRejected),
                }
            }
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            // Refusals that happen before the card is known to be this meter's write nothing back.
            Err(code @ (ErrorCode::CardWrongMeter | ErrorCode::CardReplaced | ErrorCode::CardRejected)) => {
                return Err(self.refuse(code));
            }
            Err(code) => {
                // `add_credit` has shown its own refusal already.
                if code != ErrorCode::HoardingLimit {
                    self.show(code);
                }
                // The utility learns of the refusal from the return record; its own failure changes nothing.
                let _ = terminal.write_return(&self.return_data(now));
                return Err(code);
            }
        };
        let return_written = terminal.write_return(&self.return_data(now)).is_ok();
        if header.kind == CardKind::Check && !return_written {
            return Err(self.refuse(ErrorCode::CardRead));
        }
        if header.kind != CardKind::Test && self.display.is_some_and(|d| d as u8 >= ErrorCode::CardWrongMeter as u8) {
            self.display = None;
        }
        Ok(CardInserted { serial, kind: header.kind, outcome, events, return_written })
    }

    fn refuse(&mut self, code: ErrorCode) -> ErrorCode {
        self.show(code);
        code
    }

    fn credit_unit(&self) -> QuantityUnit {
        match self.cfg.credit_unit {
            CreditUnit::Energy => QuantityUnit::EnergyWh,
            CreditUnit::Money { .. } => QuantityUnit::MoneyMinor,
        }
    }

    fn user_card(
        &mut self,
        header: &Header,
        purchase: Option<&Purchase>,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) -> Result<CardOutcome, ErrorCode> {
        if self.meter_no.is_empty() || header.meter_no != self.meter_no {
            return Err(ErrorCode::CardWrongMeter);
        }
        match self.card_bound {
            Some((bound, _)) if bound == header.serial => {}
            // A reissued card (a later generation) takes over; the card it replaced is refused from now on.
            Some((_, generation)) if header.generation > generation => {
                self.card_bound = Some((header.serial, header.generation));
            }
            Some(_) => return Err(ErrorCode::CardReplaced),
            None => self.card_bound = Some((header.serial, header.generation)),
        }
        if self.cfg.mode == super::Mode::Remote {
            return Err(ErrorCode::Unsupported);
        }
        let Some(p) = purchase else { return Ok(CardOutcome::NoPurchase) };
        if p.unit != self.credit_unit() {
            return Err(ErrorCode::Unsupported);
        }
        if p.count == self.card_count {
            return Ok(CardOutcome::AlreadyLoaded { count: p.count });
        }
        if Some(p.count) != self.card_count.checked_add(1) {
            return Err(ErrorCode::CardSequence);
        }
        // A tampered meter loads nothing until a reset card clears it (as with STS tokens).
        if self.tamper {
            return Err(ErrorCode::Tamper);
        }
        let amount = i64::try_from(p.quantity).map_err(|_| ErrorCode::HoardingLimit)?;
        events.extend(self.add_credit(amount, now)?);
        self.card_count = p.count;
        Ok(CardOutcome::Loaded { amount, count: p.count })
    }

    fn reset_card(&mut self, now: Timestamp, events: &mut Vec<Event>) -> CardOutcome {
        self.tamper = false;
        self.display = None;
        self.recent.clear();
        if let Relay::Open(TripReason::Overpower { .. } | TripReason::WarningTrip { .. }) = self.relay {
            // Closing here lets `settle` decide afresh (credit exhaustion still trips).
            self.relay = Relay::Closed;
            events.push(Event::RelayClosed);
        }
        self.settle(now, events);
        CardOutcome::Reset
    }

    fn clear_card(&mut self, now: Timestamp, events: &mut Vec<Event>) -> CardOutcome {
        self.credit = 0;
        self.carry_nano = 0;
        self.purchase_count = 0;
        self.purchased_total = 0;
        // The purchase count is the vending system's sequence, not the meter's: clearing it would let every
        // purchase already loaded be loaded again from a card that still holds it.
        self.used_total_wh = 0;
        self.settle(now, events);
        CardOutcome::Cleared
    }

    fn parameter_card(
        &mut self,
        header: &Header,
        parameters: Option<&Parameters>,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) -> Result<CardOutcome, ErrorCode> {
        if header.meter_no.is_empty() {
            return Err(ErrorCode::CardRejected);
        }
        if !self.meter_no.is_empty() && header.meter_no != self.meter_no {
            return Err(ErrorCode::CardWrongMeter);
        }
        let Some(p) = parameters else { return Err(ErrorCode::CardRejected) };
        if p.unit != self.credit_unit() {
            return Err(ErrorCode::Unsupported);
        }
        self.cfg.alarm1 = p.alarm1;
        self.cfg.alarm2 = p.alarm2;
        self.cfg.overdraft_limit = p.overdraft_limit;
        self.cfg.hoarding_limit = p.hoarding_limit;
        self.cfg.power_limit_w = p.power_limit_w;
        self.cfg.friendly.night = p.friendly_night_min;
        if let CreditUnit::Money { schedule, .. } = &mut self.cfg.credit_unit
            && p.price_micro_per_kwh > 0
        {
            *schedule = vec![(0, p.price_micro_per_kwh)];
        }
        // Opening a meter binds it to its number; a parameter card inserted again later (new alarm levels) changes
        // the parameters only: resetting the card binding or the purchase count would let a replaced card back
        // in, or a purchase already loaded load again.
        if self.meter_no.is_empty() {
            self.meter_no.clone_from(&header.meter_no);
            self.card_bound = None;
            self.card_count = 0;
        }
        self.settle(now, events);
        Ok(CardOutcome::AccountOpened)
    }

    /// The return record as of now.
    fn return_data(&self, now: Timestamp) -> ReturnData {
        ReturnData {
            meter_no: self.meter_no.clone(),
            last_count: self.card_count,
            unit: self.credit_unit(),
            remaining: self.credit,
            total_used_wh: self.used_total_wh,
            relay_open: self.relay != Relay::Closed,
            tamper: self.tamper,
            events: self.recent.iter().map(|c| *c as u8).collect(),
            at_unix_s: u32::try_from(now.as_second()).unwrap_or(0),
        }
    }
}
