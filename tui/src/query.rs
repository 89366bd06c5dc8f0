//! The `/` filter's small query language.
//!
//! ```text
//! status>=500 and webhook=billing      HTTP status 500 or more, webhook `billing`
//! event=task.*                         event types matching a glob (`*` = any text)
//! status=failed or status=exhausted    delivery status (a word) …
//! status=5*                            … or HTTP status (a number, or a glob on digits)
//! kind=timeout  error~refused          error kind; `~` = contains
//! not webhook=audit  (a or b) c        `not`, parentheses; terms side by side mean `and`
//! dlv_01J                              a bare word: contained in the id, webhook, event or error
//! ```
//!
//! Fields: `status`, `code` (HTTP status), `webhook`, `event`, `kind` (error kind), `id`,
//! `attempts`, `error`, `state` (webhook state), `breaker`, `plugin`. Operators: `=` `!=`
//! (globs, case-insensitive), `~` (contains), `>` `>=` `<` `<=` (numbers). Each view says
//! which fields it has ([`Query::check_fields`]).
//!
//! ```
//! use hookline_console::query::{Query, Field, Record};
//! struct Row { code: u16, webhook: &'static str }
//! impl Record for Row {
//!     fn text(&self, field: Field) -> Option<std::borrow::Cow<'_, str>> {
//!         (field == Field::Webhook).then(|| self.webhook.into())
//!     }
//!     fn number(&self, field: Field) -> Option<i64> {
//!         (field == Field::Code).then_some(i64::from(self.code))
//!     }
//!     fn free_text(&self) -> Vec<&str> { vec![self.webhook] }
//! }
//! let q = Query::parse("status>=500 and webhook=bill*").unwrap();
//! assert!(q.matches(&Row { code: 503, webhook: "billing" }));
//! assert!(!q.matches(&Row { code: 200, webhook: "billing" }));
//! ```

use std::borrow::Cow;
use std::fmt;

/// A field a query can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// A delivery's status name.
    Status,
    /// The last HTTP status code.
    Code,
    /// Webhook id.
    Webhook,
    /// Event type.
    Event,
    /// Error kind.
    Kind,
    /// Delivery (or row) id.
    Id,
    /// Attempts made.
    Attempts,
    /// Error message.
    Error,
    /// Webhook state.
    State,
    /// Breaker state.
    Breaker,
    /// Plugin path.
    Plugin,
}

impl Field {
    /// The name shown in messages.
    pub fn name(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Code => "code",
            Field::Webhook => "webhook",
            Field::Event => "event",
            Field::Kind => "kind",
            Field::Id => "id",
            Field::Attempts => "attempts",
            Field::Error => "error",
            Field::State => "state",
            Field::Breaker => "breaker",
            Field::Plugin => "plugin",
        }
    }

    fn parse(name: &str) -> Option<Field> {
        Some(match name.to_ascii_lowercase().as_str() {
            "status" => Field::Status,
            "code" | "http" | "status_code" => Field::Code,
            "webhook" | "wh" => Field::Webhook,
            "event" | "type" | "event_type" => Field::Event,
            "kind" | "error_kind" => Field::Kind,
            "id" | "delivery" => Field::Id,
            "attempts" | "attempt" | "try" => Field::Attempts,
            "error" | "err" | "message" => Field::Error,
            "state" => Field::State,
            "breaker" => Field::Breaker,
            "plugin" => Field::Plugin,
            _ => return None,
        })
    }

    fn is_numeric(self) -> bool {
        matches!(self, Field::Code | Field::Attempts)
    }
}

/// The most tokens (words, operators, parentheses) a query may have. A query is a tree as deep
/// as its terms, which [`Query::matches`] and the rest walk recursively; the fuzzer found a
/// paste of ~600 words overflowing a 2 MiB stack.
const MAX_TOKENS: usize = 128;

const FIELD_NAMES: &str =
    "status, code, webhook, event, kind, id, attempts, error, state, breaker, plugin";

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`: glob match.
    Eq,
    /// `!=`: no glob match.
    Ne,
    /// `~`: contains.
    Contains,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Contains => "~",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Ge | Op::Lt | Op::Le)
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Matches everything (an empty query).
    All,
    /// `field op value`.
    Cond {
        /// The field.
        field: Field,
        /// The comparison.
        op: Op,
        /// The value, lower case.
        value: String,
        /// The value as a number, for numeric fields.
        number: Option<i64>,
    },
    /// A bare word: contained in one of the record's texts.
    Text(String),
    /// `not q`.
    Not(Box<Query>),
    /// `a and b`.
    And(Box<Query>, Box<Query>),
    /// `a or b`.
    Or(Box<Query>, Box<Query>),
}

/// What a query reads from a row.
pub trait Record {
    /// The text of `field`, if the row has it.
    fn text(&self, field: Field) -> Option<Cow<'_, str>>;
    /// The number of `field`, if the row has it.
    fn number(&self, field: Field) -> Option<i64>;
    /// Texts a bare word is looked for in.
    fn free_text(&self) -> Vec<&str>;
}

/// Why a query does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at column {column})")]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// 1-based column of the offending token.
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    let column = |byte: usize| text[..byte].chars().count() + 1;
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((Tok::Open, column(at)));
                i += 1;
            }
            ')' => {
                out.push((Tok::Close, column(at)));
                i += 1;
            }
            '=' | '~' => {
                out.push((
                    Tok::Op(if c == '=' { Op::Eq } else { Op::Contains }),
                    column(at),
                ));
                i += 1;
                // Tolerate `==`.
                if c == '=' && chars.get(i).map(|p| p.1) == Some('=') {
                    i += 1;
                }
            }
            '!' | '>' | '<' => {
                let eq = chars.get(i + 1).map(|p| p.1) == Some('=');
                let op = match (c, eq) {
                    ('!', true) => Op::Ne,
                    ('>', true) => Op::Ge,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    ('<', false) => Op::Lt,
                    _ => {
                        return Err(QueryError {
                            message: "`!` must be followed by `=` (use `not` to negate)".into(),
                            column: column(at),
                        });
                    }
                };
                out.push((Tok::Op(op), column(at)));
                i += if eq { 2 } else { 1 };
            }
            '"' | '\'' => {
                let quote = c;
                let mut value = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(QueryError {
                                message: format!("unclosed quote {quote}"),
                                column: column(at),
                            });
                        }
                        Some(&(_, '\\')) if chars.get(j + 1).is_some() => {
                            value.push(chars[j + 1].1);
                            j += 2;
                        }
                        Some(&(_, ch)) if ch == quote => break,
                        Some(&(_, ch)) => {
                            value.push(ch);
                            j += 1;
                        }
                    }
                }
                out.push((Tok::Quoted(value), column(at)));
                i = j + 1;
            }
            _ => {
                let mut word = String::new();
                let mut j = i;
                while let Some(&(_, ch)) = chars.get(j) {
                    if ch.is_whitespace() || "()=~!<>\"'".contains(ch) {
                        break;
                    }
                    word.push(ch);
                    j += 1;
                }
                out.push((Tok::Word(word), column(at)));
                i = j;
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn column(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_column, |t| t.1)
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            message: message.into(),
            column: self.column(),
        })
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or_expr(&mut self) -> Result<Query, QueryError> {
        let mut left = self.and_expr()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Query::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Query, QueryError> {
        let mut left = self.unary()?;
        loop {
            if self.keyword("and") {
                self.pos += 1;
            } else if self.peek().is_none()
                || self.keyword("or")
                || matches!(self.peek(), Some(Tok::Close))
            {
                return Ok(left);
            }
            // `and`, or two terms side by side.
            let right = self.unary()?;
            left = Query::And(Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Query::Not(Box::new(self.unary()?)));
        }
        match self.peek().cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.or_expr()?;
                if !matches!(self.peek(), Some(Tok::Close)) {
                    return self.fail("expected `)`");
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Close) => self.fail("unexpected `)`"),
            Some(Tok::Op(op)) => self.fail(format!("expected a field before `{}`", op.as_str())),
            None => self.fail("expected a condition"),
            Some(Tok::Quoted(text)) => {
                self.pos += 1;
                Ok(Query::Text(text.to_lowercase()))
            }
            Some(Tok::Word(word)) => {
                if ["and", "or"].iter().any(|k| word.eq_ignore_ascii_case(k)) {
                    return self.fail(format!("expected a condition before `{word}`"));
                }
                self.pos += 1;
                let Some(Tok::Op(op)) = self.peek().cloned() else {
                    return Ok(Query::Text(word.to_lowercase()));
                };
                let field_column = self.toks[self.pos - 1].1;
                let Some(mut field) = Field::parse(&word) else {
                    return Err(QueryError {
                        message: format!("unknown field `{word}` (fields: {FIELD_NAMES})"),
                        column: field_column,
                    });
                };
                self.pos += 1;
                let value = match self.peek().cloned() {
                    Some(Tok::Word(v)) | Some(Tok::Quoted(v)) => v,
                    _ => {
                        return self
                            .fail(format!("expected a value after `{word}{}`", op.as_str()));
                    }
                };
                let value_column = self.column();
                self.pos += 1;
                // `status` with a number, a glob of digits or a comparison is the HTTP status.
                if field == Field::Status
                    && (op.is_ordering() || value.starts_with(|c: char| c.is_ascii_digit()))
                {
                    field = Field::Code;
                }
                let number = value.parse::<i64>().ok();
                if op.is_ordering() {
                    if !field.is_numeric() {
                        return Err(QueryError {
                            message: format!(
                                "`{}` compares numbers, and `{word}` is text (use `=`, `!=` or `~`)",
                                op.as_str()
                            ),
                            column: field_column,
                        });
                    }
                    if number.is_none() {
                        return Err(QueryError {
                            message: format!(
                                "`{word}{}` needs a number, not `{value}`",
                                op.as_str()
                            ),
                            column: value_column,
                        });
                    }
                }
                Ok(Query::Cond {
                    field,
                    op,
                    value: value.to_lowercase(),
                    number,
                })
            }
        }
    }
}

impl Query {
    /// Parses `text`; an empty text matches everything.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        let toks = tokenize(text)?;
        if toks.is_empty() {
            return Ok(Query::All);
        }
        // Matching, showing and dropping a query recurse once per term: bound them.
        if let Some((_, column)) = toks.get(MAX_TOKENS) {
            return Err(QueryError {
                message: format!(
                    "a query has at most {MAX_TOKENS} words, operators and parentheses"
                ),
                column: *column,
            });
        }
        let mut p = Parser {
            toks,
            pos: 0,
            end_column: text.chars().count() + 1,
        };
        let q = p.or_expr()?;
        if p.pos < p.toks.len() {
            return p.fail("unexpected `)`");
        }
        Ok(q)
    }

    /// Fails naming the first field not in `available` (the fields a view has).
    pub fn check_fields(&self, available: &[Field]) -> Result<(), QueryError> {
        match self {
            Query::All | Query::Text(_) => Ok(()),
            Query::Cond { field, .. } => {
                if available.contains(field) {
                    Ok(())
                } else {
                    let names: Vec<&str> = available.iter().map(|f| f.name()).collect();
                    Err(QueryError {
                        message: format!(
                            "this view has no `{}` (its fields: {})",
                            field.name(),
                            names.join(", ")
                        ),
                        column: 1,
                    })
                }
            }
            Query::Not(q) => q.check_fields(available),
            Query::And(a, b) | Query::Or(a, b) => {
                a.check_fields(available)?;
                b.check_fields(available)
            }
        }
    }

    /// Whether `record` matches.
    pub fn matches(&self, record: &impl Record) -> bool {
        match self {
            Query::All => true,
            Query::Text(word) => record
                .free_text()
                .iter()
                .any(|t| contains_ignore_case(t, word)),
            Query::Not(q) => !q.matches(record),
            Query::And(a, b) => a.matches(record) && b.matches(record),
            Query::Or(a, b) => a.matches(record) || b.matches(record),
            Query::Cond {
                field,
                op,
                value,
                number,
            } => {
                if let (true, Some(want)) = (op.is_ordering(), number) {
                    return match record.number(*field) {
                        Some(n) => match op {
                            Op::Gt => n > *want,
                            Op::Ge => n >= *want,
                            Op::Lt => n < *want,
                            Op::Le => n <= *want,
                            _ => false,
                        },
                        None => false,
                    };
                }
                let text: Option<Cow<'_, str>> = if field.is_numeric() {
                    record.number(*field).map(|n| Cow::Owned(n.to_string()))
                } else {
                    record.text(*field)
                };
                match op {
                    Op::Eq => text.is_some_and(|t| glob_ignore_case(value, &t)),
                    Op::Ne => !text.is_some_and(|t| glob_ignore_case(value, &t)),
                    Op::Contains => text.is_some_and(|t| contains_ignore_case(&t, value)),
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::All => f.write_str("*"),
            Query::Cond {
                field, op, value, ..
            } => write!(f, "{}{}{}", field.name(), op.as_str(), value),
            Query::Text(t) => write!(f, "{t:?}"),
            Query::Not(q) => write!(f, "not ({q})"),
            Query::And(a, b) => write!(f, "({a} and {b})"),
            Query::Or(a, b) => write!(f, "({a} or {b})"),
        }
    }
}

/// Whether `haystack` contains `needle` (already lower case), ignoring ASCII case.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Glob match, `*` = any run of characters, ignoring ASCII case. `pattern` is lower case.
fn glob_ignore_case(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // Iterative matcher with one backtrack point (the last `*`).
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti].to_ascii_lowercase() {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer: hundreds of bare words made a tree deep enough to overflow a
    /// thread's stack when matched. Now refused, naming the first token over the limit.
    #[test]
    fn a_query_with_too_many_terms_is_refused_not_a_stack_overflow() {
        let words = vec!["w"; 2000].join(" ");
        let err = Query::parse(&words).unwrap_err();
        assert_eq!(err.column, 2 * MAX_TOKENS + 1);
        assert!(err.message.contains("at most 128"), "{err}");
        let most = vec!["w"; MAX_TOKENS].join(" ");
        let q = Query::parse(&most).unwrap();
        assert!(q.to_string().starts_with("(((("));
    }

    #[derive(Default)]
    struct Row {
        status: &'static str,
        code: Option<i64>,
        webhook: &'static str,
        event: &'static str,
        kind: Option<&'static str>,
        attempts: i64,
        error: Option<&'static str>,
    }

    impl Record for Row {
        fn text(&self, field: Field) -> Option<Cow<'_, str>> {
            match field {
                Field::Status => Some(self.status.into()),
                Field::Webhook => Some(self.webhook.into()),
                Field::Event => Some(self.event.into()),
                Field::Kind => self.kind.map(Into::into),
                Field::Error => self.error.map(Into::into),
                _ => None,
            }
        }
        fn number(&self, field: Field) -> Option<i64> {
            match field {
                Field::Code => self.code,
                Field::Attempts => Some(self.attempts),
                _ => None,
            }
        }
        fn free_text(&self) -> Vec<&str> {
            let mut v = vec![self.webhook, self.event];
            v.extend(self.error);
            v
        }
    }

    fn billing_503() -> Row {
        Row {
            status: "pending",
            code: Some(503),
            webhook: "billing",
            event: "task.completed",
            kind: Some("http_status"),
            attempts: 2,
            error: Some("receiver answered 503 Service Unavailable"),
        }
    }

    fn audit_ok() -> Row {
        Row {
            status: "delivered",
            code: Some(200),
            webhook: "audit",
            event: "session.created",
            attempts: 1,
            ..Row::default()
        }
    }

    fn check(query: &str, row: &Row) -> bool {
        Query::parse(query)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .matches(row)
    }

    #[test]
    fn the_examples_of_the_help() {
        let (bad, ok) = (billing_503(), audit_ok());
        assert!(check("status>=500 and webhook=billing", &bad));
        assert!(!check("status>=500 and webhook=billing", &ok));
        assert!(check("event=task.*", &bad));
        assert!(!check("event=task.*", &ok));
        assert!(check("status=delivered", &ok));
        assert!(check("status=pending", &bad));
        assert!(check("kind=http_status", &bad));
        assert!(!check("kind=http_status", &ok));
        assert!(check("kind=timeout or kind=http*", &bad));
    }

    #[test]
    fn status_with_a_number_is_the_http_status() {
        let (bad, ok) = (billing_503(), audit_ok());
        assert_eq!(
            Query::parse("status>=500").unwrap(),
            Query::Cond {
                field: Field::Code,
                op: Op::Ge,
                value: "500".into(),
                number: Some(500)
            }
        );
        assert!(check("status=5*", &bad));
        assert!(!check("status=5*", &ok));
        assert!(check("code<300", &ok));
        assert!(check("status=503", &bad));
        assert!(check("status!=503", &ok));
    }

    #[test]
    fn and_or_not_parentheses_and_juxtaposition() {
        let (bad, ok) = (billing_503(), audit_ok());
        assert!(check("webhook=audit or webhook=billing", &bad));
        assert!(check("not webhook=audit", &bad));
        assert!(!check("not webhook=audit", &ok));
        assert!(check(
            "(webhook=audit or webhook=billing) and attempts>1",
            &bad
        ));
        assert!(!check(
            "(webhook=audit or webhook=billing) and attempts>1",
            &ok
        ));
        // Side by side means `and`; `and` binds tighter than `or`.
        assert!(!check("webhook=billing event=session.*", &bad));
        assert!(check("webhook=audit and code=1 or webhook=billing", &bad));
        assert!(check("NOT Webhook=AUDIT AND status=PENDING", &bad));
    }

    #[test]
    fn bare_words_quotes_and_contains() {
        let (bad, ok) = (billing_503(), audit_ok());
        assert!(check("unavailable", &bad));
        assert!(!check("unavailable", &ok));
        assert!(check("\"service unavailable\"", &bad));
        assert!(check("error~'503 service'", &bad));
        assert!(!check("error~503", &ok), "no error at all: no match");
        assert!(check("error!=x*", &ok), "no error: `!=` matches");
        assert!(check("webhook==billing", &bad));
        assert!(check("", &ok));
        assert_eq!(Query::parse("   ").unwrap(), Query::All);
    }

    #[test]
    fn errors_name_the_problem_and_the_column() {
        let err = |q: &str| Query::parse(q).unwrap_err();
        let e = err("colour=red");
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert_eq!(e.column, 1);
        let e = err("status>=abc");
        assert!(e.message.contains("needs a number"), "{e}");
        assert_eq!(e.column, 9);
        let e = err("webhook>3");
        assert!(e.message.contains("compares numbers"), "{e}");
        assert!(err("status=").message.contains("expected a value"));
        assert!(err("(webhook=a").message.contains("expected `)`"));
        assert!(err("webhook=a)").message.contains("unexpected `)`"));
        assert!(err("=a").message.contains("expected a field"));
        assert!(err("a and").message.contains("expected a condition"));
        assert!(err("or a").message.contains("expected a condition before"));
        assert!(err("\"open").message.contains("unclosed quote"));
        assert!(err("a ! b").message.contains("`!` must be followed"));
    }

    #[test]
    fn check_fields_refuses_what_a_view_lacks() {
        let q = Query::parse("state=paused or webhook=b*").unwrap();
        assert!(q.check_fields(&[Field::State, Field::Webhook]).is_ok());
        let e = q.check_fields(&[Field::Webhook]).unwrap_err();
        assert!(e.message.contains("no `state`"), "{e}");
    }

    #[test]
    fn globs() {
        assert!(glob_ignore_case("task.*", "Task.Created"));
        assert!(glob_ignore_case("*", ""));
        assert!(glob_ignore_case("*.created", "session.created"));
        assert!(glob_ignore_case("a*b*c", "aXXbYYc"));
        assert!(!glob_ignore_case("a*b*c", "aXXbYY"));
        assert!(!glob_ignore_case("task", "task.created"));
        assert!(glob_ignore_case("t*k.*d", "task.created"));
    }
}
