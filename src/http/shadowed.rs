//! A shadowed route's request in the handler: sent to the legacy endpoint too, the chosen
//! side's answer returned, the other side's run in a task of its own and compared there
//! (`crate::shadow`). Only this file sees both actix and the shadow runtime.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::HttpRequest;

use crate::gateway::Gateway;
use crate::shadow::{Outgoing, RouteRuntime};
use crate::wire::{WireRequest, WireResponse};

/// The client's request as the upstream must see it.
pub(super) fn outgoing(
    request: &HttpRequest,
    body: &[u8],
    peer: IpAddr,
    shadow: &RouteRuntime,
) -> Outgoing {
    Outgoing::new(
        request.method().as_str(),
        request.uri().query(),
        request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
        body,
        peer,
        shadow.forwarded_for(),
    )
}

/// `answer = "gateway"`: the client has the gateway's answer; the legacy endpoint's is fetched
/// and compared in a task of its own, when a slot is free.
pub(super) fn compare_later(shadow: &Arc<RouteRuntime>, outgoing: Outgoing, answer: &WireResponse) {
    let Some(permit) = shadow.permit() else {
        return;
    };
    let (shadow, answer) = (shadow.clone(), answer.clone());
    actix_web::rt::spawn(async move {
        if let Ok(legacy) = shadow.forward(&outgoing).await {
            shadow.record(&outgoing, &legacy, &answer);
        }
        drop(permit);
    });
}

/// The request as the gateway reads it, owned, for a task that outlives the handler.
struct OwnedRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    peer: IpAddr,
    from_trusted_proxy: bool,
    body: Vec<u8>,
}

/// `answer = "legacy"`: the client has the legacy endpoint's answer as it came (its bytes, its
/// headers but those of its connection); the gateway then answers the same request in a task
/// of its own, when a slot is free, and the two are compared. No answer from the upstream
/// within the timeout is a 502, as from any proxy whose upstream is down.
#[allow(clippy::too_many_arguments)]
pub(super) async fn legacy_answers(
    shadow: &Arc<RouteRuntime>,
    gateway: &Arc<Gateway>,
    index: usize,
    request: &HttpRequest,
    body: &[u8],
    peer: IpAddr,
    from_trusted_proxy: bool,
    request_id: &str,
    started: Instant,
) -> WireResponse {
    let outgoing = outgoing(request, body, peer, shadow);
    let route = &gateway.routes()[index];
    let legacy = match shadow.forward(&outgoing).await {
        Ok(legacy) => legacy,
        Err(_) => {
            tracing::info!(
                route = route.path(),
                method = %request.method(),
                request_id,
                status = 502,
                latency_us = started.elapsed().as_micros() as u64,
                "token request: the legacy endpoint answers this route, and did not"
            );
            return WireResponse {
                status: 502,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: br#"{"error":"bad_gateway"}"#.to_vec(),
            };
        }
    };
    tracing::info!(
        route = route.path(),
        method = %request.method(),
        request_id,
        status = legacy.status,
        latency_us = started.elapsed().as_micros() as u64,
        "token request answered by the legacy endpoint"
    );
    if let Some(permit) = shadow.permit() {
        let owned = OwnedRequest {
            method: request.method().as_str().to_owned(),
            path: request.path().to_owned(),
            headers: super::owned_headers(request),
            peer,
            from_trusted_proxy,
            body: body.to_vec(),
        };
        let (shadow, gateway, compared) = (shadow.clone(), gateway.clone(), legacy.clone());
        actix_web::rt::spawn(async move {
            let wire = WireRequest {
                method: &owned.method,
                path: &owned.path,
                headers: &owned.headers,
                peer: owned.peer,
                from_trusted_proxy: owned.from_trusted_proxy,
                body: &owned.body,
            };
            let (answer, _) = gateway.handle(&gateway.routes()[index], &wire, None).await;
            shadow.record(&outgoing, &compared, &answer);
            drop(permit);
        });
    }
    legacy
}
