//! A persistent state store for chains of blocks: accounts, storage, code, block hashes and
//! per-block change sets in one redb file, with the state's Merkle Patricia tries kept by
//! node hash so that each block's root is computed from the paths it changed.
//!
//! Why a block's root equals a from-scratch root: the tries of a committed block hold exactly
//! the committed accounts and non-zero slots (every change to an account or slot is applied
//! to the flat tables and to its trie in the same write transaction; an account whose storage
//! is wiped starts from the empty trie), and a Merkle Patricia root depends only on the set of
//! leaves. `verify` recomputes it from the flat tables with [`crate::state::root`], which does
//! not read the tries.
//!
//! Crash safety is redb's: a block is one write transaction (its state, change set, trie
//! nodes and the new head), committed durably or not at all; a process killed at any point
//! reopens at the last committed block.
//!
//! History: each block's change set holds the values it overwrote, so the state as of an
//! earlier retained block is the current state under the oldest overwritten value of every
//! location changed since ([`Store::view_at`]). Change sets older than the horizon are pruned.
//! Trie nodes are never deleted (see [`trie`]): the file keeps every root's nodes.

mod tables;
mod trie;
mod view;

pub use view::{HeadView, PastView};

use crate::state::{InMemoryState, StateChanges};
use alloy_primitives::{Address, B256};
use redb::{Database, ReadableDatabase, ReadableTable};
use std::path::{Path, PathBuf};
use tables::{ChangeSet, Encoded, HEADS, META};

/// The store's file inside its directory.
pub const FILE: &str = "state.redb";

/// The format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What identifies a parevm store in its `meta` table.
const MAGIC: &str = "parevm-store";

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No store at the path.
    #[error("no parevm store at {0} (create one with `parevm chain init`)")]
    Missing(PathBuf),
    /// A database that is not a parevm store.
    #[error("{0} is not a parevm store")]
    Foreign(PathBuf),
    /// A store written by a newer parevm.
    #[error("{path} has store format {found}; this parevm reads format {FORMAT_VERSION}")]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u32,
    },
    /// Contents that contradict each other or cannot be decoded.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The database failed (I/O, a damaged file).
    #[error("store database: {0}")]
    Db(String),
    /// A block that does not follow the head.
    #[error("block {got} does not follow the store's head {head}")]
    NotNext {
        /// The head's number.
        head: u64,
        /// The block's.
        got: u64,
    },
    /// A block whose state root differs from its header's (not committed).
    #[error("block {number}: state root {computed}, the header says {header}")]
    Root {
        /// The block.
        number: u64,
        /// Computed.
        computed: B256,
        /// In the header.
        header: B256,
    },
    /// A block no longer retained (or never committed).
    #[error("block {0} is not retained: the store keeps blocks {1}..={2}")]
    NotRetained(u64, u64, u64),
}

impl StoreError {
    fn db(e: impl std::fmt::Display) -> StoreError {
        StoreError::Db(e.to_string())
    }
}

/// A block to commit: its number and hash, what its operations changed (in order), and the
/// root its header states, when it is to be checked.
#[derive(Debug, Clone, Copy)]
pub struct Committing<'a> {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Its operations' changes, in order.
    pub changes: &'a [&'a StateChanges],
    /// The header's state root, to check.
    pub expected: Option<B256>,
}

/// A committed block as the store knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// State root after it.
    pub state_root: B256,
}

/// A persistent, versioned state store.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
    horizon: u64,
}

impl Store {
    /// Creates a store in `dir` (made if missing) holding `genesis` as block `head`'s state;
    /// fails if one is there already. Keeps change sets for `horizon` blocks.
    pub fn create(
        dir: &Path,
        genesis: &InMemoryState,
        head: Head,
        horizon: u64,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Db(format!("{}: {e}", dir.display())))?;
        let path = dir.join(FILE);
        if path.exists() {
            return Err(StoreError::Corrupt(format!(
                "{} exists already",
                path.display()
            )));
        }
        // (Written beside its name and renamed once complete: a store killed while being
        // created is no store at all, not a file without a genesis.)
        let partial = dir.join(format!("{FILE}.partial"));
        let io = |e: std::io::Error| StoreError::Db(format!("{}: {e}", partial.display()));
        if partial.exists() {
            std::fs::remove_file(&partial).map_err(io)?;
        }
        let db = Database::create(&partial).map_err(StoreError::db)?;
        let store = Store {
            db,
            path: partial.clone(),
            horizon,
        };
        store.write_genesis(genesis, head)?;
        drop(store);
        std::fs::rename(&partial, &path).map_err(io)?;
        Store::open(dir, horizon)
    }

    /// Opens the store in `dir`, checking it is one this build reads.
    pub fn open(dir: &Path, horizon: u64) -> Result<Store, StoreError> {
        let path = dir.join(FILE);
        if !path.is_file() {
            return Err(StoreError::Missing(dir.to_path_buf()));
        }
        let db = Database::open(&path).map_err(|e| match e {
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(why)) => {
                StoreError::Corrupt(format!("{}: {why}", path.display()))
            }
            e => StoreError::Db(format!("{}: {e}", path.display())),
        })?;
        let store = Store { db, path, horizon };
        store.guarded(|| {
            store.check_format()?;
            store.head().map(|_| ())
        })?;
        Ok(store)
    }

    /// Runs `f`, turning a panic of the database (redb asserts on some damaged pages) into
    /// [`StoreError::Corrupt`] naming the file.
    fn guarded<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
            let why = (panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(StoreError::Corrupt(format!(
                "{}: unreadable ({why})",
                self.path.display()
            )))
        })
    }

    /// redb's check of every page's checksum (slow: it reads the whole file); a damaged file
    /// that redb can repair is repaired, and reported.
    pub fn check_integrity(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        match self.db.check_integrity() {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::Corrupt(format!(
                "{}: damaged, repaired by redb",
                path.display()
            ))),
            Err(e) => Err(StoreError::Corrupt(format!("{}: {e}", path.display()))),
        }
    }

    fn check_format(&self) -> Result<(), StoreError> {
        let read = self.db.begin_read().map_err(StoreError::db)?;
        let foreign = || StoreError::Foreign(self.path.clone());
        let meta = read.open_table(META).map_err(|_| foreign())?;
        let magic = meta
            .get("magic")
            .map_err(StoreError::db)?
            .ok_or_else(foreign)?;
        if magic.value() != MAGIC.as_bytes() {
            return Err(foreign());
        }
        let version = meta
            .get("format")
            .map_err(StoreError::db)?
            .ok_or_else(foreign)?;
        let found = u32::from_be_bytes(version.value().try_into().map_err(|_| foreign())?);
        if found != FORMAT_VERSION {
            return Err(StoreError::Newer {
                path: self.path.clone(),
                found,
            });
        }
        Ok(())
    }

    fn write_genesis(&self, genesis: &InMemoryState, head: Head) -> Result<(), StoreError> {
        let write = self.db.begin_write().map_err(StoreError::db)?;
        let nodes = trie::Nodes::new(None)?;
        let root = tables::write_state(&write, &nodes, genesis)?;
        if root != head.state_root && head.state_root != B256::ZERO {
            return Err(StoreError::Corrupt(format!(
                "the genesis state's root is {root}, its header says {}",
                head.state_root
            )));
        }
        tables::put_nodes(&write, nodes.take())?;
        {
            let mut meta = write.open_table(META).map_err(StoreError::db)?;
            meta.insert("magic", MAGIC.as_bytes())
                .map_err(StoreError::db)?;
            meta.insert("format", FORMAT_VERSION.to_be_bytes().as_slice())
                .map_err(StoreError::db)?;
        }
        tables::put_head(
            &write,
            Head {
                state_root: root,
                ..head
            },
        )?;
        write.commit().map_err(StoreError::db)
    }

    /// The last committed block.
    pub fn head(&self) -> Result<Head, StoreError> {
        let read = self.db.begin_read().map_err(StoreError::db)?;
        tables::last_head(&read)?.ok_or_else(|| StoreError::Corrupt("no head block".into()))
    }

    /// The oldest block whose state is still readable ([`Store::view_at`]).
    pub fn oldest(&self) -> Result<u64, StoreError> {
        let read = self.db.begin_read().map_err(StoreError::db)?;
        let heads = read.open_table(HEADS).map_err(StoreError::db)?;
        let first = heads.first().map_err(StoreError::db)?;
        first
            .map(|(k, _)| k.value())
            .ok_or_else(|| StoreError::Corrupt("no head block".into()))
    }

    /// The state after the head block.
    pub fn view(&self) -> Result<HeadView, StoreError> {
        HeadView::new(self.db.begin_read().map_err(StoreError::db)?)
    }

    /// The head block and the state after it, from one snapshot.
    pub fn snapshot(&self) -> Result<(Head, HeadView), StoreError> {
        let read = self.db.begin_read().map_err(StoreError::db)?;
        let head =
            tables::last_head(&read)?.ok_or_else(|| StoreError::Corrupt("no head block".into()))?;
        Ok((head, HeadView::new(read)?))
    }

    /// The state after block `number`, a retained one.
    pub fn view_at(&self, number: u64) -> Result<PastView, StoreError> {
        let (head, oldest) = (self.head()?, self.oldest()?);
        if number < oldest || number > head.number {
            return Err(StoreError::NotRetained(number, oldest, head.number));
        }
        PastView::new(
            self.db.begin_read().map_err(StoreError::db)?,
            number,
            head.number,
        )
    }

    /// Commits block `number` (hash `hash`, parent the head) whose operations changed the
    /// state by `changes`, in order: its state, change set, trie nodes, hash and new head in
    /// one transaction. Returns the new state root; with `expected`, a different root is
    /// refused and nothing is written.
    pub fn commit<'a>(
        &self,
        number: u64,
        hash: B256,
        changes: impl IntoIterator<Item = &'a StateChanges>,
        expected: Option<B256>,
    ) -> Result<B256, StoreError> {
        let changes: Vec<&StateChanges> = changes.into_iter().collect();
        let block = Committing {
            number,
            hash,
            changes: &changes,
            expected,
        };
        self.commit_group(std::slice::from_ref(&block))
            .map(|roots| roots[0])
    }

    /// Commits consecutive blocks in one transaction (a group commit: one write of the
    /// pages they share and one sync for all), each root computed on the state before it and
    /// checked; reopened after a crash, the store holds all of them or none. A block whose
    /// root differs from its header's is refused: the blocks before it are committed, and the
    /// error returned.
    pub fn commit_group(&self, blocks: &[Committing<'_>]) -> Result<Vec<B256>, StoreError> {
        let mut head = self.head()?;
        let read = self.db.begin_read().map_err(StoreError::db)?;
        let nodes = trie::Nodes::new(Some(&read))?;
        let write = self.db.begin_write().map_err(StoreError::db)?;
        let mut roots = Vec::with_capacity(blocks.len());
        for (k, b) in blocks.iter().enumerate() {
            if b.number != head.number + 1 {
                return Err(StoreError::NotNext {
                    head: head.number,
                    got: b.number,
                });
            }
            let merged = tables::merge(b.changes.iter().copied());
            let set: ChangeSet = tables::apply(&write, &nodes, head.state_root, &merged)?;
            if let Some(header) = b.expected.filter(|h| *h != set.root) {
                write.abort().map_err(StoreError::db)?;
                let refused = StoreError::Root {
                    number: b.number,
                    computed: set.root,
                    header,
                };
                return match k {
                    0 => Err(refused),
                    _ => self.commit_group(&blocks[..k]).and(Err(refused)),
                };
            }
            tables::put_change_set(&write, b.number, &set)?;
            tables::put_block_hash(&write, b.number, b.hash)?;
            head = Head {
                number: b.number,
                hash: b.hash,
                state_root: set.root,
            };
            tables::put_head(&write, head)?;
            roots.push(set.root);
        }
        tables::put_nodes(&write, nodes.take())?;
        if head.number > self.horizon {
            tables::prune(&write, head.number - self.horizon)?;
        }
        write.commit().map_err(StoreError::db)?;
        Ok(roots)
    }

    /// The state root recomputed from the accounts and storage alone, and the stored one.
    pub fn verify(&self) -> Result<(B256, B256), StoreError> {
        self.guarded(|| {
            let read = self.db.begin_read().map_err(StoreError::db)?;
            let computed = tables::scratch_root(&read)?;
            Ok((computed, self.head()?.state_root))
        })
    }

    /// Accounts, storage slots and code entries held, and the file's size in bytes.
    pub fn sizes(&self) -> Result<(u64, u64, u64, u64), StoreError> {
        let read = self.db.begin_read().map_err(StoreError::db)?;
        let (a, s, c) = tables::counts(&read)?;
        let bytes = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        Ok((a, s, c, bytes))
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An address's key in the tables.
fn key(address: &Address) -> [u8; 20] {
    address.0.0
}

impl Encoded for Head {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(72);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(self.hash.as_slice());
        out.extend_from_slice(self.state_root.as_slice());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Head, StoreError> {
        if bytes.len() != 72 {
            return Err(StoreError::Corrupt(format!(
                "a head of {} bytes",
                bytes.len()
            )));
        }
        Ok(Head {
            number: u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
            hash: B256::from_slice(&bytes[8..40]),
            state_root: B256::from_slice(&bytes[40..]),
        })
    }
}
