//! How a parallel strategy starts a block: a measured sequential start.
//!
//! A parallel run has a fixed cost — waking the pool's threads (tens of microseconds on a VM),
//! allocating the multi-version memory and the per-transaction
//! tables, the commit's bookkeeping — and a per-transaction cost on top of execution (recording
//! reads and writes, validating). With two threads the run can at best halve the execution, so
//! a block whose whole sequential run takes a few hundred microseconds gains less than those
//! costs and their run-to-run jitter, and runs slower than sequential. Whether a block is that small cannot be told before executing it: gas limits
//! overstate gas used many times over, and gas is a poor clock (a plain transfer costs 21,000 gas
//! and about a microsecond; 2016's underpriced state reads cost little gas and much time).
//!
//! So the default start measures instead: the calling thread executes the block's first
//! transactions sequentially — exactly what the sequential strategy does, on the same state —
//! until [`Start::MEASURED`]'s probe time has passed (it reads the clock about every 16 µs of
//! the work the pace so far predicts: see [`READ_EVERY`]). From then on, at each reading, it
//! extrapolates the rest's sequential time from the pace so far, per transaction and per
//! unit of gas limit (the only size known of the transactions not run yet), and takes the
//! larger. While that is under `min_parallel` it goes on sequentially, to the block's end if
//! it stays so (counted as a fallback); once it is not, the strategy runs the remaining
//! transactions in parallel on top of the state the start left, its commit carrying on the
//! start's cumulative gas. It also goes on while one transaction holds so much of the rest's
//! gas limits that what could run beside it is worth less than the threads' share of the bar:
//! a transaction runs on one thread, so a rest of one heavy transaction and a few small ones
//! gains from threads at most the small ones' time, and pays their waking and bookkeeping (a
//! three-transaction block whose second is an 8M-gas token multisend saves little in parallel,
//! and loses much when the host is slow to pass work between cores).
//! Re-estimating catches the blocks whose first transactions are cheap
//! and later ones slow. A big block thus pays only the probe, run on one thread instead of two
//! (half of it: 25 µs out of milliseconds); a small one is never slower than sequential by more
//! than the clock reads. A block with so many transactions that even the cheapest would add up
//! to the bar skips the probe.
//!
//! Why the result is exact: the transactions run sequentially are sequential execution, and
//! their changes are applied to the state before the parallel part starts; the parallel part
//! is an ordinary Block-STM run on that state (indices in it are positions after the start;
//! errors and block-level checks name the block's own indices). The tests switch at a fixed
//! transaction ([`Start::After`]), at every position, to check the seam.

use crate::{
    block::Block,
    error::ExecError,
    output::ExecStats,
    state::Overlay,
    strategy::sequential::{self, Progress},
};
use std::time::{Duration, Instant};

/// How Block-STM starts a block (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Speculate from the first transaction.
    Parallel,
    /// Run sequentially for `probe`, then on while the rest's extrapolated sequential time is
    /// below `min_parallel`, or what the threads could save of it below that share of
    /// `min_parallel` (re-estimated as it goes); run what is left then in parallel.
    Measured {
        /// How long to run sequentially before deciding.
        probe: Duration,
        /// The least extrapolated sequential time of the rest worth a parallel run.
        min_parallel: Duration,
    },
    /// Run this many transactions sequentially, then the rest in parallel (a fixed seam, for
    /// tests).
    After(usize),
}

impl Start {
    /// The default: a 50 µs probe (a fortieth of a 2 ms block), and a parallel run only for a
    /// rest worth a millisecond of sequential execution (at two threads, whose run could save
    /// half a millisecond of it: a rest that one transaction dominates must offer that saving
    /// beside it, see the module docs). Below a millisecond, most blocks lose in parallel at
    /// two threads on a VM (those of cheap transfers most: Block-STM's per-transaction
    /// bookkeeping is a large share of a one-microsecond transfer). A machine whose threads
    /// wake faster would want a lower bar.
    pub const MEASURED: Start = Start::Measured {
        probe: Duration::from_micros(50),
        min_parallel: Duration::from_millis(1),
    };
}

/// Less than any transaction takes to execute sequentially (a plain transfer, the cheapest,
/// takes about a microsecond on the reference VM): a block of enough transactions is known to
/// be worth a parallel run without a probe. (The probe is not free for big blocks: the
/// accounts it changed sit in the state's overlay, one more lookup for every read of them in
/// the parallel part — a hot token contract's, in every transaction: 2 to 3% of a 1-Ggas
/// ERC-20 or swap block.)
const CHEAPEST_TX: Duration = Duration::from_nanos(500);

/// The measured start reads the clock (and, after the probe, re-estimates) about this often
/// in predicted execution time: each transaction run adds what the pace so far predicts for it
/// (per transaction and per unit of its gas limit, the larger), and the clock is read once that
/// adds up to this, or after [`MAX_STRIDE`] transactions. A reading takes about 25 ns on the
/// reference VM, a payout block's transfer about a microsecond: the fixed rule this replaced
/// (every fourth transaction, or sooner after 100,000 gas of limits) read the clock after each
/// transfer of 11814555, whose payouts have limits of 100,000 gas — 578 readings, about 2% of
/// a block that then ran to its end here; this rule reads it 64 times there.
const READ_EVERY: Duration = Duration::from_micros(16);

/// Before the first reading there is no pace: the clock is read after this many
/// transactions...
const FIRST_STRIDE: f64 = 4.0;

/// ...or sooner, once they had this much gas limit together (four plain transfers have
/// 84,000): a transaction with that much may be slow, and a block of heavy ones should not run
/// several before the start notices.
const FIRST_READING_GAS: f64 = 100_000.0;

/// The most transactions run between readings whatever the pace predicts: a pace measured on
/// cheap first transactions does not foresee later slow ones with small limits (2016's
/// underpriced state reads).
const MAX_STRIDE: usize = 16;

/// Runs the start of `block` on `state` as `start` says: returns the outputs of the
/// transactions it ran sequentially (all of them, when the block is measured too small for a
/// parallel run), with their changes applied to `state`.
pub(crate) fn sequential_start(
    start: Start,
    block: &Block,
    state: &mut Overlay<'_>,
    threads: usize,
    stats: &mut ExecStats,
) -> Result<Progress, ExecError> {
    let mut done = Progress::default();
    let go_on: Box<dyn FnMut(usize) -> bool> = match start {
        Start::Parallel | Start::After(0) => return Ok(done),
        Start::After(k) => Box::new(move |i| i < k),
        Start::Measured { min_parallel, .. }
            if block.transactions.len() as u128 * CHEAPEST_TX.as_nanos()
                >= min_parallel.as_nanos() =>
        {
            // Known to be above the bar without measuring.
            return Ok(done);
        }
        Start::Measured {
            probe,
            min_parallel,
        } => {
            // Sizes and times as floating point, times in units of `READ_EVERY`: the
            // readings compare estimates, and 128-bit integer arithmetic (a division, or
            // products with overflow checks) took 200 to 800 instructions per reading.
            let unit = READ_EVERY.as_secs_f64();
            let n = block.transactions.len() as f64;
            // The largest gas limit from each transaction on (one pass, which also sums them
            // all), and the thread count that shares the rest (at least two: the bar is a
            // parallel run's).
            let mut largest_from = vec![0.0f64; block.transactions.len() + 1];
            let mut total = 0.0;
            for (k, tx) in block.transactions.iter().enumerate().rev() {
                let limit = tx.env.gas_limit as f64;
                largest_from[k] = largest_from[k + 1].max(limit);
                total += limit;
            }
            let threads = threads.max(2) as f64;
            let (probe, bar) = (
                probe.as_secs_f64() / unit,
                min_parallel.as_secs_f64() / unit,
            );
            // The clock starts at the first transaction.
            let mut began: Option<Instant> = None;
            // The gas limits of the transactions run so far.
            let mut ran = 0.0;
            // The pace (per transaction, per unit of gas limit); the time it predicts for the
            // transactions run since the last reading, and their number.
            let (mut pace_tx, mut pace_gas) = (1.0 / FIRST_STRIDE, 1.0 / FIRST_READING_GAS);
            let (mut owed, mut stride) = (0.0, 0usize);
            Box::new(move |i| {
                let Some(began) = began else {
                    began = Some(Instant::now());
                    return true;
                };
                let limit = block.transactions[i - 1].env.gas_limit as f64;
                ran += limit;
                owed += pace_tx.max(pace_gas * limit);
                stride += 1;
                if owed < 1.0 && stride < MAX_STRIDE {
                    return true;
                }
                (owed, stride) = (0.0, 0);
                let t = began.elapsed().as_secs_f64() / unit;
                let largest = largest_from[i];
                let i = i as f64;
                (pace_tx, pace_gas) = (t / i, t / ran.max(1.0));
                if t < probe {
                    return true;
                }
                // The rest's time at the pace so far per transaction and per unit of gas
                // limit, the larger: either is fooled by a block whose first transactions are
                // unlike the rest (cheap, or with outsized limits), and a big block finished
                // sequentially loses more than a small one run in parallel. Re-estimated as
                // the start goes on, so that a block whose later transactions are slower
                // still goes parallel once what is left is worth it.
                let rest = (pace_tx * (n - i)).max(pace_gas * (total - ran));
                // What threads could save of it: a transaction runs on one thread, so the
                // rest takes at least its largest transaction's time, estimated by its share
                // of the rest's gas limits. Unless one transaction holds more than a thread's
                // share, that is the rest less its time on one thread out of `threads`, and
                // the test is the rest against the bar; a rest of one heavy transaction and a
                // few small ones has little to share, and the bar is on the saving.
                let share = largest / (total - ran).max(1.0);
                rest * (1.0 - share.max(1.0 / threads)) < bar * (1.0 - 1.0 / threads)
            })
        }
    };
    sequential::run_while(block, state, &mut done, stats, go_on)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::workload::{self, WorkloadKind, WorkloadSpec};

    fn start(start: Start, block: &Block, state: &crate::state::InMemoryState) -> usize {
        let mut overlay = Overlay::new(state);
        let mut stats = ExecStats::default();
        let done = sequential_start(start, block, &mut overlay, 2, &mut stats).expect("start");
        assert_eq!(stats.executions as usize, done.outputs.len());
        done.outputs.len()
    }

    #[test]
    fn a_fixed_start_runs_exactly_its_transactions() {
        let (block, state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::Transfers, 1_000_000));
        let n = block.transactions.len();
        for k in [0, 1, 7, n - 1, n, n + 5] {
            assert_eq!(start(Start::After(k), &block, &state), k.min(n));
        }
        assert_eq!(start(Start::Parallel, &block, &state), 0);
    }

    #[test]
    fn a_measured_start_finishes_small_blocks_and_hands_big_ones_over() {
        let (block, state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::Transfers, 1_000_000));
        let n = block.transactions.len();
        // Any rest is "small" under an hour; none is under nothing.
        let small = Start::Measured {
            probe: Duration::ZERO,
            min_parallel: Duration::from_secs(3600),
        };
        assert_eq!(start(small, &block, &state), n);
        // A bar of a nanosecond: enough transactions to reach it even at the cheapest pace, so
        // no probe; a bar just above what they could add up to: probed, and handed over at the
        // first clock reading, after the fourth transfer: four have less gas limit than the
        // first reading waits for.
        let cheapest = CHEAPEST_TX * n as u32;
        let known = Start::Measured {
            probe: Duration::from_secs(3600),
            min_parallel: Duration::from_nanos(1),
        };
        assert_eq!(start(known, &block, &state), 0);
        let probed = Start::Measured {
            probe: Duration::ZERO,
            min_parallel: cheapest + Duration::from_nanos(1),
        };
        // (Usually at the fourth: a machine that ran four transfers in under half their
        // cheapest time each would go on to a later reading.)
        let ran = start(probed, &block, &state);
        assert!(ran == n || ran >= FIRST_STRIDE as usize, "{ran}");
        // A swap's limit is more than a reading waits for: the clock is read after the first.
        let (swaps, swaps_state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::Swaps, 2_000_000));
        assert!(swaps.transactions[0].env.gas_limit as f64 >= FIRST_READING_GAS);
        let probed = Start::Measured {
            probe: Duration::ZERO,
            min_parallel: CHEAPEST_TX * swaps.transactions.len() as u32 + Duration::from_nanos(1),
        };
        assert_eq!(start(probed, &swaps, &swaps_state), 1);
        // A probe longer than the block: it all runs within the probe.
        let long = Start::Measured {
            probe: Duration::from_secs(3600),
            min_parallel: Duration::from_secs(3600),
        };
        assert_eq!(start(long, &block, &state), n);
    }

    #[test]
    fn a_rest_that_one_transaction_dominates_runs_on_sequentially() {
        // Four transfers (the first reading comes after them), then two more, of which the
        // first, or both, get a gas limit a million times the four's: the rest's estimate is
        // then seconds, far above the bar, on any machine.
        let (block, state) =
            workload::generate(&WorkloadSpec::new(WorkloadKind::Transfers, 1_000_000));
        let heavy = 84_000_000_000u64;
        let with_heavy = |count: usize| {
            let mut txs = block.transactions[..6].to_vec();
            for tx in &mut txs[4..4 + count] {
                tx.env.gas_limit = heavy;
            }
            let mut header = block.header.clone();
            header.gas_limit += 2 * heavy;
            Block::synthetic(header, block.fork, txs)
        };
        let measured = Start::Measured {
            probe: Duration::ZERO,
            min_parallel: Duration::from_millis(10),
        };
        // One heavy transaction and one transfer left: two threads could save at most the
        // transfer, far below the bar's half; the block runs to its end.
        assert_eq!(start(measured, &with_heavy(1), &state), 6);
        // Two heavy ones: half the rest each, worth sharing; handed over at the reading.
        assert_eq!(start(measured, &with_heavy(2), &state), 4);
    }
}
