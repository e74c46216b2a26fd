//! The API's handlers, by area. Each is reached only through the authorization layer of its endpoint (see
//! `api::endpoints`), which has already checked the permission; handlers check premises scope.

pub mod admin;
pub mod apportion;
pub mod campaigns;
pub mod cards;
pub mod corrections;
pub mod counter;
pub mod customers;
pub mod fees;
pub mod lifecycle;
pub mod payments;
pub mod places;
pub mod reports;
pub mod session;
pub mod supply;
