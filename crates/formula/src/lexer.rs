//! The lexer: formula text to tokens (SPEC §3).
//!
//! It never stops at a bad character. Each one is reported and becomes an [`TokenKind::Unknown`]
//! token, so the parser can keep going and stay quiet about what was already reported. A name
//! written with non-ASCII letters (`campaña`) is reported letter by letter but still lexed as
//! one name, so the rest of the formula parses as the author meant it.

use crate::ast::{Span, SyntaxError};

/// A reserved word. Keywords are matched without regard to case: `AND`, `And` and `and` are
/// the same word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    And,
    Or,
    Not,
    In,
    Is,
    Null,
    True,
    False,
    Date,
    Per,
}

impl Keyword {
    const ALL: [(&'static str, Keyword); 10] = [
        ("and", Keyword::And),
        ("or", Keyword::Or),
        ("not", Keyword::Not),
        ("in", Keyword::In),
        ("is", Keyword::Is),
        ("null", Keyword::Null),
        ("true", Keyword::True),
        ("false", Keyword::False),
        ("date", Keyword::Date),
        ("per", Keyword::Per),
    ];

    /// The keyword a word spells, in any case.
    pub fn from_word(word: &str) -> Option<Keyword> {
        Keyword::ALL
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(word))
            .map(|&(_, keyword)| keyword)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Number(f64),
    /// A string literal's content, with `''` already turned into `'`.
    String(String),
    Ident(String),
    Keyword(Keyword),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Plus,
    Minus,
    Star,
    Slash,
    Eq,
    /// `<>` or `!=`.
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    /// A character outside the language, already reported by the lexer.
    Unknown,
    /// The end of the text; always the last token.
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// How many tokens (names, numbers, strings, operators, brackets) one text may have. A long
/// `in (…)` list of a few thousand values fits; a hostile text is cut short before its tokens
/// cost memory.
pub const MAX_TOKENS: usize = 16_384;

/// The tokens of a text, ending with [`TokenKind::Eof`], and the errors found while reading them.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexed {
    pub tokens: Vec<Token>,
    pub errors: Vec<SyntaxError>,
    /// Set when the text has more than [`MAX_TOKENS`] tokens: lexing stopped there (the
    /// error says so) and the tokens are only a prefix of the text.
    pub too_many_tokens: bool,
}

/// Splits `text` into tokens. Never fails: bad characters are reported in [`Lexed::errors`].
pub fn lex(text: &str) -> Lexed {
    let mut lexer = Lexer {
        text,
        pos: 0,
        tokens: Vec::new(),
        errors: Vec::new(),
        too_many_tokens: false,
    };
    lexer.run();
    Lexed {
        tokens: lexer.tokens,
        errors: lexer.errors,
        too_many_tokens: lexer.too_many_tokens,
    }
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next character; always on a char boundary.
    pos: usize,
    tokens: Vec<Token>,
    errors: Vec<SyntaxError>,
    too_many_tokens: bool,
}

impl Lexer<'_> {
    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if c.is_whitespace() {
                self.pos += c.len_utf8();
                continue;
            }
            if self.tokens.len() == MAX_TOKENS {
                let end = start + c.len_utf8();
                self.error(
                    start,
                    end,
                    format!(
                        "the formula has more than {MAX_TOKENS} tokens (names, numbers, operators)"
                    ),
                );
                self.too_many_tokens = true;
                break;
            }
            let kind = match c {
                '0'..='9' => self.number(),
                '.' if self.peek_nth(1).is_some_and(|d| d.is_ascii_digit())
                    && !self.follows_operand() =>
                {
                    self.number()
                }
                '\'' => self.string(),
                c if c == '_' || c.is_alphabetic() => self.word(),
                _ => self.punctuation(c),
            };
            self.tokens.push(Token {
                kind,
                span: Span::new(start, self.pos),
            });
        }
        let end = if self.too_many_tokens {
            self.pos
        } else {
            self.text.len()
        };
        self.tokens.push(Token {
            kind: TokenKind::Eof,
            span: Span::new(end, end),
        });
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_nth(&self, n: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(n)
    }

    /// Whether the previous token ends right here and is a name or closer, so that a `.`
    /// after it is member access (`a.5` is not `a` followed by `0.5`).
    fn follows_operand(&self) -> bool {
        self.tokens.last().is_some_and(|token| {
            token.span.end == self.pos
                && matches!(
                    token.kind,
                    TokenKind::Ident(_)
                        | TokenKind::Keyword(_)
                        | TokenKind::RParen
                        | TokenKind::RBracket
                )
        })
    }

    fn eat_digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `12`, `1.5`, `.5`, `1e6`, `2.5E-3`. An `e` not followed by digits is not part of the
    /// number, so `2e` is the number `2` followed by the name `e` (and a parse error).
    fn number(&mut self) -> TokenKind {
        let start = self.pos;
        self.eat_digits();
        if self.peek() == Some('.') && self.peek_nth(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            self.eat_digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let exponent_digits_at = match self.peek_nth(1) {
                Some('+' | '-') => 2,
                _ => 1,
            };
            if self
                .peek_nth(exponent_digits_at)
                .is_some_and(|c| c.is_ascii_digit())
            {
                self.pos += exponent_digits_at;
                self.eat_digits();
            }
        }
        let literal = &self.text[start..self.pos];
        // The text matches Rust's float grammar by construction, so parsing cannot fail;
        // fall back to 0 rather than unwrap anyway.
        let value = literal.parse::<f64>().unwrap_or(0.0);
        if value.is_infinite() {
            self.error(
                start,
                self.pos,
                format!("the number `{literal}` is too large"),
            );
        }
        TokenKind::Number(value)
    }

    /// A single-quoted string; `''` inside stands for one quote.
    fn string(&mut self) -> TokenKind {
        let start = self.pos;
        self.pos += 1;
        let mut content = String::new();
        loop {
            match self.peek() {
                None => {
                    self.error(
                        start,
                        self.pos,
                        "unterminated string: expected a closing `'`".to_string(),
                    );
                    break;
                }
                Some('\'') if self.peek_nth(1) == Some('\'') => {
                    content.push('\'');
                    self.pos += 2;
                }
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => {
                    content.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        TokenKind::String(content)
    }

    /// A name or keyword. Names are ASCII; each non-ASCII letter or digit in one is reported,
    /// but the whole word is still one name.
    fn word(&mut self) -> TokenKind {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                self.pos += 1;
            } else if c.is_alphanumeric() {
                self.unknown_character(c);
            } else {
                break;
            }
        }
        let word = &self.text[start..self.pos];
        match Keyword::from_word(word) {
            Some(keyword) => TokenKind::Keyword(keyword),
            None => TokenKind::Ident(word.to_string()),
        }
    }

    fn punctuation(&mut self, c: char) -> TokenKind {
        let next = self.peek_nth(1);
        let (kind, len) = match (c, next) {
            ('(', _) => (TokenKind::LParen, 1),
            (')', _) => (TokenKind::RParen, 1),
            ('[', _) => (TokenKind::LBracket, 1),
            (']', _) => (TokenKind::RBracket, 1),
            (',', _) => (TokenKind::Comma, 1),
            ('.', _) => (TokenKind::Dot, 1),
            ('+', _) => (TokenKind::Plus, 1),
            ('-', _) => (TokenKind::Minus, 1),
            ('*', _) => (TokenKind::Star, 1),
            ('/', _) => (TokenKind::Slash, 1),
            ('=', _) => (TokenKind::Eq, 1),
            ('<', Some('>')) => (TokenKind::NotEq, 2),
            ('<', Some('=')) => (TokenKind::LtEq, 2),
            ('<', _) => (TokenKind::Lt, 1),
            ('>', Some('=')) => (TokenKind::GtEq, 2),
            ('>', _) => (TokenKind::Gt, 1),
            ('!', Some('=')) => (TokenKind::NotEq, 2),
            _ => {
                self.unknown_character(c);
                return TokenKind::Unknown;
            }
        };
        self.pos += len;
        kind
    }

    /// Reports the character at the cursor and steps over it.
    fn unknown_character(&mut self, c: char) {
        let start = self.pos;
        self.pos += c.len_utf8();
        let hint = if c.is_alphanumeric() {
            " (names use ASCII letters, digits and `_`)"
        } else if c == '"' {
            " (strings use single quotes: 'text')"
        } else if c == '!' {
            " (did you mean `!=`?)"
        } else {
            ""
        };
        let shown = if c.is_control() {
            c.escape_default().to_string()
        } else {
            c.to_string()
        };
        self.error(
            start,
            self.pos,
            format!("unknown character `{shown}`{hint}"),
        );
    }

    fn error(&mut self, start: usize, end: usize, message: String) {
        self.errors.push(SyntaxError {
            span: Span::new(start, end),
            message,
        });
    }
}
