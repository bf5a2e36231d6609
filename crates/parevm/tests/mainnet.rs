//! Every shared mainnet block, executed with every registered strategy at several thread
//! counts: the header's gas used, logs bloom and receipts root must match, and every
//! strategy's output must equal sequential execution's.

use parevm::{
    ChainSpec, execute_block,
    sources::{fixtures::fixtures_or_skip, rpc::BlockFolder},
    strategy,
};

#[test]
fn mainnet_blocks_match_headers_with_every_strategy() {
    let Some(fixtures) = fixtures_or_skip("mainnet_blocks") else {
        return;
    };
    let folders = BlockFolder::discover(&fixtures.join("mainnet")).expect("mainnet fixtures");
    assert_eq!(
        folders.len(),
        47,
        "the shared README lists 47 mainnet blocks"
    );
    let chain = ChainSpec::mainnet();
    let mut failures = Vec::new();
    for folder in &folders {
        let (block, state) = folder.load(&chain).unwrap_or_else(|e| panic!("{e}"));
        let reference = execute_block(&block, &state, &strategy::sequential::Sequential, 1)
            .unwrap_or_else(|e| panic!("block {}: {e}", folder.name()));
        let check = reference.check_header(&block);
        if !check.passed() {
            failures.push(format!(
                "{} sequential: {:?}",
                folder.name(),
                check.mismatches
            ));
        }
        // Block-STM runs one thread, one transaction and tiny blocks sequentially; its
        // speculative machinery is checked on every block, at one and two threads too.
        let speculative: &dyn parevm::Strategy = &strategy::block_stm::BlockStm::ALWAYS_SPECULATIVE;
        let runs = strategy::registry()
            .into_iter()
            .skip(1)
            .flat_map(|s| [1, 2, 4, 8].map(|t| (s, t)))
            .chain([(speculative, 1), (speculative, 2)]);
        for (s, threads) in runs {
            {
                match execute_block(&block, &state, s, threads) {
                    Err(e) => {
                        failures.push(format!("{} {} x{threads}: {e}", folder.name(), s.name()))
                    }
                    Ok(out) => {
                        if let Some(d) = reference.first_difference(&out) {
                            failures.push(format!(
                                "{} {} x{threads}: {d}",
                                folder.name(),
                                s.name()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn block_gas_limit_is_enforced_across_transactions() {
    let Some(fixtures) = fixtures_or_skip("block_gas_limit") else {
        return;
    };
    let folder = BlockFolder {
        dir: fixtures.join("mainnet/13217637"),
    };
    let (mut block, state) = folder.load(&ChainSpec::mainnet()).unwrap();
    // One gas below what the block really used: at the latest, the last transaction (whose
    // limit is at least what it used) no longer fits in what is left.
    block.header.gas_limit = block.header.gas_used - 1;
    for s in strategy::registry() {
        match execute_block(&block, &state, s, 2) {
            Ok(_) => panic!("{}: a block over its gas limit was accepted", s.name()),
            Err(err) => assert!(
                err.to_string()
                    .contains("exceeds the block's remaining gas"),
                "{}: {err}",
                s.name()
            ),
        }
    }
}

/// A state that records every account it is asked for.
struct Recording<'a> {
    inner: &'a dyn parevm::StateView,
    accounts: std::sync::Mutex<Vec<alloy_primitives::Address>>,
    other_reads: std::sync::atomic::AtomicUsize,
}

impl parevm::StateView for Recording<'_> {
    fn account(
        &self,
        address: alloy_primitives::Address,
    ) -> Result<Option<parevm::state::AccountInfo>, parevm::state::StateError> {
        self.accounts.lock().unwrap().push(address);
        self.inner.account(address)
    }
    fn code_by_hash(
        &self,
        code_hash: alloy_primitives::B256,
    ) -> Result<parevm::state::Bytecode, parevm::state::StateError> {
        self.other_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.code_by_hash(code_hash)
    }
    fn storage(
        &self,
        address: alloy_primitives::Address,
        index: alloy_primitives::U256,
    ) -> Result<alloy_primitives::U256, parevm::state::StateError> {
        self.other_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.storage(address, index)
    }
    fn block_hash(&self, number: u64) -> Result<alloy_primitives::B256, parevm::state::StateError> {
        self.inner.block_hash(number)
    }
}

/// `post_block_reads` promises the post-block operations read nothing else: Block-STM then
/// builds the post-transaction state for those accounts only.
#[test]
fn post_block_reads_only_the_accounts_it_names() {
    let Some(fixtures) = fixtures_or_skip("post_block_reads") else {
        return;
    };
    let folders = BlockFolder::discover(&fixtures.join("mainnet")).expect("mainnet fixtures");
    let (mut with_ommers, mut with_withdrawals) = (0, 0);
    for folder in &folders {
        let (mut block, state) = folder.load(&ChainSpec::mainnet()).unwrap();
        if block.fork.block_reward().is_some() {
            // The fixtures' blocks carry only their uncles' hashes: give the rewarded ones an
            // uncle whose miner is known.
            block.ommers.push(parevm::block::Ommer {
                number: block.number() - 1,
                beneficiary: alloy_primitives::Address::repeat_byte(0x0e),
            });
        }
        let Some(named) = parevm::core::post_block_reads(&block) else {
            continue;
        };
        with_ommers += usize::from(!block.ommers.is_empty());
        with_withdrawals += usize::from(!block.withdrawals.is_empty());
        let recording = Recording {
            inner: &state,
            accounts: Default::default(),
            other_reads: Default::default(),
        };
        let mut overlay = parevm::state::Overlay::new(&recording);
        parevm::core::post_block(&block, &mut overlay, &mut None).unwrap();
        let read = recording.accounts.into_inner().unwrap();
        assert_eq!(
            parevm::core::needs_post_transaction_state(&block),
            !read.is_empty(),
            "block {}",
            folder.name()
        );
        for a in read {
            assert!(
                named.contains(&a),
                "block {}: {a} read but not named",
                folder.name()
            );
        }
        assert_eq!(
            recording.other_reads.into_inner(),
            0,
            "block {}",
            folder.name()
        );
    }
    assert!(
        with_ommers > 0 && with_withdrawals > 0,
        "the fixtures include blocks with ommers ({with_ommers}) and with withdrawals ({with_withdrawals})"
    );
}
