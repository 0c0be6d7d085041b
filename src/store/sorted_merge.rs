//! Two sorted streams read as one, in order: the rid index merging its
//! runs on disk, and the SQLite store reading the journal's and `rid_log`'s
//! rids side by side. Pure.

/// The items of `a` and `b`, each already in `key` order, as one stream in
/// that order (ties from `a` first). An error is passed on as soon as it is
/// next in either stream; callers stop at the first one.
pub fn merge_by<T, E, K: Ord>(
    a: impl Iterator<Item = Result<T, E>>,
    b: impl Iterator<Item = Result<T, E>>,
    key: impl Fn(&T) -> K,
) -> impl Iterator<Item = Result<T, E>> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || {
        let from_a = match (a.peek(), b.peek()) {
            (Some(Ok(x)), Some(Ok(y))) => key(x) <= key(y),
            (Some(Err(_)), _) | (Some(_), None) => true,
            (_, Some(Err(_))) | (None, _) => false,
        };
        if from_a {
            a.next()
        } else {
            b.next()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_in_order_with_ties_from_the_first() {
        let a = [1, 3, 3, 7].map(|n| Ok::<_, ()>((n, 'a')));
        let b = [2, 3, 8, 9].map(|n| Ok((n, 'b')));
        let merged: Result<Vec<_>, ()> = merge_by(a.into_iter(), b.into_iter(), |x| x.0).collect();
        let expected = [
            (1, 'a'),
            (2, 'b'),
            (3, 'a'),
            (3, 'a'),
            (3, 'b'),
            (7, 'a'),
            (8, 'b'),
            (9, 'b'),
        ];
        assert_eq!(merged, Ok(expected.to_vec()));
    }

    #[test]
    fn an_error_comes_out_when_it_is_next() {
        let a = vec![Ok(5), Err("bad")];
        let b = vec![Ok(1), Ok(9)];
        let merged: Vec<_> = merge_by(a.into_iter(), b.into_iter(), |x| *x).collect();
        assert_eq!(merged[..3], [Ok(1), Ok(5), Err("bad")]);
    }
}
