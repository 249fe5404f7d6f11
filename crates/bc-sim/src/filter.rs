//! `$filter` tokenizer and parser (precedence: not > and > or), with BC's refusal of `or`
//! across distinct fields.

use crate::error::ApiError;

/// Comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// eq
    Eq,
    /// ne
    Ne,
    /// gt
    Gt,
    /// ge
    Ge,
    /// lt
    Lt,
    /// le
    Le,
    /// startswith()
    StartsWith,
    /// endswith()
    EndsWith,
    /// contains()
    Contains,
}

/// A literal as written.
#[derive(Clone, Debug)]
pub enum Lit {
    /// Quoted string.
    Quoted(String),
    /// Bare word (number, guid, date, true/false/null).
    Bare(String),
}

/// Parsed `$filter`.
#[derive(Clone, Debug)]
pub enum Expr {
    /// field op literal
    Cmp(String, Op, Lit),
    /// and
    And(Box<Expr>, Box<Expr>),
    /// or
    Or(Box<Expr>, Box<Expr>),
    /// not
    Not(Box<Expr>),
}

fn err(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "BadRequest_NotFound", msg)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, ApiError> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match cs.get(i) {
                        None => {
                            return Err(err(format!(
                                "There is an unterminated string literal at position {i} in '{s}'."
                            )));
                        }
                        Some('\'') if cs.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let st = i;
                while i < cs.len() && !matches!(cs[i], ' ' | '\t' | '(' | ')' | ',' | '\'') {
                    i += 1;
                }
                out.push(Tok::Word(cs[st..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct P {
    t: Vec<Tok>,
    i: usize,
    src: String,
}

impl P {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.t.get(self.i), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }
    fn fail(&self) -> ApiError {
        err(format!(
            "Expression expected at position {} in '{}'.",
            self.i, self.src
        ))
    }
    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut l = self.and()?;
        while self.peek_word("or") {
            self.i += 1;
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut l = self.unary()?;
        while self.peek_word("and") {
            self.i += 1;
            let r = self.unary()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn lit(&mut self) -> Result<Lit, ApiError> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        match t {
            Some(Tok::Str(s)) => Ok(Lit::Quoted(s)),
            Some(Tok::Word(w)) => {
                // Typed enum literal: Microsoft.NAV.x'Open'
                if let Some(Tok::Str(s)) = self.t.get(self.i).cloned()
                    && w.contains('.')
                {
                    self.i += 1;
                    return Ok(Lit::Quoted(s));
                }
                Ok(Lit::Bare(w))
            }
            _ => Err(self.fail()),
        }
    }
    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.peek_word("not") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.t.get(self.i).cloned() {
            Some(Tok::Open) => {
                self.i += 1;
                let e = self.or()?;
                if self.t.get(self.i) != Some(&Tok::Close) {
                    return Err(self.fail());
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                self.i += 1;
                if self.t.get(self.i) == Some(&Tok::Open) {
                    let op = match w.to_ascii_lowercase().as_str() {
                        "startswith" => Op::StartsWith,
                        "endswith" => Op::EndsWith,
                        "contains" => Op::Contains,
                        _ => {
                            return Err(err(format!(
                                "An unknown function with name '{w}' was found."
                            )));
                        }
                    };
                    self.i += 1;
                    let f = match self.t.get(self.i).cloned() {
                        Some(Tok::Word(f)) => f,
                        _ => return Err(self.fail()),
                    };
                    self.i += 1;
                    if self.t.get(self.i) != Some(&Tok::Comma) {
                        return Err(self.fail());
                    }
                    self.i += 1;
                    let l = self.lit()?;
                    if self.t.get(self.i) != Some(&Tok::Close) {
                        return Err(self.fail());
                    }
                    self.i += 1;
                    let mut e = Expr::Cmp(f, op, l);
                    // `startswith(x,'a') eq true`
                    if self.peek_word("eq") {
                        self.i += 2;
                    } else if self.peek_word("ne") {
                        self.i += 2;
                        e = Expr::Not(Box::new(e));
                    }
                    return Ok(e);
                }
                let op = match self.t.get(self.i) {
                    Some(Tok::Word(o)) => match o.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        _ => {
                            return Err(err(format!(
                                "Syntax error at position {} in '{}'.",
                                self.i, self.src
                            )));
                        }
                    },
                    _ => return Err(self.fail()),
                };
                self.i += 1;
                let l = self.lit()?;
                Ok(Expr::Cmp(w, op, l))
            }
            _ => Err(self.fail()),
        }
    }
}

/// Parse a `$filter` expression.
pub fn parse_filter(s: &str) -> Result<Expr, ApiError> {
    let mut p = P {
        t: tokenize(s)?,
        i: 0,
        src: s.to_string(),
    };
    let e = p.or()?;
    if p.i != p.t.len() {
        return Err(err(format!("Syntax error at position {} in '{}'.", p.i, s)));
    }
    check_or(&e)?;
    Ok(e)
}

fn fields_of(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Cmp(f, _, _) => {
            if !out.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                out.push(f.clone())
            }
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            fields_of(a, out);
            fields_of(b, out)
        }
        Expr::Not(a) => fields_of(a, out),
    }
}

/// BC refuses `or` across distinct fields.
fn check_or(e: &Expr) -> Result<(), ApiError> {
    match e {
        Expr::Or(a, b) => {
            let mut f = Vec::new();
            fields_of(e, &mut f);
            if f.len() > 1 {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    "An error occurred while processing this request. The 'OR' operator is not supported on distinct fields on an OData filter.",
                ));
            }
            check_or(a)?;
            check_or(b)
        }
        Expr::And(a, b) => {
            check_or(a)?;
            check_or(b)
        }
        Expr::Not(a) => check_or(a),
        Expr::Cmp(..) => Ok(()),
    }
}
