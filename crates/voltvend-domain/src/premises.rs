//! The premises tree: group → property → building → floor → unit. Every operator is scoped to a subtree and
//! every customer account, meter and ledger account belongs to a node, so scope checks are ancestor checks.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::ids::PremisesId;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PremisesError {
    #[error("unknown premises level {0:?} (expected group, property, building, floor or unit)")]
    UnknownLevel(String),
    #[error("a {child} cannot be placed under a {parent}: levels go group → property → building → floor → unit")]
    BadNesting { parent: PremisesLevel, child: PremisesLevel },
    #[error("only a group may be a root of the premises tree, not a {0}")]
    RootMustBeGroup(PremisesLevel),
    #[error("premises name must be 1–{max} characters", max = Premises::NAME_LEN_MAX)]
    BadName,
    #[error("unknown time zone {0:?}")]
    BadTimeZone(String),
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
}

/// Depth in the tree. A node's children must be strictly deeper (a unit may sit directly in a building
/// without floors, a building directly in a group is not allowed without a property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PremisesLevel {
    Group,
    Property,
    Building,
    Floor,
    Unit,
}

impl PremisesLevel {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Property => "property",
            Self::Building => "building",
            Self::Floor => "floor",
            Self::Unit => "unit",
        }
    }

    /// Whether `child` may sit directly below `self`.
    pub fn may_contain(&self, child: PremisesLevel) -> bool {
        matches!(
            (self, child),
            (Self::Group, Self::Property)
                | (Self::Property, Self::Building | Self::Unit)
                | (Self::Building, Self::Floor | Self::Unit)
                | (Self::Floor, Self::Unit)
        )
    }
}

impl fmt::Display for PremisesLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PremisesLevel {
    type Err = PremisesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "group" => Self::Group,
            "property" => Self::Property,
            "building" => Self::Building,
            "floor" => Self::Floor,
            "unit" => Self::Unit,
            other => return Err(PremisesError::UnknownLevel(other.to_string())),
        })
    }
}

/// A node of the premises tree. `path` lists the ids from the root down to and including this node, which
/// makes "is X inside the operator's scope" a prefix test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Premises {
    pub id: PremisesId,
    pub parent: Option<PremisesId>,
    pub level: PremisesLevel,
    pub name: String,
    /// IANA time-zone name used for tariffs and reports at this site (inherited by children).
    pub time_zone: String,
    pub path: Vec<PremisesId>,
}

impl Premises {
    pub const NAME_LEN_MAX: usize = 120;

    /// 集团财务: the property this premises belongs to — the second node of its path (a property, or the
    /// property of a building, floor or unit) — or the group itself for the group's own premises. Each property
    /// keeps books that balance on their own.
    pub fn property(&self) -> PremisesId {
        self.path.get(1).copied().unwrap_or(self.id)
    }

    /// A new root group.
    pub fn new_root(id: PremisesId, name: &str, time_zone: &str) -> Result<Self, PremisesError> {
        validate_name(name)?;
        validate_time_zone(time_zone)?;
        Ok(Self {
            id,
            parent: None,
            level: PremisesLevel::Group,
            name: name.trim().to_string(),
            time_zone: time_zone.to_string(),
            path: vec![id],
        })
    }

    /// A new child of `self`, which inherits the time zone.
    pub fn new_child(&self, id: PremisesId, level: PremisesLevel, name: &str) -> Result<Self, PremisesError> {
        validate_name(name)?;
        if !self.level.may_contain(level) {
            return Err(PremisesError::BadNesting { parent: self.level, child: level });
        }
        let mut path = self.path.clone();
        path.push(id);
        Ok(Self {
            id,
            parent: Some(self.id),
            level,
            name: name.trim().to_string(),
            time_zone: self.time_zone.clone(),
            path,
        })
    }

    /// Whether `other` is this node or one of its descendants.
    pub fn contains(&self, other: &Premises) -> bool {
        other.path.starts_with(&self.path)
    }
}

fn validate_name(name: &str) -> Result<(), PremisesError> {
    crate::text::check("premises name", name, usize::MAX)?;
    let n = name.trim().chars().count();
    if n == 0 || n > Premises::NAME_LEN_MAX {
        return Err(PremisesError::BadName);
    }
    Ok(())
}

fn validate_time_zone(tz: &str) -> Result<(), PremisesError> {
    // jiff ships the IANA database (bundled where the system has none), so this is a real lookup.
    jiff::tz::TimeZone::get(tz).map(|_| ()).map_err(|_| PremisesError::BadTimeZone(tz.to_string()))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn id(n: u128) -> PremisesId {
        PremisesId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn tree_nesting_rules() {
        let group = Premises::new_root(id(1), "Acme Estates", "Asia/Shanghai").unwrap();
        let prop = group.new_child(id(2), PremisesLevel::Property, "Riverside Park").unwrap();
        let bld = prop.new_child(id(3), PremisesLevel::Building, "Block A").unwrap();
        let unit = bld.new_child(id(4), PremisesLevel::Unit, "A-101").unwrap();
        assert_eq!(unit.path, vec![id(1), id(2), id(3), id(4)]);
        assert_eq!(unit.time_zone, "Asia/Shanghai");
        assert!(group.contains(&unit) && prop.contains(&unit) && unit.contains(&unit));
        assert!(!unit.contains(&prop));
        assert_eq!(
            group.new_child(id(9), PremisesLevel::Building, "x"),
            Err(PremisesError::BadNesting { parent: PremisesLevel::Group, child: PremisesLevel::Building })
        );
        assert!(unit.new_child(id(9), PremisesLevel::Unit, "x").is_err());
        assert_eq!(prop.new_child(id(9), PremisesLevel::Floor, " "), Err(PremisesError::BadName));
        assert!(matches!(prop.new_child(id(9), PremisesLevel::Floor, "F\u{0}1"), Err(PremisesError::Text(_))));
        assert!(matches!(Premises::new_root(id(1), "g", "Mars/Olympus"), Err(PremisesError::BadTimeZone(_))));
    }
}
