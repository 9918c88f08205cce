//! Set-based statements: many rows in one statement (`VALUES (…), (…)`), with `$n`
//! placeholders numbered in order, so a batch costs a handful of statements instead of a few
//! per record. Both engines take the same text, except that SQLite gets `?` for each `$n`
//! ([`for_engine`]).

use sqlx::any::AnyArguments;
use sqlx::Arguments;

/// Rows per statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters
/// for the widest table (13 columns).
pub const ROWS_PER_STATEMENT: usize = 500;

/// A statement being built: its text and its bound values, numbered `$1…` in order.
pub struct Statement {
    pub sql: String,
    pub args: AnyArguments<'static>,
    n: usize,
}

impl Statement {
    /// A statement starting with `head` (bind its own values with [`Statement::bind`]).
    pub fn new(head: &str) -> Statement {
        Statement {
            sql: head.to_owned(),
            args: AnyArguments::default(),
            n: 0,
        }
    }

    /// Binds one value and writes its placeholder.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.n += 1;
        self.sql.push('$');
        self.sql.push_str(&self.n.to_string());
        self.args.add(value).expect("a plain value always binds");
        self
    }

    /// Writes plain SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Writes `(v1, v2, …)` for one row, each value written by `row`'s calls to `bind` with
    /// commas in between (`row` gets a [`RowWriter`]).
    pub fn row(&mut self, first: bool, row: impl FnOnce(&mut RowWriter<'_>)) -> &mut Self {
        self.sql.push_str(if first { "(" } else { ", (" });
        let mut writer = RowWriter {
            statement: self,
            first: true,
        };
        row(&mut writer);
        self.sql.push(')');
        self
    }

    /// Runs it in a transaction; returns the rows it changed.
    pub async fn execute(self, tx: &mut sqlx::AnyConnection) -> Result<u64, sqlx::Error> {
        let sql = for_engine(&self.sql, tx.backend_name());
        Ok(sqlx::query_with(&sql, self.args)
            .execute(tx)
            .await?
            .rows_affected())
    }

    /// Runs it and returns every row.
    pub async fn fetch_all(
        self,
        tx: &mut sqlx::AnyConnection,
    ) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
        let sql = for_engine(&self.sql, tx.backend_name());
        sqlx::query_with(&sql, self.args).fetch_all(tx).await
    }
}

/// The statement text for an engine. SQLite gets anonymous `?` placeholders: sqlx looks up
/// the name of every numbered one with `sqlite3_bind_parameter_name`, a linear scan, so a
/// statement of n `$n` placeholders costs n² (43% of the ingest's time at 6,500 a
/// statement); `?` has no name to look up. The placeholders of a [`Statement`] are numbered
/// in the order they appear, so the `?` bind in the same order. (Statement texts hold no
/// literal `$`.)
pub fn for_engine<'a>(sql: &'a str, backend: &str) -> std::borrow::Cow<'a, str> {
    if backend != "SQLite" {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Writes the values of one row, separated by commas.
pub struct RowWriter<'a> {
    statement: &'a mut Statement,
    first: bool,
}

impl RowWriter<'_> {
    /// Binds the next value of the row.
    pub fn value<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        if !self.first {
            self.statement.sql.push_str(", ");
        }
        self.first = false;
        self.statement.bind(value);
        self
    }

    /// Binds the next value of the row as text cast to `sql_type`: sqlx's `Any` driver sends
    /// a NULL `f64` to PostgreSQL as a `float4`, so a cached statement that first saw a NULL
    /// would refuse every later number ("incorrect binary data format in bind parameter").
    pub fn value_cast(&mut self, value: Option<String>, sql_type: &str) -> &mut Self {
        if !self.first {
            self.statement.sql.push_str(", ");
        }
        self.first = false;
        self.statement.sql.push_str("CAST(");
        self.statement.bind(value);
        self.statement.sql.push_str(" AS ");
        self.statement.sql.push_str(sql_type);
        self.statement.sql.push(')');
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_anonymous_placeholders_in_the_same_order() {
        let sql = "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $12) WHERE c = $5";
        assert_eq!(
            for_engine(sql, "SQLite"),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) WHERE c = ?"
        );
        assert_eq!(for_engine(sql, "PostgreSQL"), sql);
    }

    #[test]
    fn placeholders_are_numbered_across_rows() {
        let mut s = Statement::new("INSERT INTO t (a, b) VALUES ");
        for (i, v) in ["x", "y"].into_iter().enumerate() {
            s.row(i == 0, |r| {
                r.value(v.to_owned()).value(i as i64);
            });
        }
        s.push(" WHERE c = ").bind(7_i64);
        assert_eq!(
            s.sql,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) WHERE c = $5"
        );
    }
}
