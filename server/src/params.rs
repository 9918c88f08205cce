//! Query-parameter helpers shared by the read routes (`api`, `team`): each parameter parsed
//! the same way everywhere, with a 400 that names it and says what it takes.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::Query;
use runledger::Status;

use crate::error::AppError;

/// A request's query parameters.
pub type Params = Query<HashMap<String, String>>;

/// Longest period the Team view's calls (`/api/v1/stats`, `/api/v1/facets`) cover: a year.
pub const MAX_DAYS: i64 = 366;

/// Longest period DOMAIN.md C's stats routes take (a century: "all of it" without letting
/// `days` × a day's milliseconds overflow).
pub const MAX_DAYS_ALL: i64 = 36_600;

/// Now, in milliseconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A query parameter parsed as `T`, with a 400 that names it when it is not one.
pub fn param<T: FromStr>(
    params: &Params,
    name: &str,
    expected: &str,
) -> Result<Option<T>, AppError> {
    params
        .get(name)
        .map(|v| {
            v.parse().map_err(|_| {
                AppError::BadRequest(format!("`{name}` must be {expected}; got `{v}`"))
            })
        })
        .transpose()
}

/// `limit`: 1 to 1,000, `default` when absent.
pub fn limit(params: &Params, default: i64) -> Result<i64, AppError> {
    let limit = param::<i64>(params, "limit", "an integer from 1 to 1000")?.unwrap_or(default);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::BadRequest(format!(
            "`limit` must be from 1 to 1000; got {limit}"
        )));
    }
    Ok(limit)
}

/// `days`: a whole number from 1 to `max` ([`MAX_DAYS`] or [`MAX_DAYS_ALL`]), `default`
/// when absent.
pub fn days(params: &Params, default: i64, max: i64) -> Result<i64, AppError> {
    let Some(text) = params.get("days") else {
        return Ok(default);
    };
    match text.parse::<i64>() {
        Ok(d) if (1..=max).contains(&d) => Ok(d),
        _ => Err(AppError::BadRequest(format!(
            "`days` must be a whole number from 1 to {max}; got `{text}`"
        ))),
    }
}

/// `status`: one of the status words.
pub fn status(params: &Params) -> Result<Option<Status>, AppError> {
    params
        .get("status")
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "`status` must be running, success, failed, error, timeout, cancelled or interrupted; got `{s}`"
                ))
            })
        })
        .transpose()
}

/// A time: milliseconds since the epoch or an RFC 3339 time.
pub fn millis(params: &Params, name: &str) -> Result<Option<i64>, AppError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .or_else(|| runledger::model::time::parse_rfc3339(v))
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "`{name}` must be milliseconds since the epoch or an RFC 3339 time; got `{v}`"
                    ))
                })
        })
        .transpose()
}

/// Refuses parameters the route does not know (a misspelt filter must not widen the answer).
pub fn only_known(params: &Params, known: &[&str]) -> Result<(), AppError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(AppError::BadRequest(format!(
            "unknown parameter `{k}`; this route takes {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Query(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn days_are_bounded_and_named_in_the_error() {
        assert_eq!(days(&params(&[]), 7, MAX_DAYS).unwrap(), 7);
        assert_eq!(days(&params(&[("days", "30")]), 7, MAX_DAYS).unwrap(), 30);
        assert_eq!(
            days(&params(&[("days", "36500")]), 7, MAX_DAYS_ALL).unwrap(),
            36500
        );
        for bad in ["0", "-3", "x", "367"] {
            let e = days(&params(&[("days", bad)]), 7, MAX_DAYS)
                .unwrap_err()
                .to_string();
            assert!(e.contains("`days`") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn unknown_parameters_are_refused_by_name() {
        assert!(only_known(&params(&[("days", "1")]), &["days"]).is_ok());
        let e = only_known(&params(&[("workflow", "x")]), &["days"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`workflow`"), "{e}");
    }

    #[test]
    fn limits_and_times_parse_or_say_why() {
        assert_eq!(limit(&params(&[]), 50).unwrap(), 50);
        assert!(limit(&params(&[("limit", "1001")]), 50).is_err());
        assert_eq!(
            millis(&params(&[("since", "5")]), "since").unwrap(),
            Some(5)
        );
        assert!(millis(&params(&[("since", "yesterday")]), "since").is_err());
    }
}
