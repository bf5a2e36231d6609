//! The interpreter of [`super::Analysis`]: the EVM's instructions over [`Word`]s, each frame's
//! paths explored depth first, a call's outcome merged over its callee's paths.

use super::{Analysis, Word, hash_known};
use crate::{error::ExecError, predict::Loc};
use alloy_primitives::{Address, Bytes, U256};

/// One call being analysed.
pub(crate) struct Frame {
    /// Whose storage and balance it runs on.
    pub(crate) address: Address,
    pub(crate) caller: Address,
    pub(crate) value: Word,
    pub(crate) calldata: Vec<Option<u8>>,
    pub(crate) code: Bytes,
    pub(crate) depth: usize,
}

/// What a frame's paths ended with, merged: `None` where they differ or are not known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) success: Option<bool>,
    pub(crate) output: Option<Vec<Option<u8>>>,
}

/// How many times a path may fork at one branch (a loop's rounds, or a shared helper's calls).
const MAX_ROUNDS: u32 = 64;

/// Memory beyond which a path's memory counts as unknown.
const MAX_MEMORY: usize = 1 << 16;

/// One path through a frame.
#[derive(Clone)]
struct Path {
    pc: usize,
    stack: Vec<Word>,
    /// Known memory bytes; `None` once something was stored at an unknown place.
    memory: Option<Vec<Option<u8>>>,
    returndata: Option<Vec<Option<u8>>>,
    /// How many times it forked at each branch so far.
    forks: Vec<(usize, u32)>,
}

impl Path {
    /// Counts a fork at `pc`; returns how many there were on this path.
    fn rounds(&mut self, pc: usize) -> u32 {
        match self.forks.iter_mut().find(|(at, _)| *at == pc) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.forks.push((pc, 1));
                1
            }
        }
    }

    fn pop(&mut self) -> Option<Word> {
        self.stack.pop()
    }

    fn push(&mut self, w: Word) -> bool {
        self.stack.push(w);
        self.stack.len() <= 1024
    }

    /// Makes `[offset, offset + len)` addressable; false (memory unknown) when either is.
    fn reach(&mut self, offset: Word, len: Word) -> Option<(usize, usize)> {
        let (offset, len) = (offset?, len?);
        if len.is_zero() {
            return Some((0, 0));
        }
        let (o, l) = (usize::try_from(offset).ok()?, usize::try_from(len).ok()?);
        let Some(end) = o.checked_add(l).filter(|e| *e <= MAX_MEMORY) else {
            self.memory = None;
            return None;
        };
        let memory = self.memory.as_mut()?;
        let end = end.div_ceil(32) * 32;
        if memory.len() < end {
            memory.resize(end, Some(0));
        }
        Some((o, l))
    }

    /// The bytes at `[offset, offset + len)`, unknown ones `None`; `None` for all when the
    /// range or memory is unknown.
    fn read(&mut self, offset: Word, len: Word) -> Option<Vec<Option<u8>>> {
        let (o, l) = self.reach(offset, len)?;
        Some(self.memory.as_ref()?[o..o + l].to_vec())
    }

    /// Stores `bytes` at `offset`; an unknown offset makes all memory unknown.
    fn write(&mut self, offset: Word, bytes: &[Option<u8>]) {
        match self.reach(offset, Some(U256::from(bytes.len()))) {
            Some((o, l)) => {
                if let Some(m) = self.memory.as_mut() {
                    m[o..o + l].copy_from_slice(bytes);
                }
            }
            None => self.memory = None,
        }
    }
}

fn word_bytes(w: Word) -> Vec<Option<u8>> {
    match w {
        Some(v) => v.to_be_bytes::<32>().iter().map(|b| Some(*b)).collect(),
        None => vec![None; 32],
    }
}

/// The word at `offset` of `bytes` (zero past the end), when all its bytes are known.
fn word_at(bytes: &[Option<u8>], offset: Word) -> Word {
    let o = usize::try_from(offset?).unwrap_or(usize::MAX);
    let mut out = [0u8; 32];
    for (k, b) in out.iter_mut().enumerate() {
        *b = match o.checked_add(k).and_then(|i| bytes.get(i)) {
            Some(Some(v)) => *v,
            Some(None) => return None,
            None => 0,
        };
    }
    Some(U256::from_be_bytes(out))
}

/// `len` bytes of `source` from `offset` (zero past the end), for the copy instructions.
fn slice(source: &[Option<u8>], offset: Word, len: usize) -> Vec<Option<u8>> {
    let Some(o) = offset.and_then(|o| usize::try_from(o).ok()) else {
        return vec![None; len];
    };
    (0..len)
        .map(|k| {
            o.checked_add(k)
                .map_or(Some(0), |i| source.get(i).copied().unwrap_or(Some(0)))
        })
        .collect()
}

/// The positions of `code` that are `JUMPDEST`s (not inside push data).
fn jumpdests(code: &[u8]) -> Vec<bool> {
    let mut dests = vec![false; code.len()];
    let mut pc = 0;
    while pc < code.len() {
        let op = code[pc];
        if op == 0x5b {
            dests[pc] = true;
        }
        pc += 1 + if (0x60..=0x7f).contains(&op) {
            usize::from(op - 0x5f)
        } else {
            0
        };
    }
    dests
}

/// How a path's step ended.
enum Flow {
    Next,
    Jump(usize),
    /// An unknown branch: this path continues at the first, a copy at the second.
    Both(usize, usize),
    End(bool, Option<Vec<Option<u8>>>),
    /// The path cannot be followed (already marked partial).
    Lost,
}

impl Analysis<'_> {
    /// Explores every path of `frame` within the budget, recording what they touch, and
    /// returns their merged outcome.
    pub(crate) fn run(&mut self, frame: Frame) -> Result<Outcome, ExecError> {
        let dests = jumpdests(&frame.code);
        let mut pending = vec![Path {
            pc: 0,
            stack: Vec::new(),
            memory: Some(Vec::new()),
            returndata: Some(Vec::new()),
            forks: Vec::new(),
        }];
        let mut ends: Vec<(bool, Option<Vec<Option<u8>>>)> = Vec::new();
        let mut lost = false;
        while let Some(mut path) = pending.pop() {
            loop {
                if !self.step() {
                    lost = true;
                    break;
                }
                match self.exec(&frame, &dests, &mut path)? {
                    Flow::Next => path.pc += 1,
                    Flow::Jump(to) => path.pc = to,
                    Flow::Both(taken, next) => {
                        // (A loop on an unknown bound forks at the same branch every round:
                        // followed for a few rounds only.)
                        if path.rounds(path.pc) > MAX_ROUNDS {
                            self.p.partial = true;
                            lost = true;
                            break;
                        }
                        if self.fork() {
                            let mut other = path.clone();
                            other.pc = next;
                            pending.push(other);
                        } else {
                            lost = true;
                        }
                        path.pc = taken;
                    }
                    Flow::End(ok, output) => {
                        ends.push((ok, output));
                        break;
                    }
                    Flow::Lost => {
                        lost = true;
                        break;
                    }
                }
            }
        }
        Ok(merge(&ends, lost))
    }

    /// Runs the instruction at `path.pc`.
    fn exec(&mut self, f: &Frame, dests: &[bool], path: &mut Path) -> Result<Flow, ExecError> {
        let Some(&op) = f.code.get(path.pc) else {
            return Ok(Flow::End(true, Some(Vec::new())));
        };
        let fail = Flow::End(false, Some(Vec::new()));
        match op {
            0x60..=0x7f => {
                let n = usize::from(op - 0x5f);
                let mut bytes = [0u8; 32];
                for k in 0..n {
                    bytes[32 - n + k] = f.code.get(path.pc + 1 + k).copied().unwrap_or(0);
                }
                path.push(Some(U256::from_be_bytes(bytes)));
                return Ok(Flow::Jump(path.pc + 1 + n));
            }
            0x80..=0x8f => {
                let n = usize::from(op - 0x7f);
                let Some(w) = path.stack.len().checked_sub(n).map(|i| path.stack[i]) else {
                    return Ok(fail);
                };
                path.push(w);
            }
            0x90..=0x9f => {
                let n = usize::from(op - 0x8f);
                let len = path.stack.len();
                if len <= n {
                    return Ok(fail);
                }
                path.stack.swap(len - 1, len - 1 - n);
            }
            _ => return self.exec_other(f, dests, path, op),
        }
        Ok(Flow::Next)
    }

    fn exec_other(
        &mut self,
        f: &Frame,
        dests: &[bool],
        path: &mut Path,
        op: u8,
    ) -> Result<Flow, ExecError> {
        let inputs = stack_inputs(op);
        if path.stack.len() < inputs {
            return Ok(Flow::End(false, Some(Vec::new())));
        }
        let mut args: [Word; 7] = [None; 7];
        for a in args.iter_mut().take(inputs) {
            *a = path.pop().flatten();
        }
        let args = &args[..inputs];
        let arg = |k: usize| args[k];
        let push = |path: &mut Path, w: Word| {
            path.push(w);
        };
        match op {
            0x00 => return Ok(Flow::End(true, Some(Vec::new()))),
            0x01..=0x1d => {
                push(path, super::ops::arith(op, args));
            }
            0x20 => {
                let w = path.read(arg(0), arg(1)).and_then(|b| hash_known(&b));
                push(path, w);
            }
            0x30 => push(path, Some(address_word(f.address))),
            0x31 => {
                match arg(0) {
                    Some(a) => self.p.read(Loc::Account(word_address(a))),
                    None => self.p.partial = true,
                }
                push(path, None);
            }
            0x32 => push(path, Some(address_word(self.origin))),
            0x33 => push(path, Some(address_word(f.caller))),
            0x34 => push(path, f.value),
            0x35 => push(path, word_at(&f.calldata, arg(0))),
            0x36 => push(path, Some(U256::from(f.calldata.len()))),
            0x37 | 0x39 | 0x3e => {
                let len = arg(2).and_then(|l| usize::try_from(l).ok());
                let source: Vec<Option<u8>> = match op {
                    0x37 => f.calldata.clone(),
                    0x39 => f.code.iter().map(|b| Some(*b)).collect(),
                    _ => path.returndata.clone().unwrap_or_default(),
                };
                let unknown_data = op == 0x3e && path.returndata.is_none();
                match len {
                    Some(len) if len <= MAX_MEMORY && !unknown_data => {
                        let bytes = slice(&source, arg(1), len);
                        path.write(arg(0), &bytes);
                    }
                    _ => path.memory = None,
                }
            }
            0x38 => push(path, Some(U256::from(f.code.len()))),
            0x3a => push(path, None),
            0x3b | 0x3c | 0x3f => return self.ext_code(path, op, args),
            0x3d => {
                let size = path.returndata.as_ref().map(|r| U256::from(r.len()));
                push(path, size);
            }
            0x40..=0x4a => push(path, self.block_value(op)),
            0x50 => {}
            0x51 => {
                let w = path
                    .read(arg(0), Some(U256::from(32)))
                    .and_then(|b| word_at(&b, Some(U256::ZERO)));
                push(path, w);
            }
            0x52 => path.write(arg(0), &word_bytes(arg(1))),
            0x53 => path.write(arg(0), &[arg(1).map(|v| v.byte(0))]),
            0x54 => {
                match arg(0) {
                    Some(k) => self.p.read(Loc::Slot(f.address, k)),
                    None => self.p.partial = true,
                }
                push(path, None);
            }
            0x55 => match arg(0) {
                Some(k) => self.p.write(Loc::Slot(f.address, k)),
                None => self.p.partial = true,
            },
            0x56 => return Ok(self.jump(dests, arg(0))),
            0x57 => {
                return Ok(match arg(1) {
                    Some(c) if c.is_zero() => Flow::Jump(path.pc + 1),
                    Some(_) => self.jump(dests, arg(0)),
                    None => match self.jump(dests, arg(0)) {
                        Flow::Jump(to) => Flow::Both(to, path.pc + 1),
                        other => other,
                    },
                });
            }
            0x58 => push(path, Some(U256::from(path.pc))),
            0x59 => {
                let size = path.memory.as_ref().map(|m| U256::from(m.len()));
                push(path, size);
            }
            0x5a | 0x5c => push(path, None),
            0x5b | 0x5d => {}
            0x5e => match path.read(arg(1), arg(2)) {
                Some(bytes) => path.write(arg(0), &bytes),
                None => path.memory = None,
            },
            0x5f => push(path, Some(U256::ZERO)),
            0xa0..=0xa4 => {}
            0xf0 | 0xf5 => {
                self.p.partial = true;
                push(path, None);
                path.returndata = None;
            }
            0xf1 | 0xf2 | 0xf4 | 0xfa => return self.call(f, path, op, args),
            0xf3 => return Ok(Flow::End(true, path.read(arg(0), arg(1)))),
            0xfd => return Ok(Flow::End(false, path.read(arg(0), arg(1)))),
            0xff => {
                self.p.write(Loc::Account(f.address));
                match arg(0) {
                    Some(a) => self.p.write(Loc::Account(word_address(a))),
                    None => self.p.partial = true,
                }
                return Ok(Flow::End(true, Some(Vec::new())));
            }
            _ => return Ok(Flow::End(false, Some(Vec::new()))),
        }
        Ok(if path.stack.len() > 1024 {
            Flow::End(false, Some(Vec::new()))
        } else {
            Flow::Next
        })
    }

    /// A jump to `to`: lost (partial) when unknown, a failure when not a `JUMPDEST`.
    fn jump(&mut self, dests: &[bool], to: Word) -> Flow {
        match to.and_then(|t| usize::try_from(t).ok()) {
            Some(t) if dests.get(t).copied().unwrap_or(false) => Flow::Jump(t),
            Some(_) => Flow::End(false, Some(Vec::new())),
            None => {
                self.p.partial = true;
                Flow::Lost
            }
        }
    }

    /// EXTCODESIZE, EXTCODECOPY, EXTCODEHASH: code is known, its account is read.
    fn ext_code(&mut self, path: &mut Path, op: u8, args: &[Word]) -> Result<Flow, ExecError> {
        let Some(a) = args[0].map(word_address) else {
            self.p.partial = true;
            match op {
                0x3c => path.memory = None,
                _ => {
                    path.push(None);
                }
            }
            return Ok(Flow::Next);
        };
        self.p.read(Loc::Account(a));
        let code = self.code(a)?;
        match op {
            0x3b => {
                path.push(Some(U256::from(code.len())));
            }
            0x3f => {
                let hash = self.code_hash(a)?;
                path.push(Some(U256::from_be_bytes(hash.0)));
            }
            _ => {
                let source: Vec<Option<u8>> = code.iter().map(|b| Some(*b)).collect();
                match args[3].and_then(|l| usize::try_from(l).ok()) {
                    Some(len) if len <= MAX_MEMORY => {
                        path.write(args[1], &slice(&source, args[2], len))
                    }
                    _ => path.memory = None,
                }
            }
        }
        Ok(Flow::Next)
    }

    /// A call: the callee's paths explored when its address is known, their outcome merged.
    fn call(
        &mut self,
        f: &Frame,
        path: &mut Path,
        op: u8,
        args: &[Word],
    ) -> Result<Flow, ExecError> {
        // CALL and CALLCODE take a value; DELEGATECALL and STATICCALL do not.
        let with_value = matches!(op, 0xf1 | 0xf2);
        let shift = usize::from(with_value);
        let value = if with_value {
            args[2]
        } else {
            Some(U256::ZERO)
        };
        let (in_off, in_len) = (args[2 + shift], args[3 + shift]);
        let (out_off, out_len) = (args[4 + shift], args[5 + shift]);
        let calldata = path.read(in_off, in_len).unwrap_or_else(|| {
            self.p.partial = true;
            Vec::new()
        });
        let Some(target) = args[1].map(word_address) else {
            self.p.partial = true;
            path.returndata = None;
            path.memory = None;
            path.push(None);
            return Ok(Flow::Next);
        };
        self.p.read(Loc::Account(target));
        if op == 0xf1 && value.is_none_or(|v| !v.is_zero()) {
            self.p.write(Loc::Account(f.address));
            self.p.write(Loc::Account(target));
        }
        let code = self.code(target)?;
        let outcome = if code.is_empty() {
            // (No code: a plain transfer succeeds with no output; a precompile's output is
            // not worked out.)
            let precompile = target.as_slice()[..18] == [0u8; 18];
            Outcome {
                success: Some(true).filter(|_| !precompile),
                output: (!precompile).then(Vec::new),
            }
        } else if self.may_enter(f.depth + 1) {
            let (address, caller, value) = match op {
                0xf4 => (f.address, f.caller, f.value),
                0xf2 => (f.address, f.address, value),
                _ => (target, f.address, value),
            };
            self.run(Frame {
                address,
                caller,
                value,
                calldata,
                code,
                depth: f.depth + 1,
            })?
        } else {
            Outcome {
                success: None,
                output: None,
            }
        };
        path.returndata = outcome.output.clone();
        match (
            outcome.output,
            out_len.and_then(|l| usize::try_from(l).ok()),
        ) {
            (Some(output), Some(len)) if len <= MAX_MEMORY => {
                let bytes: Vec<Option<u8>> =
                    (0..len.min(output.len())).map(|k| output[k]).collect();
                path.write(out_off, &bytes);
            }
            (_, Some(0)) => {}
            _ => path.memory = None,
        }
        path.push(outcome.success.map(|ok| U256::from(u8::from(ok))));
        Ok(Flow::Next)
    }

    /// The block's and the transaction's environment values.
    fn block_value(&self, op: u8) -> Word {
        let h = &self.block().header;
        match op {
            0x41 => Some(address_word(h.beneficiary)),
            0x42 => Some(U256::from(h.timestamp)),
            0x43 => Some(U256::from(h.number)),
            0x45 => Some(U256::from(h.gas_limit)),
            0x46 => Some(U256::from(self.block().chain_id)),
            0x48 => h.base_fee_per_gas.map(U256::from),
            _ => None,
        }
    }
}

/// Merges the ends of a frame's paths.
fn merge(ends: &[(bool, Option<Vec<Option<u8>>>)], lost: bool) -> Outcome {
    let first = ends.first();
    let same_success = !lost && first.is_some_and(|(ok, _)| ends.iter().all(|(o, _)| o == ok));
    let successes: Vec<&Option<Vec<Option<u8>>>> = ends
        .iter()
        .filter(|(ok, _)| *ok)
        .map(|(_, out)| out)
        .collect();
    let output = match successes.first() {
        Some(Some(out)) if !lost && successes.iter().all(|o| o.as_ref() == Some(out)) => {
            Some(out.clone())
        }
        _ => None,
    };
    Outcome {
        success: first.map(|(ok, _)| *ok).filter(|_| same_success),
        output,
    }
}

/// How many stack items `op` takes (the instructions handled outside PUSH, DUP and SWAP).
fn stack_inputs(op: u8) -> usize {
    match op {
        0x00 | 0x30 | 0x32..=0x34 | 0x36 | 0x38 | 0x3a | 0x3d | 0x41..=0x48 | 0x4a => 0,
        0x58..=0x5a | 0x5b | 0x5f => 0,
        0x15 | 0x19 | 0x31 | 0x35 | 0x3b | 0x3f | 0x40 | 0x49 | 0x50 | 0x51 | 0x54 | 0x56
        | 0x5c | 0xff => 1,
        0x01..=0x07
        | 0x0a
        | 0x0b
        | 0x10..=0x14
        | 0x16..=0x18
        | 0x1a..=0x1d
        | 0x20
        | 0x52
        | 0x53
        | 0x55
        | 0x57
        | 0x5d
        | 0xf3
        | 0xfd => 2,
        0x08 | 0x09 | 0x37 | 0x39 | 0x3e | 0x5e | 0xf0 => 3,
        0x3c | 0xf5 => 4,
        0xa0..=0xa4 => 2 + usize::from(op - 0xa0),
        0xf4 | 0xfa => 6,
        0xf1 | 0xf2 => 7,
        _ => 0,
    }
}

pub(crate) fn address_word(a: Address) -> U256 {
    U256::from_be_slice(a.as_slice())
}

pub(crate) fn word_address(w: U256) -> Address {
    Address::from_slice(&w.to_be_bytes::<32>()[12..])
}
