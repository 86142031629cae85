//! Parser tests: tables of formulas with the tree they must give (as a compact S-expression),
//! tables of broken formulas with every error they must report, and properties over arbitrary
//! text: the parser never panics and every span points into the text.

use proptest::prelude::*;
use tablero_formula::ast::{BinaryOp, Expr, ExprKind, Literal, Parsed, Span, UnaryOp};
use tablero_formula::parse;

/// The tree as an S-expression: `(/ (* 100 opportunities.won) opportunities.closed)`.
fn render(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Literal(literal) => match literal {
            Literal::Number(value) => format!("{value}"),
            Literal::String(text) => quote(text),
            Literal::Date(text) => format!("(date {})", quote(text)),
            Literal::Bool(value) => format!("{value}"),
            Literal::Null => "null".to_string(),
        },
        ExprKind::Name(name) => name.name.clone(),
        ExprKind::Measure {
            source,
            measure,
            filter: None,
        } => {
            format!("{}.{}", source.name, measure.name)
        }
        ExprKind::Measure {
            source,
            measure,
            filter: Some(filter),
        } => {
            format!(
                "(measure {}.{} [{}])",
                source.name,
                measure.name,
                render(filter)
            )
        }
        ExprKind::Call { function, args } => list(&function.name, args.iter()),
        ExprKind::Per { value, column } => format!("(per {} {})", render(value), column.name),
        ExprKind::Unary { op, operand } => {
            let op = match op {
                UnaryOp::Neg => "-",
                UnaryOp::Not => "not",
            };
            format!("({op} {})", render(operand))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", binary_op(*op), render(lhs), render(rhs))
        }
        ExprKind::InList {
            expr,
            list: items,
            negated,
        } => {
            let head = if *negated { "not-in" } else { "in" };
            list(head, std::iter::once(&**expr).chain(items))
        }
        ExprKind::IsNull { expr, negated } => {
            let head = if *negated { "is-not-null" } else { "is-null" };
            format!("({head} {})", render(expr))
        }
    }
}

fn list<'a>(head: &str, items: impl Iterator<Item = &'a Expr>) -> String {
    let mut out = format!("({head}");
    for item in items {
        out.push(' ');
        out.push_str(&render(item));
    }
    out.push(')');
    out
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn binary_op(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Eq => "=",
        BinaryOp::NotEq => "<>",
        BinaryOp::Lt => "<",
        BinaryOp::LtEq => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::GtEq => ">=",
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
    }
}

/// Errors as `start..end message`, one per line, for comparing with a table.
fn render_errors(parsed: &Parsed) -> Vec<String> {
    parsed
        .errors
        .iter()
        .map(|error| format!("{}..{} {}", error.span.start, error.span.end, error.message))
        .collect()
}

#[test]
fn valid_formulas_give_the_expected_tree() {
    let cases: &[(&str, &str)] = &[
        // The examples of SPEC §2–§3.
        (
            "100 * opportunities.won / opportunities.closed",
            "(/ (* 100 opportunities.won) opportunities.closed)",
        ),
        (
            "100 * max(invoices.net per client_id) / invoices.net",
            "(/ (* 100 (max (per invoices.net client_id))) invoices.net)",
        ),
        (
            "max(invoices.net per client_id)",
            "(max (per invoices.net client_id))",
        ),
        ("stage in ('won', 'lost')", "(in stage 'won' 'lost')"),
        (
            "opportunities.won[department = 'Cloud']",
            "(measure opportunities.won [(= department 'Cloud')])",
        ),
        (
            "days_between(created_at, closed_at)",
            "(days_between created_at closed_at)",
        ),
        (
            "top(3, invoices.net per client_id)",
            "(top 3 (per invoices.net client_id))",
        ),
        (
            "rolling(tickets.avg_wait, 3)",
            "(rolling tickets.avg_wait 3)",
        ),
        ("if(a > 0, b, null)", "(if (> a 0) b null)"),
        // Literals.
        ("42", "42"),
        ("3.25", "3.25"),
        (".5", "0.5"),
        ("1e6", "1000000"),
        ("2.5E-3", "0.0025"),
        ("1e+2", "100"),
        ("'won'", "'won'"),
        ("'it''s'", "'it''s'"),
        ("''", "''"),
        ("''''", "''''"),
        ("'Añadido ✓ 日本'", "'Añadido ✓ 日本'"),
        ("date '2026-01-01'", "(date '2026-01-01')"),
        ("DATE'2026-12-31'", "(date '2026-12-31')"),
        ("true", "true"),
        ("false", "false"),
        ("null", "null"),
        // Names, measures, calls.
        ("tasa_conversion", "tasa_conversion"),
        ("_x1", "_x1"),
        ("opportunities.won", "opportunities.won"),
        ("a.b[x]", "(measure a.b [x])"),
        ("f()", "(f)"),
        ("coalesce(a, b, c)", "(coalesce a b c)"),
        ("f(g(h(x)))", "(f (g (h x)))"),
        ("max(x per date)", "(max (per x date))"),
        ("events.date", "events.date"),
        ("f(a per b, c per d)", "(f (per a b) (per c d))"),
        ("f(a + b per c)", "(f (per (+ a b) c))"),
        // Every operator.
        ("a + b", "(+ a b)"),
        ("a - b", "(- a b)"),
        ("a * b", "(* a b)"),
        ("a / b", "(/ a b)"),
        ("a = b", "(= a b)"),
        ("a <> b", "(<> a b)"),
        ("a != b", "(<> a b)"),
        ("a < b", "(< a b)"),
        ("a <= b", "(<= a b)"),
        ("a > b", "(> a b)"),
        ("a >= b", "(>= a b)"),
        ("a and b", "(and a b)"),
        ("a or b", "(or a b)"),
        ("not a", "(not a)"),
        ("-a", "(- a)"),
        ("a is null", "(is-null a)"),
        ("a is not null", "(is-not-null a)"),
        ("a in (1)", "(in a 1)"),
        ("a not in (1, 2)", "(not-in a 1 2)"),
        // Precedence and associativity.
        ("a + b * c", "(+ a (* b c))"),
        ("a * b + c", "(+ (* a b) c)"),
        ("(a + b) * c", "(* (+ a b) c)"),
        ("a - b - c", "(- (- a b) c)"),
        ("a / b / c", "(/ (/ a b) c)"),
        ("-x * y", "(* (- x) y)"),
        ("- -x", "(- (- x))"),
        ("-2", "(- 2)"),
        ("a - -1", "(- a (- 1))"),
        ("not a = b and c", "(and (not (= a b)) c)"),
        ("not not a", "(not (not a))"),
        ("a or b and c", "(or a (and b c))"),
        ("a and b or c and d", "(or (and a b) (and c d))"),
        ("a + 1 > b * 2", "(> (+ a 1) (* b 2))"),
        ("a + 1 is null", "(is-null (+ a 1))"),
        (
            "a is null or b in (1) and c not in (2)",
            "(or (is-null a) (and (in b 1) (not-in c 2)))",
        ),
        ("not a in (1)", "(not (in a 1))"),
        ("((a))", "a"),
        // Keywords in any case.
        ("a AND b OR NOT c", "(or (and a b) (not c))"),
        ("a And b", "(and a b)"),
        ("x IS NOT NULL", "(is-not-null x)"),
        ("x Not In ('a')", "(not-in x 'a')"),
        ("TRUE or False", "(or true false)"),
        ("MAX(x PER y)", "(MAX (per x y))"),
        // Whitespace is free, including none and Unicode spaces.
        ("a+b*c", "(+ a (* b c))"),
        ("  a\n\t+\u{a0}b  ", "(+ a b)"),
        ("x.y[a='b']", "(measure x.y [(= a 'b')])"),
    ];
    let mut failures = Vec::new();
    for (input, expected) in cases {
        let parsed = parse(input);
        let actual = match &parsed.expr {
            Some(expr) => render(expr),
            None => "<no tree>".to_string(),
        };
        if actual != *expected || !parsed.errors.is_empty() {
            failures.push(format!(
                "{input:?}\n  expected {expected}\n  got      {actual}\n  errors   {:?}",
                render_errors(&parsed)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn spans_cover_the_text_of_each_node() {
    // (input, expected span of the root as a slice of the input)
    let cases: &[(&str, &str)] = &[
        ("  a + b  ", "a + b"),
        ("max(x per y) ", "max(x per y)"),
        ("o.won[d = 'C'] ", "o.won[d = 'C']"),
        (" o.won ", "o.won"),
        ("(a + b) * c", "(a + b) * c"),
        (" (a) ", "(a)"),
        ("x in (1, 2) ", "x in (1, 2)"),
        ("x is not null ", "x is not null"),
        ("date '2026-01-01' ", "date '2026-01-01'"),
        ("-x ", "-x"),
        ("not x ", "not x"),
        ("'ñ' = a", "'ñ' = a"),
    ];
    for (input, expected) in cases {
        let parsed = parse(input);
        assert!(parsed.errors.is_empty(), "{input:?}: {:?}", parsed.errors);
        let span = parsed.expr.expect("a tree").span;
        assert_eq!(&input[span.start..span.end], *expected, "span of {input:?}");
    }

    // Inner nodes: the `per` argument and the call's name.
    let parsed = parse("1 + max(inv.net per client)");
    let Some(Expr {
        kind: ExprKind::Binary { rhs, .. },
        ..
    }) = parsed.expr
    else {
        panic!("not a sum")
    };
    let ExprKind::Call { function, args } = &rhs.kind else {
        panic!("not a call")
    };
    assert_eq!(function.span, Span::new(4, 7));
    assert_eq!(args[0].span, Span::new(8, 26));
    let ExprKind::Per { value, column } = &args[0].kind else {
        panic!("not per")
    };
    assert_eq!(value.span, Span::new(8, 15));
    assert_eq!(column.span, Span::new(20, 26));
}

#[test]
fn broken_formulas_report_every_error() {
    // (input, expected tree or "<no tree>", expected errors as "start..end message")
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "",
            "<no tree>",
            &["0..0 expected an expression, found end of formula"],
        ),
        (
            "   ",
            "<no tree>",
            &["3..3 expected an expression, found end of formula"],
        ),
        (
            "1 +",
            "1",
            &["3..3 expected an expression, found end of formula"],
        ),
        (
            "max(a per)",
            "(max a)",
            &["9..10 expected a column name after `per`, found `)`"],
        ),
        (
            "(a",
            "a",
            &["2..2 expected `)` to close `(`, found end of formula"],
        ),
        (
            "(a, b)",
            "a",
            &["2..3 expected `)` to close `(`, found `,`"],
        ),
        ("a # b", "a", &["2..3 unknown character `#`"]),
        (
            "'open",
            "'open'",
            &["0..5 unterminated string: expected a closing `'`"],
        ),
        (
            "a..b",
            "<no tree>",
            &["2..3 expected a measure name after `a.`, found `.`"],
        ),
        (
            "f(a,,b)",
            "(f a b)",
            &["4..5 expected an expression, found `,`"],
        ),
        (
            "f(a,)",
            "(f a)",
            &["4..5 expected an expression, found `)`"],
        ),
        (
            "f(a b, c)",
            "(f a c)",
            &["4..5 expected `,` or `)` in the call to `f`, found `b`"],
        ),
        (
            "max(a",
            "(max a)",
            &["5..5 expected `)` to close the call to `max`, found end of formula"],
        ),
        ("a)", "a", &["1..2 `)` has no matching `(`"]),
        (
            "a b",
            "a",
            &["2..3 expected an operator or the end of the formula, found `b`"],
        ),
        (
            "a = b = c",
            "(= a b)",
            &["6..7 expected an operator or the end of the formula, found `=`"],
        ),
        (
            "* 2",
            "<no tree>",
            &["0..1 expected an expression, found `*`"],
        ),
        (
            "a is b",
            "a",
            &["5..6 expected `null` after `is`, found `b`"],
        ),
        (
            "a is not 1",
            "a",
            &["9..10 expected `null` after `is not`, found `1`"],
        ),
        (
            "a not b",
            "a",
            &["6..7 expected `in` after `not`, found `b`"],
        ),
        ("a in 1", "a", &["5..6 expected `(` after `in`, found `1`"]),
        (
            "a in ()",
            "(in a)",
            &["6..7 expected an expression, found `)`"],
        ),
        (
            "a in (1 2)",
            "(in a 1)",
            &["8..9 expected `,` or `)` in the list after `in`, found `2`"],
        ),
        (
            "date 5",
            "<no tree>",
            &["5..6 expected a string after `date`, as in `date '2026-01-01'`, found `5`"],
        ),
        (
            "o.won[a = 1",
            "(measure o.won [(= a 1)])",
            &["11..11 expected `]` to close the filter of `o.won`, found end of formula"],
        ),
        (
            "o.won[]",
            "o.won",
            &["6..7 expected an expression, found `]`"],
        ),
        (
            "a and",
            "a",
            &["5..5 expected an expression, found end of formula"],
        ),
        (
            "not",
            "<no tree>",
            &["3..3 expected an expression, found end of formula"],
        ),
        ("1e999", "inf", &["0..5 the number `1e999` is too large"]),
        (
            "\"won\"",
            "<no tree>",
            &[
                "0..1 unknown character `\"` (strings use single quotes: 'text')",
                "4..5 unknown character `\"` (strings use single quotes: 'text')",
            ],
        ),
        (
            "a ! b",
            "a",
            &["2..3 unknown character `!` (did you mean `!=`?)"],
        ),
        // Non-ASCII letters are reported one by one, but the name still parses.
        (
            "campaña.leads + 1",
            "(+ campaña.leads 1)",
            &["5..7 unknown character `ñ` (names use ASCII letters, digits and `_`)"],
        ),
        (
            "año_señal",
            "año_señal",
            &[
                "1..3 unknown character `ñ` (names use ASCII letters, digits and `_`)",
                "7..9 unknown character `ñ` (names use ASCII letters, digits and `_`)",
            ],
        ),
        // Several errors at once.
        (
            "a # b $ c",
            "a",
            &["2..3 unknown character `#`", "6..7 unknown character `$`"],
        ),
        (
            "f(a,,b) + g(c d) + 'x",
            "(+ (+ (f a b) (g c)) 'x')",
            &[
                "4..5 expected an expression, found `,`",
                "14..15 expected `,` or `)` in the call to `g`, found `d`",
                "19..21 unterminated string: expected a closing `'`",
            ],
        ),
        (
            "max(a per) + min(b per c d) * (1 +)",
            "(+ (max a) (* (min (per b c)) 1))",
            &[
                "9..10 expected a column name after `per`, found `)`",
                "25..26 expected `,` or `)` in the call to `min`, found `d`",
                "34..35 expected an expression, found `)`",
            ],
        ),
        (
            "f(#, x @)",
            "(f x)",
            &["2..3 unknown character `#`", "7..8 unknown character `@`"],
        ),
        (
            "o.w[a = ] + f(,)",
            "(+ (measure o.w [a]) (f))",
            &[
                "8..9 expected an expression, found `]`",
                "14..15 expected an expression, found `,`",
                "15..16 expected an expression, found `)`",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (input, expected_tree, expected_errors) in cases {
        let parsed = parse(input);
        let tree = match &parsed.expr {
            Some(expr) => render(expr),
            None => "<no tree>".to_string(),
        };
        let errors = render_errors(&parsed);
        if tree != *expected_tree || errors != *expected_errors {
            failures.push(format!(
                "{input:?}\n  expected {expected_tree} {expected_errors:?}\n  got      {tree} {errors:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs `f` on a new thread with a 2 MiB stack, the size of a tokio worker's, so that a stack
/// overflow aborts the test run instead of passing unnoticed on a test thread's larger stack.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("no panic")
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 3,000 levels stay under the length and token limits, so nesting is what is reported.
    for (open, close) in [
        ("(", ")"),
        ("f(", ")"),
        ("-", ""),
        ("not ", ""),
        ("a.b[", "]"),
    ] {
        let text = format!("{}x{}", open.repeat(3_000), close.repeat(3_000));
        let parsed = on_small_stack(move || parse(&text));
        // One error, not one per level; the tree keeps whatever was built (calls keep the
        // arguments that parsed), so it is not checked here.
        assert_eq!(
            parsed.errors.len(),
            1,
            "{open}: {:?}",
            &parsed.errors[..3.min(parsed.errors.len())]
        );
        assert!(
            parsed.errors[0].message.contains("nested too deeply"),
            "{open}: {}",
            parsed.errors[0].message
        );
    }
}

#[test]
fn nesting_below_the_limit_parses() {
    // The whole formula is one level; `(` is one more, and `f(-(` three (argument, minus,
    // parenthesis). Run on a new thread, whose stack is the default 2 MiB.
    let levels = tablero_formula::parser::MAX_DEPTH - 1;
    let texts = [
        format!("{}x{}", "(".repeat(levels), ")".repeat(levels)),
        format!("{}x{}", "f(-(".repeat(levels / 3), "))".repeat(levels / 3)),
        format!("{}x{}", "a.b[".repeat(levels), "]".repeat(levels)),
    ];
    for text in texts {
        let parsed = on_small_stack(move || parse(&text));
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert!(parsed.expr.is_some());
    }
}

/// `n` terms joined by `op`: `1*1*1`, `a and a and a`.
fn chain(term: &str, op: &str, n: usize) -> String {
    vec![term; n].join(op)
}

/// Regression: a chain builds a left-deep tree one level per operator without nesting the
/// parser, so `where=1*1*1*…` used to pass the nesting guard and overflow the stack of
/// whatever walked or dropped the tree.
#[test]
fn chains_of_100_000_terms_are_an_error_not_a_stack_overflow() {
    let texts = [
        chain("1", "*", 100_000),
        chain("1", "+", 100_000),
        chain("1", "-", 100_000),
        chain("a", " and ", 100_000),
        chain("a", " or ", 100_000),
        chain("1", "/", 100_000),
        format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
    ];
    for text in texts {
        let head: String = text.chars().take(12).collect();
        let length = text.len();
        let parsed = on_small_stack(move || parse(&text));
        assert!(parsed.expr.is_none(), "{head}…");
        let messages = render_errors(&parsed);
        assert_eq!(
            messages,
            [format!(
                "65536..{length} the formula is too long: {length} bytes, at most 65536"
            )],
            "{head}…"
        );
    }
}

#[test]
fn chains_under_the_length_limit_are_cut_at_the_depth_limit() {
    use tablero_formula::parser::MAX_DEPTH;
    // (term, operator): each chain has 5,000 terms, well under the length and token limits.
    for (term, op) in [
        ("1", "*"),
        ("1", "/"),
        ("1", "+"),
        ("1", " - "),
        ("a", " and "),
        ("a", " or "),
    ] {
        let text = chain(term, op, 5_000);
        // The error is at the operator that makes the tree MAX_DEPTH + 1 high: the
        // MAX_DEPTH-th one, since n operators make a tree n + 1 high.
        let at = (term.len() + op.len()) * (MAX_DEPTH - 1)
            + term.len()
            + op.find(|c: char| c != ' ').unwrap_or(0);
        let parsed = on_small_stack(move || parse(&text));
        let errors = render_errors(&parsed);
        assert_eq!(errors.len(), 1, "{op}: {errors:?}");
        assert!(
            errors[0].starts_with(&format!("{at}..")) && errors[0].contains("nested too deeply"),
            "{op}: {errors:?}"
        );
    }
}

#[test]
fn a_chain_is_exactly_as_high_as_its_operators_allow() {
    use tablero_formula::parser::MAX_DEPTH;
    // MAX_DEPTH terms: MAX_DEPTH - 1 operators, a tree MAX_DEPTH high: allowed.
    for op in ["*", "+", " and ", " or "] {
        let parsed = parse(&chain("a", op, MAX_DEPTH));
        assert!(parsed.errors.is_empty(), "{op}: {:?}", parsed.errors);
        assert_eq!(parsed.expr.expect("a tree").height(), MAX_DEPTH);
        let parsed = parse(&chain("a", op, MAX_DEPTH + 1));
        assert_eq!(parsed.errors.len(), 1, "{op}");
        assert!(parsed.errors[0].message.contains("nested too deeply"));
    }
    // Levels of different kinds add up: each `-`, `not`, call, `per`, filter, comparison,
    // `in` and `is null` is a level of the tree.
    let mixed = "not f(-a.b[x in (1) and y is null] per c) = 1";
    let parsed = parse(mixed);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    // not, =, f, per, -, measure, and, in, x
    assert_eq!(parsed.expr.expect("a tree").height(), 9);
    // A chain inside brackets inside a chain: the heights add up, not the brackets.
    let half = MAX_DEPTH / 2;
    let inner = format!("({})", chain("a", "+", half));
    let ok = chain(&inner, "*", half);
    let parsed = parse(&ok);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.expr.expect("a tree").height(), 2 * half - 1);
    let too_high = chain(&inner, "*", half + 2);
    assert_eq!(parse(&too_high).errors.len(), 1);
}

#[test]
fn the_length_and_token_limits_name_the_place() {
    use tablero_formula::parser::{MAX_LENGTH, MAX_TOKENS};
    // Exactly at the length limit: parsed (one long name).
    let at_limit = "a".repeat(MAX_LENGTH);
    let parsed = parse(&at_limit);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    // One byte more: refused, at the first byte past the limit.
    let over = "a".repeat(MAX_LENGTH + 1);
    assert_eq!(
        render_errors(&parse(&over)),
        [format!(
            "{MAX_LENGTH}..{} the formula is too long: {} bytes, at most {MAX_LENGTH}",
            MAX_LENGTH + 1,
            MAX_LENGTH + 1
        )]
    );
    // A multi-byte character across the limit: the span starts on a char boundary.
    let straddling = format!("{}'ñ'", "a".repeat(MAX_LENGTH - 1));
    let parsed = parse(&straddling);
    assert_eq!(parsed.errors[0].span.start, MAX_LENGTH);
    let straddling = format!("{}'ñ'", "a".repeat(MAX_LENGTH - 2));
    let parsed = parse(&straddling);
    assert_eq!(parsed.errors[0].span.start, MAX_LENGTH - 1);
    // `f(1,…,1)` with n arguments has 2n + 2 tokens: exactly MAX_TOKENS pass the lexer, and
    // one argument more is refused at its first token past the limit, the last `1`.
    let n = (MAX_TOKENS - 2) / 2;
    let fits = format!("f({})", chain("1", ",", n));
    assert_eq!(
        tablero_formula::lexer::lex(&fits).tokens.len(),
        MAX_TOKENS + 1,
        "with the end token"
    );
    let parsed = parse(&fits);
    assert!(parsed.errors.is_empty(), "{:?}", &parsed.errors[..1]);
    let over = format!("f({})", chain("1", ",", n + 1));
    let last_one = over.len() - 2;
    assert_eq!(
        render_errors(&parse(&over)),
        [format!(
            "{last_one}..{} the formula has more than {MAX_TOKENS} tokens (names, numbers, operators)",
            last_one + 1
        )]
    );
}

#[test]
fn every_tree_the_parser_builds_is_within_the_depth_limit() {
    use tablero_formula::parser::MAX_DEPTH;
    // Shapes that each add a level, repeated past the limit, with and without chains.
    let shapes = [
        ("-", ""),
        ("not ", ""),
        ("f(", ")"),
        ("a.b[", "]"),
        ("max(", " per c)"),
        ("(1 + ", ")"),
        ("(a and ", ")"),
        ("(a in (", "))"),
    ];
    for (open, close) in shapes {
        for n in [
            MAX_DEPTH / 2,
            MAX_DEPTH - 1,
            MAX_DEPTH,
            MAX_DEPTH + 1,
            2 * MAX_DEPTH,
        ] {
            let text = format!("{}x{}", open.repeat(n), close.repeat(n));
            let parsed = on_small_stack(move || parse(&text));
            if let Some(expr) = &parsed.expr {
                assert!(expr.height() <= MAX_DEPTH, "{open} × {n}");
            }
            if parsed.errors.is_empty() {
                assert!(parsed.expr.is_some(), "{open} × {n}");
            }
        }
    }
}

/// Every error span lies within the text, on char boundaries, and starts before it ends.
fn assert_spans_are_sound(text: &str, parsed: &Parsed) -> Result<(), TestCaseError> {
    for error in &parsed.errors {
        let Span { start, end } = error.span;
        prop_assert!(start <= end && end <= text.len(), "{error:?} in {text:?}");
        prop_assert!(
            text.is_char_boundary(start) && text.is_char_boundary(end),
            "{error:?} in {text:?}"
        );
        prop_assert!(!error.message.is_empty());
    }
    if let Some(expr) = &parsed.expr {
        let Span { start, end } = expr.span;
        prop_assert!(
            start <= end && end <= text.len(),
            "tree span {:?} in {text:?}",
            expr.span
        );
    }
    prop_assert!(
        parsed.expr.is_some() || !parsed.errors.is_empty(),
        "no tree and no error for {text:?}"
    );
    Ok(())
}

/// Pieces of the language, glued together at random to reach the parser's corners.
const TOKENS: &[&str] = &[
    "(", ")", "[", "]", ",", ".", "+", "-", "*", "/", "=", "<>", "!=", "<", "<=", ">", ">=", "!",
    "and", "OR", "Not", "in", "is", "null", "true", "false", "date", "per", "a", "x_1", "max",
    "o.won", "1", "2.5", ".5", "1e6", "1e", "'s'", "'it''s'", "'", "''", "#", "ñ", "日", " ", "\n",
];

/// A valid formula and its expected rendering, built from the grammar.
fn formula() -> impl Strategy<Value = (String, String)> {
    let leaf = prop_oneof![
        (0u32..1000).prop_map(|n| (n.to_string(), n.to_string())),
        "[a-z_][a-z0-9_]{0,6}"
            .prop_filter("not a keyword", |name| {
                tablero_formula::lexer::Keyword::from_word(name).is_none()
            })
            .prop_map(|name| (name.clone(), name)),
        "[a-z ']{0,5}".prop_map(|text| (quote(&text), quote(&text))),
        Just(("o.won".to_string(), "o.won".to_string())),
    ];
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(&["+", "-", "*", "/", "=", "<>", "<", ">=", "and", "or"][..]),
                inner.clone()
            )
                .prop_map(|((l, lr), op, (r, rr))| (
                    format!("({l}) {op} ({r})"),
                    format!("({op} {lr} {rr})")
                )),
            inner
                .clone()
                .prop_map(|(e, r)| (format!("-({e})"), format!("(- {r})"))),
            inner
                .clone()
                .prop_map(|(e, r)| (format!("not ({e})"), format!("(not {r})"))),
            inner
                .clone()
                .prop_map(|(e, r)| (format!("({e}) is not null"), format!("(is-not-null {r})"))),
            (inner.clone(), prop::collection::vec(inner.clone(), 1..4)).prop_map(
                |((e, r), items)| {
                    let texts: Vec<_> = items.iter().map(|(t, _)| format!("({t})")).collect();
                    let renders: Vec<_> = items.iter().map(|(_, r)| r.clone()).collect();
                    (
                        format!("({e}) in ({})", texts.join(", ")),
                        format!("(in {r} {})", renders.join(" ")),
                    )
                }
            ),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| {
                let texts: Vec<_> = items.iter().map(|(t, _)| t.clone()).collect();
                let renders: Vec<_> = items.iter().map(|(_, r)| format!(" {r}")).collect();
                (
                    format!("f({})", texts.join(", ")),
                    format!("(f{})", renders.concat()),
                )
            }),
            inner
                .clone()
                .prop_map(|(e, r)| (format!("max({e} per c)"), format!("(max (per {r} c))"))),
            inner.prop_map(|(e, r)| (format!("o.won[{e}]"), format!("(measure o.won [{r}])"))),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let parsed = parse(&text);
        assert_spans_are_sound(&text, &parsed)?;
    }

    #[test]
    fn token_soup_never_panics(pieces in prop::collection::vec(prop::sample::select(TOKENS), 0..40)) {
        for separator in ["", " "] {
            let text = pieces.join(separator);
            let parsed = parse(&text);
            assert_spans_are_sound(&text, &parsed)?;
        }
    }

    #[test]
    fn generated_formulas_parse_to_their_tree((text, expected) in formula()) {
        let parsed = parse(&text);
        prop_assert!(parsed.errors.is_empty(), "{text:?}: {:?}", parsed.errors);
        let expr = parsed.expr.expect("a tree when there are no errors");
        prop_assert_eq!(render(&expr), expected, "{:?}", text);
        prop_assert_eq!(expr.span, Span::new(0, text.len()));
    }
}
