//! What scope a grant gets (RFC 6749 §3.3): a client's allowed and default scopes, checked on
//! routes that enforce scope; a refresh may narrow its family's scope, never widen it (§6).

use crate::domain::Scope;

use super::error::GrantError;

/// How a route treats the `scope` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopePolicy {
    /// A requested scope outside the client's allowed set is `invalid_scope`; a request without
    /// one gets the client's defaults; a refresh may narrow its family's scope.
    #[default]
    Enforce,
    /// The legacy server never read `scope`: whatever a request says, a sign-in gets the
    /// client's default scopes and a refresh its family's, and no request fails for its scope.
    Ignore,
}

/// Why a client's scope settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeConfigError {
    #[error("{0:?} is not a scope token (RFC 6749 §3.3: printable ASCII, no space, \" or \\)")]
    NotAToken(String),
    #[error("default scope {0:?} is not among the client's scopes")]
    DefaultNotAllowed(String),
}

/// A client's scope rules, from `[[client]] scopes` and `default_scopes`.
#[derive(Debug, Clone, Default)]
pub struct ClientScopes {
    /// Scopes the client may be granted; `None`: its defaults and nothing else.
    allowed: Option<Vec<String>>,
    defaults: Vec<String>,
    /// The defaults as one scope (the grant of a request that names none), built once.
    default_scope: Option<Scope>,
}

impl ClientScopes {
    pub fn new(
        allowed: Option<Vec<String>>,
        defaults: Vec<String>,
    ) -> Result<Self, ScopeConfigError> {
        for token in allowed.iter().flatten().chain(&defaults) {
            if !is_token(token) {
                return Err(ScopeConfigError::NotAToken(token.clone()));
            }
        }
        if let Some(allowed) = &allowed
            && let Some(missing) = defaults.iter().find(|d| !allowed.contains(d))
        {
            return Err(ScopeConfigError::DefaultNotAllowed(missing.clone()));
        }
        let default_scope = join(defaults.iter().map(String::as_str));
        Ok(Self {
            allowed,
            defaults,
            default_scope,
        })
    }

    fn allows(&self, token: &str) -> bool {
        match &self.allowed {
            Some(allowed) => allowed.iter().any(|a| a == token),
            None => self.defaults.iter().any(|d| d == token),
        }
    }

    /// The scope of a new sign-in.
    pub fn for_sign_in(
        &self,
        requested: Option<&Scope>,
        policy: ScopePolicy,
    ) -> Result<Option<Scope>, GrantError> {
        let requested = requested.map(|scope| tokens(scope.as_str()));
        match (policy, requested) {
            (ScopePolicy::Enforce, Some(asked)) if !asked.is_empty() => {
                let refused: Vec<&str> =
                    asked.iter().copied().filter(|t| !self.allows(t)).collect();
                if !refused.is_empty() {
                    return Err(GrantError::InvalidScope {
                        scopes: refused.join(" "),
                    });
                }
                Ok(join(asked.into_iter()))
            }
            _ => Ok(self.default_scope.clone()),
        }
    }

    /// The scope of a refresh's access token: the family's scope (what the client may still
    /// have of it), or the part of it the request names. Widening is `invalid_scope`.
    pub fn for_refresh(
        &self,
        requested: Option<&Scope>,
        family: Option<&Scope>,
        policy: ScopePolicy,
    ) -> Result<Option<Scope>, GrantError> {
        if policy == ScopePolicy::Ignore {
            return Ok(family.cloned());
        }
        let family: Vec<&str> = family.map(|s| tokens(s.as_str())).unwrap_or_default();
        let requested = requested.map(|scope| tokens(scope.as_str()));
        match requested {
            Some(asked) if !asked.is_empty() => {
                let refused: Vec<&str> = asked
                    .iter()
                    .copied()
                    .filter(|t| !family.contains(t) || !self.allows(t))
                    .collect();
                if !refused.is_empty() {
                    return Err(GrantError::InvalidScope {
                        scopes: refused.join(" "),
                    });
                }
                Ok(join(asked.into_iter()))
            }
            _ => Ok(join(family.into_iter().filter(|t| self.allows(t)))),
        }
    }
}

/// The distinct space-delimited tokens of a scope, in their order.
fn tokens(scope: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !out.contains(&token) {
            out.push(token);
        }
    }
    out
}

fn join<'a>(tokens: impl Iterator<Item = &'a str>) -> Option<Scope> {
    let mut joined = String::new();
    for token in tokens {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(token);
    }
    (!joined.is_empty()).then(|| Scope::new(joined))
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        Scope::new(s)
    }

    fn rules() -> ClientScopes {
        ClientScopes::new(
            Some(vec!["api".into(), "profile".into(), "email".into()]),
            vec!["profile".into()],
        )
        .expect("valid")
    }

    fn granted(result: Result<Option<Scope>, GrantError>) -> Option<String> {
        result.expect("granted").map(|s| s.to_string())
    }

    fn refused(result: Result<Option<Scope>, GrantError>) -> String {
        match result {
            Err(GrantError::InvalidScope { scopes }) => scopes,
            other => panic!("expected invalid_scope, got {other:?}"),
        }
    }

    #[test]
    fn a_sign_in_gets_the_defaults_or_what_it_may_have() {
        let rules = rules();
        let enforce = ScopePolicy::Enforce;
        assert_eq!(
            granted(rules.for_sign_in(None, enforce)).as_deref(),
            Some("profile")
        );
        assert_eq!(
            granted(rules.for_sign_in(Some(&scope("  ")), enforce)).as_deref(),
            Some("profile")
        );
        assert_eq!(
            granted(rules.for_sign_in(Some(&scope("api  api email")), enforce)).as_deref(),
            Some("api email")
        );
        assert_eq!(
            refused(rules.for_sign_in(Some(&scope("api admin x")), enforce)),
            "admin x"
        );
    }

    #[test]
    fn a_client_without_scopes_may_have_its_defaults_only() {
        let rules = ClientScopes::new(None, vec!["api".into()]).expect("valid");
        let enforce = ScopePolicy::Enforce;
        assert_eq!(
            granted(rules.for_sign_in(Some(&scope("api")), enforce)).as_deref(),
            Some("api")
        );
        assert_eq!(
            refused(rules.for_sign_in(Some(&scope("email")), enforce)),
            "email"
        );
        let none = ClientScopes::default();
        assert_eq!(granted(none.for_sign_in(None, enforce)), None);
        assert_eq!(
            refused(none.for_sign_in(Some(&scope("api")), enforce)),
            "api"
        );
    }

    #[test]
    fn a_refresh_narrows_and_never_widens() {
        let rules = rules();
        let enforce = ScopePolicy::Enforce;
        let family = scope("api email");
        assert_eq!(
            granted(rules.for_refresh(None, Some(&family), enforce)).as_deref(),
            Some("api email")
        );
        assert_eq!(
            granted(rules.for_refresh(Some(&scope("email")), Some(&family), enforce)).as_deref(),
            Some("email")
        );
        assert_eq!(
            refused(rules.for_refresh(Some(&scope("email profile")), Some(&family), enforce)),
            "profile"
        );
        assert_eq!(
            refused(rules.for_refresh(Some(&scope("api")), None, enforce)),
            "api"
        );
    }

    #[test]
    fn a_refresh_keeps_only_what_the_client_may_still_have() {
        let narrowed = ClientScopes::new(Some(vec!["api".into()]), vec![]).expect("valid");
        let family = scope("api email");
        assert_eq!(
            granted(narrowed.for_refresh(None, Some(&family), ScopePolicy::Enforce)).as_deref(),
            Some("api")
        );
    }

    #[test]
    fn a_route_that_ignores_scope_grants_defaults_and_family_scopes() {
        let rules = rules();
        let ignore = ScopePolicy::Ignore;
        assert_eq!(
            granted(rules.for_sign_in(Some(&scope("admin")), ignore)).as_deref(),
            Some("profile")
        );
        assert_eq!(
            granted(rules.for_refresh(Some(&scope("admin")), Some(&scope("api")), ignore))
                .as_deref(),
            Some("api")
        );
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            ClientScopes::new(Some(vec!["a b".into()]), vec![]).err(),
            Some(ScopeConfigError::NotAToken("a b".into()))
        );
        assert_eq!(
            ClientScopes::new(Some(vec!["a".into()]), vec!["b".into()]).err(),
            Some(ScopeConfigError::DefaultNotAllowed("b".into()))
        );
    }
}
