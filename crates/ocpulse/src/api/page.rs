//! The one shape of every list endpoint: `{"items": [...], "next": cursor-or-null}`, read
//! with `limit` (how many) and `after` (the `next` of the previous page), so a client pages
//! every list the same way.

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::query::{Params, text};

/// Page size when the caller names none.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// The largest page a caller may ask for, so one request cannot read a whole table.
pub(crate) const MAX_LIMIT: usize = 1000;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Pass as `after` to read the next page; null on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` items read in order: the extra one only says that
    /// more remain, and then `next` is the cursor of the last item kept.
    pub(crate) fn from_lookahead(
        mut items: Vec<T>,
        limit: usize,
        cursor: impl Fn(&T) -> String,
    ) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more { items.last().map(cursor) } else { None };
        Page { items, next }
    }
}

/// Which way a list is sorted by its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Smallest cursor first (oldest first for time-ordered ids).
    Ascending,
    /// Largest cursor first (newest first for time-ordered ids).
    Descending,
}

/// A list request's `limit` and `after`: the query parameters of every list endpoint,
/// documented once (`params(Paging)`) and read by `Paging::parse`.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// Items per page (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: usize,
    /// The `next` of the previous page (absent or empty: from the start).
    pub after: Option<String>,
}

impl Paging {
    /// Reads `limit` (1 to 1000, default 100) and `after` (empty counts as absent).
    pub(crate) fn parse(params: &Params) -> Result<Self, ApiError> {
        Ok(Paging {
            limit: parse_limit(params.get("limit"))?,
            after: text(params, "after").map(str::to_owned),
        })
    }

    /// `after` as a number, for lists whose cursor is a sequence number; `invalid_after`
    /// (saying what the cursor is) otherwise.
    pub(crate) fn after_number(&self, what: &str) -> Result<Option<i64>, ApiError> {
        self.after
            .as_deref()
            .map(|a| {
                a.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_after",
                        format!(
                            "after must be the \"next\" of a previous page ({what}, a whole number), got {a:?}"
                        ),
                    )
                })
            })
            .transpose()
    }

    /// Pages a list sorted by `key` in `order`: the items past the cursor, at most `limit`,
    /// each shown with `view`; `next` is the last one's key when more remain.
    pub(crate) fn page<I, T>(
        &self,
        items: impl IntoIterator<Item = I>,
        order: Order,
        key: impl Fn(&I) -> &str,
        view: impl FnMut(I) -> T,
    ) -> Page<T> {
        let past = |k: &str| match (&self.after, order) {
            (None, _) => true,
            (Some(a), Order::Ascending) => k > a.as_str(),
            (Some(a), Order::Descending) => k < a.as_str(),
        };
        let mut kept: Vec<I> = Vec::with_capacity(self.limit.min(64) + 1);
        for item in items {
            if !past(key(&item)) {
                continue;
            }
            kept.push(item);
            if kept.len() > self.limit {
                break;
            }
        }
        let more = kept.len() > self.limit;
        kept.truncate(self.limit);
        let next = if more {
            kept.last().map(|i| key(i).to_owned())
        } else {
            None
        };
        Page {
            items: kept.into_iter().map(view).collect(),
            next,
        }
    }
}

/// Reads the `limit` query parameter, with the same rule and error everywhere.
pub(crate) fn parse_limit(limit: Option<&String>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {l:?}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(limit: usize, after: Option<&str>) -> Paging {
        Paging {
            limit,
            after: after.map(str::to_owned),
        }
    }

    #[test]
    fn pages_ascending_lists_past_the_cursor_and_says_when_more_remain() {
        let ids = ["a", "b", "c", "d", "e"];
        let first = paging(2, None).page(ids, Order::Ascending, |s| s, |s| s);
        assert_eq!(
            (first.items, first.next.as_deref()),
            (vec!["a", "b"], Some("b"))
        );
        let second = paging(2, Some("b")).page(ids, Order::Ascending, |s| s, |s| s);
        assert_eq!(
            (second.items, second.next.as_deref()),
            (vec!["c", "d"], Some("d"))
        );
        let last = paging(2, Some("d")).page(ids, Order::Ascending, |s| s, |s| s);
        assert_eq!((last.items, last.next), (vec!["e"], None));
    }

    #[test]
    fn a_page_that_ends_exactly_at_the_end_has_no_next() {
        let page = paging(2, None).page(["a", "b"], Order::Ascending, |s| s, |s| s);
        assert_eq!((page.items, page.next), (vec!["a", "b"], None));
    }

    #[test]
    fn descending_lists_continue_below_the_cursor_even_when_it_was_deleted() {
        let ids = ["e", "d", "b", "a"];
        let page = paging(10, Some("c")).page(ids, Order::Descending, |s| s, |s| s);
        assert_eq!((page.items, page.next), (vec!["b", "a"], None));
    }

    #[test]
    fn lookahead_pages_keep_limit_items_and_point_at_the_last() {
        let page = Page::from_lookahead(vec![9, 8, 7], 2, |n| n.to_string());
        assert_eq!((page.items, page.next.as_deref()), (vec![9, 8], Some("8")));
        let page = Page::from_lookahead(vec![9, 8], 2, |n| n.to_string());
        assert_eq!(page.next, None);
    }

    #[test]
    fn limit_is_1_to_1000_with_a_default_of_100() {
        assert_eq!(parse_limit(None).ok(), Some(100));
        assert_eq!(parse_limit(Some(&"1000".to_owned())).ok(), Some(1000));
        for bad in ["0", "1001", "-1", "ten"] {
            let err = parse_limit(Some(&bad.to_owned())).err().map(|e| e.code());
            assert_eq!(err, Some("invalid_limit"), "{bad}");
        }
    }
}
