//! Response content negotiation for the cloned token endpoints: chooses JSON or XML, the media
//! type echoed in `Content-Type`, and its charset, exactly as a legacy ASP.NET Web API 2 service
//! did.
//!
//! # How it follows Web API
//!
//! This is a pure-function port of `System.Net.Http.Formatting.DefaultContentNegotiator`
//! (aspnet/AspNetWebStack) for a controller whose writing formatters are, in order,
//! `JsonMediaTypeFormatter` (`application/json`, `text/json`) and `XmlMediaTypeFormatter`
//! (`application/xml`, `text/xml`), both supporting the encodings `utf-8` then `utf-16`. The
//! form-url-encoded formatters cannot write the response type, so they never take part.
//!
//! 1. **Header parsing** reproduces `System.Net.Http` as shipped with .NET Framework: the HTTP token
//!    and whitespace rules of `HttpRuleParser`, `MediaTypeHeaderValue`/`NameValueHeaderValue`
//!    parameter parsing, and the rule that a raw header line which fails to parse *anywhere* is
//!    dropped as a whole (`HttpHeaders.TryParseAndAddRawHeaderValue`). So `Accept: text/xml, <junk>`
//!    yields no Accept values at all, just as if the header were absent. Nothing here ever errors
//!    or panics.
//! 2. **q-values** come from `HeaderUtilities.GetQuality`: `double.TryParse` with
//!    `NumberStyles.AllowDecimalPoint`, no range check. So `q=2` ranks above `q=1`, an unparsable
//!    value (`q=abc`, `q=-1`, a quoted value, overflow) counts as the default 1.0, and .NET
//!    Framework's special symbols `Infinity`, `-Infinity` and `NaN` are accepted. Only `q=0`
//!    (exactly zero) disqualifies an entry. `Accept-Charset` is stricter
//!    (`StringWithQualityHeaderValue`): a q outside `[0, 1]` invalidates the whole line.
//! 3. **Sorting**: Accept values are ordered by `MediaTypeWithQualityHeaderValueComparer` (q, then
//!    literal above `type/*` above `*/*`) using LINQ's `OrderByDescending`. That sort is
//!    reproduced exactly, including its quicksort, so even `q=NaN` (which the comparer treats as
//!    equal to everything) gives the same order as .NET Framework.
//! 4. **Matching**, per formatter and in formatter order, stops at the first hit: the
//!    `X-Requested-With: XMLHttpRequest` media-type mapping (JSON only, and only with no Accept
//!    values or a single `*/*`); else the *first* sorted Accept value with q ≠ 0 that covers one
//!    of the formatter's media types (ranked literal / subtype range / all range); else the
//!    request `Content-Type`; else, unless [`NoMatch::NotAcceptable`] is chosen *and* the request
//!    had Accept values, a match on type alone with the formatter's first media type.
//! 5. **Selection** (`SelectResponseMediaTypeFormatter`): the best match in each ranking is the
//!    first one seen unless a later one has a *strictly* higher q, so ties keep formatter order
//!    (JSON first). Then: a mapping wins unless an Accept match has a strictly higher q; else the
//!    Accept matches are compared literal, then subtype range, then all range, a later one
//!    winning only with a strictly higher q; else the Content-Type match; else the type-only
//!    match; else nothing (406).
//! 6. **Charset** (`SelectResponseCharacterEncoding`): the sorted `Accept-Charset` values (q, then
//!    `*` last), skipping q = 0, first one naming `utf-8`/`utf-16` or `*`; else the `charset`
//!    parameter of the request `Content-Type` (compared raw, so a quoted value never matches);
//!    else `utf-8`.
//!
//! Consequences that surprise people, all faithful to Web API: a q = 0 entry excludes only itself
//! (`application/json;q=0, */*` still gives JSON through `*/*`); because each formatter keeps only
//! its first matching Accept value, `application/xml;q=0.9, */*` gives JSON (XML's own entry is
//! shadowed by `*/*`), while a browser's `…,application/xml;q=0.9,*/*;q=0.8` gives XML; `text/*`
//! gives `text/json`; and the request's `charset` is echoed (`Content-Type: text/plain;
//! charset=utf-16` gets a UTF-16 JSON reply).
//!
//! # Departures
//!
//! * [`negotiate`] takes each header as one raw line, which is what IIS hands Web API when a client
//!   repeats a header (IIS joins the lines with `", "`). Hosts that keep repeated lines apart
//!   (OWIN, self-host) parse each line on its own; [`negotiate_headers`] takes the lines
//!   separately for that case. `X-Requested-With` is only available through [`negotiate_headers`].
//! * q-values are parsed with Rust's correctly rounded parser; .NET Framework keeps only 50
//!   significant digits and is not always correctly rounded. Only q-values that differ beyond
//!   about the 15th significant digit could compare differently.
//! * Case-insensitive comparisons are ASCII-only. .NET's `OrdinalIgnoreCase` also folds a few
//!   non-ASCII letters, but every compared value here is an ASCII token, apart from the
//!   `X-Requested-With` substring test, where this cannot matter in practice.

use std::cmp::Ordering;

/// Which serializer writes the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// The outcome of negotiation: what to serialize and what to put in `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub format: Format,
    /// e.g. "application/json", "text/xml" (lowercase, no params)
    pub media_type: String,
    /// "utf-8" or "utf-16"
    pub charset: &'static str,
}

impl Negotiated {
    /// "application/json; charset=utf-8"
    #[must_use]
    pub fn content_type(&self) -> String {
        format!("{}; charset={}", self.media_type, self.charset)
    }
}

/// What to do when nothing in the request matches a formatter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoMatch {
    /// Web API's default: answer with the first formatter (JSON) anyway.
    #[default]
    FallBackToJson,
    /// `DefaultContentNegotiator(excludeMatchOnTypeOnly: true)`: return `None` (for a 406) when
    /// the request has Accept values and neither they nor the Content-Type match.
    NotAcceptable,
}

/// The request headers negotiation looks at, each header given as its raw lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestHeaders<'a> {
    /// Raw `Accept` lines; each line is parsed on its own and dropped whole if any part is bad.
    pub accept: &'a [&'a str],
    /// Raw `Accept-Charset` lines, treated like `accept`.
    pub accept_charset: &'a [&'a str],
    /// The request's `Content-Type`, if any.
    pub content_type: Option<&'a str>,
    /// The `X-Requested-With` value, if any (drives Web API's `XmlHttpRequestHeaderMapping`).
    pub x_requested_with: Option<&'a str>,
}

/// accept: raw Accept header value(s) joined with ", " (None when absent);
/// content_type: the request's Content-Type header (None when absent); accept_charset likewise.
///
/// Returns `None` only with [`NoMatch::NotAcceptable`] (see its docs).
#[must_use]
pub fn negotiate(
    accept: Option<&str>,
    accept_charset: Option<&str>,
    content_type: Option<&str>,
    no_match: NoMatch,
) -> Option<Negotiated> {
    let headers = RequestHeaders {
        accept: accept.as_slice(),
        accept_charset: accept_charset.as_slice(),
        content_type,
        x_requested_with: None,
    };
    negotiate_headers(&headers, no_match)
}

/// Like [`negotiate`], but with every raw header line kept apart and `X-Requested-With` honoured.
#[must_use]
pub fn negotiate_headers(headers: &RequestHeaders<'_>, no_match: NoMatch) -> Option<Negotiated> {
    let accept: Vec<MediaRange> = headers
        .accept
        .iter()
        .flat_map(|line| parse_list(line, media_range_len).unwrap_or_default())
        .collect();
    let content_type = headers.content_type.and_then(parse_single_media_range);

    // The XHR mapping looks at the Accept collection before it is sorted.
    let xhr = xhr_mapping_matches(&accept, headers.x_requested_with);
    let had_accept_values = !accept.is_empty();
    let accept = order_by_descending(accept, compare_accept);

    // `ShouldMatchOnType`: the 406 mode only bites when the client sent Accept values.
    let match_on_type = !(no_match == NoMatch::NotAcceptable && had_accept_values);

    let mut matches = Vec::with_capacity(FORMATTERS.len());
    for formatter in &FORMATTERS {
        let default_type = formatter.media_types[0];
        let found = (formatter.xhr_mapping && xhr)
            .then(|| formatter.matched(default_type, 1.0, Ranking::MediaTypeMapping))
            .or_else(|| match_accept(formatter, &accept))
            .or_else(|| match_request_media_type(formatter, content_type.as_ref()))
            .or_else(|| {
                match_on_type.then(|| formatter.matched(default_type, 1.0, Ranking::CanWriteType))
            });
        matches.extend(found);
    }

    let best = select_best(&matches)?;
    let charset = select_charset(headers.accept_charset, content_type.as_ref());
    Some(Negotiated {
        format: best.format,
        media_type: best.media_type.to_owned(),
        charset,
    })
}

/// Parses a `Content-Type` value the way `System.Net.Http` does and returns its
/// `type/subtype` and `charset` parameter, both lowercased. A quoted charset is unquoted here
/// (negotiation itself compares it raw, as Web API does). `None` if the value does not parse.
#[must_use]
pub fn media_type_of(content_type: &str) -> Option<(String, Option<String>)> {
    // The common case, a bare `type/subtype`, is what the full parse would return, lowercased.
    let bytes = content_type.as_bytes();
    let kind_len = token_len(bytes, 0);
    if kind_len > 0
        && bytes.get(kind_len) == Some(&b'/')
        && kind_len + 1 + token_len(bytes, kind_len + 1) == bytes.len()
        && bytes.len() > kind_len + 1
    {
        return Some((content_type.to_ascii_lowercase(), None));
    }
    parsed_media_type_of(content_type)
}

fn parsed_media_type_of(content_type: &str) -> Option<(String, Option<String>)> {
    let parsed = parse_single_media_range(content_type)?;
    let charset = parsed
        .param_value("charset")
        .map(unquote)
        .filter(|c| !c.is_empty())
        .map(|c| c.to_ascii_lowercase());
    let media_type = format!("{}/{}", parsed.kind, parsed.subtype).to_ascii_lowercase();
    Some((media_type, charset))
}

// ---------------------------------------------------------------------------------------------
// The controller's formatters and the matching rules of DefaultContentNegotiator.

struct Formatter {
    format: Format,
    /// `SupportedMediaTypes`, in order; the first is used when matching on type only.
    media_types: [&'static str; 2],
    /// Whether `MediaTypeMappings` holds the default `XmlHttpRequestHeaderMapping`.
    xhr_mapping: bool,
}

impl Formatter {
    fn matched(&self, media_type: &'static str, quality: f64, ranking: Ranking) -> Match {
        Match {
            format: self.format,
            media_type,
            quality,
            ranking,
        }
    }
}

const FORMATTERS: [Formatter; 2] = [
    Formatter {
        format: Format::Json,
        media_types: ["application/json", "text/json"],
        xhr_mapping: true,
    },
    Formatter {
        format: Format::Xml,
        media_types: ["application/xml", "text/xml"],
        xhr_mapping: false,
    },
];

/// `SupportedEncodings` WebNames of both formatters, in order.
const ENCODINGS: [&str; 2] = ["utf-8", "utf-16"];

/// `MediaTypeFormatterMatchRanking`, minus `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ranking {
    CanWriteType,
    AcceptLiteral,
    AcceptSubtypeRange,
    AcceptAllRange,
    MediaTypeMapping,
    RequestMediaType,
}

/// `MediaTypeFormatterMatch`.
#[derive(Debug, Clone, Copy)]
struct Match {
    format: Format,
    media_type: &'static str,
    quality: f64,
    ranking: Ranking,
}

/// `MediaTypeHeaderValueRange`: what kind of range the *other* media type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    None,
    Subtype,
    All,
}

/// `MediaTypeHeaderValueExtensions.IsSubsetOf(supported, other)`. The supported media types
/// carry no parameters, so the parameter-subset half of the test always holds.
fn subset_of(supported: &str, other: &MediaRange) -> Option<RangeKind> {
    let (kind, subtype) = supported.split_once('/').unwrap_or((supported, ""));
    let range = other.range_kind();
    if !kind.eq_ignore_ascii_case(&other.kind) {
        (range == RangeKind::All).then_some(range)
    } else if !subtype.eq_ignore_ascii_case(&other.subtype) {
        (range == RangeKind::Subtype).then_some(range)
    } else {
        Some(range)
    }
}

/// `XmlHttpRequestHeaderMapping.TryMatchMediaType`: an explicit Accept header trumps XHR, but a
/// lone `*/*` counts as no Accept header. The value is matched as a case-insensitive substring.
fn xhr_mapping_matches(accept: &[MediaRange], x_requested_with: Option<&str>) -> bool {
    let accept_allows = match accept {
        [] => true,
        // Ordinal comparison of the normalised `type/subtype`, parameters (q too) ignored.
        [only] => only.kind == "*" && only.subtype == "*",
        _ => false,
    };
    accept_allows
        && x_requested_with.is_some_and(|value| {
            // HttpHeaders drops a header value with a bare line break before anyone sees it.
            !contains_invalid_newline(value.as_bytes())
                && value.to_ascii_lowercase().contains("xmlhttprequest")
        })
}

/// `MatchAcceptHeader`: the first sorted Accept value (outer loop) that covers one of the
/// formatter's media types (inner loop) decides, so a formatter never sees later, better-ranked
/// entries.
fn match_accept(formatter: &Formatter, sorted_accept: &[MediaRange]) -> Option<Match> {
    sorted_accept
        .iter()
        .filter(|accept| accept.quality != Some(0.0))
        .find_map(|accept| {
            formatter.media_types.iter().find_map(|&supported| {
                let ranking = match subset_of(supported, accept)? {
                    RangeKind::All => Ranking::AcceptAllRange,
                    RangeKind::Subtype => Ranking::AcceptSubtypeRange,
                    RangeKind::None => Ranking::AcceptLiteral,
                };
                Some(formatter.matched(supported, accept.quality.unwrap_or(1.0), ranking))
            })
        })
}

/// `MatchRequestMediaType`: the request's Content-Type may itself be a range (`*/*`).
fn match_request_media_type(
    formatter: &Formatter,
    content_type: Option<&MediaRange>,
) -> Option<Match> {
    let content_type = content_type?;
    formatter
        .media_types
        .iter()
        .find(|&&supported| subset_of(supported, content_type).is_some())
        .map(|&supported| formatter.matched(supported, 1.0, Ranking::RequestMediaType))
}

/// `UpdateBestMatch`: a candidate replaces the current best only with a strictly higher quality,
/// which is what lets formatter order break ties.
fn update_best(current: Option<Match>, candidate: Option<Match>) -> Option<Match> {
    match (current, candidate) {
        (Some(cur), Some(cand)) if cand.quality > cur.quality => Some(cand),
        (Some(cur), _) => Some(cur),
        (None, cand) => cand,
    }
}

/// `SelectResponseMediaTypeFormatter`.
fn select_best(matches: &[Match]) -> Option<Match> {
    let mut on_type = None;
    let mut mapping = None;
    let mut literal = None;
    let mut subtype_range = None;
    let mut all_range = None;
    let mut request_media_type = None;
    for &m in matches {
        match m.ranking {
            Ranking::CanWriteType => on_type = on_type.or(Some(m)),
            Ranking::MediaTypeMapping => mapping = update_best(mapping, Some(m)),
            Ranking::AcceptLiteral => literal = update_best(literal, Some(m)),
            Ranking::AcceptSubtypeRange => subtype_range = update_best(subtype_range, Some(m)),
            Ranking::AcceptAllRange => all_range = update_best(all_range, Some(m)),
            Ranking::RequestMediaType => request_media_type = request_media_type.or(Some(m)),
        }
    }

    // A mapping is the user's override and wins ties, but not against a better Accept q-value.
    if mapping.is_some() {
        let contender = [literal, subtype_range, all_range]
            .into_iter()
            .fold(mapping, update_best);
        if contender.map(|m| m.ranking) != Some(Ranking::MediaTypeMapping) {
            mapping = None;
        }
    }

    if mapping.is_some() {
        mapping
    } else if literal.is_some() || subtype_range.is_some() || all_range.is_some() {
        [literal, subtype_range, all_range]
            .into_iter()
            .fold(None, update_best)
    } else if request_media_type.is_some() {
        request_media_type
    } else {
        on_type
    }
}

/// `SelectResponseCharacterEncoding` followed by `MediaTypeFormatter.SelectCharacterEncoding`.
fn select_charset(
    accept_charset_lines: &[&str],
    content_type: Option<&MediaRange>,
) -> &'static str {
    let prefs: Vec<CharsetPref> = accept_charset_lines
        .iter()
        .flat_map(|line| parse_list(line, charset_pref_len).unwrap_or_default())
        .collect();
    let prefs = order_by_descending(prefs, compare_charset);
    let from_accept = prefs
        .iter()
        .filter(|pref| pref.quality != Some(0.0))
        .find_map(|pref| {
            ENCODINGS
                .into_iter()
                .find(|enc| pref.value.eq_ignore_ascii_case(enc) || pref.value == "*")
        });
    let from_content_type = || {
        let charset = content_type?.param_value("charset")?;
        ENCODINGS
            .into_iter()
            .find(|enc| charset.eq_ignore_ascii_case(enc))
    };
    from_accept
        .or_else(from_content_type)
        .unwrap_or(ENCODINGS[0])
}

// ---------------------------------------------------------------------------------------------
// Sorting, as `Enumerable.OrderByDescending(x => x, comparer).ToArray()` on .NET Framework.

/// `MediaTypeWithQualityHeaderValueComparer.Compare`. The subtraction is deliberate: it makes
/// `Infinity` equal `Infinity` and `NaN` equal everything, as in .NET.
fn compare_accept(a: &MediaRange, b: &MediaRange) -> Ordering {
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
fn compare_charset(a: &CharsetPref, b: &CharsetPref) -> Ordering {
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
fn order_by_descending<T>(items: Vec<T>, compare: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
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

// ---------------------------------------------------------------------------------------------
// Header values, as System.Net.Http parses them. Work is done on bytes: every delimiter is
// ASCII and any byte >= 0x80 is neither a token character nor whitespace, which is exactly how
// the UTF-16 originals treat non-ASCII characters.

/// A parsed `MediaTypeHeaderValue` / `MediaTypeWithQualityHeaderValue`.
#[derive(Debug, Clone)]
struct MediaRange {
    /// Type and subtype as written (case kept, whitespace around `/` dropped).
    kind: String,
    subtype: String,
    params: Vec<Param>,
    /// `Quality`, computed once: `None` when absent or unparsable.
    quality: Option<f64>,
}

#[derive(Debug, Clone)]
struct Param {
    name: String,
    /// Raw value: a token, or a quoted string with its quotes; `None` for a bare name.
    value: Option<String>,
}

impl MediaRange {
    fn new(kind: String, subtype: String, params: Vec<Param>) -> Self {
        let mut range = Self {
            kind,
            subtype,
            params,
            quality: None,
        };
        range.quality = range.param_value("q").and_then(parse_dotnet_double);
        range
    }

    /// `NameValueHeaderValue.Find(...).Value`: the first parameter of that name decides.
    fn param_value(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .and_then(|p| p.value.as_deref())
    }

    /// `ParsedMediaTypeHeaderValue`: only a literal `*` counts; `*/json` is no range at all.
    fn range_kind(&self) -> RangeKind {
        match (self.kind.as_str(), self.subtype.as_str()) {
            ("*", "*") => RangeKind::All,
            (_, "*") => RangeKind::Subtype,
            _ => RangeKind::None,
        }
    }
}

/// A parsed `StringWithQualityHeaderValue` (an `Accept-Charset` entry).
#[derive(Debug, Clone)]
struct CharsetPref {
    value: String,
    quality: Option<f64>,
}

/// `HttpRuleParser.IsTokenChar`.
fn is_token_byte(b: u8) -> bool {
    (33..127).contains(&b) && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

fn token_len(s: &[u8], start: usize) -> usize {
    s.get(start..).map_or(0, |rest| {
        rest.iter().take_while(|&&b| is_token_byte(b)).count()
    })
}

/// `HttpRuleParser.GetWhitespaceLength`: SP, HT, and obs-fold (CRLF followed by SP or HT).
fn whitespace_len(s: &[u8], start: usize) -> usize {
    let mut i = start;
    loop {
        match s.get(i..) {
            Some([b' ' | b'\t', ..]) => i += 1,
            Some([b'\r', b'\n', b' ' | b'\t', ..]) => i += 3,
            _ => return i - start,
        }
    }
}

/// `HttpRuleParser.ContainsInvalidNewLine`: a CRLF not followed by SP or HT.
fn contains_invalid_newline(s: &[u8]) -> bool {
    s.windows(2)
        .enumerate()
        .any(|(i, pair)| pair == b"\r\n" && !matches!(s.get(i + 2), Some(b' ' | b'\t')))
}

/// `HttpRuleParser.GetQuotedStringLength`, including its quirk that a backslash only escapes
/// when at least one more character follows the escaped one.
fn quoted_string_len(s: &[u8], start: usize) -> Option<usize> {
    if s.get(start) != Some(&b'"') {
        return None;
    }
    let mut i = start + 1;
    while let Some(&b) = s.get(i) {
        if b == b'\\' && i + 2 < s.len() && s.get(i + 1).is_some_and(u8::is_ascii) {
            i += 2;
        } else if b == b'"' {
            return Some(i - start + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// `HttpRuleParser.GetNumberLength(allowDecimal: true)`: digits with at most one dot, not
/// starting with a dot.
fn number_len(s: &[u8], start: usize) -> usize {
    if s.get(start) == Some(&b'.') {
        return 0;
    }
    let mut seen_dot = false;
    let mut i = start;
    while let Some(&b) = s.get(i) {
        if b.is_ascii_digit() || (b == b'.' && !seen_dot) {
            seen_dot |= b == b'.';
            i += 1;
        } else {
            break;
        }
    }
    i - start
}

/// `HeaderUtilities.GetNextNonEmptyOrWhitespaceIndex`: returns the next position and whether a
/// comma separator was crossed.
fn next_non_empty(s: &[u8], start: usize, skip_empty_values: bool) -> (usize, bool) {
    let mut i = start + whitespace_len(s, start);
    if s.get(i) != Some(&b',') {
        return (i, false);
    }
    i += 1;
    i += whitespace_len(s, i);
    if skip_empty_values {
        while s.get(i) == Some(&b',') {
            i += 1;
            i += whitespace_len(s, i);
        }
    }
    (i, true)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `NameValueHeaderValue.GetValueLength`: a token or a quoted string.
fn value_len(s: &[u8], start: usize) -> usize {
    match token_len(s, start) {
        0 => quoted_string_len(s, start).unwrap_or(0),
        n => n,
    }
}

/// `NameValueHeaderValue.GetNameValueLength`: `name`, or `name = value`; consumes trailing
/// whitespace.
fn name_value_len(s: &[u8], start: usize) -> Option<(usize, Param)> {
    let name_len = token_len(s, start);
    if name_len == 0 {
        return None;
    }
    let name = lossy(s.get(start..start + name_len)?);
    let mut i = start + name_len;
    i += whitespace_len(s, i);
    if s.get(i) != Some(&b'=') {
        return Some((i - start, Param { name, value: None }));
    }
    i += 1;
    i += whitespace_len(s, i);
    let len = value_len(s, i);
    if len == 0 {
        return None;
    }
    let value = Some(lossy(s.get(i..i + len)?));
    i += len;
    i += whitespace_len(s, i);
    Some((i - start, Param { name, value }))
}

/// `NameValueHeaderValue.GetNameValueListLength` with `;` as delimiter: at least one parameter,
/// so a trailing `;` makes the whole media type invalid.
fn name_value_list_len(s: &[u8], start: usize, out: &mut Vec<Param>) -> Option<usize> {
    let mut i = start + whitespace_len(s, start);
    loop {
        let (len, param) = name_value_len(s, i)?;
        out.push(param);
        i += len;
        i += whitespace_len(s, i);
        if s.get(i) != Some(&b';') {
            return Some(i - start);
        }
        i += 1;
        i += whitespace_len(s, i);
    }
}

/// `MediaTypeHeaderValue.GetMediaTypeLength`: `type / subtype *( ; parameter )`, whitespace
/// allowed around `/` and `;`.
fn media_range_len(s: &[u8], start: usize) -> Option<(usize, MediaRange)> {
    let kind_len = token_len(s, start);
    if kind_len == 0 {
        return None;
    }
    let kind = lossy(s.get(start..start + kind_len)?);
    let mut i = start + kind_len;
    i += whitespace_len(s, i);
    if s.get(i) != Some(&b'/') {
        return None;
    }
    i += 1;
    i += whitespace_len(s, i);
    let subtype_len = token_len(s, i);
    if subtype_len == 0 {
        return None;
    }
    let subtype = lossy(s.get(i..i + subtype_len)?);
    i += subtype_len;
    i += whitespace_len(s, i);
    let mut params = Vec::new();
    if s.get(i) == Some(&b';') {
        i += 1;
        i += name_value_list_len(s, i, &mut params)?;
    }
    Some((i - start, MediaRange::new(kind, subtype, params)))
}

/// `StringWithQualityHeaderValue.GetStringWithQualityLength`: a token, optionally followed by
/// `; q=<number in [0, 1]>` and nothing else.
fn charset_pref_len(s: &[u8], start: usize) -> Option<(usize, CharsetPref)> {
    let value_len = token_len(s, start);
    if value_len == 0 {
        return None;
    }
    let value = lossy(s.get(start..start + value_len)?);
    let mut i = start + value_len;
    i += whitespace_len(s, i);
    if s.get(i) != Some(&b';') {
        return Some((
            i - start,
            CharsetPref {
                value,
                quality: None,
            },
        ));
    }
    i += 1;
    i += whitespace_len(s, i);
    if !matches!(s.get(i), Some(b'q' | b'Q')) {
        return None;
    }
    i += 1;
    i += whitespace_len(s, i);
    if s.get(i) != Some(&b'=') {
        return None;
    }
    i += 1;
    i += whitespace_len(s, i);
    let len = number_len(s, i);
    if len == 0 {
        return None;
    }
    let number = std::str::from_utf8(s.get(i..i + len)?).ok()?;
    let quality = parse_dotnet_double(number).filter(|q| (0.0..=1.0).contains(q))?;
    i += len;
    i += whitespace_len(s, i);
    Some((
        i - start,
        CharsetPref {
            value,
            quality: Some(quality),
        },
    ))
}

/// One raw line of a list-valued header, as `HttpHeaders.TryParseAndAddRawHeaderValue` with a
/// multi-value `BaseHeaderParser`: empty elements are skipped, elements must be separated by
/// commas, and any failure discards the whole line (`None`).
fn parse_list<T>(
    line: &str,
    parse_one: impl Fn(&[u8], usize) -> Option<(usize, T)>,
) -> Option<Vec<T>> {
    let s = line.as_bytes();
    let mut values = Vec::new();
    let mut index = 0;
    while index < s.len() {
        let (start, _) = next_non_empty(s, index, true);
        if start >= s.len() {
            break;
        }
        let (len, value) = parse_one(s, start).filter(|&(len, _)| len > 0)?;
        let (next, separator) = next_non_empty(s, start + len, true);
        if !separator && next < s.len() {
            return None;
        }
        values.push(value);
        index = next;
    }
    Some(values)
}

/// A single-valued media type header (`Content-Type`): no leading or trailing comma allowed.
fn parse_single_media_range(value: &str) -> Option<MediaRange> {
    let s = value.as_bytes();
    let (start, separator) = next_non_empty(s, 0, false);
    if separator || start >= s.len() {
        return None;
    }
    let (len, range) = media_range_len(s, start)?;
    let (end, separator) = next_non_empty(s, start + len, false);
    (!separator && end == s.len()).then_some(range)
}

/// .NET Framework's `double.TryParse(s, NumberStyles.AllowDecimalPoint,
/// NumberFormatInfo.InvariantInfo)`: digits with one optional `.` (no sign, exponent or
/// whitespace), failing on overflow; otherwise the invariant symbols `Infinity`, `-Infinity` and
/// `NaN`, matched case-sensitively.
fn parse_dotnet_double(s: &str) -> Option<f64> {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let dots = s.bytes().filter(|&b| b == b'.').count();
    if digits > 0 && dots <= 1 && digits + dots == s.len() {
        // Rust accepts "5." and ".5" too; the check above already ruled out the forms .NET
        // would reject (signs, exponents, "inf"). Overflow fails, as in .NET Framework.
        return s.parse::<f64>().ok().filter(|v| v.is_finite());
    }
    match s.trim() {
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => None,
    }
}

/// Strips the quotes and backslash escapes of a quoted-string; other values pass through.
fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const J8: Option<&str> = Some("application/json; charset=utf-8");
    const J16: Option<&str> = Some("application/json; charset=utf-16");
    const TJ8: Option<&str> = Some("text/json; charset=utf-8");
    const X8: Option<&str> = Some("application/xml; charset=utf-8");
    const X16: Option<&str> = Some("application/xml; charset=utf-16");
    const TX8: Option<&str> = Some("text/xml; charset=utf-8");
    const NONE: Option<&str> = None;

    use NoMatch::{FallBackToJson as FB, NotAcceptable as NA};

    type Row = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        NoMatch,
        Option<&'static str>,
    );

    // Each expectation was worked out by hand from the Web API / System.Net.Http source; the
    // comment gives the deciding step. Kept unformatted so that it reads as a table.
    #[rustfmt::skip]
    const ROWS: &[Row] = &[
        // No headers: both formatters match on type only, JSON is first.
        (None, None, None, FB, J8),
        // No Accept values, so even the 406 mode matches on type.
        (None, None, None, NA, J8),
        (Some("application/json"), None, None, FB, J8),
        // Literal match on JSON's second media type.
        (Some("text/json"), None, None, FB, TJ8),
        (Some("application/xml"), None, None, FB, X8),
        (Some("text/xml"), None, None, FB, TX8),
        // All-range matches for both formatters at q=1: JSON first.
        (Some("*/*"), None, None, FB, J8),
        (Some("application/*"), None, None, FB, J8),
        // JSON's first media type in `text/` is text/json.
        (Some("text/*"), None, None, FB, TJ8),
        // Literal XML q=1 beats literal JSON q=0.5.
        (Some("application/json;q=0.5, application/xml"), None, None, FB, X8),
        // q=0 only skips its own entry: JSON still matches through */* (q=1), tie goes to JSON.
        (Some("application/json;q=0, */*"), None, None, FB, J8),
        (Some("application/json;q=0, application/xml"), None, None, FB, X8),
        // Nothing usable in Accept: type-only JSON, or nothing in 406 mode.
        (Some("application/json;q=0"), None, None, FB, J8),
        (Some("application/json;q=0"), None, None, NA, NONE),
        // Equal literal matches: formatter order decides.
        (Some("application/xml, application/json"), None, None, FB, J8),
        (Some("text/xml, text/json"), None, None, FB, TJ8),
        // Same q: the literal beats a subtype range and an all range.
        (Some("application/*, text/xml"), None, None, FB, TX8),
        (Some("*/*, application/xml"), None, None, FB, X8),
        // Per formatter only the first sorted Accept value counts: */* (q=1) shadows XML's entry.
        (Some("application/xml;q=0.9, */*"), None, None, FB, J8),
        // A browser Accept: JSON only gets */*;q=0.8, XML gets its literal q=0.9.
        (Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), None, None, FB, X8),
        // JSON's first hit is text/* (q=1) via text/json, ahead of its own q=0.9 literal.
        (Some("text/*, application/json;q=0.9"), None, None, FB, TJ8),
        (Some("image/png"), None, None, FB, J8),
        (Some("image/png"), None, None, NA, NONE),
        // Content-Type match beats type-only, in both modes.
        (Some("image/png"), None, Some("text/xml"), FB, TX8),
        (Some("image/png"), None, Some("text/xml"), NA, TX8),
        // A q=0 Accept entry does not stop the Content-Type match.
        (Some("application/xml;q=0"), None, Some("application/xml"), FB, X8),
        // An Accept match beats a Content-Type match.
        (Some("application/xml"), None, Some("application/json"), FB, X8),
        // Content-Type charset picks the encoding when Accept-Charset does not.
        (None, None, Some("application/xml; charset=utf-16"), FB, X16),
        (None, None, Some("text/plain; charset=UTF-16"), FB, J16),
        // The charset is compared raw: a quoted value matches nothing.
        (None, None, Some("text/xml; charset=\"utf-16\""), FB, TX8),
        // An unparsable Content-Type (trailing ';', or a list) is ignored.
        (Some("image/png"), None, Some("text/xml;"), NA, NONE),
        (None, None, Some("text/xml, application/xml"), FB, J8),
        // A bad Accept line holds no values at all, so type-only matching applies even in 406 mode.
        (Some("garbage"), None, None, FB, J8),
        (Some("garbage"), None, None, NA, J8),
        (Some("text/xml, garbage"), None, None, FB, J8),
        (Some("application/xml;"), None, None, FB, J8),
        // A bare parameter name is fine.
        (Some("application/xml; q"), None, None, FB, X8),
        (Some(", ,application/xml ,,"), None, None, FB, X8),
        (Some("application / xml"), None, None, FB, X8),
        (Some("APPLICATION/XML"), None, None, FB, X8),
        (Some("Text/XML ; Q=0.5 , application/JSON;q=0.4"), None, None, FB, TX8),
        // `*/json` is not a range: it matches nothing.
        (Some("*/json"), None, None, NA, NONE),
        // q-values as `double.TryParse(AllowDecimalPoint)` sees them: no clamping, no sign,
        // unparsable means 1.0.
        (Some("application/xml;q=2, application/json"), None, None, FB, X8),
        (Some("application/json;q=-1, application/xml;q=0.5"), None, None, FB, J8),
        (Some("application/xml;q=abc, application/json;q=0.9"), None, None, FB, X8),
        (Some("application/xml;q=\"0.1\", application/json;q=0.5"), None, None, FB, X8),
        (Some("application/xml;q=.5, application/json;q=0.4"), None, None, FB, X8),
        (Some("application/json;q=0.4, application/xml;q=Infinity"), None, None, FB, X8),
        // NaN equals everything: input order survives the sort, both literal, XML's 0.5 is not
        // greater than JSON's NaN, so JSON (first formatter) stays best.
        (Some("application/xml;q=0.5, application/json;q=NaN"), None, None, FB, J8),
        // Multiple Accept headers joined by IIS.
        (Some("image/png, text/xml"), None, None, FB, TX8),
        (Some("application/json;q=0.1, text/xml;q=0.2"), None, None, FB, TX8),
        // Accept-Charset.
        (Some("application/json"), Some("utf-16"), None, FB, J16),
        (Some("application/json"), Some("utf-8;q=0.5, UTF-16"), None, FB, J16),
        (Some("application/json"), Some("iso-8859-1"), None, FB, J8),
        (Some("application/json"), Some("utf-16;q=0"), None, FB, J8),
        (Some("application/json"), Some("*"), None, FB, J8),
        // On equal q a named charset sorts ahead of `*`.
        (Some("application/xml"), Some("*, utf-16"), None, FB, X16),
        // `*` is first and maps to the first encoding, even though utf-16 is also listed.
        (Some("application/xml"), Some("*;q=0.9, iso-8859-1, utf-16;q=0.5"), None, FB, X8),
        // q outside [0, 1] invalidates the Accept-Charset line; the Content-Type charset decides.
        (Some("application/json"), Some("utf-8;q=1.5"), Some("text/plain; charset=utf-16"), FB, J16),
        // Accept-Charset beats the Content-Type charset.
        (None, Some("utf-8"), Some("application/xml; charset=utf-16"), FB, X8),
    ];

    #[test]
    fn table() {
        assert!(ROWS.len() >= 30);
        for (n, &(accept, accept_charset, content_type, no_match, expected)) in
            ROWS.iter().enumerate()
        {
            let got =
                negotiate(accept, accept_charset, content_type, no_match).map(|n| n.content_type());
            assert_eq!(
                got.as_deref(),
                expected,
                "row {n}: accept={accept:?} accept-charset={accept_charset:?} content-type={content_type:?} {no_match:?}"
            );
        }
    }

    #[test]
    fn format_matches_media_type() {
        let xml = negotiate(Some("text/xml"), None, None, NoMatch::default());
        assert_eq!(
            xml,
            Some(Negotiated {
                format: Format::Xml,
                media_type: "text/xml".to_owned(),
                charset: "utf-8",
            })
        );
        let json = negotiate(None, Some("utf-16"), None, NoMatch::default());
        assert_eq!(
            json.map(|n| (n.format, n.charset)),
            Some((Format::Json, "utf-16"))
        );
    }

    fn with_headers(headers: RequestHeaders<'_>) -> Option<String> {
        negotiate_headers(&headers, NoMatch::FallBackToJson).map(|n| n.content_type())
    }

    #[test]
    fn separate_lines_fail_separately() {
        let joined = RequestHeaders {
            accept: &["text/xml, garbage"],
            ..RequestHeaders::default()
        };
        let separate = RequestHeaders {
            accept: &["text/xml", "garbage"],
            ..RequestHeaders::default()
        };
        assert_eq!(with_headers(joined).as_deref(), J8);
        assert_eq!(with_headers(separate).as_deref(), TX8);
    }

    #[test]
    fn xml_http_request_mapping() {
        let xhr = |accept: &'static [&'static str], content_type, xrw| {
            with_headers(RequestHeaders {
                accept,
                content_type,
                x_requested_with: xrw,
                ..RequestHeaders::default()
            })
        };
        // The mapping outranks the Content-Type match that would otherwise pick XML.
        assert_eq!(xhr(&[], Some("text/xml"), None).as_deref(), TX8);
        assert_eq!(
            xhr(&[], Some("text/xml"), Some("XMLHttpRequest")).as_deref(),
            J8
        );
        assert_eq!(
            xhr(&["*/*"], Some("text/xml"), Some("foo, xmlhttprequest")).as_deref(),
            J8
        );
        // Any other Accept value disables it.
        assert_eq!(
            xhr(&["text/xml"], None, Some("XMLHttpRequest")).as_deref(),
            TX8
        );
        assert_eq!(
            xhr(&["*/*", "*/*"], Some("text/xml"), Some("XMLHttpRequest")).as_deref(),
            J8
        );
        // A lone */* with q=2 lets the mapping apply, but XML's all-range match has a strictly
        // higher q than the mapping's 1.0, so the override is dropped.
        assert_eq!(
            xhr(&["*/*;q=2"], None, Some("XMLHttpRequest")).as_deref(),
            X8
        );
        assert_eq!(xhr(&["*/*;q=2"], None, None).as_deref(), J8);
        // A value with a bare line break is discarded by HttpHeaders.
        assert_eq!(
            xhr(&[], Some("text/xml"), Some("XMLHttpRequest\r\nx")).as_deref(),
            TX8
        );
    }

    #[test]
    fn media_type_of_reads_content_type() {
        type Parsed<'a> = Option<(&'a str, Option<&'a str>)>;
        let cases: &[(&str, Parsed<'_>)] = &[
            ("application/json", Some(("application/json", None))),
            (
                "Application/JSON; Charset=UTF-8",
                Some(("application/json", Some("utf-8"))),
            ),
            (
                " text/xml ;charset=\"utf-16\" ",
                Some(("text/xml", Some("utf-16"))),
            ),
            (
                "text / plain; foo=bar; charset=iso-8859-1",
                Some(("text/plain", Some("iso-8859-1"))),
            ),
            ("text/plain; charset", Some(("text/plain", None))),
            ("text/plain;", None),
            ("text", None),
            ("", None),
            ("text/plain, text/xml", None),
            (",text/plain", None),
            ("text/plain; charset=\"unterminated", None),
        ];
        for &(input, expected) in cases {
            let got = media_type_of(input);
            let got = got.as_ref().map(|(m, c)| (m.as_str(), c.as_deref()));
            assert_eq!(got, expected, "input {input:?}");
        }
    }

    #[test]
    fn the_bare_media_type_shortcut_agrees_with_the_full_parse() {
        for input in [
            "application/xml",
            "Application/XML",
            "text/json",
            "*/*",
            "a/",
            "/b",
            "/",
            "a/b/c",
            "a//b",
            "a/b ",
            "a/b;",
            "a/\u{e9}",
            "x-custom.type+json/v1",
        ] {
            assert_eq!(
                media_type_of(input),
                parsed_media_type_of(input),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn dotnet_double_parsing() {
        assert_eq!(parse_dotnet_double("0.5"), Some(0.5));
        assert_eq!(parse_dotnet_double(".5"), Some(0.5));
        assert_eq!(parse_dotnet_double("5."), Some(5.0));
        assert_eq!(parse_dotnet_double("007"), Some(7.0));
        assert_eq!(parse_dotnet_double("Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_dotnet_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_dotnet_double("NaN").is_some_and(f64::is_nan));
        for bad in [
            "", ".", "-1", "+1", "1e2", "1,5", "1.2.3", " 1", "infinity", "\"1\"",
        ] {
            assert_eq!(parse_dotnet_double(bad), None, "{bad:?}");
        }
        // Overflow fails in .NET Framework rather than giving infinity.
        assert_eq!(parse_dotnet_double(&"9".repeat(400)), None);
    }

    #[test]
    fn header_grammar() {
        let count = |line: &str| parse_list(line, media_range_len).map(|v| v.len());
        assert_eq!(count(""), Some(0));
        assert_eq!(count(" , ,"), Some(0));
        assert_eq!(count("a/b, c/d;x=\"q,;\\\"\" ,e/f"), Some(3));
        assert_eq!(count("a/b\r\n\t, c/d"), Some(2));
        assert_eq!(count("a/b\r\nc/d"), None);
        assert_eq!(count("a/b c/d"), None);
        assert_eq!(count("a/b;x="), None);
        assert_eq!(count("a/b;=1"), None);
        assert_eq!(count("a/b;x=\"open"), None);
        assert_eq!(count("a/é"), None);
        assert_eq!(count("a/b;x=\"é\""), Some(1));
        // The final quote of `"ab\"` is not escaped: too few characters follow the backslash.
        assert_eq!(count("a/b;x=\"ab\\\""), Some(1));
        let charsets = |line: &str| parse_list(line, charset_pref_len).map(|v| v.len());
        assert_eq!(charsets("utf-8;q=0.5, *"), Some(2));
        assert_eq!(charsets("utf-8;q=1."), Some(1));
        assert_eq!(charsets("utf-8;q=.5"), None);
        assert_eq!(charsets("utf-8;level=1"), None);
        assert_eq!(charsets("utf-8;q=0.5;q=0.4"), None);
    }

    /// A small deterministic generator, so the randomised tests need no crates.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap()
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

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

    #[test]
    fn never_panics_on_weird_input() {
        let weird: &[&str] = &[
            "",
            " ",
            ",",
            ";",
            "/",
            "*",
            "*/",
            "/*",
            "*/*;",
            "a/b;;",
            "a/b;q",
            "a/b;q=",
            "a/b;q=;",
            "\"",
            "\"\\",
            "a/b;x=\"\\",
            "a/b;x=\"\\\"",
            "\r",
            "\r\n",
            "\r\n ",
            "a/b\r\n",
            "\t,\t",
            "é/è",
            "a/b;x=\"\u{1F600}\"",
            "\u{0}",
            "a/b;q=NaN, c/d;q=NaN, */*;q=NaN, e/*;q=NaN",
            "a/b;q=-Infinity",
            "a/b;q=1e309",
            "*;q=0",
            "utf-16;q=0.",
            "utf-16;Q = 1",
            "q=1",
            "application/json;charset=\"utf-16\";q=\"0\"",
            ",,,,,,,,,,",
            ";;;;;;",
        ];
        let check = |accept: Option<&str>, charset: Option<&str>, content_type: Option<&str>| {
            for no_match in [NoMatch::FallBackToJson, NoMatch::NotAcceptable] {
                if let Some(n) = negotiate(accept, charset, content_type, no_match) {
                    assert!(
                        [
                            "application/json",
                            "text/json",
                            "application/xml",
                            "text/xml"
                        ]
                        .contains(&n.media_type.as_str())
                    );
                    assert!(ENCODINGS.contains(&n.charset));
                }
            }
            let _ = content_type.map(media_type_of);
        };
        for &a in weird {
            for &b in weird {
                check(Some(a), Some(b), Some(a));
                check(Some(b), Some(a), Some(b));
            }
        }
        let alphabet = [
            "a",
            "/",
            "*",
            ";",
            "=",
            ",",
            " ",
            "\t",
            "\"",
            "\\",
            "q",
            "0",
            ".",
            "1",
            "\r",
            "\n",
            "é",
            "\u{1F600}",
            "N",
            "a",
            "N",
            "application/xml",
            "text/*",
            "Infinity",
        ];
        let mut rng = XorShift(42);
        for _ in 0..20_000 {
            let mut random = || {
                let len = rng.below(24);
                (0..len).map(|_| rng.pick(&alphabet)).collect::<String>()
            };
            let (a, b, c) = (random(), random(), random());
            check(Some(&a), Some(&b), Some(&c));
        }
    }

    #[test]
    fn large_adversarial_accept_is_handled() {
        let many = vec!["a/b;q=NaN, */*;q=0.5, text/*;q=NaN"; 700].join(", ");
        assert!(negotiate(Some(&many), None, None, NoMatch::NotAcceptable).is_some());
    }
}
