//! Flat programs compiled to machine code with cranelift (cargo feature `jit`).
//!
//! Each [`Piece`] of a [`Flat`] program (straight-line code up to a condition test) becomes
//! one native function `(vals, shadows, regs, t, dt) -> fired`. Registers become SSA values,
//! so temporaries never touch memory; constants are immediates; places in the packed arrays
//! are fixed offsets from the two base pointers. Every operation is the IEEE operation the
//! interpreter performs, in the same order, and the functions it calls (`exp`, `powf`, ...)
//! are the same Rust functions behind `extern "C"` shims, so the results are identical to the
//! interpreter's (the differential tests run with this feature on, too).
//!
//! Pieces using what only the interpreter does (`random()`, calls of several arguments) stay
//! interpreted. When cranelift cannot target the host, nothing is compiled.
//!
//! This is the one module of the engine with `unsafe`: turning finished code into a function
//! pointer and calling it. Soundness rests on one check: every place and register the code
//! touches was checked against the arrays' lengths when it was compiled, and
//! [`Natives::call`] checks that the slices it is given are at least that long.

#![allow(unsafe_code)]

use crate::flat::{Chunk, FOp, Flat, Piece};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{types, AbiParam, Block, InstBuilder, MemFlagsData, Signature, UserFuncName, Value};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::Module;
use myelin_expr::{BinaryOp, Func};
use rustc_hash::{FxHashMap, FxHashSet};

/// `(vals, shadows, regs, t, dt) -> whether the piece's condition holds`.
type Entry = unsafe extern "C" fn(*mut f64, *mut f64, *mut f64, f64, f64) -> u32;

/// Compiled pieces, alive as long as their module.
pub(crate) struct Natives {
    /// Owns the code the entries point into; never dropped before them.
    _module: JITModule,
    entries: Vec<Entry>,
    /// The shortest arrays the code may be given: (vals, shadows, regs).
    lens: (usize, usize, usize),
}

impl Natives {
    /// Runs compiled piece `k`; returns whether its condition test holds.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn call(&self, k: usize, vals: &mut [f64], shadows: &mut [f64], regs: &mut [f64], t: f64, dt: f64) -> bool {
        assert!(vals.len() >= self.lens.0 && shadows.len() >= self.lens.1 && regs.len() >= self.lens.2, "arrays shorter than the compiled code expects");
        // SAFETY: the entry was produced by `compile` for these arrays: it reads and writes
        // only places below `lens` (checked when each operation was compiled, and against the
        // slices just above), through the three pointers, which come from live exclusive
        // borrows; its module is owned by `self`.
        unsafe { (self.entries[k])(vals.as_mut_ptr(), shadows.as_mut_ptr(), regs.as_mut_ptr(), t, dt) != 0 }
    }
}

macro_rules! shims {
    ($($name:ident = $f:expr;)*) => {
        $(extern "C" fn $name(x: f64) -> f64 { $f(x) })*
    };
}

shims! {
    shim_exp = f64::exp;
    shim_ln = f64::ln;
    shim_sqrt = f64::sqrt;
    shim_sin = f64::sin;
    shim_cos = f64::cos;
    shim_tan = f64::tan;
    shim_asin = f64::asin;
    shim_acos = f64::acos;
    shim_atan = f64::atan;
    shim_sinh = f64::sinh;
    shim_cosh = f64::cosh;
    shim_tanh = f64::tanh;
    shim_asinh = f64::asinh;
    shim_acosh = f64::acosh;
    shim_atanh = f64::atanh;
    shim_ceil = f64::ceil;
    shim_floor = f64::floor;
}

extern "C" fn shim_pow(a: f64, b: f64) -> f64 {
    a.powf(b)
}

/// The shim computing what `crate::bytecode::unary_fn` gives for `f`.
fn unary_shim(f: &Func) -> Option<extern "C" fn(f64) -> f64> {
    Some(match f {
        Func::Exp => shim_exp,
        Func::Log => shim_ln,
        Func::Sqrt => shim_sqrt,
        Func::Sin => shim_sin,
        Func::Cos => shim_cos,
        Func::Tan => shim_tan,
        Func::Asin => shim_asin,
        Func::Acos => shim_acos,
        Func::Atan => shim_atan,
        Func::Sinh => shim_sinh,
        Func::Cosh => shim_cosh,
        Func::Tanh => shim_tanh,
        Func::Asinh => shim_asinh,
        Func::Acosh => shim_acosh,
        Func::Atanh => shim_atanh,
        Func::Ceil => shim_ceil,
        Func::Floor => shim_floor,
        _ => return None,
    })
}

/// Compiles every piece of `chunks` it can, marking them in place. Leaves everything
/// interpreted when the host is not supported or the arrays are too large for 32-bit offsets.
pub(crate) fn compile(flat: &mut Flat, chunks: &mut [Chunk], lens: (usize, usize)) {
    let regs = flat.regs.len();
    let limit = (i32::MAX / 8) as usize;
    if lens.0 >= limit || lens.1 >= limit || regs >= limit {
        return;
    }
    // A temporary read before it is written in its piece would carry a value from an earlier
    // piece through the register file; the builder never produces one (values are reloaded
    // after every condition), and if it ever did, everything stays interpreted.
    if has_upward_exposed(flat, chunks) {
        return;
    }
    let Some(mut module) = module() else { return };
    let mut sig = module.make_signature();
    for _ in 0..3 {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig.params.push(AbiParam::new(types::F64));
    sig.params.push(AbiParam::new(types::F64));
    sig.returns.push(AbiParam::new(types::I32));
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let call_conv = module.isa().default_call_conv();
    let mut ids = vec![];
    let mut marks = vec![];
    for (c, chunk) in chunks.iter().enumerate() {
        let Chunk::Flat(pieces) = chunk else { continue };
        for (p, piece) in pieces.iter().enumerate() {
            if !supported(flat, piece) {
                continue;
            }
            let Ok(id) = module.declare_anonymous_function(&sig) else { return };
            ctx.func.signature = sig.clone();
            ctx.func.name = UserFuncName::user(0, id.as_u32());
            let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            let lowered = Lower::new(flat, b, lens, call_conv).piece(piece, module.target_config());
            if !lowered || module.define_function(id, &mut ctx).is_err() {
                // Something unexpected: run everything interpreted rather than half of it.
                return;
            }
            module.clear_context(&mut ctx);
            marks.push((c, p));
            ids.push(id);
        }
    }
    if ids.is_empty() || module.finalize_definitions().is_err() {
        return;
    }
    // SAFETY: each id was defined above with the signature `Entry` spells (three pointers,
    // two f64, a u32 result, the host's C calling convention) and the module is finalized.
    let entries = ids.iter().map(|&id| unsafe { std::mem::transmute::<*const u8, Entry>(module.get_finalized_function(id)) }).collect();
    flat.native = Some(Natives { _module: module, entries, lens: (lens.0, lens.1, regs) });
    for (k, (c, p)) in marks.into_iter().enumerate() {
        if let Chunk::Flat(pieces) = &mut chunks[c] {
            pieces[p].native = Some(k as u32);
        }
    }
}

fn module() -> Option<JITModule> {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").ok()?;
    flags.set("use_colocated_libcalls", "false").ok()?;
    flags.set("is_pic", "false").ok()?;
    let isa = cranelift_native::builder().ok()?.finish(settings::Flags::new(flags)).ok()?;
    Some(JITModule::new(JITBuilder::with_isa(isa, cranelift_module::default_libcall_names())))
}

/// Whether every operation of `piece` has a compiled form.
fn supported(flat: &Flat, piece: &Piece) -> bool {
    flat.ops[piece.ops.clone()].iter().all(|op| match op {
        FOp::Random { .. } | FOp::CallN { .. } => false,
        FOp::Bin { op, .. } => !matches!(op, BinaryOp::And | BinaryOp::Or),
        FOp::Call1 { f, .. } => unary_shim(&flat.unary[*f as usize].0).is_some(),
        _ => true,
    })
}

/// The registers an operation reads and the one it writes.
fn uses(op: &FOp) -> (([u32; 2], usize), Option<u32>) {
    match *op {
        FOp::Load { d, .. } | FOp::LoadS { d, .. } | FOp::CallN { d, .. } => (([0, 0], 0), Some(d)),
        FOp::Store { s, .. } | FOp::Euler { s, .. } => (([s, 0], 1), None),
        FOp::Expose { .. } | FOp::Jump { .. } => (([0, 0], 0), None),
        FOp::Mov { d, s: a } | FOp::Neg { d, a } | FOp::Not { d, a } | FOp::Truth { d, a } | FOp::Exp { d, a } | FOp::Random { d, a } | FOp::Call1 { d, a, .. } => (([a, 0], 1), Some(d)),
        FOp::Add { d, a, b } | FOp::Sub { d, a, b } | FOp::Mul { d, a, b } | FOp::Div { d, a, b } | FOp::Bin { d, a, b, .. } => (([a, b], 2), Some(d)),
        FOp::JumpIfNot { c, .. } | FOp::JumpIf { c, .. } | FOp::Cond { c, .. } => (([c, 0], 1), None),
    }
}

/// Whether some piece reads a temporary before writing it.
fn has_upward_exposed(flat: &Flat, chunks: &[Chunk]) -> bool {
    chunks.iter().any(|chunk| {
        let Chunk::Flat(pieces) = chunk else { return false };
        pieces.iter().any(|piece| {
            let mut written = FxHashSet::default();
            flat.ops[piece.ops.clone()].iter().any(|op| {
                let ((reads, n), w) = uses(op);
                let early = reads[..n].iter().any(|&r| r as usize >= flat.fixed && !written.contains(&r));
                if let Some(w) = w {
                    written.insert(w);
                }
                early
            })
        })
    })
}

/// Lowers one piece into cranelift IR.
struct Lower<'f, 'b> {
    flat: &'f Flat,
    b: FunctionBuilder<'b>,
    lens: (usize, usize),
    vars: FxHashMap<u32, Variable>,
    blocks: FxHashMap<u32, Block>,
    params: [Value; 5],
    unary_sig: Option<cranelift_codegen::ir::SigRef>,
    binary_sig: Option<cranelift_codegen::ir::SigRef>,
    call_conv: cranelift_codegen::isa::CallConv,
}

const TRUSTED: MemFlagsData = MemFlagsData::trusted();

impl<'f, 'b> Lower<'f, 'b> {
    fn new(flat: &'f Flat, mut b: FunctionBuilder<'b>, lens: (usize, usize), call_conv: cranelift_codegen::isa::CallConv) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let p = b.block_params(entry);
        let params = [p[0], p[1], p[2], p[3], p[4]];
        Lower { flat, b, lens, vars: FxHashMap::default(), blocks: FxHashMap::default(), params, unary_sig: None, binary_sig: None, call_conv }
    }

    fn offset(k: u32) -> i32 {
        // In range: `compile` checked every array against i32::MAX / 8.
        (k as i32) * 8
    }

    fn var(&mut self, r: u32) -> Variable {
        if let Some(&v) = self.vars.get(&r) {
            return v;
        }
        let v = self.b.declare_var(types::F64);
        self.vars.insert(r, v);
        v
    }

    /// The value of register `r`: the time parameter, a constant, or a temporary.
    fn get(&mut self, r: u32) -> Option<Value> {
        let flat = self.flat;
        let r_us = r as usize;
        if r_us >= flat.regs.len() {
            return None;
        }
        if r_us == 0 {
            return Some(self.params[3]);
        }
        if r_us < flat.fixed {
            return Some(self.b.ins().f64const(flat.regs[r_us]));
        }
        let v = self.var(r);
        Some(self.b.use_var(v))
    }

    fn set(&mut self, r: u32, x: Value) -> Option<()> {
        if (r as usize) < self.flat.fixed || r as usize >= self.flat.regs.len() {
            return None; // constants are never written
        }
        let v = self.var(r);
        self.b.def_var(v, x);
        Some(())
    }

    fn place(&self, a: u32, shadow: bool) -> Option<(Value, i32)> {
        let len = if shadow { self.lens.1 } else { self.lens.0 };
        ((a as usize) < len).then(|| (self.params[usize::from(shadow)], Self::offset(a)))
    }

    fn block(&mut self, to: u32) -> Block {
        if let Some(&b) = self.blocks.get(&to) {
            return b;
        }
        let b = self.b.create_block();
        self.blocks.insert(to, b);
        b
    }

    fn truth(&mut self, x: Value) -> Value {
        let zero = self.b.ins().f64const(0.0);
        self.b.ins().fcmp(FloatCC::OrderedNotEqual, x, zero)
    }

    fn bool_value(&mut self, c: Value, yes: f64, no: f64) -> Value {
        let (y, n) = (self.b.ins().f64const(yes), self.b.ins().f64const(no));
        self.b.ins().select(c, y, n)
    }

    fn call(&mut self, f: usize, args: &[Value]) -> Value {
        let sig = if args.len() == 1 { &mut self.unary_sig } else { &mut self.binary_sig };
        let sig = match sig {
            Some(s) => *s,
            None => {
                let mut s = Signature::new(self.call_conv);
                for _ in args {
                    s.params.push(AbiParam::new(types::F64));
                }
                s.returns.push(AbiParam::new(types::F64));
                let r = self.b.import_signature(s);
                *sig = Some(r);
                r
            }
        };
        let callee = self.b.ins().iconst(types::I64, f as i64);
        let inst = self.b.ins().call_indirect(sig, callee, args);
        self.b.inst_results(inst)[0]
    }

    /// The whole piece; `false` when an operation falls outside what was checked.
    fn piece(mut self, piece: &Piece, config: cranelift_codegen::isa::TargetFrontendConfig) -> bool {
        let ok = self.body(piece).is_some();
        if ok {
            self.b.seal_all_blocks();
            self.b.finalize(config);
        }
        ok
    }

    fn body(&mut self, piece: &Piece) -> Option<()> {
        let flat = self.flat;
        let ops = &flat.ops[piece.ops.clone()];
        let start = piece.ops.start as u32;
        let end = piece.ops.end as u32;
        // Jump targets start blocks.
        for op in ops {
            if let FOp::JumpIfNot { to, .. } | FOp::JumpIf { to, .. } | FOp::Jump { to } = *op {
                if to < start || to > end {
                    return None;
                }
                self.block(to);
            }
        }
        let mut fired = None;
        let mut open = true;
        for (k, op) in ops.iter().enumerate() {
            let here = start + k as u32;
            if let Some(&b) = self.blocks.get(&here) {
                if open {
                    self.b.ins().jump(b, &[]);
                }
                self.b.switch_to_block(b);
                open = true;
            } else if !open {
                // Unreachable code after a jump: give it a block of its own.
                let b = self.b.create_block();
                self.b.switch_to_block(b);
                open = true;
            }
            match *op {
                FOp::Load { d, a } | FOp::LoadS { d, a } => {
                    let (base, off) = self.place(a, matches!(op, FOp::LoadS { .. }))?;
                    let x = self.b.ins().load(types::F64, TRUSTED, base, off);
                    self.set(d, x)?;
                }
                FOp::Store { a, s } => {
                    let (base, off) = self.place(a, false)?;
                    let x = self.get(s)?;
                    self.b.ins().store(TRUSTED, x, base, off);
                }
                FOp::Expose { a } => {
                    let (from, off) = self.place(a, false)?;
                    let (to, off2) = self.place(a, true)?;
                    let x = self.b.ins().load(types::F64, TRUSTED, from, off);
                    self.b.ins().store(TRUSTED, x, to, off2);
                }
                FOp::Euler { a, s } => {
                    let (base, off) = self.place(a, false)?;
                    let r = self.get(s)?;
                    let old = self.b.ins().load(types::F64, TRUSTED, base, off);
                    let step = self.b.ins().fmul(self.params[4], r);
                    let new = self.b.ins().fadd(old, step);
                    self.b.ins().store(TRUSTED, new, base, off);
                }
                FOp::Mov { d, s } => {
                    let x = self.get(s)?;
                    self.set(d, x)?;
                }
                FOp::Add { d, a, b } | FOp::Sub { d, a, b } | FOp::Mul { d, a, b } | FOp::Div { d, a, b } => {
                    let (x, y) = (self.get(a)?, self.get(b)?);
                    let ins = self.b.ins();
                    let v = match *op {
                        FOp::Add { .. } => ins.fadd(x, y),
                        FOp::Sub { .. } => ins.fsub(x, y),
                        FOp::Mul { .. } => ins.fmul(x, y),
                        _ => ins.fdiv(x, y),
                    };
                    self.set(d, v)?;
                }
                FOp::Bin { op, d, a, b } => {
                    let (x, y) = (self.get(a)?, self.get(b)?);
                    let cc = match op {
                        BinaryOp::Lt => FloatCC::LessThan,
                        BinaryOp::Le => FloatCC::LessThanOrEqual,
                        BinaryOp::Gt => FloatCC::GreaterThan,
                        BinaryOp::Ge => FloatCC::GreaterThanOrEqual,
                        BinaryOp::Eq => FloatCC::Equal,
                        BinaryOp::Ne => FloatCC::NotEqual,
                        BinaryOp::Pow => {
                            let v = self.call(shim_pow as extern "C" fn(f64, f64) -> f64 as usize, &[x, y]);
                            self.set(d, v)?;
                            continue;
                        }
                        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::And | BinaryOp::Or => return None,
                    };
                    let c = self.b.ins().fcmp(cc, x, y);
                    let v = self.bool_value(c, 1.0, 0.0);
                    self.set(d, v)?;
                }
                FOp::Neg { d, a } => {
                    let x = self.get(a)?;
                    let v = self.b.ins().fneg(x);
                    self.set(d, v)?;
                }
                FOp::Not { d, a } | FOp::Truth { d, a } => {
                    let x = self.get(a)?;
                    let c = self.truth(x);
                    let v = if matches!(op, FOp::Not { .. }) { self.bool_value(c, 0.0, 1.0) } else { self.bool_value(c, 1.0, 0.0) };
                    self.set(d, v)?;
                }
                FOp::Exp { d, a } => {
                    let x = self.get(a)?;
                    let v = self.call(shim_exp as extern "C" fn(f64) -> f64 as usize, &[x]);
                    self.set(d, v)?;
                }
                FOp::Call1 { d, a, f } => {
                    let shim = unary_shim(&flat.unary.get(f as usize)?.0)?;
                    let x = self.get(a)?;
                    let v = self.call(shim as usize, &[x]);
                    self.set(d, v)?;
                }
                FOp::JumpIfNot { c, to } | FOp::JumpIf { c, to } => {
                    let x = self.get(c)?;
                    let t = self.truth(x);
                    let target = self.block(to);
                    let next = self.b.create_block();
                    if matches!(op, FOp::JumpIf { .. }) {
                        self.b.ins().brif(t, target, &[], next, &[]);
                    } else {
                        self.b.ins().brif(t, next, &[], target, &[]);
                    }
                    self.b.switch_to_block(next);
                }
                FOp::Jump { to } => {
                    let target = self.block(to);
                    self.b.ins().jump(target, &[]);
                    open = false;
                }
                FOp::Cond { c, .. } => {
                    if here + 1 != end {
                        return None; // a piece ends at its condition
                    }
                    let x = self.get(c)?;
                    fired = Some(self.truth(x));
                }
                FOp::Random { .. } | FOp::CallN { .. } => return None,
            }
        }
        // A jump to the end lands here (never past a condition test, which ends a piece).
        if let Some(&b) = self.blocks.get(&end) {
            if fired.is_some() {
                return None;
            }
            if open {
                self.b.ins().jump(b, &[]);
            }
            self.b.switch_to_block(b);
            open = true;
        }
        if !open {
            let b = self.b.create_block();
            self.b.switch_to_block(b);
        }
        let result = match fired {
            Some(c) => self.b.ins().uextend(types::I32, c),
            None => self.b.ins().iconst(types::I32, 0),
        };
        self.b.ins().return_(&[result]);
        Some(())
    }
}
