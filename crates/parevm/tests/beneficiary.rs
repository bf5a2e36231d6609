//! The beneficiary as sender, recipient and read account: every parallel strategy must see
//! the fees it earned, its payouts and what is paid to it in block order, exactly as sequential
//! execution does. Each scenario is a block a builder or a mining pool produces every day.

use alloy_primitives::{Address, B256, Bytes, U256};
use parevm::{
    Block, InMemoryState,
    checks::verdict_difference,
    execute_block,
    sources::{adversarial::contracts::Contract, example},
    state::Bytecode,
    strategy::{self, sequential::Sequential},
};
use revm::primitives::TxKind;

const GWEI: u128 = 1_000_000_000;

/// Every registered strategy and variant at 1, 2, 4 and 8 threads agrees with sequential
/// execution on `block`, which sequential execution accepts.
fn assert_all_agree(block: &Block, state: &InMemoryState, what: &str) {
    let reference = execute_block(block, state, &Sequential, 1);
    assert!(
        reference.is_ok(),
        "{what}: the scenario is a valid block: {reference:?}"
    );
    for s in strategy::parallel() {
        for threads in [1, 2, 4, 8] {
            let out = execute_block(block, state, s, threads);
            if let Some(d) = verdict_difference(&reference, &out) {
                panic!("{what}: {} x{threads}: {d}", s.name());
            }
        }
    }
}

/// `n` plain transfers from distinct funded senders (the built-in example block) with 100-gwei
/// tips, the beneficiary given `balance` (absent when zero), and the block's gas limit raised
/// to fit.
fn transfers(n: usize, balance: u128) -> (Block, InMemoryState) {
    let (mut block, mut state) = example::transfer_block(n);
    block.header.gas_limit = (n as u64 * 21_000).max(30_000_000);
    for tx in &mut block.transactions {
        tx.env.gas_priority_fee = Some(100 * GWEI);
        tx.env.gas_price = 101 * GWEI;
    }
    if balance > 0 {
        let b = block.header.beneficiary;
        state.insert_account(b, U256::from(balance), 0, Bytecode::default(), []);
    }
    (block, state)
}

/// Makes transaction `i` a plain transfer of `value` from the beneficiary (its `nonce`-th),
/// without a tip (its fee cap the example block's base fee).
fn from_beneficiary(block: &mut Block, i: usize, nonce: u64, value: u128) {
    let b = block.header.beneficiary;
    let env = &mut block.transactions[i].env;
    env.caller = b;
    env.nonce = nonce;
    env.value = U256::from(value);
    env.gas_priority_fee = Some(0);
    env.gas_price = 7;
}

/// Makes transaction `i` call `to` with `data`.
fn call(block: &mut Block, i: usize, to: Address, data: Bytes) {
    let env = &mut block.transactions[i].env;
    env.kind = TxKind::Call(to);
    env.data = data;
    env.gas_limit = 200_000;
    env.value = U256::ZERO;
}

/// Sets transaction `i`'s value to all its sender can spare after gas, from the balance that
/// sequential execution of the transactions below it leaves (the scenario's input, not an
/// expected output).
fn exactly_sufficient(block: &mut Block, state: &InMemoryState, i: usize) {
    use revm::context_interface::Transaction as _;
    let mut prefix = block.clone();
    prefix.transactions.truncate(i);
    let out = execute_block(&prefix, state, &Sequential, 1).expect("a valid prefix");
    let sender = block.transactions[i].env.caller;
    let balance = out
        .txs
        .iter()
        .rev()
        .find_map(|t| t.changes.get(&sender))
        .and_then(|c| c.info)
        .map_or_else(
            || state.get(&sender).map_or(U256::ZERO, |a| a.balance),
            |i| i.0,
        );
    let env = &mut block.transactions[i].env;
    env.value = U256::ZERO;
    env.value = balance - env.max_balance_spending().expect("no overflow");
}

fn install(state: &mut InMemoryState, c: Contract, balance: u128) {
    let code = Bytecode::new_raw(c.code());
    state.insert_account(c.address(), U256::from(balance), 1, code, []);
}

fn addr_word(a: Address) -> Bytes {
    Bytes::from(B256::left_padding_from(a.as_slice()).to_vec())
}

/// The beneficiary pays 1.5e15 wei that it can afford only with the fees of the two
/// transactions before it; the transactions above it read the beneficiary in full (plain
/// transfers to it, every 100th), so they sum its fees and its debit, which must be in block
/// order. Blocks of 2,100 transactions run in parallel from their first transaction.
#[test]
fn a_payout_from_fees_earned_below_it() {
    for balance in [0, 10u128.pow(15)] {
        let (mut block, state) = transfers(2_100, balance);
        from_beneficiary(&mut block, 2, 0, 1_500_000_000_000_000);
        let b = block.header.beneficiary;
        for i in (3..2_100).step_by(100) {
            block.transactions[i].env.kind = TxKind::Call(b);
        }
        assert_all_agree(&block, &state, &format!("pre-balance {balance}"));
    }
    // The same in five transactions.
    let (mut block, state) = transfers(5, 0);
    from_beneficiary(&mut block, 2, 0, 1_500_000_000_000_000);
    block.transactions[3].env.kind = TxKind::Call(block.header.beneficiary);
    assert_all_agree(&block, &state, "five transactions");
}

/// Contracts reading the beneficiary after its payouts: `BALANCE(CALLER)` called by the
/// beneficiary itself, `BALANCE(COINBASE)` called by anyone.
#[test]
fn contracts_read_the_beneficiary_after_its_payouts() {
    let (mut block, mut state) = transfers(40, 0);
    install(&mut state, Contract::CallerBalance, 0);
    install(&mut state, Contract::CoinbaseBalance, 0);
    from_beneficiary(&mut block, 2, 0, 1_500_000_000_000_000);
    from_beneficiary(&mut block, 9, 1, 3_000_000_000_000_000);
    // The beneficiary calls BALANCE(CALLER) right after its payouts.
    from_beneficiary(&mut block, 10, 2, 0);
    call(
        &mut block,
        10,
        Contract::CallerBalance.address(),
        Bytes::new(),
    );
    call(
        &mut block,
        20,
        Contract::CoinbaseBalance.address(),
        Bytes::new(),
    );
    from_beneficiary(&mut block, 30, 3, 1_000_000_000_000_000);
    call(
        &mut block,
        35,
        Contract::CoinbaseBalance.address(),
        Bytes::new(),
    );
    assert_all_agree(&block, &state, "balance reads");
}

/// Value reaching the beneficiary from inside contracts: a self-destruct to it and a contract
/// forwarding its whole balance to it, around payouts that only that value and the fees below
/// them make affordable, one of them spending every wei.
#[test]
fn self_destructs_and_forwards_pay_the_beneficiary_between_its_payouts() {
    let eth = 10u128.pow(18);
    let (mut block, mut state) = transfers(30, 0);
    install(&mut state, Contract::Destruct, eth);
    install(&mut state, Contract::Forward, eth);
    let b = block.header.beneficiary;
    call(&mut block, 1, Contract::Destruct.address(), addr_word(b));
    // All it has after the self-destruct and the fee of transaction 2: the forward then reads
    // exactly that fee left.
    from_beneficiary(&mut block, 3, 0, 0);
    exactly_sufficient(&mut block, &state, 3);
    call(&mut block, 5, Contract::Forward.address(), addr_word(b));
    from_beneficiary(&mut block, 8, 1, eth / 2);
    from_beneficiary(&mut block, 12, 2, eth / 4);
    block.transactions[20].env.kind = TxKind::Call(b);
    assert_all_agree(&block, &state, "destruct and forward");
}
