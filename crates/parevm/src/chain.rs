//! Ethereum mainnet chain specification: which fork is active at a block, what it changes
//! outside the EVM (rewards, system calls, withdrawals), and the revm [`SpecId`] it maps to.
//!
//! Forks before the merge activate by block number, later ones by timestamp, exactly as in
//! the mainnet genesis configuration of execution clients. Forks that change nothing the
//! executor sees (Muir/Arrow/Gray Glacier: difficulty bomb delays only) are not listed.
//! The blob-parameter-only forks (BPO1, BPO2) keep the Osaka EVM rules and change only the
//! blob base fee update fraction and blob limits, which [`BlobParams`] carries.

use alloy_primitives::U256;
use revm::primitives::hardfork::SpecId;
use serde::{Deserialize, Serialize};

/// An Ethereum hard fork that changes execution, in activation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Fork {
    /// Frontier (genesis).
    Frontier,
    /// Homestead (EIP-2, EIP-7, EIP-8).
    Homestead,
    /// Tangerine Whistle (EIP-150 gas repricing).
    Tangerine,
    /// Spurious Dragon (EIP-155, EIP-160, EIP-161 state clearing, EIP-170).
    SpuriousDragon,
    /// Byzantium (receipt status, REVERT, STATICCALL, precompiles; reward 3 ETH).
    Byzantium,
    /// Petersburg (Constantinople without EIP-1283; reward 2 ETH).
    Petersburg,
    /// Istanbul.
    Istanbul,
    /// Berlin (access lists, EIP-2929).
    Berlin,
    /// London (EIP-1559 base fee).
    London,
    /// Paris (the merge: no rewards, PREVRANDAO).
    Paris,
    /// Shanghai (withdrawals, PUSH0).
    Shanghai,
    /// Cancun (blobs, EIP-4788 beacon root, transient storage, EIP-6780 SELFDESTRUCT).
    Cancun,
    /// Prague (EIP-7702, EIP-2935 history, EIP-7002/7251 requests).
    Prague,
    /// Osaka (EIP-7825 transaction gas cap, EIP-7951, ...).
    Osaka,
    /// Amsterdam (EIP-7928 block-level access lists), as revm 43 implements it; not scheduled
    /// on mainnet.
    Amsterdam,
}

impl Fork {
    /// Every fork, oldest first.
    pub const ALL: [Fork; 15] = [
        Fork::Frontier,
        Fork::Homestead,
        Fork::Tangerine,
        Fork::SpuriousDragon,
        Fork::Byzantium,
        Fork::Petersburg,
        Fork::Istanbul,
        Fork::Berlin,
        Fork::London,
        Fork::Paris,
        Fork::Shanghai,
        Fork::Cancun,
        Fork::Prague,
        Fork::Osaka,
        Fork::Amsterdam,
    ];

    /// The revm specification implementing this fork's EVM rules.
    pub const fn spec_id(self) -> SpecId {
        match self {
            Fork::Frontier => SpecId::FRONTIER,
            Fork::Homestead => SpecId::HOMESTEAD,
            Fork::Tangerine => SpecId::TANGERINE,
            Fork::SpuriousDragon => SpecId::SPURIOUS_DRAGON,
            Fork::Byzantium => SpecId::BYZANTIUM,
            Fork::Petersburg => SpecId::PETERSBURG,
            Fork::Istanbul => SpecId::ISTANBUL,
            Fork::Berlin => SpecId::BERLIN,
            Fork::London => SpecId::LONDON,
            Fork::Paris => SpecId::MERGE,
            Fork::Shanghai => SpecId::SHANGHAI,
            Fork::Cancun => SpecId::CANCUN,
            Fork::Prague => SpecId::PRAGUE,
            Fork::Osaka => SpecId::OSAKA,
            Fork::Amsterdam => SpecId::AMSTERDAM,
        }
    }

    /// The fork's name as the Ethereum test suites spell it (`Cancun`, `ConstantinopleFix`, ...).
    pub const fn test_name(self) -> &'static str {
        match self {
            Fork::Frontier => "Frontier",
            Fork::Homestead => "Homestead",
            Fork::Tangerine => "EIP150",
            Fork::SpuriousDragon => "EIP158",
            Fork::Byzantium => "Byzantium",
            Fork::Petersburg => "ConstantinopleFix",
            Fork::Istanbul => "Istanbul",
            Fork::Berlin => "Berlin",
            Fork::London => "London",
            Fork::Paris => "Paris",
            Fork::Shanghai => "Shanghai",
            Fork::Cancun => "Cancun",
            Fork::Prague => "Prague",
            Fork::Osaka => "Osaka",
            Fork::Amsterdam => "Amsterdam",
        }
    }

    /// Parses a fork name as used by ethereum/tests and execution-spec-tests.
    ///
    /// Accepts the suites' aliases (`EIP150`, `EIP158`, `ConstantinopleFix`, `Merge`, ...).
    /// Transition networks (`ShanghaiToCancunAtTime15k`, ...) are not single forks and return
    /// `None`, as does `Constantinople` (with EIP-1283), which revm does not implement: mainnet
    /// went from Byzantium straight to Petersburg.
    pub fn from_test_name(name: &str) -> Option<Fork> {
        Some(match name {
            "Frontier" => Fork::Frontier,
            "Homestead" => Fork::Homestead,
            "EIP150" | "TangerineWhistle" | "Tangerine" => Fork::Tangerine,
            "EIP158" | "SpuriousDragon" => Fork::SpuriousDragon,
            "Byzantium" => Fork::Byzantium,
            "ConstantinopleFix" | "Petersburg" => Fork::Petersburg,
            "Istanbul" => Fork::Istanbul,
            "Berlin" => Fork::Berlin,
            "London" => Fork::London,
            "Merge" | "Paris" => Fork::Paris,
            "Shanghai" => Fork::Shanghai,
            "Cancun" => Fork::Cancun,
            "Prague" => Fork::Prague,
            "Osaka" => Fork::Osaka,
            "Amsterdam" => Fork::Amsterdam,
            _ => return None,
        })
    }

    /// The block reward paid to the miner before the merge (`None` from Paris on).
    pub fn block_reward(self) -> Option<U256> {
        const ETH: u128 = 1_000_000_000_000_000_000;
        match self {
            Fork::Frontier | Fork::Homestead | Fork::Tangerine | Fork::SpuriousDragon => {
                Some(U256::from(5 * ETH))
            }
            Fork::Byzantium => Some(U256::from(3 * ETH)),
            Fork::Petersburg | Fork::Istanbul | Fork::Berlin | Fork::London => {
                Some(U256::from(2 * ETH))
            }
            _ => None,
        }
    }

    /// True when `self` is `other` or later.
    pub fn at_least(self, other: Fork) -> bool {
        self >= other
    }

    /// Blob parameters of the fork (`None` before Cancun).
    pub fn blob_params(self) -> Option<BlobParams> {
        match self {
            Fork::Cancun => Some(BlobParams::CANCUN),
            Fork::Prague | Fork::Osaka | Fork::Amsterdam => Some(BlobParams::PRAGUE),
            _ => None,
        }
    }
}

impl std::fmt::Display for Fork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.test_name())
    }
}

/// Blob gas parameters (EIP-4844, EIP-7691, EIP-7892 blob-parameter-only forks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobParams {
    /// Maximum blobs per block.
    pub max_blobs_per_block: u64,
    /// The denominator of the blob base fee exponential.
    pub update_fraction: u64,
}

impl BlobParams {
    /// Gas used by one blob.
    pub const GAS_PER_BLOB: u64 = 131_072;
    /// Cancun: 6 blobs, fraction 3338477.
    pub const CANCUN: BlobParams = BlobParams {
        max_blobs_per_block: 6,
        update_fraction: 3_338_477,
    };
    /// Prague and Osaka: 9 blobs, fraction 5007716.
    pub const PRAGUE: BlobParams = BlobParams {
        max_blobs_per_block: 9,
        update_fraction: 5_007_716,
    };
    /// BPO1: 15 blobs, fraction 8346193.
    pub const BPO1: BlobParams = BlobParams {
        max_blobs_per_block: 15,
        update_fraction: 8_346_193,
    };
    /// BPO2: 21 blobs, fraction 11684671.
    pub const BPO2: BlobParams = BlobParams {
        max_blobs_per_block: 21,
        update_fraction: 11_684_671,
    };

    /// Maximum blob gas per block.
    pub const fn max_blob_gas(&self) -> u64 {
        self.max_blobs_per_block * Self::GAS_PER_BLOB
    }
}

/// A chain: its id and how forks activate on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Forks activated by block number, ascending: `(first block, fork)`.
    pub block_forks: Vec<(u64, Fork)>,
    /// Forks activated by timestamp, ascending: `(first timestamp, fork)`.
    pub time_forks: Vec<(u64, Fork)>,
    /// Blob-parameter-only changes by timestamp, ascending.
    pub blob_schedule: Vec<(u64, BlobParams)>,
    /// The DAO fork block, whose irregular state change parevm does not implement.
    pub dao_fork_block: Option<u64>,
}

/// Mainnet Shanghai activation timestamp.
pub const MAINNET_SHANGHAI_TIME: u64 = 1_681_338_455;
/// Mainnet Cancun activation timestamp.
pub const MAINNET_CANCUN_TIME: u64 = 1_710_338_135;
/// Mainnet Prague activation timestamp.
pub const MAINNET_PRAGUE_TIME: u64 = 1_746_612_311;
/// Mainnet Osaka activation timestamp.
pub const MAINNET_OSAKA_TIME: u64 = 1_764_798_551;
/// Mainnet BPO1 activation timestamp.
pub const MAINNET_BPO1_TIME: u64 = 1_765_290_071;
/// Mainnet BPO2 activation timestamp.
pub const MAINNET_BPO2_TIME: u64 = 1_767_747_671;

impl ChainSpec {
    /// Ethereum mainnet.
    pub fn mainnet() -> Self {
        ChainSpec {
            chain_id: 1,
            block_forks: vec![
                (0, Fork::Frontier),
                (1_150_000, Fork::Homestead),
                (2_463_000, Fork::Tangerine),
                (2_675_000, Fork::SpuriousDragon),
                (4_370_000, Fork::Byzantium),
                (7_280_000, Fork::Petersburg),
                (9_069_000, Fork::Istanbul),
                (12_244_000, Fork::Berlin),
                (12_965_000, Fork::London),
                (15_537_394, Fork::Paris),
            ],
            time_forks: vec![
                (MAINNET_SHANGHAI_TIME, Fork::Shanghai),
                (MAINNET_CANCUN_TIME, Fork::Cancun),
                (MAINNET_PRAGUE_TIME, Fork::Prague),
                (MAINNET_OSAKA_TIME, Fork::Osaka),
            ],
            blob_schedule: vec![
                (MAINNET_BPO1_TIME, BlobParams::BPO1),
                (MAINNET_BPO2_TIME, BlobParams::BPO2),
            ],
            dao_fork_block: Some(1_920_000),
        }
    }

    /// A chain that runs `fork` from genesis (the state and blockchain tests' networks).
    pub fn single_fork(chain_id: u64, fork: Fork) -> Self {
        ChainSpec {
            chain_id,
            block_forks: vec![(0, fork)],
            time_forks: vec![],
            blob_schedule: vec![],
            dao_fork_block: None,
        }
    }

    /// The fork active at a block with this number and timestamp.
    ///
    /// Timestamp forks only apply once the last block-number fork (Paris) is active, as in
    /// client configurations: a pre-merge block never activates Shanghai.
    pub fn fork_at(&self, number: u64, timestamp: u64) -> Fork {
        let by_block = self
            .block_forks
            .iter()
            .take_while(|(start, _)| *start <= number)
            .last()
            .map_or(Fork::Frontier, |(_, f)| *f);
        let by_time = self
            .time_forks
            .iter()
            .take_while(|(start, _)| *start <= timestamp)
            .last()
            .map(|(_, f)| *f);
        match by_time {
            Some(f) if f > by_block && by_block >= Fork::Paris => f,
            _ => by_block,
        }
    }

    /// Blob parameters active at `timestamp` under `fork`.
    pub fn blob_params_at(&self, fork: Fork, timestamp: u64) -> Option<BlobParams> {
        let base = fork.blob_params()?;
        Some(
            self.blob_schedule
                .iter()
                .take_while(|(start, _)| *start <= timestamp)
                .last()
                .map_or(base, |(_, p)| *p),
        )
    }
}

/// Reward of an uncle (ommer) at `ommer_number` included in block `number`:
/// `(8 + ommer_number - number) * block_reward / 8`.
pub fn ommer_reward(block_reward: U256, number: u64, ommer_number: u64) -> U256 {
    let depth_factor = (8 + ommer_number).saturating_sub(number);
    block_reward * U256::from(depth_factor) / U256::from(8)
}

/// Extra reward of the miner for including `ommers` uncles: `block_reward / 32` each.
pub fn nephew_reward(block_reward: U256, ommers: usize) -> U256 {
    block_reward / U256::from(32) * U256::from(ommers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_boundaries() {
        let c = ChainSpec::mainnet();
        let cases = [
            (0, Fork::Frontier),
            (1_149_999, Fork::Frontier),
            (1_150_000, Fork::Homestead),
            (2_462_999, Fork::Homestead),
            (2_463_000, Fork::Tangerine),
            (2_674_999, Fork::Tangerine),
            (2_675_000, Fork::SpuriousDragon),
            (4_369_999, Fork::SpuriousDragon),
            (4_370_000, Fork::Byzantium),
            (7_279_999, Fork::Byzantium),
            (7_280_000, Fork::Petersburg),
            (9_068_999, Fork::Petersburg),
            (9_069_000, Fork::Istanbul),
            (12_243_999, Fork::Istanbul),
            (12_244_000, Fork::Berlin),
            (12_964_999, Fork::Berlin),
            (12_965_000, Fork::London),
            (15_537_393, Fork::London),
            (15_537_394, Fork::Paris),
        ];
        for (number, fork) in cases {
            // Pre-merge timestamps are far below Shanghai's.
            assert_eq!(c.fork_at(number, 1_600_000_000), fork, "block {number}");
        }
    }

    #[test]
    fn mainnet_time_boundaries() {
        let c = ChainSpec::mainnet();
        let n = 17_000_000;
        assert_eq!(c.fork_at(n, MAINNET_SHANGHAI_TIME - 1), Fork::Paris);
        assert_eq!(c.fork_at(n, MAINNET_SHANGHAI_TIME), Fork::Shanghai);
        assert_eq!(c.fork_at(n, MAINNET_CANCUN_TIME - 1), Fork::Shanghai);
        assert_eq!(c.fork_at(n, MAINNET_CANCUN_TIME), Fork::Cancun);
        assert_eq!(c.fork_at(n, MAINNET_PRAGUE_TIME), Fork::Prague);
        assert_eq!(c.fork_at(n, MAINNET_OSAKA_TIME - 1), Fork::Prague);
        assert_eq!(c.fork_at(n, MAINNET_OSAKA_TIME), Fork::Osaka);
        // A pre-merge block number never picks up a timestamp fork.
        assert_eq!(c.fork_at(15_000_000, MAINNET_CANCUN_TIME), Fork::London);
        // Fixture blocks named in the shared README: last Paris and first Cancun.
        assert_eq!(c.fork_at(17_034_869, 1_681_338_443), Fork::Paris);
        assert_eq!(c.fork_at(19_426_587, 1_710_338_135), Fork::Cancun);
    }

    #[test]
    fn blob_schedule() {
        let c = ChainSpec::mainnet();
        assert_eq!(c.blob_params_at(Fork::Shanghai, MAINNET_CANCUN_TIME), None);
        assert_eq!(
            c.blob_params_at(Fork::Cancun, MAINNET_CANCUN_TIME),
            Some(BlobParams::CANCUN)
        );
        assert_eq!(
            c.blob_params_at(Fork::Osaka, MAINNET_OSAKA_TIME),
            Some(BlobParams::PRAGUE)
        );
        assert_eq!(
            c.blob_params_at(Fork::Osaka, MAINNET_BPO1_TIME),
            Some(BlobParams::BPO1)
        );
        assert_eq!(
            c.blob_params_at(Fork::Osaka, MAINNET_BPO2_TIME + 1),
            Some(BlobParams::BPO2)
        );
    }

    #[test]
    fn rewards() {
        let eth = U256::from(10u128.pow(18));
        assert_eq!(Fork::Frontier.block_reward(), Some(eth * U256::from(5)));
        assert_eq!(
            Fork::SpuriousDragon.block_reward(),
            Some(eth * U256::from(5))
        );
        assert_eq!(Fork::Byzantium.block_reward(), Some(eth * U256::from(3)));
        assert_eq!(Fork::Petersburg.block_reward(), Some(eth * U256::from(2)));
        assert_eq!(Fork::London.block_reward(), Some(eth * U256::from(2)));
        assert_eq!(Fork::Paris.block_reward(), None);
        let r = eth * U256::from(5);
        // An uncle one block behind gets 7/8, six behind gets 2/8.
        assert_eq!(ommer_reward(r, 100, 99), r * U256::from(7) / U256::from(8));
        assert_eq!(ommer_reward(r, 100, 94), r * U256::from(2) / U256::from(8));
        assert_eq!(nephew_reward(r, 2), U256::from(312_500_000_000_000_000u128));
    }

    #[test]
    fn test_names_round_trip() {
        for f in Fork::ALL {
            assert_eq!(Fork::from_test_name(f.test_name()), Some(f));
        }
        assert_eq!(Fork::from_test_name("Merge"), Some(Fork::Paris));
        assert_eq!(Fork::from_test_name("Atlantis"), None);
    }
}
