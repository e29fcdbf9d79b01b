//! The order .NET Framework gives Accept and Accept-Charset values: `Enumerable.OrderByDescending(x
//! => x, comparer).ToArray()` (referencesource, `System.Core/System/Linq/Enumerable.cs`) with Web
//! API's `MediaTypeWithQualityHeaderValueComparer.cs` and `StringWithQualityHeaderValueComparer.cs`
//! (aspnet/AspNetWebStack). The quicksort is transcribed rather than replaced by `sort_by` because
//! the comparers are inconsistent (`q=NaN` equals everything), and only the original algorithm
//! then gives .NET's order.

use std::cmp::Ordering;

use super::header::{CharsetPref, MediaRange, RangeKind};

/// `MediaTypeWithQualityHeaderValueComparer.Compare`. The subtraction is deliberate: it makes
/// `Infinity` equal `Infinity` and `NaN` equal everything, as in .NET.
pub(super) fn compare_accept(a: &MediaRange, b: &MediaRange) -> Ordering {
    let by_quality = compare_quality(a.quality, b.quality);
    if by_quality != Ordering::Equal {
        return by_quality;
    }
    let (a_all, b_all) = (
        a.range_kind() == RangeKind::All,
        b.range_kind() == RangeKind::All,
    );
    let (a_sub, b_sub) = (a.subtype == "*", b.subtype == "*");
    if !a.kind.eq_ignore_ascii_case(&b.kind) {
        if a_all {
            return Ordering::Less;
        } else if b_all {
            return Ordering::Greater;
        } else if a_sub && !b_sub {
            return Ordering::Less;
        } else if !a_sub && b_sub {
            return Ordering::Greater;
        }
    } else if !a.subtype.eq_ignore_ascii_case(&b.subtype) {
        if a_sub {
            return Ordering::Less;
        } else if b_sub {
            return Ordering::Greater;
        }
    }
    Ordering::Equal
}

/// `StringWithQualityHeaderValueComparer.Compare`: on equal q, `*` sorts below named values.
pub(super) fn compare_charset(a: &CharsetPref, b: &CharsetPref) -> Ordering {
    let by_quality = compare_quality(a.quality, b.quality);
    if by_quality != Ordering::Equal {
        return by_quality;
    }
    if !a.value.eq_ignore_ascii_case(&b.value) {
        if a.value == "*" {
            return Ordering::Less;
        } else if b.value == "*" {
            return Ordering::Greater;
        }
    }
    Ordering::Equal
}

fn compare_quality(a: Option<f64>, b: Option<f64>) -> Ordering {
    let difference = a.unwrap_or(1.0) - b.unwrap_or(1.0);
    if difference < 0.0 {
        Ordering::Less
    } else if difference > 0.0 {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// LINQ's `EnumerableSorter` (.NET Framework): quicksort over an index map, ties broken by
/// original position. For a consistent comparer this equals a stable descending sort; it is
/// reproduced literally so that inconsistent ones (`q=NaN`) also order as in .NET. Web API only
/// sorts collections of more than one element.
pub(super) fn order_by_descending<T>(
    items: Vec<T>,
    compare: impl Fn(&T, &T) -> Ordering,
) -> Vec<T> {
    if items.len() < 2 {
        return items;
    }
    let compare_keys = |a: usize, b: usize| -> Ordering {
        if a == b {
            return Ordering::Equal;
        }
        match (items.get(a), items.get(b)) {
            (Some(x), Some(y)) => match compare(x, y) {
                Ordering::Equal => a.cmp(&b),
                unequal => unequal.reverse(),
            },
            _ => Ordering::Equal,
        }
    };
    let mut map: Vec<usize> = (0..items.len()).collect();
    let right = isize::try_from(map.len()).map_or(0, |len| len - 1);
    linq_quick_sort(&mut map, 0, right, &compare_keys);

    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    map.iter()
        .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// `EnumerableSorter<TElement>.QuickSort`, transcribed. Indices are signed because `j` may step
/// to -1. Out-of-range reads cannot happen (the loops are guarded as in .NET), but lookups still
/// go through `get` so that a comparator bug can never turn into a panic.
fn linq_quick_sort(
    map: &mut [usize],
    mut left: isize,
    mut right: isize,
    compare_keys: &impl Fn(usize, usize) -> Ordering,
) {
    let len = isize::try_from(map.len()).unwrap_or(isize::MAX);
    let at = |map: &[usize], i: isize| usize::try_from(i).ok().and_then(|i| map.get(i).copied());
    loop {
        let mut i = left;
        let mut j = right;
        let Some(x) = at(map, i + ((j - i) >> 1)) else {
            return;
        };
        loop {
            while i < len && at(map, i).is_some_and(|m| compare_keys(x, m) == Ordering::Greater) {
                i += 1;
            }
            while j >= 0 && at(map, j).is_some_and(|m| compare_keys(x, m) == Ordering::Less) {
                j -= 1;
            }
            if i > j {
                break;
            }
            if i < j
                && let (Ok(a), Ok(b)) = (usize::try_from(i), usize::try_from(j))
            {
                map.swap(a, b);
            }
            i += 1;
            j -= 1;
            if i > j {
                break;
            }
        }
        if j - left <= right - i {
            if left < j {
                linq_quick_sort(map, left, j, compare_keys);
            }
            left = i;
        } else {
            if i < right {
                linq_quick_sort(map, i, right, compare_keys);
            }
            right = j;
        }
        if left >= right {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::header::{media_range_len, parse_list};
    use super::super::tests::XorShift;
    use super::*;

    #[test]
    fn linq_sort_equals_stable_sort_for_consistent_comparers() {
        let pieces = [
            "*/*",
            "text/*",
            "application/*",
            "text/xml",
            "application/json",
            "TEXT/JSON",
            "image/png",
            "*/json",
        ];
        let qs = [
            "",
            ";q=1",
            ";q=0.5",
            ";q=0",
            ";q=0.50",
            ";q=2",
            ";q=Infinity",
            ";q=x",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let n = rng.below(12);
            let line: Vec<String> = (0..n)
                .map(|_| format!("{}{}", rng.pick(&pieces), rng.pick(&qs)))
                .collect();
            let values = parse_list(&line.join(","), media_range_len).unwrap();
            let describe = |v: &[MediaRange]| {
                v.iter()
                    .map(|m| format!("{}/{}{:?}", m.kind, m.subtype, m.quality))
                    .collect::<Vec<_>>()
            };
            let mut expected = values.clone();
            expected.sort_by(|a, b| compare_accept(b, a));
            let got = order_by_descending(values, compare_accept);
            assert_eq!(describe(&got), describe(&expected), "{line:?}");
        }
    }
}
