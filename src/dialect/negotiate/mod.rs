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
//! # Why hand-written
//!
//! Crates such as `mime` or `headers` parse the RFC grammar, not `System.Net.Http`'s: none drops a
//! whole raw line for one bad element, reads q through `double.TryParse` (`q=2`, `q=Infinity`,
//! `q=NaN`) or keeps `HttpRuleParser`'s backslash quirk, and no library sort reproduces LINQ's
//! quicksort, which alone decides the order once `q=NaN` makes the comparer inconsistent. Each of
//! those changes which formatter answers, so `header` (steps 1 and 2) and `sort` (step 3)
//! transcribe the .NET code, and `select` (steps 4 to 6) holds the formatters and the
//! negotiator's rules.
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

mod header;
mod select;
mod sort;

use header::{
    MediaRange, media_range_len, parse_list, parse_single_media_range, token_len, unquote,
};
use select::{
    FORMATTERS, Ranking, match_accept, match_request_media_type, select_best, select_charset,
    xhr_mapping_matches,
};
use sort::{compare_accept, order_by_descending};

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

#[cfg(test)]
mod tests {
    use super::select::ENCODINGS;
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

    /// A small deterministic generator, so the randomised tests need no crates.
    pub(super) struct XorShift(pub(super) u64);

    impl XorShift {
        pub(super) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        pub(super) fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap()
        }

        pub(super) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
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
