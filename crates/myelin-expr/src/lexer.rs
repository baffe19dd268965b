//! Tokeniser for both dialects.
//!
//! Numbers are `digits [. digits] [e[+-]digits]` or `. digits [...]`; a `.` after the digits
//! is not taken as a decimal point when it starts a LEMS dotted operator, so `1.gt.2` reads as
//! `1 .gt. 2` (jLEMS splits on operators first, and so accepts it too). Identifiers are ASCII
//! letters, digits and `_`, not starting with a digit; in the SymPy dialect an integer
//! subscript directly after a name belongs to it (`x_j[0]`, as TVBO's coupling functions index
//! their inputs), making an indexed variable an ordinary variable named `x_j[0]`.

use crate::ast::{BinaryOp, Dialect, Span};
use crate::parser::ParseError;

/// Token kinds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Num(f64),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    /// `^`, or `**` in SymPy.
    Pow,
    /// A comparison, `&`/`.and.` or `|`/`.or.`.
    Op(BinaryOp),
    /// `~` or `.not.`
    Not,
    /// `%` (SymPy only): `Mod(a, b)`.
    Percent,
}

impl Tok {
    /// How the token is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Num(_) => "a number".to_owned(),
            Tok::Ident(name) => format!("`{name}`"),
            Tok::LParen => "`(`".to_owned(),
            Tok::RParen => "`)`".to_owned(),
            Tok::Comma => "`,`".to_owned(),
            Tok::Plus => "`+`".to_owned(),
            Tok::Minus => "`-`".to_owned(),
            Tok::Star => "`*`".to_owned(),
            Tok::Slash => "`/`".to_owned(),
            Tok::Pow => "a power operator".to_owned(),
            Tok::Op(op) => format!("operator `{}`", op_text(*op)),
            Tok::Not => "a logical not".to_owned(),
            Tok::Percent => "`%`".to_owned(),
        }
    }

    /// True for tokens after which an operand is expected (binary and prefix operators).
    pub(crate) fn is_operator(&self) -> bool {
        matches!(
            self,
            Tok::Plus
                | Tok::Minus
                | Tok::Star
                | Tok::Slash
                | Tok::Pow
                | Tok::Op(_)
                | Tok::Not
                | Tok::Percent
        )
    }
}

fn op_text(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Lt => "<",
        BinaryOp::Le => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::Ge => ">=",
        BinaryOp::Eq => "==",
        BinaryOp::Ne => "!=",
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Pow => "^",
    }
}

/// A token and its source range.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

/// Converts a byte offset to a span bound (sources longer than `u32::MAX` are rejected first).
fn at(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn err(message: impl Into<String>, start: usize, end: usize) -> ParseError {
    ParseError {
        message: message.into(),
        span: at(start)..at(end),
    }
}

/// The LEMS dotted operators (jLEMS's set plus PyLEMS's spellings), and `.not.` as an extension.
fn dotted_operator(word: &str) -> Option<Tok> {
    Some(match word {
        "gt" => Tok::Op(BinaryOp::Gt),
        "geq" | "ge" | "gte" => Tok::Op(BinaryOp::Ge),
        "lt" => Tok::Op(BinaryOp::Lt),
        "leq" | "le" | "lte" => Tok::Op(BinaryOp::Le),
        "eq" => Tok::Op(BinaryOp::Eq),
        "neq" | "ne" => Tok::Op(BinaryOp::Ne),
        "and" => Tok::Op(BinaryOp::And),
        "or" => Tok::Op(BinaryOp::Or),
        "not" => Tok::Not,
        _ => return None,
    })
}

/// If a dotted operator `.word.` starts at `i`, its token and byte length.
fn dotted_at(b: &[u8], i: usize) -> Option<(Tok, usize)> {
    if b.get(i) != Some(&b'.') {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() && b[j].is_ascii_alphabetic() {
        j += 1;
    }
    if j == i + 1 || b.get(j) != Some(&b'.') {
        return None;
    }
    let word = std::str::from_utf8(&b[i + 1..j]).ok()?;
    dotted_operator(word).map(|t| (t, j + 1 - i))
}

fn count_digits(b: &[u8], mut i: usize) -> usize {
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i - start
}

/// Splits `src` into tokens.
pub(crate) fn lex(src: &str, dialect: Dialect) -> Result<Vec<Token>, ParseError> {
    if u32::try_from(src.len()).is_err() {
        return Err(err("expression is too long", 0, 0));
    }
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let (tok, len) = match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'0'..=b'9' => lex_number(src, i)?,
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => lex_number(src, i)?,
            b'.' => match dotted_at(b, i) {
                Some(t) => t,
                None => return Err(bad_dotted(b, i)),
            },
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                // SymPy dialect: an integer subscript, `x_j[0]`, is part of the name.
                let digits = count_digits(b, j + 1);
                if dialect == Dialect::Sympy
                    && b.get(j) == Some(&b'[')
                    && digits > 0
                    && b.get(j + 1 + digits) == Some(&b']')
                {
                    j += digits + 2;
                }
                (Tok::Ident(src[i..j].to_owned()), j - i)
            }
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b',' => (Tok::Comma, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'/' => (Tok::Slash, 1),
            b'^' => (Tok::Pow, 1),
            b'*' if b.get(i + 1) == Some(&b'*') => match dialect {
                Dialect::Sympy => (Tok::Pow, 2),
                Dialect::Lems => {
                    return Err(err(
                        "`**` is not LEMS syntax; write powers with `^`",
                        i,
                        i + 2,
                    ));
                }
            },
            b'*' => (Tok::Star, 1),
            b'%' => match dialect {
                Dialect::Sympy => (Tok::Percent, 1),
                Dialect::Lems => return Err(err("`%` is not LEMS syntax", i, i + 1)),
            },
            b'<' | b'>' | b'=' | b'!' | b'&' | b'|' | b'~' => {
                let two = b.get(i + 1) == Some(&b'=');
                let (tok, len) = match (c, two) {
                    (b'<', true) => (Tok::Op(BinaryOp::Le), 2),
                    (b'<', false) => (Tok::Op(BinaryOp::Lt), 1),
                    (b'>', true) => (Tok::Op(BinaryOp::Ge), 2),
                    (b'>', false) => (Tok::Op(BinaryOp::Gt), 1),
                    (b'=', true) => (Tok::Op(BinaryOp::Eq), 2),
                    (b'!', true) => (Tok::Op(BinaryOp::Ne), 2),
                    (b'&', _) => (Tok::Op(BinaryOp::And), 1),
                    (b'|', _) => (Tok::Op(BinaryOp::Or), 1),
                    (b'~', _) => (Tok::Not, 1),
                    (b'=', false) => {
                        return Err(err(
                            "`=` is not an operator here (write equality as `==` or `Eq(a, b)`)",
                            i,
                            i + 1,
                        ));
                    }
                    _ => return Err(err("unexpected character `!`", i, i + 1)),
                };
                if dialect == Dialect::Lems {
                    let text = &src[i..i + len];
                    let hint = match tok {
                        Tok::Op(BinaryOp::Lt) => ".lt.",
                        Tok::Op(BinaryOp::Le) => ".leq.",
                        Tok::Op(BinaryOp::Gt) => ".gt.",
                        Tok::Op(BinaryOp::Ge) => ".geq.",
                        Tok::Op(BinaryOp::Eq) => ".eq.",
                        Tok::Op(BinaryOp::Ne) => ".neq.",
                        Tok::Op(BinaryOp::And) => ".and.",
                        Tok::Op(BinaryOp::Or) => ".or.",
                        _ => ".not.",
                    };
                    return Err(err(
                        format!("`{text}` is not LEMS syntax; use `{hint}`"),
                        i,
                        i + len,
                    ));
                }
                (tok, len)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                return Err(err(
                    format!("unexpected character `{ch}`"),
                    i,
                    i + ch.len_utf8(),
                ));
            }
        };
        i += len;
        out.push(Token {
            tok,
            span: at(start)..at(i),
        });
    }
    Ok(out)
}

/// Error for a `.` that starts neither a number nor a known dotted operator.
fn bad_dotted(b: &[u8], i: usize) -> ParseError {
    let mut j = i + 1;
    while j < b.len() && b[j].is_ascii_alphabetic() {
        j += 1;
    }
    let word = String::from_utf8_lossy(&b[i + 1..j]).into_owned();
    if word.is_empty() {
        err("unexpected `.`", i, i + 1)
    } else if b.get(j) == Some(&b'.') {
        err(format!("unknown operator `.{word}.`"), i, j + 1)
    } else if dotted_operator(&word).is_some() {
        err(
            format!("incomplete operator `.{word}` (missing the closing `.`)"),
            i,
            j,
        )
    } else {
        err(format!("unknown operator `.{word}`"), i, j)
    }
}

/// Lexes a number starting at `i` (a digit, or `.` followed by a digit).
fn lex_number(src: &str, i: usize) -> Result<(Tok, usize), ParseError> {
    let b = src.as_bytes();
    let mut j = i + count_digits(b, i);
    if b.get(j) == Some(&b'.') && dotted_at(b, j).is_none() {
        j += 1;
        j += count_digits(b, j);
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        let n = count_digits(b, k);
        if n > 0 {
            j = k + n;
        }
    }
    let text = &src[i..j];
    match text.parse::<f64>() {
        Ok(v) => Ok((Tok::Num(v), j - i)),
        Err(_) => Err(err(format!("malformed number `{text}`"), i, j)),
    }
}
