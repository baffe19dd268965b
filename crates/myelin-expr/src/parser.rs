//! Hand-written Pratt parser for both dialects (precedence table and the jLEMS facts behind
//! it: see the crate documentation).
//!
//! Binding powers (a higher number binds tighter): `.or.`/`|` 10, `&` 12 (LEMS `.and.` 10),
//! operand of `.not.`/`~` 20, comparisons 20 (non-associative), `+ -` 30, `* / %` 40,
//! operand of a leading unary minus 50, `^` 60 (LEMS left-, SymPy right-associative), operand
//! of a LEMS unary minus that follows an operator 70.

use crate::ast::{BinaryOp, Dialect, Expr, ExprKind, Func, Span, UnaryOp};
use crate::lexer::{Tok, Token, lex};
use std::fmt;

/// Deepest expression tree the parser builds (and deepest nesting it follows).
///
/// Every recursive operation in this crate recurses at most as deep as the tree, so the limit
/// keeps them all within a thread's default stack.
pub const MAX_DEPTH: usize = 256;

/// A syntax error: what went wrong and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Human-readable description.
    pub message: String,
    /// The offending bytes of the source (empty at the end of input for "unexpected end").
    pub span: Span,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (at {}..{})",
            self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses `src` in `dialect` into an expression tree.
///
/// Identifiers that name a built-in function are calls only when followed by `(`; a LEMS
/// identifier followed by `(` must be a built-in. In the SymPy dialect other calls are
/// [`Func::User`] calls, `pi` and `E` are [`Constant`](crate::Constant)s (see
/// [`shadow_constants`](crate::shadow_constants) for models that use `E` as a variable),
/// `True`/`False` are booleans and `oo`/`nan` are infinity and NaN. The SymPy dialect also
/// accepts `a % b` (read as `Mod(a, b)`), indexed names (`x_j[0]`, read as variables) and
/// LEMS's dotted operators (`.gt.`, `.and.`, ...), all of which TVBO files use.
pub fn parse(src: &str, dialect: Dialect) -> Result<Expr, ParseError> {
    let toks = lex(src, dialect)?;
    let end = u32::try_from(src.len()).unwrap_or(u32::MAX);
    if toks.is_empty() {
        return Err(ParseError {
            message: "empty expression".to_owned(),
            span: 0..end,
        });
    }
    let mut p = Parser {
        toks,
        pos: 0,
        dialect,
        end,
        nesting: 0,
    };
    let e = p.expr(0)?;
    if let Some(t) = p.toks.get(p.pos) {
        let message = match t.tok {
            Tok::RParen => "unmatched `)`".to_owned(),
            _ => format!(
                "expected an operator or the end of the expression, found {}",
                t.tok.describe()
            ),
        };
        return Err(ParseError {
            message,
            span: t.span.clone(),
        });
    }
    Ok(e.expr)
}

/// A parsed subtree and its height.
struct Node {
    expr: Expr,
    depth: usize,
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    dialect: Dialect,
    end: u32,
    nesting: usize,
}

/// Operand binding power of `.not.` / `~`: it takes a whole comparison.
const NOT_OPERAND: u8 = 20;
/// Operand binding power of a leading unary minus (and of every SymPy unary minus).
const PREFIX_OPERAND: u8 = 50;
/// Operand binding power of a LEMS unary minus that follows an operator.
const TIGHT_OPERAND: u8 = 70;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn end_span(&self) -> Span {
        self.end..self.end
    }

    fn error(&self, message: impl Into<String>, span: Span) -> ParseError {
        ParseError {
            message: message.into(),
            span,
        }
    }

    /// Error for a missing operand at the current position.
    fn expected_operand(&self) -> ParseError {
        match self.toks.get(self.pos) {
            None => self.error(
                "unexpected end of expression: expected an operand",
                self.end_span(),
            ),
            Some(t) => self.error(
                format!("expected an operand, found {}", t.tok.describe()),
                t.span.clone(),
            ),
        }
    }

    /// Left and right binding power of an infix operator token, and its operator (`None`
    /// for `%`, which builds a `Mod` call).
    fn infix(&self, tok: &Tok) -> Option<(u8, u8, Option<BinaryOp>)> {
        let lems = self.dialect == Dialect::Lems;
        let (lbp, rbp, op) = match tok {
            Tok::Op(BinaryOp::Or) => (10, 11, BinaryOp::Or),
            Tok::Op(BinaryOp::And) if lems => (10, 11, BinaryOp::And),
            Tok::Op(BinaryOp::And) => (12, 13, BinaryOp::And),
            Tok::Op(op) => (20, 21, *op),
            Tok::Plus => (30, 31, BinaryOp::Add),
            Tok::Minus => (30, 31, BinaryOp::Sub),
            Tok::Star => (40, 41, BinaryOp::Mul),
            Tok::Slash => (40, 41, BinaryOp::Div),
            Tok::Percent => return Some((40, 41, None)),
            Tok::Pow if lems => (60, 61, BinaryOp::Pow),
            Tok::Pow => (60, 60, BinaryOp::Pow),
            _ => return None,
        };
        Some((lbp, rbp, Some(op)))
    }

    fn node(&self, kind: ExprKind, span: Span, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error(
                format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
                span,
            ));
        }
        Ok(Node {
            expr: Expr::new(kind, span),
            depth,
        })
    }

    /// Parses an expression whose infix operators all bind at least `min_bp`.
    fn expr(&mut self, min_bp: u8) -> Result<Node, ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            let span = self
                .toks
                .get(self.pos)
                .map_or(self.end_span(), |t| t.span.clone());
            return Err(self.error(
                format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
                span,
            ));
        }
        let mut lhs = self.prefix()?;
        let mut lhs_is_comparison = false;
        while let Some(tok) = self.peek() {
            let Some((lbp, rbp, op)) = self.infix(tok) else {
                break;
            };
            if lbp < min_bp {
                break;
            }
            let op_span = self.toks[self.pos].span.clone();
            let is_comparison = op.is_some_and(BinaryOp::is_comparison);
            if is_comparison && lhs_is_comparison {
                return Err(self.error("comparisons cannot be chained; add parentheses", op_span));
            }
            self.pos += 1;
            let rhs = self.expr(rbp)?;
            let span = lhs.expr.span.start..rhs.expr.span.end;
            let depth = 1 + lhs.depth.max(rhs.depth);
            let kind = match op {
                Some(op) => ExprKind::Binary(op, Box::new(lhs.expr), Box::new(rhs.expr)),
                None => ExprKind::Call(Func::Mod, vec![lhs.expr, rhs.expr]),
            };
            lhs = self.node(kind, span, depth)?;
            lhs_is_comparison = is_comparison;
        }
        self.nesting -= 1;
        Ok(lhs)
    }

    /// Parses an operand: a literal, a variable, a call, a parenthesised expression or a
    /// prefix operator applied to an operand.
    fn prefix(&mut self) -> Result<Node, ParseError> {
        let Some(token) = self.toks.get(self.pos).cloned() else {
            return Err(self.expected_operand());
        };
        let after_operator = self.pos > 0 && self.toks[self.pos - 1].tok.is_operator();
        let start = token.span.start;
        match token.tok {
            Tok::Num(v) => {
                self.pos += 1;
                self.node(ExprKind::Num(v), token.span, 1)
            }
            Tok::Ident(name) => {
                self.pos += 1;
                self.identifier(name, token.span)
            }
            Tok::LParen => {
                self.pos += 1;
                let mut inner = self.expr(0)?;
                let close = self.expect_close(&token.span)?;
                inner.expr.span = start..close.end;
                Ok(inner)
            }
            Tok::Minus | Tok::Plus => {
                self.pos += 1;
                let bp = if self.dialect == Dialect::Lems && after_operator {
                    TIGHT_OPERAND
                } else {
                    PREFIX_OPERAND
                };
                let operand = self.expr(bp)?;
                let span = start..operand.expr.span.end;
                if token.tok == Tok::Plus {
                    let mut operand = operand;
                    operand.expr.span = span;
                    return Ok(operand);
                }
                let depth = operand.depth + 1;
                self.node(
                    ExprKind::Unary(UnaryOp::Neg, Box::new(operand.expr)),
                    span,
                    depth,
                )
            }
            Tok::Not => {
                self.pos += 1;
                let operand = self.expr(NOT_OPERAND)?;
                let span = start..operand.expr.span.end;
                let depth = operand.depth + 1;
                self.node(
                    ExprKind::Unary(UnaryOp::Not, Box::new(operand.expr)),
                    span,
                    depth,
                )
            }
            _ => Err(self.expected_operand()),
        }
    }

    /// Consumes the `)` matching the `(` at `open`.
    fn expect_close(&mut self, open: &Span) -> Result<Span, ParseError> {
        match self.toks.get(self.pos) {
            Some(Token {
                tok: Tok::RParen,
                span,
            }) => {
                let span = span.clone();
                self.pos += 1;
                Ok(span)
            }
            None => Err(self.error("unclosed `(`", open.clone())),
            Some(t) => Err(self.error(
                format!("expected `)`, found {}", t.tok.describe()),
                t.span.clone(),
            )),
        }
    }

    /// An identifier: a call if `(` follows, else a variable or a named constant.
    fn identifier(&mut self, name: String, span: Span) -> Result<Node, ParseError> {
        let sympy = self.dialect == Dialect::Sympy;
        if self.peek() != Some(&Tok::LParen) {
            let kind = self.dialect.literal(&name).unwrap_or(ExprKind::Var(name));
            return self.node(kind, span, 1);
        }
        if sympy && name == "Piecewise" {
            return self.piecewise(span);
        }
        let func = match Func::builtin(&name, self.dialect) {
            Some(f) => f,
            None if sympy && (name == "Eq" || name == "Ne") => {
                let (args, close, depth) = self.arguments()?;
                let full = span.start..close.end;
                let [a, b]: [Expr; 2] = args.try_into().map_err(|args: Vec<Expr>| {
                    self.error(
                        format!("`{name}` takes 2 arguments, found {}", args.len()),
                        full.clone(),
                    )
                })?;
                let op = if name == "Eq" {
                    BinaryOp::Eq
                } else {
                    BinaryOp::Ne
                };
                return self.node(ExprKind::Binary(op, Box::new(a), Box::new(b)), full, depth);
            }
            None if sympy => Func::User(name.clone()),
            None => return Err(self.error(format!("unknown function `{name}`"), span)),
        };
        let (args, close, depth) = self.arguments()?;
        let full = span.start..close.end;
        let arity = func.arity();
        if !arity.accepts(args.len()) {
            let s = if arity.min == 1 && arity.max == Some(1) {
                ""
            } else {
                "s"
            };
            return Err(self.error(
                format!("`{name}` takes {arity} argument{s}, found {}", args.len()),
                full,
            ));
        }
        self.node(ExprKind::Call(func, args), full, depth)
    }

    /// Parses `( [expr {, expr}] )`; returns the arguments, the span of `)` and the depth of a
    /// node with these children.
    fn arguments(&mut self) -> Result<(Vec<Expr>, Span, usize), ParseError> {
        let open = self.toks[self.pos].span.clone();
        self.pos += 1;
        let mut args = Vec::new();
        let mut depth = 1;
        if let Some(Token {
            tok: Tok::RParen,
            span,
        }) = self.toks.get(self.pos)
        {
            let span = span.clone();
            self.pos += 1;
            return Ok((args, span, depth));
        }
        loop {
            let arg = self.expr(0)?;
            depth = depth.max(arg.depth + 1);
            args.push(arg.expr);
            match self.toks.get(self.pos) {
                Some(Token {
                    tok: Tok::Comma, ..
                }) => self.pos += 1,
                Some(Token {
                    tok: Tok::RParen,
                    span,
                }) => {
                    let span = span.clone();
                    self.pos += 1;
                    return Ok((args, span, depth));
                }
                None => return Err(self.error("unclosed `(`", open)),
                Some(t) => {
                    return Err(self.error(
                        format!("expected `,` or `)`, found {}", t.tok.describe()),
                        t.span.clone(),
                    ));
                }
            }
        }
    }

    /// Parses `Piecewise((value, condition), ...)` after the name.
    fn piecewise(&mut self, name: Span) -> Result<Node, ParseError> {
        let open = self.toks[self.pos].span.clone();
        self.pos += 1;
        let mut pieces = Vec::new();
        let mut depth = 1;
        loop {
            let piece_open = match self.toks.get(self.pos) {
                Some(Token {
                    tok: Tok::LParen,
                    span,
                }) => span.clone(),
                Some(Token {
                    tok: Tok::RParen,
                    span,
                }) if pieces.is_empty() => {
                    return Err(self.error(
                        "Piecewise needs at least one (value, condition) pair",
                        span.clone(),
                    ));
                }
                None => return Err(self.error("unclosed `(`", open)),
                Some(t) => {
                    return Err(self.error(
                        format!(
                            "expected a `(value, condition)` pair, found {}",
                            t.tok.describe()
                        ),
                        t.span.clone(),
                    ));
                }
            };
            self.pos += 1;
            let value = self.expr(0)?;
            match self.toks.get(self.pos) {
                Some(Token {
                    tok: Tok::Comma, ..
                }) => self.pos += 1,
                None => return Err(self.error("unclosed `(`", piece_open)),
                Some(t) => {
                    return Err(self.error(
                        format!("expected `,` and a condition, found {}", t.tok.describe()),
                        t.span.clone(),
                    ));
                }
            }
            let condition = self.expr(0)?;
            self.expect_close(&piece_open)?;
            depth = depth.max(1 + value.depth.max(condition.depth));
            pieces.push((value.expr, condition.expr));
            match self.toks.get(self.pos) {
                Some(Token {
                    tok: Tok::Comma, ..
                }) => self.pos += 1,
                Some(Token {
                    tok: Tok::RParen,
                    span,
                }) => {
                    let close = span.clone();
                    self.pos += 1;
                    return self.node(ExprKind::Piecewise(pieces), name.start..close.end, depth);
                }
                None => return Err(self.error("unclosed `(`", open)),
                Some(t) => {
                    return Err(self.error(
                        format!("expected `,` or `)`, found {}", t.tok.describe()),
                        t.span.clone(),
                    ));
                }
            }
        }
    }
}
