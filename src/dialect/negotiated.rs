//! Remembered negotiation: a route's answer format for each combination of the request headers
//! negotiation reads (`Accept`, `Accept-Charset`, `Content-Type`), and the [`Rendering`] it
//! chose.

use super::negotiate;

/// A route's negotiation outcomes by the request headers they depend on. Clients send the same
/// few combinations again and again, and Web API's algorithm costs about 10 000 instructions
/// (callgrind) where a lookup costs a few hundred. Bounded: once full, or for unusually long
/// headers, results are computed and not kept; nothing is evicted, so a client cycling through
/// made-up headers slows only its own requests.
#[derive(Default)]
pub struct NegotiationMemo(dashmap::DashMap<String, Result<Rendering, Rendering>>);

impl NegotiationMemo {
    const MAX_ENTRIES: usize = 64;
    const MAX_KEY_BYTES: usize = 512;

    /// The outcome for these headers: remembered, or computed by `negotiate` (and remembered
    /// while there is room).
    pub fn get_or_insert(
        &self,
        headers: [Option<&str>; 3],
        negotiate: impl FnOnce() -> Result<Rendering, Rendering>,
    ) -> Result<Rendering, Rendering> {
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        KEY.with_borrow_mut(|key| {
            key.clear();
            // `\n` cannot occur in a header value; `-` and `+` tell absent from empty.
            for value in headers {
                match value {
                    None => key.push('-'),
                    Some(value) => {
                        key.push('+');
                        key.push_str(value);
                    }
                }
                key.push('\n');
            }
            if let Some(known) = self.0.get(key.as_str()) {
                return known.clone();
            }
            let outcome = negotiate();
            if key.len() <= Self::MAX_KEY_BYTES && self.0.len() < Self::MAX_ENTRIES {
                self.0.insert(key.clone(), outcome.clone());
            }
            outcome
        })
    }
}

/// How one answer is written: format, `Content-Type`, and whether the body is UTF-16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    pub format: negotiate::Format,
    pub content_type: String,
    pub utf16: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(content_type: &str) -> Result<Rendering, Rendering> {
        Ok(Rendering {
            format: negotiate::Format::Json,
            content_type: content_type.into(),
            utf16: false,
        })
    }

    #[test]
    fn negotiation_outcomes_are_kept_per_header_combination_up_to_a_bound() {
        let memo = NegotiationMemo::default();
        let calls = std::cell::Cell::new(0);
        let ask = |headers: [Option<&str>; 3], answer: &str| {
            memo.get_or_insert(headers, || {
                calls.set(calls.get() + 1);
                json(answer)
            })
        };
        assert_eq!(ask([Some("a/b"), None, None], "first"), json("first"));
        assert_eq!(ask([Some("a/b"), None, None], "second"), json("first"));
        assert_eq!(calls.get(), 1);
        // Absent and empty are different requests, and so are the same values in other headers.
        assert_eq!(ask([Some(""), None, None], "empty"), json("empty"));
        assert_eq!(ask([None, None, None], "absent"), json("absent"));
        assert_eq!(ask([None, Some("a/b"), None], "charset"), json("charset"));
        assert_eq!(calls.get(), 4);
        for i in 0..2 * NegotiationMemo::MAX_ENTRIES {
            assert_eq!(
                ask([Some(&format!("x/{i}")), None, None], "made up"),
                json("made up")
            );
        }
        assert_eq!(memo.0.len(), NegotiationMemo::MAX_ENTRIES);
        // Known combinations are still answered from the memo; new ones are computed each time.
        let before = calls.get();
        assert_eq!(ask([Some("a/b"), None, None], "third"), json("first"));
        assert_eq!(ask([Some("y/1"), None, None], "fresh"), json("fresh"));
        assert_eq!(
            ask([Some("y/1"), None, None], "fresh again"),
            json("fresh again")
        );
        assert_eq!(calls.get(), before + 2);
        let long = "a/".repeat(NegotiationMemo::MAX_KEY_BYTES);
        let small = NegotiationMemo::default();
        assert_eq!(
            small.get_or_insert([Some(&long), None, None], || json("long")),
            json("long")
        );
        assert_eq!(small.0.len(), 0);
    }
}
