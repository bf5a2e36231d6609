//! The dependency graph of an executed block and what it bounds.
//!
//! Transaction `j` depends on `i < j` when `j` reads a location whose value `i` produced: the
//! last transaction before `j` that set it, and every transaction since that changed it by a
//! commutative delta (a reader of a sum needs every term). A delta itself (a fee credited to
//! the beneficiary, a plain transfer's credit to its recipient or its debit of its sender)
//! reads nothing: it is linked to the last writer before it by an edge of its own kind, which
//! orders nothing unless commutative updates are counted. Counting them makes every delta a
//! read and a write, so those edges become ordinary dependencies.
//!
//! Why the critical path bounds any schedule: along a path of counted edges each transaction
//! reads what the one before produced, so no correct execution can finish it before that one;
//! the heaviest path is therefore a lower bound on any execution's time, and work over it an
//! upper bound on the speedup of any number of cores (with each transaction's measured cost).

use crate::predict::Loc;
use alloy_primitives::map::HashMap;
use serde::Serialize;

/// Why one transaction follows another.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// It reads what the other produced: a true dependency.
    Conflict,
    /// Both paid the beneficiary its fee, which the engine credits in order as a delta.
    Fee,
    /// A plain transfer's credit to a recipient the other changed.
    Credit,
    /// A plain transfer's debit of a sender the other changed (run with a stand-in balance).
    Debit,
}

/// What one transaction did, by location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxAccess {
    /// Locations whose value it used (every location it set is also here).
    pub reads: Vec<Loc>,
    /// Locations it set.
    pub writes: Vec<Loc>,
    /// Locations it changed by a commutative delta only, with the delta's kind.
    pub deltas: Vec<(Loc, Kind)>,
}

/// An edge of the graph: `to` follows `from` because of `loc` (the first such location).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// The earlier transaction.
    pub from: usize,
    /// The later one.
    pub to: usize,
    /// Conflict when any location makes it one, else the first delta's kind.
    pub kind: Kind,
    /// The location behind it.
    #[serde(skip)]
    pub loc: Loc,
}

/// The graph of one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// Transactions.
    pub txs: usize,
    /// Edges, by `to` then `from`, one per pair.
    pub edges: Vec<Edge>,
    /// Whether commutative edges count as dependencies.
    pub count_commutative: bool,
}

/// Per location: the last transaction that set it, and the deltas since.
#[derive(Default)]
struct Writers {
    setter: Option<usize>,
    deltas: Vec<usize>,
}

impl Graph {
    /// The graph of transactions that did `all`, in block order.
    pub fn build(all: &[TxAccess], count_commutative: bool) -> Graph {
        let mut writers: HashMap<Loc, Writers> = HashMap::default();
        let mut edges = Vec::new();
        for (j, tx) in all.iter().enumerate() {
            let mut mine: HashMap<usize, Edge> = HashMap::default();
            let mut link = |from: usize, kind: Kind, loc: Loc| {
                let e = mine.entry(from).or_insert(Edge {
                    from,
                    to: j,
                    kind,
                    loc,
                });
                if kind == Kind::Conflict && e.kind != Kind::Conflict {
                    (e.kind, e.loc) = (kind, loc);
                }
            };
            let (reads, deltas): (Vec<Loc>, &[(Loc, Kind)]) = match count_commutative {
                true => (
                    tx.reads
                        .iter()
                        .chain(tx.deltas.iter().map(|d| &d.0))
                        .copied()
                        .collect(),
                    &[],
                ),
                false => (tx.reads.clone(), &tx.deltas),
            };
            for loc in &reads {
                let w = writers.get(loc);
                for from in w.into_iter().flat_map(|w| w.setter.iter().chain(&w.deltas)) {
                    link(*from, Kind::Conflict, *loc);
                }
            }
            for (loc, kind) in deltas {
                let last = writers
                    .get(loc)
                    .and_then(|w| w.deltas.last().or(w.setter.as_ref()));
                if let Some(from) = last {
                    link(*from, *kind, *loc);
                }
            }
            let sets = tx.writes.iter().chain(
                match count_commutative {
                    true => &tx.deltas[..],
                    false => &[],
                }
                .iter()
                .map(|d| &d.0),
            );
            for loc in sets {
                *writers.entry(*loc).or_default() = Writers {
                    setter: Some(j),
                    deltas: Vec::new(),
                };
            }
            for (loc, _) in deltas {
                writers.entry(*loc).or_default().deltas.push(j);
            }
            let mut mine: Vec<Edge> = mine.into_values().collect();
            mine.sort_unstable_by_key(|e| e.from);
            edges.extend(mine);
        }
        Graph {
            txs: all.len(),
            edges,
            count_commutative,
        }
    }

    /// Whether an edge orders its transactions.
    pub fn counts(&self, e: &Edge) -> bool {
        e.kind == Kind::Conflict || self.count_commutative
    }

    /// For each transaction, the earlier ones it must follow (ascending).
    pub fn dependencies(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.txs];
        for e in self.edges.iter().filter(|e| self.counts(e)) {
            out[e.to].push(e.from);
        }
        out
    }

    /// Edges of each kind.
    pub fn edge_counts(&self) -> [(Kind, usize); 4] {
        [Kind::Conflict, Kind::Fee, Kind::Credit, Kind::Debit]
            .map(|k| (k, self.edges.iter().filter(|e| e.kind == k).count()))
    }

    /// What the graph bounds, with each transaction costing `weights[j]`.
    pub fn shape(&self, weights: &[f64]) -> Shape {
        let deps = self.dependencies();
        let mut path = vec![0.0f64; self.txs];
        let mut chain = vec![0usize; self.txs];
        for j in 0..self.txs {
            let before = deps[j].iter().map(|i| path[*i]).fold(0.0, f64::max);
            path[j] = before + weights[j];
            chain[j] = 1 + deps[j].iter().map(|i| chain[*i]).max().unwrap_or(0);
        }
        let work: f64 = weights.iter().sum();
        let critical_path = path.iter().copied().fold(0.0, f64::max);
        Shape {
            work,
            critical_path,
            bound: if critical_path > 0.0 {
                work / critical_path
            } else {
                1.0
            },
            independent: deps.iter().filter(|d| d.is_empty()).count(),
            longest_chain: chain.iter().copied().max().unwrap_or(0),
        }
    }

    /// The locations behind the most dependent transactions (counted edges only), most first,
    /// at most `k`.
    pub fn hottest(&self, k: usize) -> Vec<(Loc, usize)> {
        let mut seen: HashMap<(Loc, usize), ()> = HashMap::default();
        let mut count: HashMap<Loc, usize> = HashMap::default();
        for e in self.edges.iter().filter(|e| self.counts(e)) {
            if seen.insert((e.loc, e.to), ()).is_none() {
                *count.entry(e.loc).or_default() += 1;
            }
        }
        let mut all: Vec<(Loc, usize)> = count.into_iter().collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }
}

/// What a graph bounds under given transaction costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// The sum of the costs.
    pub work: f64,
    /// The heaviest path of counted edges.
    pub critical_path: f64,
    /// `work / critical_path` (1 for an empty block): no schedule does better.
    pub bound: f64,
    /// Transactions that depend on none.
    pub independent: usize,
    /// The most transactions on one path.
    pub longest_chain: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, U256};

    fn slot(k: u64) -> Loc {
        Loc::Slot(Address::ZERO, U256::from(k))
    }

    fn tx(reads: &[u64], writes: &[u64]) -> TxAccess {
        TxAccess {
            reads: reads.iter().chain(writes).map(|k| slot(*k)).collect(),
            writes: writes.iter().map(|k| slot(*k)).collect(),
            deltas: Vec::new(),
        }
    }

    fn pairs(g: &Graph) -> Vec<(usize, usize, Kind)> {
        g.edges.iter().map(|e| (e.from, e.to, e.kind)).collect()
    }

    #[test]
    fn independent_transactions_have_no_edges_and_bound_work_over_the_largest() {
        let all: Vec<TxAccess> = (0..4).map(|k| tx(&[], &[k])).collect();
        let g = Graph::build(&all, false);
        assert!(g.edges.is_empty());
        let s = g.shape(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!((s.work, s.critical_path, s.bound), (10.0, 4.0, 2.5));
        assert_eq!((s.independent, s.longest_chain), (4, 1));
    }

    #[test]
    fn a_chain_is_its_own_critical_path() {
        let all: Vec<TxAccess> = (0..5).map(|_| tx(&[], &[7])).collect();
        let g = Graph::build(&all, false);
        assert_eq!(
            pairs(&g),
            (1..5)
                .map(|j| (j - 1, j, Kind::Conflict))
                .collect::<Vec<_>>()
        );
        let s = g.shape(&[2.0; 5]);
        assert_eq!(
            (s.critical_path, s.bound, s.longest_chain, s.independent),
            (10.0, 1.0, 5, 1)
        );
        assert_eq!(g.hottest(3), [(slot(7), 4)]);
    }

    #[test]
    fn fan_in_to_one_hot_location() {
        // 0..3 write their own slots; 4 reads all of them; 5 reads slot 0 only.
        let mut all: Vec<TxAccess> = (0..4).map(|k| tx(&[], &[k])).collect();
        all.push(tx(&[0, 1, 2, 3], &[9]));
        all.push(tx(&[0], &[]));
        let g = Graph::build(&all, false);
        let mut expected: Vec<_> = (0..4).map(|i| (i, 4, Kind::Conflict)).collect();
        expected.push((0, 5, Kind::Conflict));
        assert_eq!(pairs(&g), expected);
        let s = g.shape(&[1.0, 1.0, 5.0, 1.0, 2.0, 1.0]);
        assert_eq!((s.work, s.critical_path), (11.0, 7.0));
        assert_eq!((s.independent, s.longest_chain), (4, 2));
        assert_eq!(g.hottest(1), [(slot(0), 2)]);
    }

    #[test]
    fn a_diamond_waits_for_both_branches() {
        // 0 writes a; 1 and 2 read a and write b, c; 3 reads b and c.
        let all = [
            tx(&[], &[1]),
            tx(&[1], &[2]),
            tx(&[1], &[3]),
            tx(&[2, 3], &[]),
        ];
        let g = Graph::build(&all, false);
        let k = Kind::Conflict;
        assert_eq!(pairs(&g), [(0, 1, k), (0, 2, k), (1, 3, k), (2, 3, k)]);
        let s = g.shape(&[1.0, 3.0, 2.0, 1.0]);
        assert_eq!((s.work, s.critical_path, s.bound), (7.0, 5.0, 1.4));
        assert_eq!((s.independent, s.longest_chain), (1, 3));
    }

    #[test]
    fn fee_only_links_order_nothing_unless_counted() {
        let fee = Loc::Account(Address::repeat_byte(0xbe));
        let all: Vec<TxAccess> = (0..3)
            .map(|k| TxAccess {
                deltas: vec![(fee, Kind::Fee)],
                ..tx(&[], &[k])
            })
            .collect();
        let g = Graph::build(&all, false);
        assert_eq!(pairs(&g), [(0, 1, Kind::Fee), (1, 2, Kind::Fee)]);
        let s = g.shape(&[1.0; 3]);
        assert_eq!((s.bound, s.independent), (3.0, 3));
        assert_eq!(g.edge_counts()[1], (Kind::Fee, 2));
        let counted = Graph::build(&all, true);
        assert_eq!(
            pairs(&counted),
            [(0, 1, Kind::Conflict), (1, 2, Kind::Conflict)]
        );
        assert_eq!(counted.shape(&[1.0; 3]).bound, 1.0);
        // A reader of the beneficiary needs every fee before it.
        let mut reader = all.clone();
        reader.push(TxAccess {
            reads: vec![fee],
            ..TxAccess::default()
        });
        let g = Graph::build(&reader, false);
        let into_reader: Vec<_> = pairs(&g).into_iter().filter(|e| e.1 == 3).collect();
        let k = Kind::Conflict;
        assert_eq!(into_reader, [(0, 3, k), (1, 3, k), (2, 3, k)]);
    }
}
