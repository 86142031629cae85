//! The parser: tokens to an [`Expr`] tree, for formulas, filters and column expressions alike
//! (SPEC §2–§3).
//!
//! A recursive descent over the grammar below, lowest precedence first:
//!
//! ```text
//! expr    := or
//! or      := and ('or' and)*
//! and     := not ('and' not)*
//! not     := 'not' not | cmp
//! cmp     := add ( cmpop add | 'is' ['not'] 'null' | ['not'] 'in' '(' expr (',' expr)* ')' )?
//! add     := mul (('+' | '-') mul)*
//! mul     := unary (('*' | '/') unary)*
//! unary   := '-' unary | primary
//! primary := NUMBER | STRING | 'date' STRING | 'true' | 'false' | 'null' | '(' expr ')'
//!          | IDENT '(' [arg (',' arg)*] ')' | IDENT '.' IDENT ['[' expr ']'] | IDENT
//! arg     := expr ['per' IDENT]
//! ```
//!
//! It never stops at the first error. A part that cannot be built is left out of the tree (so
//! `1 +` gives the tree `1` and an error), and the parser resynchronises at the next `,`, `)` or
//! `]` of the enclosing list. Two guards keep the report readable: no error is reported on a
//! token the lexer already complained about, nor at a place that already has an error. The
//! tree is only meaningful when there are no errors; the checker should not run otherwise.
//!
//! Every text that becomes an expression — a KPI formula or target, a measure's `filter` or
//! `expr`, `--where`, the API's and pages' `where` — comes through [`parse`], so its limits
//! hold everywhere: at most [`MAX_LENGTH`] bytes, [`MAX_TOKENS`] tokens, and a tree at most
//! [`MAX_DEPTH`] nodes high. The last one is what keeps every later walk of the tree (the
//! checker, lowering to IR, the engine's compile, and plain `drop`) from overflowing a
//! thread's stack: a chain like `1*1*1*…` builds a left-deep tree one level per operator, so
//! the height of each node is checked as it is built, not only the nesting of brackets.

use crate::ast::{BinaryOp, Expr, ExprKind, Ident, Literal, Parsed, Span, SyntaxError, UnaryOp};
pub use crate::lexer::MAX_TOKENS;
use crate::lexer::{Keyword, Token, TokenKind, lex};

/// How deeply an expression may nest, counted two ways that must both stay within it: the
/// parser's own nesting (brackets, calls, filters, `-` and `not`), and the height of the tree
/// it builds, where each operator of a chain is a level (`a + b + c` is 3 high). Real formulas
/// stay under 15. A level of the parser's nesting takes about 15 KiB of stack in a debug
/// build, and a level of the tree a few hundred bytes in each later walk, so 64 stay well
/// inside the 2 MiB of a spawned thread or a tokio worker.
pub const MAX_DEPTH: usize = 64;

/// The longest text, in bytes, that is parsed at all.
pub const MAX_LENGTH: usize = 64 * 1024;

/// Parses a formula, filter or column expression. Never panics; spans are byte offsets into
/// `text`, and `errors` (sorted by position) holds every problem found, from the lexer and
/// the parser. `expr` is the best tree that could be built, leaving out the broken parts.
///
/// A text over [`MAX_LENGTH`] bytes or [`MAX_TOKENS`] tokens is not parsed: the one error
/// says so, at the place where the limit is passed.
pub fn parse(text: &str) -> Parsed {
    if text.len() > MAX_LENGTH {
        let mut at = MAX_LENGTH;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        return Parsed {
            expr: None,
            errors: vec![SyntaxError {
                span: Span::new(at, text.len()),
                message: format!(
                    "the formula is too long: {} bytes, at most {MAX_LENGTH}",
                    text.len()
                ),
            }],
        };
    }
    let lexed = lex(text);
    if lexed.too_many_tokens {
        return Parsed {
            expr: None,
            errors: lexed.errors,
        };
    }
    let mut parser = Parser {
        text,
        tokens: lexed.tokens,
        pos: 0,
        prev_end: 0,
        depth: 0,
        gave_up: false,
        errors: Vec::new(),
    };
    let expr = parser.formula();
    let mut errors = lexed.errors;
    errors.extend(parser.errors);
    errors.sort_by_key(|error| (error.span.start, error.span.end));
    Parsed { expr, errors }
}

struct Parser<'a> {
    text: &'a str,
    /// Ends with an [`TokenKind::Eof`], which is never stepped over.
    tokens: Vec<Token>,
    pos: usize,
    /// End of the last token consumed, for the span of a construct whose closer is missing.
    prev_end: usize,
    depth: usize,
    /// Set when nesting went too deep: the rest of the text is skipped, without more errors.
    gave_up: bool,
    errors: Vec<SyntaxError>,
}

impl Parser<'_> {
    fn formula(&mut self) -> Option<Expr> {
        let expr = self.expr();
        if !self.at(&TokenKind::Eof) {
            match self.peek().kind {
                TokenKind::RParen => self.error_here("`)` has no matching `(`".to_string()),
                TokenKind::RBracket => self.error_here("`]` has no matching `[`".to_string()),
                _ => self.expected("an operator or the end of the formula"),
            }
            self.pos = self.tokens.len() - 1;
        }
        expr
    }

    fn expr(&mut self) -> Option<Expr> {
        if !self.enter() {
            return None;
        }
        let expr = self.or();
        self.depth -= 1;
        expr
    }

    fn or(&mut self) -> Option<Expr> {
        let mut lhs = self.and()?;
        while let Some(or) = self.eat_keyword(Keyword::Or) {
            let Some(rhs) = self.and() else {
                return Some(lhs);
            };
            lhs = self.bounded(binary(BinaryOp::Or, lhs, rhs), or.span)?;
        }
        Some(lhs)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut lhs = self.not()?;
        while let Some(and) = self.eat_keyword(Keyword::And) {
            let Some(rhs) = self.not() else {
                return Some(lhs);
            };
            lhs = self.bounded(binary(BinaryOp::And, lhs, rhs), and.span)?;
        }
        Some(lhs)
    }

    fn not(&mut self) -> Option<Expr> {
        if !self.at(&TokenKind::Keyword(Keyword::Not)) {
            return self.cmp();
        }
        if !self.enter() {
            return None;
        }
        let not = self.bump();
        let operand = self.not();
        self.depth -= 1;
        let operand = operand?;
        let node = Expr {
            span: not.span.to(operand.span),
            kind: ExprKind::Unary {
                op: UnaryOp::Not,
                operand: Box::new(operand),
            },
        };
        self.bounded(node, not.span)
    }

    fn cmp(&mut self) -> Option<Expr> {
        let lhs = self.add()?;
        let op = match self.peek().kind {
            TokenKind::Eq => BinaryOp::Eq,
            TokenKind::NotEq => BinaryOp::NotEq,
            TokenKind::Lt => BinaryOp::Lt,
            TokenKind::LtEq => BinaryOp::LtEq,
            TokenKind::Gt => BinaryOp::Gt,
            TokenKind::GtEq => BinaryOp::GtEq,
            TokenKind::Keyword(Keyword::Is) => return self.is_null(lhs),
            TokenKind::Keyword(Keyword::In) => {
                let keyword = self.bump();
                return self.in_list(lhs, false, keyword.span);
            }
            TokenKind::Keyword(Keyword::Not) => {
                let not = self.bump();
                if self.eat_keyword(Keyword::In).is_none() {
                    self.expected("`in` after `not`");
                    return Some(lhs);
                }
                return self.in_list(lhs, true, not.span);
            }
            _ => return Some(lhs),
        };
        let operator = self.bump();
        match self.add() {
            Some(rhs) => self.bounded(binary(op, lhs, rhs), operator.span),
            None => Some(lhs),
        }
    }

    /// After the operand: `is null` or `is not null`.
    fn is_null(&mut self, lhs: Expr) -> Option<Expr> {
        let is = self.bump();
        let negated = self.eat_keyword(Keyword::Not).is_some();
        match self.eat_keyword(Keyword::Null) {
            Some(null) => {
                let node = Expr {
                    span: lhs.span.to(null.span),
                    kind: ExprKind::IsNull {
                        expr: Box::new(lhs),
                        negated,
                    },
                };
                self.bounded(node, is.span)
            }
            None => {
                self.expected(if negated {
                    "`null` after `is not`"
                } else {
                    "`null` after `is`"
                });
                Some(lhs)
            }
        }
    }

    /// After `in` or `not in` (whose first word is at `at`): the parenthesised list.
    fn in_list(&mut self, lhs: Expr, negated: bool, at: Span) -> Option<Expr> {
        let keyword = if negated { "not in" } else { "in" };
        if !self.at(&TokenKind::LParen) {
            self.expected(&format!("`(` after `{keyword}`"));
            return Some(lhs);
        }
        self.bump();
        let (list, end) = self.list(&format!("the list after `{keyword}`"), |parser| {
            parser.expr()
        });
        let node = Expr {
            span: lhs.span.to(Span::new(end, end)),
            kind: ExprKind::InList {
                expr: Box::new(lhs),
                list,
                negated,
            },
        };
        self.bounded(node, at)
    }

    fn add(&mut self) -> Option<Expr> {
        let mut lhs = self.mul()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Plus => BinaryOp::Add,
                TokenKind::Minus => BinaryOp::Sub,
                _ => return Some(lhs),
            };
            let operator = self.bump();
            let Some(rhs) = self.mul() else {
                return Some(lhs);
            };
            lhs = self.bounded(binary(op, lhs, rhs), operator.span)?;
        }
    }

    fn mul(&mut self) -> Option<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Star => BinaryOp::Mul,
                TokenKind::Slash => BinaryOp::Div,
                _ => return Some(lhs),
            };
            let operator = self.bump();
            let Some(rhs) = self.unary() else {
                return Some(lhs);
            };
            lhs = self.bounded(binary(op, lhs, rhs), operator.span)?;
        }
    }

    fn unary(&mut self) -> Option<Expr> {
        if !self.at(&TokenKind::Minus) {
            return self.primary();
        }
        if !self.enter() {
            return None;
        }
        let minus = self.bump();
        let operand = self.unary();
        self.depth -= 1;
        let operand = operand?;
        let node = Expr {
            span: minus.span.to(operand.span),
            kind: ExprKind::Unary {
                op: UnaryOp::Neg,
                operand: Box::new(operand),
            },
        };
        self.bounded(node, minus.span)
    }

    fn primary(&mut self) -> Option<Expr> {
        let token = self.peek().clone();
        let literal = match token.kind {
            TokenKind::Number(value) => Literal::Number(value),
            TokenKind::String(text) => Literal::String(text),
            TokenKind::Keyword(Keyword::True) => Literal::Bool(true),
            TokenKind::Keyword(Keyword::False) => Literal::Bool(false),
            TokenKind::Keyword(Keyword::Null) => Literal::Null,
            TokenKind::Keyword(Keyword::Date) => return self.date(),
            TokenKind::LParen => return self.group(),
            TokenKind::Ident(name) => {
                return self.named(Ident {
                    name,
                    span: token.span,
                });
            }
            _ => {
                self.expected("an expression");
                return None;
            }
        };
        self.bump();
        Some(Expr {
            kind: ExprKind::Literal(literal),
            span: token.span,
        })
    }

    /// `date '2026-01-01'`.
    fn date(&mut self) -> Option<Expr> {
        let date = self.bump();
        match self.peek().kind.clone() {
            TokenKind::String(text) => {
                let string = self.bump();
                Some(Expr {
                    kind: ExprKind::Literal(Literal::Date(text)),
                    span: date.span.to(string.span),
                })
            }
            _ => {
                self.expected("a string after `date`, as in `date '2026-01-01'`");
                None
            }
        }
    }

    /// `( expr )`. The tree has no node for parentheses; the inner expression's span grows to
    /// cover them, so that every span covers the text its node was parsed from.
    fn group(&mut self) -> Option<Expr> {
        let open = self.bump();
        let inner = self.expr();
        let end = self.close(TokenKind::RParen, "`)` to close `(`");
        inner.map(|expr| Expr {
            span: open.span.to(Span::new(end, end)),
            ..expr
        })
    }

    /// What follows a name: a call, a measure, or nothing (a bare name).
    fn named(&mut self, name: Ident) -> Option<Expr> {
        self.bump();
        match self.peek().kind {
            TokenKind::LParen => {
                self.bump();
                let (args, end) = if self.at(&TokenKind::RParen) {
                    (Vec::new(), self.bump().span.end)
                } else {
                    self.list(&format!("the call to `{}`", name.name), |parser| {
                        parser.arg()
                    })
                };
                let at = name.span;
                let node = Expr {
                    span: name.span.to(Span::new(end, end)),
                    kind: ExprKind::Call {
                        function: name,
                        args,
                    },
                };
                self.bounded(node, at)
            }
            TokenKind::Dot => {
                self.bump();
                let Some(measure) = self.name() else {
                    self.expected(&format!("a measure name after `{}.`", name.name));
                    return None;
                };
                let mut span = name.span.to(measure.span);
                let mut filter = None;
                let at = self.peek().span;
                if self.at(&TokenKind::LBracket) {
                    self.bump();
                    filter = self.expr().map(Box::new);
                    let what = format!(
                        "`]` to close the filter of `{}.{}`",
                        name.name, measure.name
                    );
                    let end = self.close(TokenKind::RBracket, &what);
                    span = span.to(Span::new(end, end));
                }
                let node = Expr {
                    kind: ExprKind::Measure {
                        source: name,
                        measure,
                        filter,
                    },
                    span,
                };
                self.bounded(node, at)
            }
            _ => Some(Expr {
                span: name.span,
                kind: ExprKind::Name(name),
            }),
        }
    }

    /// A call argument: `expr` or `expr per column`.
    fn arg(&mut self) -> Option<Expr> {
        let value = self.expr();
        let Some(per) = self.eat_keyword(Keyword::Per) else {
            return value;
        };
        let Some(column) = self.name() else {
            self.expected("a column name after `per`");
            return value;
        };
        let value = value?;
        let node = Expr {
            span: value.span.to(column.span),
            kind: ExprKind::Per {
                value: Box::new(value),
                column,
            },
        };
        self.bounded(node, per.span)
    }

    /// The items of a parenthesised, comma-separated list whose `(` was just consumed, through
    /// its `)`. Returns the items that could be parsed and the end of the list's text. A broken
    /// item is skipped up to the next `,` or `)`. There is at least one item, so `in ()` gets
    /// "expected an expression, found `)`"; a call checks for `()` before coming here.
    fn list(
        &mut self,
        context: &str,
        mut item: impl FnMut(&mut Self) -> Option<Expr>,
    ) -> (Vec<Expr>, usize) {
        let mut items = Vec::new();
        loop {
            if let Some(expr) = item(self) {
                items.push(expr);
            }
            match self.peek().kind {
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::RParen => return (items, self.bump().span.end),
                TokenKind::Eof => {
                    self.expected(&format!("`)` to close {context}"));
                    return (items, self.prev_end);
                }
                _ => {
                    self.expected(&format!("`,` or `)` in {context}"));
                    self.recover_to(&[TokenKind::Comma, TokenKind::RParen]);
                    match self.peek().kind {
                        TokenKind::Comma => {
                            self.bump();
                        }
                        TokenKind::RParen => return (items, self.bump().span.end),
                        _ => return (items, self.prev_end),
                    }
                }
            }
        }
    }

    /// Expects the closer of a group; on anything else reports what was expected and skips to
    /// the closer if there is one at this level. Returns the end of the group's text.
    fn close(&mut self, closer: TokenKind, what: &str) -> usize {
        if !self.at(&closer) {
            self.expected(what);
            self.recover_to(std::slice::from_ref(&closer));
            if !self.at(&closer) {
                return self.prev_end;
            }
        }
        self.bump().span.end
    }

    /// Skips tokens up to one of `stops` outside any nested brackets, stopping early at the
    /// end of the text or at a closer that belongs to an enclosing group.
    fn recover_to(&mut self, stops: &[TokenKind]) {
        let mut nesting = 0usize;
        loop {
            let kind = &self.peek().kind;
            match kind {
                TokenKind::Eof => return,
                _ if nesting == 0 && stops.contains(kind) => return,
                TokenKind::LParen | TokenKind::LBracket => nesting += 1,
                TokenKind::RParen | TokenKind::RBracket if nesting == 0 => return,
                TokenKind::RParen | TokenKind::RBracket => nesting -= 1,
                _ => {}
            }
            self.bump();
        }
    }

    /// A name where only a name can be: after `source.` and after `per`. Keywords are taken
    /// as names there, since nothing else could follow, so a column may be called `date`.
    fn name(&mut self) -> Option<Ident> {
        match self.peek().kind {
            TokenKind::Ident(_) | TokenKind::Keyword(_) => {
                let token = self.bump();
                Some(Ident {
                    name: self.text[token.span.start..token.span.end].to_string(),
                    span: token.span,
                })
            }
            _ => None,
        }
    }

    /// One more level of nesting, or an error (and giving up on the rest) past [`MAX_DEPTH`].
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            self.too_deep(self.peek().span);
            return false;
        }
        self.depth += 1;
        true
    }

    /// `node`, whose children are each at most [`MAX_DEPTH`] high, if it is too; otherwise an
    /// error at `at` (the operator, call or bracket that added the level), giving up on the
    /// rest. This is what bounds a chain like `1*1*1*…`, which never nests the parser.
    fn bounded(&mut self, node: Expr, at: Span) -> Option<Expr> {
        if node.height() <= MAX_DEPTH {
            return Some(node);
        }
        self.too_deep(at);
        None
    }

    /// Reports the nesting limit at `at` (once) and skips the rest of the text.
    fn too_deep(&mut self, at: Span) {
        if !self.gave_up {
            self.errors.push(SyntaxError {
                span: at,
                message: format!(
                    "the formula is nested too deeply: more than {MAX_DEPTH} levels (brackets, calls, `-`, `not`, and each operator of a chain such as `a + b + c` count as levels; many alternatives fit in `x in (…)`)"
                ),
            });
        }
        self.gave_up = true;
        self.pos = self.tokens.len() - 1;
    }

    fn peek(&self) -> &Token {
        // `pos` never passes the final Eof token.
        &self.tokens[self.pos]
    }

    fn at(&self, kind: &TokenKind) -> bool {
        &self.peek().kind == kind
    }

    /// Consumes the current token (the Eof token stays current forever).
    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::Eof {
            self.pos += 1;
            self.prev_end = token.span.end;
        }
        token
    }

    fn eat_keyword(&mut self, keyword: Keyword) -> Option<Token> {
        if self.at(&TokenKind::Keyword(keyword)) {
            Some(self.bump())
        } else {
            None
        }
    }

    /// Reports "expected {what}, found {the current token}".
    fn expected(&mut self, what: &str) {
        let found = self.describe(self.peek());
        self.error_here(format!("expected {what}, found {found}"));
    }

    /// Reports an error at the current token, unless the lexer already reported that token
    /// or an error was already reported at this place.
    fn error_here(&mut self, message: String) {
        let token = self.peek();
        let span = token.span;
        if self.gave_up || token.kind == TokenKind::Unknown {
            return;
        }
        if let Some(last) = self.errors.last()
            && (span.start == last.span.start || span.start < last.span.end)
        {
            return;
        }
        self.errors.push(SyntaxError { span, message });
    }

    fn describe(&self, token: &Token) -> String {
        if token.kind == TokenKind::Eof {
            return "end of formula".to_string();
        }
        const LIMIT: usize = 30;
        let text = &self.text[token.span.start..token.span.end];
        match text.char_indices().nth(LIMIT) {
            Some((cut, _)) => format!("`{}…`", &text[..cut]),
            None => format!("`{text}`"),
        }
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    Expr {
        span: lhs.span.to(rhs.span),
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
    }
}
