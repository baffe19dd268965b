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
//! # Dialects
//!
//! Operator precedence, loosest first:
//!
//! | LEMS                                   | SymPy                                 |
//! |----------------------------------------|---------------------------------------|
//! | `.or.` `.and.` (one level)             | `\|`                                  |
//! |                                        | `&`                                   |
//! | `.not.` (an extension; not printable)  | `~`                                   |
//! | `.gt. .geq. .lt. .leq. .eq. .neq.`     | `> >= < <= == !=` (and `Eq`, `Ne`)    |
//! | `+ -`                                  | `+ -`                                 |
//! | `* /`                                  | `* / %` (`%` is `Mod`)                |
//! | leading unary `-`                      | unary `- +`                           |
//! | `^` (left to right)                    | `**` or `^` (right to left)           |
//! | unary `-` after another operator       |                                       |
//!
//! The LEMS column is jLEMS's (`core/expression/Parser.java` and its operator nodes, whose
//! precedences are: unary minus 0, `^` 1, `/` 2, `*` 3, `-` 4, `+` 5, comparisons 10,
//! `.and.`/`.or.` 20, applied left to right within a level):
//! - `.and.` and `.or.` share a level: `a .or. b .and. c` is `(a .or. b) .and. c`;
//! - `a^b^c` is `(a^b)^c`;
//! - a minus that follows an operator (`a * -x^2`, `x .gt. -1`, `2^-1`) is jLEMS's unary minus
//!   and binds tighter than `^`, so `a * -x^2` is `a * ((-x)^2)`; a minus at the start or after
//!   `(` is a binary minus with an implied `0`, so `-x^2` is `-(x^2)`;
//! - jLEMS gives `.eq.` the precedence of `.and.`, an evident slip; here every comparison
//!   shares one level. Chained comparisons (`a .lt. b .lt. c`) are rejected.
//!
//! PyLEMS's spellings `.ge. .le. .ne.` (and jLEMS's `.gte. .lte.`) are accepted. The printers
//! parenthesise every case on which readers could disagree (`-(x^2)`, `(-x)^2`, `(a^b)^c`,
//! mixed `.and.`/`.or.`), so what they write means the same to jLEMS, PyLEMS and this parser.
//!
//! The SymPy dialect reads what SymPy's `str()` writes, as TVBO stores equations, with
//! comparisons binding tighter than `&` and `|` (SymPy always parenthesises them there, and
//! `x > 0 & y < 1` means what it says), plus LEMS's dotted operators and lowercase function
//! names, `%`, and indexed variables `x_j[0]` (read as variables of that name), all of which
//! TVBO files use.
//!
//! ```
//! use myelin_expr::{parse, print_sympy, Dialect};
//! let e = parse("g * (v - e_rev) .gt. 0", Dialect::Lems).unwrap();
//! assert_eq!(print_sympy(&e), "g*(v - e_rev) > 0");
//! ```

#![forbid(unsafe_code)]

#![warn(missing_docs)]

mod ast;
mod dims;
mod eval;
mod lexer;
mod parser;
mod print;
mod rewrite;

pub use ast::{
    Arity, BinaryOp, Constant, Dialect, Expr, ExprKind, Func, FunctionDef, Span, UnaryOp,
};
pub use dims::{DimError, DimType, infer_dimension};
pub use eval::{EvalError, apply_binary, apply_func, eval};
pub use parser::{MAX_DEPTH, ParseError, parse};
pub use print::{PrintError, print_lems, print_sympy};
pub use rewrite::{
    InlineError, MAX_INLINE_SIZE, fold_constants, inline_functions, shadow_constants, substitute,
};
