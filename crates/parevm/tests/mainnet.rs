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
        // Block-STM runs sequentially on one thread; its speculative machinery is checked at
        // one thread too.
        let speculative: &dyn parevm::Strategy = &strategy::block_stm::BlockStm::ALWAYS_SPECULATIVE;
        let runs = strategy::registry()
            .into_iter()
            .skip(1)
            .flat_map(|s| [1, 2, 4, 8].map(|t| (s, t)))
            .chain([(speculative, 1)]);
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
