//! Which formatter answers, with which media type and charset: the controller's two writing
//! formatters and the matching and selection rules of `DefaultContentNegotiator`, kept rule for
//! rule so that ties and shadowed Accept entries resolve as Web API resolved them. Source:
//! aspnet/AspNetWebStack, `src/System.Net.Http.Formatting/Formatting/DefaultContentNegotiator.cs`.

use super::Format;
use super::header::{
    CharsetPref, MediaRange, RangeKind, charset_pref_len, contains_invalid_newline, parse_list,
};
use super::sort::{compare_charset, order_by_descending};

pub(super) struct Formatter {
    format: Format,
    /// `SupportedMediaTypes`, in order; the first is used when matching on type only.
    pub(super) media_types: [&'static str; 2],
    /// Whether `MediaTypeMappings` holds the default `XmlHttpRequestHeaderMapping`.
    pub(super) xhr_mapping: bool,
}

impl Formatter {
    pub(super) fn matched(
        &self,
        media_type: &'static str,
        quality: f64,
        ranking: Ranking,
    ) -> Match {
        Match {
            format: self.format,
            media_type,
            quality,
            ranking,
        }
    }
}

pub(super) const FORMATTERS: [Formatter; 2] = [
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
pub(super) const ENCODINGS: [&str; 2] = ["utf-8", "utf-16"];

/// `MediaTypeFormatterMatchRanking`, minus `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ranking {
    CanWriteType,
    AcceptLiteral,
    AcceptSubtypeRange,
    AcceptAllRange,
    MediaTypeMapping,
    RequestMediaType,
}

/// `MediaTypeFormatterMatch`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Match {
    pub(super) format: Format,
    pub(super) media_type: &'static str,
    quality: f64,
    ranking: Ranking,
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
pub(super) fn xhr_mapping_matches(accept: &[MediaRange], x_requested_with: Option<&str>) -> bool {
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
pub(super) fn match_accept(formatter: &Formatter, sorted_accept: &[MediaRange]) -> Option<Match> {
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
pub(super) fn match_request_media_type(
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
pub(super) fn select_best(matches: &[Match]) -> Option<Match> {
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
pub(super) fn select_charset(
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
