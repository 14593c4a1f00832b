//! A transaction whose conditions have names. A failed condition is reported by the guard
//! that was put on it, never by its position: adding a write to a transaction cannot change
//! what another write's failure means.

use crate::store::{StoreError, Table, Write};

/// The writes of one all-or-nothing transaction, each with the guard (if any) its condition
/// is known by.
#[derive(Debug, Clone, PartialEq)]
pub struct Tx<G> {
    entries: Vec<(Option<G>, Write)>,
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum Failed<G> {
    /// The named condition failed.
    Guard(G),
    /// A condition failed on a write without a name (or the store did not say which).
    Unnamed,
    /// The store could not run it.
    Store(StoreError),
}

impl<G> Default for Tx<G> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<G: Copy> Tx<G> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A write whose failure needs no name of its own.
    pub fn write(&mut self, write: Write) -> &mut Self {
        self.entries.push((None, write));
        self
    }

    /// Writes whose failures need no name of their own.
    pub fn writes(&mut self, writes: impl IntoIterator<Item = Write>) -> &mut Self {
        self.entries.extend(writes.into_iter().map(|w| (None, w)));
        self
    }

    /// A write whose failed condition is reported as `guard`.
    pub fn guarded(&mut self, guard: G, write: Write) -> &mut Self {
        self.entries.push((Some(guard), write));
        self
    }

    /// `write`, when there is one, guarded as `guard` (a caller's receipt).
    pub fn guarded_opt(&mut self, guard: G, write: Option<Write>) -> &mut Self {
        if let Some(write) = write {
            self.guarded(guard, write);
        }
        self
    }

    /// The writes with their guards, in order (what the tests of a decision look at).
    pub fn entries(&self) -> &[(Option<G>, Write)] {
        &self.entries
    }

    /// The write a guard is on.
    pub fn guard(&self, guard: G) -> Option<&Write>
    where
        G: PartialEq,
    {
        self.entries
            .iter()
            .find(|(g, _)| *g == Some(guard))
            .map(|(_, w)| w)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub async fn commit(self, table: &dyn Table) -> Result<(), Failed<G>> {
        let guards: Vec<Option<G>> = self.entries.iter().map(|(g, _)| *g).collect();
        let writes = self.entries.into_iter().map(|(_, w)| w).collect();
        match table.transact(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { index }) => {
                match index.and_then(|i| guards.get(i).copied().flatten()) {
                    Some(guard) => Err(Failed::Guard(guard)),
                    None => Err(Failed::Unnamed),
                }
            }
            Err(e) => Err(Failed::Store(e)),
        }
    }
}
