//! The one skip list of the conformance runners. Every entry names a case the EVM library
//! (revm 43) cannot represent, and why. Nothing is skipped for merely failing.

/// Test files skipped as a whole, by file stem prefix, with the reason.
pub const SKIPPED_FILES: &[(&str, &str)] = &[
    ("InitCollision", COLLISION),
    ("create2collisionStorage", COLLISION),
    ("dynamicAccountOverwriteEmpty", COLLISION),
    ("RevertInCreateInInit", COLLISION),
    (
        "HighGasPrice",
        "a gas price wider than 128 bits: revm's transaction environment holds gas prices as u128",
    ),
    (
        "ValueOverflow",
        "transaction values wider than 256 bits cannot be represented in a transaction",
    ),
];

const COLLISION: &str = "CREATE into an address that already has storage (EIP-7610): revm 43 rejects a \
     collision only on nonce or code, and cannot represent an account created over existing storage";

/// Forks present in the suites that revm does not implement, with the reason.
pub const SKIPPED_FORKS: &[(&str, &str)] = &[(
    "Constantinople",
    "revm 43 has no Constantinople (EIP-1283 net gas metering) spec; mainnet went from Byzantium straight to Petersburg (ConstantinopleFix), which runs",
)];

/// The reason to skip the file at `path`, if any.
pub fn file_skip_reason(path: &std::path::Path) -> Option<&'static str> {
    let stem = path.file_stem()?.to_str()?;
    SKIPPED_FILES
        .iter()
        .find(|(prefix, _)| stem.starts_with(prefix))
        .map(|(_, why)| *why)
}

/// The reason to skip cases of fork `name`, if any.
pub fn fork_skip_reason(name: &str) -> Option<&'static str> {
    SKIPPED_FORKS
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, why)| *why)
}
