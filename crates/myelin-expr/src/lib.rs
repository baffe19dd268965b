//! myelin's expression language: one IR for LEMS and SymPy expressions.
//!
//! - [`parse`] reads either [`Dialect`] into an [`Expr`] tree whose nodes carry source spans;
//! - [`print_lems`] and [`print_sympy`] write a tree back (parse ∘ print is the identity on
//!   trees, up to spans);
//! - [`substitute`], [`inline_functions`], [`fold_constants`] and [`shadow_constants`] rewrite
//!   trees;
//! - [`infer_dimension`] checks physical dimensions with [`myelin_units::Dimension`];
//! - [`eval`] is the reference evaluator.
//!
//! Nothing here does I/O or panics on user input: every failure is an error value with the
//! span of the offending source. Trees from [`parse`] are at most [`MAX_DEPTH`] deep, which
//! bounds the recursion of every operation.
//!
//! ```
//! use myelin_expr::{parse, print_sympy, Dialect};
//! let e = parse("g * (v - e_rev) .gt. 0", Dialect::Lems).unwrap();
//! assert_eq!(print_sympy(&e), "g*(v - e_rev) > 0");
//! ```

mod ast;
mod dims;
mod eval;
mod lexer;
mod parser;
mod print;
mod rewrite;

pub use ast::{Arity, BinaryOp, Constant, Dialect, Expr, ExprKind, Func, FunctionDef, Span, UnaryOp};
pub use dims::{DimError, DimType, infer_dimension};
pub use eval::{EvalError, eval};
pub use parser::{MAX_DEPTH, ParseError, parse};
pub use print::{PrintError, print_lems, print_sympy};
pub use rewrite::{
    InlineError, MAX_INLINE_SIZE, fold_constants, inline_functions, shadow_constants, substitute,
};
