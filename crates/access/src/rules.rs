//! The role rules of SPEC §13: what a visitor sees and may change.

use std::collections::BTreeSet;

use tablero_state::{Account, Role};

/// A signed-in account, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub email: String,
    pub role: Role,
    /// `None`: every owner's KPIs.
    owners: Option<BTreeSet<String>>,
}

impl Principal {
    pub fn new(account: &Account) -> Principal {
        Principal {
            email: account.email.clone(),
            role: account.role,
            owners: match account.role {
                Role::Admin => None,
                _ if account.owners.is_empty() => None,
                _ => Some(account.owners.iter().cloned().collect()),
            },
        }
    }

    /// The owners it is limited to (`None`: all).
    pub fn owners(&self) -> Option<&BTreeSet<String>> {
        self.owners.as_ref()
    }

    fn sees_owner(&self, owner: Option<&str>) -> bool {
        match &self.owners {
            None => true,
            // A KPI with no owner is seen only by accounts that see every owner.
            Some(owners) => owner.is_some_and(|o| owners.contains(o)),
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visitor {
    /// The workspace has no accounts: the server is on loopback for one person, who sees and
    /// may do everything (as before accounts existed).
    Everyone,
    /// A signed-in account (session cookie or API token).
    Signed(Principal),
    /// Nobody signed in while accounts exist: sees nothing but the sign-in page.
    Anonymous,
}

impl Visitor {
    /// Whether the visitor sees a KPI of this owner.
    pub fn sees_owner(&self, owner: Option<&str>) -> bool {
        match self {
            Visitor::Everyone => true,
            Visitor::Signed(p) => p.sees_owner(owner),
            Visitor::Anonymous => false,
        }
    }

    /// Whether it may push rows to store sources (editors and admins).
    pub fn may_push_rows(&self) -> bool {
        match self {
            Visitor::Everyone => true,
            Visitor::Signed(p) => matches!(p.role, Role::Admin | Role::Editor),
            Visitor::Anonymous => false,
        }
    }

    /// Whether it may change reviews, annotations and manual values of this owner's KPIs.
    pub fn edits_owner(&self, owner: Option<&str>) -> bool {
        match self {
            Visitor::Everyone => true,
            Visitor::Signed(p) => match p.role {
                Role::Admin => true,
                Role::Editor => p.sees_owner(owner),
                Role::Viewer => false,
            },
            Visitor::Anonymous => false,
        }
    }

    /// Whether it may push rows to a store source or enter a manual source's values: the
    /// source's `owner` declared, an editor of that owner; undeclared, an editor of every
    /// owner of the KPIs that read it (`readers`, each KPI's owner). Admins always, viewers
    /// never (SPEC §13).
    pub fn writes_source<'a>(
        &self,
        owner: Option<&str>,
        readers: impl IntoIterator<Item = Option<&'a str>>,
    ) -> bool {
        match owner {
            Some(owner) => self.edits_owner(Some(owner)),
            None => self.may_push_rows() && readers.into_iter().all(|o| self.edits_owner(o)),
        }
    }

    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Visitor::Signed(p) => Some(p),
            _ => None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Visitor::Anonymous)
    }
}
