//! Interning, so that a packed record holds u32 ids instead of 16-byte pointers and tokens
//! that share a client, user or scope share one copy of its text. [`Names`] (client and user
//! ids, bounded by the directory) are kept for the store's life; [`Scopes`] (whatever clients
//! ask for) are counted and dropped with their last token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::lock;
use super::records::USED;
use crate::domain::StoreError;

/// The most distinct client and user ids [`Names`] keeps. They come from the configured
/// directory, so this is never reached by a real configuration; it only keeps a fault elsewhere
/// (ids made up per request) from growing the table without end. Past it, inserting a token for
/// a new id fails as the store being unavailable, and tokens of known ids are unaffected.
const MAX_NAMES: usize = 1 << 24;

// Name ids share the client field with the record's flags.
const _: () = assert!(MAX_NAMES <= super::records::SUCCESSOR as usize);

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // Every mutation under these locks is a push or an insert that cannot be seen half done.
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Client and user ids, interned so that a record holds a u32 instead of a 16-byte pointer.
/// They are kept for the store's life: they come from the directory (see [`MAX_NAMES`]).
pub(super) struct Names {
    table: RwLock<NameTable>,
    cap: usize,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            table: RwLock::default(),
            cap: MAX_NAMES,
        }
    }
}

#[derive(Default)]
struct NameTable {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Names {
    pub(super) fn intern(&self, name: &str) -> Result<u32, StoreError> {
        if let Some(&id) = read(&self.table).ids.get(name) {
            return Ok(id);
        }
        let mut table = write(&self.table);
        if let Some(&id) = table.ids.get(name) {
            return Ok(id);
        }
        let id = u32::try_from(table.names.len())
            .ok()
            .filter(|&id| (id as usize) < self.cap)
            .ok_or_else(|| {
                StoreError::unavailable_because(format!(
                    "the memory store holds its maximum of {} distinct client and user ids",
                    self.cap
                ))
            })?;
        let name: Arc<str> = Arc::from(name);
        table.names.push(name.clone());
        table.ids.insert(name, id);
        Ok(id)
    }

    /// The name of an id a live token holds; an error only if the store contradicts itself.
    pub(super) fn name(&self, id: u32) -> Result<Arc<str>, StoreError> {
        read(&self.table)
            .names
            .get(id as usize)
            .cloned()
            .ok_or_else(|| lost("name", id))
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        read(&self.table).names.len()
    }
}

/// The distinct scope strings of live tokens, each with the number of tokens holding it. Unlike
/// names, scopes are whatever clients ask for, so one is dropped with its last token; the
/// number of entries never exceeds the number of live tokens.
#[derive(Default)]
pub(super) struct Scopes {
    table: Mutex<ScopeTable>,
}

#[derive(Default)]
struct ScopeTable {
    ids: HashMap<Arc<str>, u32>,
    /// Indexed by id - 1 (0 is [`NO_SCOPE`](super::records::NO_SCOPE)); `None` where an id is
    /// free for reuse.
    slots: Vec<Option<ScopeSlot>>,
    free: Vec<u32>,
}

struct ScopeSlot {
    text: Arc<str>,
    holders: usize,
}

impl ScopeTable {
    /// Ids start at 1 (0 means "no scope" in a packed record).
    fn slot(&mut self, id: u32) -> Option<&mut Option<ScopeSlot>> {
        let index = usize::try_from(id.checked_sub(1)?).ok()?;
        self.slots.get_mut(index)
    }

    fn release(&mut self, id: u32) {
        let Some(slot) = self.slot(id) else { return };
        let Some(held) = slot else { return };
        held.holders -= 1;
        if held.holders == 0
            && let Some(gone) = slot.take()
        {
            self.ids.remove(&gone.text);
            self.free.push(id);
        }
    }
}

impl Scopes {
    /// The id of `text`, holding one more reference to it.
    pub(super) fn acquire(&self, text: &str) -> Result<u32, StoreError> {
        let mut table = lock(&self.table);
        if let Some(&id) = table.ids.get(text) {
            if let Some(Some(held)) = table.slot(id) {
                held.holders += 1;
            }
            return Ok(id);
        }
        let id = match table.free.pop() {
            Some(id) => id,
            None => {
                let id = u32::try_from(table.slots.len() + 1)
                    .ok()
                    .filter(|&id| id < USED)
                    .ok_or_else(|| {
                        StoreError::unavailable_because(
                            "the memory store holds its maximum of distinct scopes",
                        )
                    })?;
                table.slots.push(None);
                id
            }
        };
        let text: Arc<str> = Arc::from(text);
        let slot = table.slot(id).ok_or_else(|| lost("scope", id))?;
        *slot = Some(ScopeSlot {
            text: text.clone(),
            holders: 1,
        });
        table.ids.insert(text, id);
        Ok(id)
    }

    /// The text of an id a live token holds; an error only if the store contradicts itself.
    pub(super) fn get(&self, id: u32) -> Result<Arc<str>, StoreError> {
        match lock(&self.table).slot(id) {
            Some(Some(held)) => Ok(held.text.clone()),
            _ => Err(lost("scope", id)),
        }
    }

    pub(super) fn release(&self, id: u32) {
        lock(&self.table).release(id);
    }

    /// Gives back what a past crowd of distinct scopes left: trailing free ids and spare room.
    pub(super) fn compact(&self) {
        let mut table = lock(&self.table);
        while matches!(table.slots.last(), Some(None)) {
            table.slots.pop();
        }
        let last_id = table.slots.len();
        table.free.retain(|&id| id as usize <= last_id);
        table.slots.shrink_to_fit();
        table.free.shrink_to_fit();
        table.ids.shrink_to_fit();
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        lock(&self.table).ids.len()
    }
}

/// An interned id a live token holds has no entry: the store contradicts itself. Answered as
/// an unavailable store (503), never a crashed worker, and the message says it is a bug.
fn lost(what: &str, id: u32) -> StoreError {
    StoreError::unavailable_because(format!(
        "the memory store has no {what} for id {id} held by a live token (a bug: please report)"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::records::NO_SCOPE;
    use super::*;

    #[test]
    fn names_are_interned_once_and_capped() {
        let names = Names {
            table: RwLock::default(),
            cap: 2,
        };
        let a = names.intern("a").expect("room");
        assert_eq!(names.intern("a"), Ok(a));
        let b = names.intern("b").expect("room");
        assert_ne!(a, b);
        assert_eq!(&*names.name(b).unwrap(), "b");
        assert!(matches!(
            names.intern("c"),
            Err(StoreError::Unavailable { .. })
        ));
        assert_eq!(names.intern("a"), Ok(a), "known names still resolve");
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn a_scope_leaves_with_its_last_holder_and_its_id_is_reused() {
        let scopes = Scopes::default();
        let read = scopes.acquire("read").expect("room");
        assert_eq!(scopes.acquire("read"), Ok(read));
        let write = scopes.acquire("write").expect("room");
        assert_ne!(read, write);
        assert_ne!(read, NO_SCOPE);
        scopes.release(read);
        assert_eq!(&*scopes.get(read).unwrap(), "read");
        scopes.release(read);
        assert_eq!(scopes.len(), 1);
        let admin = scopes.acquire("admin").expect("room");
        assert_eq!(admin, read, "the freed id is reused");
        scopes.release(admin);
        scopes.release(write);
        scopes.compact();
        assert_eq!(scopes.len(), 0);
        assert!(lock(&scopes.table).slots.is_empty());
    }
}
