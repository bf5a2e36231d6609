//! The EVM's arithmetic, comparison and bitwise instructions over [`Word`]s: known when every
//! input is (or when one input decides the result, as a zero factor does).

use super::Word;
use alloy_primitives::U256;

/// The sign bit of a 256-bit two's-complement word.
const SIGN: U256 = U256::from_limbs([0, 0, 0, 1 << 63]);

/// Instruction `op` (0x01 to 0x1d) on `args` (the top of the stack first).
pub(super) fn arith(op: u8, args: &[Word]) -> Word {
    let bool_word = |b: bool| U256::from(u8::from(b));
    // Results one unknown input cannot change.
    match (op, args) {
        (0x02 | 0x16, [Some(z), _] | [_, Some(z)]) if z.is_zero() => return Some(U256::ZERO),
        _ => {}
    }
    let (a, b) = (
        args.first().copied().flatten(),
        args.get(1).copied().flatten(),
    );
    let c = args.get(2).copied().flatten();
    Some(match op {
        0x15 => bool_word(a?.is_zero()),
        0x19 => !a?,
        0x08 => {
            let n = c?;
            if n.is_zero() {
                U256::ZERO
            } else {
                a?.add_mod(b?, n)
            }
        }
        0x09 => {
            let n = c?;
            if n.is_zero() {
                U256::ZERO
            } else {
                a?.mul_mod(b?, n)
            }
        }
        _ => binary(op, a?, b?)?,
    })
}

/// A two-input instruction on known inputs; `None` for those not worked out (signed
/// division, sign extension).
fn binary(op: u8, a: U256, b: U256) -> Word {
    let bool_word = |x: bool| U256::from(u8::from(x));
    let shift = |b: U256| usize::try_from(b).ok().filter(|s| *s < 256);
    Some(match op {
        0x01 => a.wrapping_add(b),
        0x02 => a.wrapping_mul(b),
        0x03 => a.wrapping_sub(b),
        0x04 => a.checked_div(b).unwrap_or_default(),
        0x06 => a.checked_rem(b).unwrap_or_default(),
        0x0a => a.wrapping_pow(b),
        0x10 => bool_word(a < b),
        0x11 => bool_word(a > b),
        0x12 => bool_word((a ^ SIGN) < (b ^ SIGN)),
        0x13 => bool_word((a ^ SIGN) > (b ^ SIGN)),
        0x14 => bool_word(a == b),
        0x16 => a & b,
        0x17 => a | b,
        0x18 => a ^ b,
        0x1a => match usize::try_from(a) {
            Ok(i) if i < 32 => U256::from(b.byte(31 - i)),
            _ => U256::ZERO,
        },
        0x1b => shift(a).map_or(U256::ZERO, |s| b << s),
        0x1c => shift(a).map_or(U256::ZERO, |s| b >> s),
        0x1d => match shift(a) {
            Some(s) => b.arithmetic_shr(s),
            None if b & SIGN != U256::ZERO => U256::MAX,
            None => U256::ZERO,
        },
        _ => return None,
    })
}
