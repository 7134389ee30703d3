//! CQL2 text (OGC API - Features Part 3), the subset clients send: comparisons, `LIKE`,
//! `IS [NOT] NULL`, `[NOT] IN (...)`, `BETWEEN`, `AND`/`OR`/`NOT`, parentheses, and
//! `S_INTERSECTS(geometry, <WKT or BBOX(...)>)`. Properties are checked against the
//! collection's queryables here, so a filter can only name what `?name=value` could.

use cuntu_store::ogc::{Collection, CompareOp, Filter, Literal, OutputCrs};

use crate::error::ApiError;

fn bad(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError::BadQuery {
        zh: format!("filter 参数无效：{}", zh.into()),
        en: format!("Invalid filter: {}", en.into()),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Quoted(String),
    Text(String),
    Number(f64),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn tokens(input: &str) -> Result<Vec<Token>, ApiError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            ',' => {
                out.push(Token::Comma);
                i += 1
            }
            '\'' | '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(bad("字符串未结束", "unterminated string")),
                        Some(&q) if q == c && chars.get(i + 1) == Some(&c) => {
                            s.push(c);
                            i += 2;
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            s.push(other);
                            i += 1;
                        }
                    }
                }
                out.push(if c == '"' {
                    Token::Quoted(s)
                } else {
                    Token::Text(s)
                });
            }
            '<' | '>' | '=' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "<>" => "<>",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ => match c {
                        '<' => "<",
                        '>' => ">",
                        _ => "=",
                    },
                };
                i += op.len();
                out.push(Token::Op(op));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || ".eE".contains(chars[i])
                        || ((chars[i] == '-' || chars[i] == '+') && "eE".contains(chars[i - 1])))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text.parse::<f64>().map_err(|_| {
                    bad(
                        format!("无法读取数字“{text}”"),
                        format!("cannot read the number '{text}'"),
                    )
                })?;
                out.push(Token::Number(n));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => {
                return Err(bad(
                    format!("无法识别的字符“{other}”"),
                    format!("unexpected character '{other}'"),
                ))
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    collection: &'a Collection,
    crs: OutputCrs,
}

fn keyword(t: Option<&Token>, word: &str) -> bool {
    matches!(t, Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), ApiError> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            other => Err(bad(
                format!("此处应为 {what}，收到 {other:?}"),
                format!("expected {what}, got {other:?}"),
            )),
        }
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        if keyword(self.peek(), word) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Filter, ApiError> {
        let mut left = self.and()?;
        while self.eat_keyword("OR") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ApiError> {
        let mut left = self.not()?;
        while self.eat_keyword("AND") {
            left = Filter::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, ApiError> {
        if self.eat_keyword("NOT") {
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn column(&self, name: &str) -> Result<&'static cuntu_store::ogc::Column, ApiError> {
        self.collection
            .column(name)
            .filter(|c| c.queryable)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .collection
                    .columns
                    .iter()
                    .filter(|c| c.queryable)
                    .map(|c| c.name)
                    .collect();
                bad(
                    format!("“{name}”不是可查询的属性（可用：{}）", known.join("，")),
                    format!(
                        "'{name}' is not a queryable property (queryables: {})",
                        known.join(", ")
                    ),
                )
            })
    }

    fn literal(&mut self) -> Result<Literal, ApiError> {
        match self.next() {
            Some(Token::Text(s)) => Ok(Literal::Text(s)),
            Some(Token::Number(n)) => Ok(Literal::Number(n)),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Token::Ident(w))
                if w.eq_ignore_ascii_case("TIMESTAMP") || w.eq_ignore_ascii_case("DATE") =>
            {
                self.expect(Token::Open, "(")?;
                let Some(Token::Text(s)) = self.next() else {
                    return Err(bad("TIMESTAMP() 须含字符串", "TIMESTAMP() needs a string"));
                };
                self.expect(Token::Close, ")")?;
                Ok(Literal::Text(s))
            }
            other => Err(bad(
                format!("此处应为值，收到 {other:?}"),
                format!("expected a value, got {other:?}"),
            )),
        }
    }

    /// A WKT geometry (or `BBOX(minx, miny, maxx, maxy)`) as written, re-assembled from
    /// the tokens; PostGIS parses it.
    fn geometry(&mut self) -> Result<String, ApiError> {
        let Some(Token::Ident(kind)) = self.next() else {
            return Err(bad("此处应为几何", "expected a geometry"));
        };
        let kind = kind.to_ascii_uppercase();
        const KINDS: &[&str] = &[
            "POINT",
            "LINESTRING",
            "POLYGON",
            "MULTIPOINT",
            "MULTILINESTRING",
            "MULTIPOLYGON",
            "BBOX",
        ];
        if !KINDS.contains(&kind.as_str()) {
            return Err(bad(
                format!("不支持的几何类型 {kind}"),
                format!("unsupported geometry type {kind}"),
            ));
        }
        self.expect(Token::Open, "(")?;
        let mut depth = 1;
        let mut text = format!("{kind}(");
        let mut numbers = Vec::new();
        let mut previous_number = false;
        while depth > 0 {
            match self.next() {
                Some(Token::Open) => {
                    depth += 1;
                    text.push('(');
                    previous_number = false;
                }
                Some(Token::Close) => {
                    depth -= 1;
                    text.push(')');
                    previous_number = false;
                }
                Some(Token::Comma) => {
                    text.push(',');
                    previous_number = false;
                }
                Some(Token::Number(n)) => {
                    if previous_number {
                        text.push(' ');
                    }
                    text.push_str(&n.to_string());
                    numbers.push(n);
                    previous_number = true;
                }
                other => {
                    return Err(bad(
                        format!("几何中有无法识别的内容 {other:?}"),
                        format!("unexpected {other:?} in a geometry"),
                    ))
                }
            }
        }
        if kind == "BBOX" {
            let [a, b, c, d] = match numbers.as_slice() {
                [a, b, c, d] => [*a, *b, *c, *d],
                [a, b, _, d, e, _] => [*a, *b, *d, *e],
                _ => return Err(bad("BBOX 须有 4 个数", "BBOX needs 4 numbers")),
            };
            return Ok(format!(
                "POLYGON(({a} {b},{c} {b},{c} {d},{a} {d},{a} {b}))"
            ));
        }
        Ok(text)
    }

    fn spatial(&mut self) -> Result<Filter, ApiError> {
        self.expect(Token::Open, "(")?;
        // Either argument order: the property, and the literal geometry.
        let mut wkt = None;
        for i in 0..2 {
            if i == 1 {
                self.expect(Token::Comma, ",")?;
            }
            match self.peek() {
                Some(Token::Ident(w) | Token::Quoted(w))
                    if w.eq_ignore_ascii_case("geom") || w.eq_ignore_ascii_case("geometry") =>
                {
                    self.at += 1;
                }
                _ => wkt = Some(self.geometry()?),
            }
        }
        self.expect(Token::Close, ")")?;
        let wkt = wkt.ok_or_else(|| {
            bad(
                "S_INTERSECTS 须有一个几何值",
                "S_INTERSECTS needs a geometry literal",
            )
        })?;
        Ok(Filter::Intersects {
            wkt,
            srid: self.crs.srid,
            lat_first: self.crs.lat_first,
        })
    }

    fn primary(&mut self) -> Result<Filter, ApiError> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(Token::Close, ")")?;
            return Ok(inner);
        }
        let name = match self.next() {
            Some(Token::Ident(n) | Token::Quoted(n)) => n,
            other => {
                return Err(bad(
                    format!("此处应为属性名，收到 {other:?}"),
                    format!("expected a property name, got {other:?}"),
                ))
            }
        };
        if name.eq_ignore_ascii_case("S_INTERSECTS") {
            return self.spatial();
        }
        let column = self.column(&name)?;
        let negated = self.eat_keyword("NOT");
        let filter = if self.eat_keyword("LIKE") {
            let Some(Token::Text(pattern)) = self.next() else {
                return Err(bad("LIKE 后须为字符串", "LIKE needs a string"));
            };
            Filter::Like { column, pattern }
        } else if self.eat_keyword("IN") {
            self.expect(Token::Open, "(")?;
            let mut any: Option<Filter> = None;
            loop {
                let value = self.literal()?;
                let one = Filter::Compare {
                    column,
                    op: CompareOp::Eq,
                    value,
                };
                any = Some(match any {
                    None => one,
                    Some(a) => Filter::Or(Box::new(a), Box::new(one)),
                });
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    other => {
                        return Err(bad(
                            format!("IN 列表中有 {other:?}"),
                            format!("unexpected {other:?} in an IN list"),
                        ))
                    }
                }
            }
            any.ok_or_else(|| bad("IN 列表为空", "empty IN list"))?
        } else if self.eat_keyword("BETWEEN") {
            let low = self.literal()?;
            if !self.eat_keyword("AND") {
                return Err(bad("BETWEEN 须有 AND", "BETWEEN needs AND"));
            }
            let high = self.literal()?;
            Filter::And(
                Box::new(Filter::Compare {
                    column,
                    op: CompareOp::Ge,
                    value: low,
                }),
                Box::new(Filter::Compare {
                    column,
                    op: CompareOp::Le,
                    value: high,
                }),
            )
        } else if self.eat_keyword("IS") {
            let not_null = self.eat_keyword("NOT");
            if !self.eat_keyword("NULL") {
                return Err(bad("IS 后须为 NULL", "IS needs NULL"));
            }
            let is_null = Filter::IsNull(column);
            if not_null {
                Filter::Not(Box::new(is_null))
            } else {
                is_null
            }
        } else if negated {
            return Err(bad(
                "NOT 后须为 LIKE、IN 或 BETWEEN",
                "NOT here needs LIKE, IN or BETWEEN",
            ));
        } else {
            let op = match self.next() {
                Some(Token::Op(op)) => match op {
                    "=" => CompareOp::Eq,
                    "<>" => CompareOp::Ne,
                    "<" => CompareOp::Lt,
                    "<=" => CompareOp::Le,
                    ">" => CompareOp::Gt,
                    _ => CompareOp::Ge,
                },
                other => {
                    return Err(bad(
                        format!("属性 {name} 后应为比较运算符，收到 {other:?}"),
                        format!("expected a comparison after {name}, got {other:?}"),
                    ))
                }
            };
            Filter::Compare {
                column,
                op,
                value: self.literal()?,
            }
        };
        Ok(if negated {
            Filter::Not(Box::new(filter))
        } else {
            filter
        })
    }
}

/// Parses a `filter` of `filter-lang=cql2-text` for `collection`; geometry literals are in
/// `crs` (the `filter-crs`, CRS84 by default).
pub fn parse(text: &str, collection: &Collection, crs: OutputCrs) -> Result<Filter, ApiError> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
        collection,
        crs,
    };
    let filter = parser.or()?;
    if parser.at < parser.tokens.len() {
        return Err(bad(
            format!("多余的内容：{:?}", &parser.tokens[parser.at..]),
            format!("unexpected trailing {:?}", &parser.tokens[parser.at..]),
        ));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuntu_store::ogc::collection;

    fn p(text: &str) -> Result<String, ApiError> {
        parse(text, collection("households").unwrap(), OutputCrs::CRS84).map(|f| format!("{f:?}"))
    }

    #[test]
    fn reads_the_basic_class_and_spatial_intersects() {
        let f = p("members >= 3 AND (house_number LIKE '1%' OR tags = 'elderly_alone')").unwrap();
        assert!(f.starts_with("And("), "{f}");
        assert!(p("NOT party_central = true").unwrap().starts_with("Not("));
        assert!(p("address IS NOT NULL").is_ok());
        assert!(p("members BETWEEN 2 AND 4").is_ok());
        assert!(p("house_number IN ('1号', '2号')").is_ok());
        let s = p("S_INTERSECTS(geometry, BBOX(114.3, 30.6, 114.31, 30.62))").unwrap();
        assert!(
            s.contains("POLYGON((114.3 30.6,114.31 30.6,114.31 30.62,114.3 30.62,114.3 30.6))"),
            "{s}"
        );
        let s = p("S_INTERSECTS(geom, POLYGON((1 2, 3 4, 5 6, 1 2)))").unwrap();
        assert!(s.contains("POLYGON((1 2,3 4,5 6,1 2))"), "{s}");
    }

    #[test]
    fn names_only_queryables_and_says_what_is_wrong() {
        // The phone is masked for some roles: not a queryable, so not a filter either.
        let Err(ApiError::BadQuery { en, .. }) = p("phone = '13800001000'") else {
            panic!("phone must not be queryable");
        };
        assert!(en.contains("queryables"), "{en}");
        assert!(p("members >").is_err());
        assert!(p("members = 3 extra").is_err());
        assert!(p("S_INTERSECTS(geometry, CIRCLE(1 2))").is_err());
        assert!(p("'unterminated").is_err());
    }
}
