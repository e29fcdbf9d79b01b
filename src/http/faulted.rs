//! The test kit's faults that only the HTTP layer can carry out (`crate::testkit::faults`): a
//! connection closed without an answer, and an answer whose body arrives slowly.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;

/// How many pieces a slow body is sent in.
const SLOW_PIECES: usize = 10;

/// No answer: the body fails before its first byte, and actix closes the connection without
/// finishing the response.
pub fn dropped() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Content-Length", "1"))
        .body(Dropped)
}

struct Dropped;

impl MessageBody for Dropped {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "test-kit fault: connection dropped",
        ))))
    }
}

/// `answer` with its body sent in pieces spread over `over` (same bytes, same length).
pub fn slow(answer: HttpResponse, over: Duration) -> HttpResponse {
    answer
        .map_body(|_, body| {
            let bytes = body.try_into_bytes().unwrap_or_default();
            let piece = bytes.len().div_ceil(SLOW_PIECES).max(1);
            Slow {
                rest: bytes,
                piece,
                gap: over / SLOW_PIECES as u32,
                wait: None,
            }
        })
        .map_into_boxed_body()
}

struct Slow {
    rest: Bytes,
    piece: usize,
    gap: Duration,
    wait: Option<Pin<Box<actix_web::rt::time::Sleep>>>,
}

impl MessageBody for Slow {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.rest.len() as u64)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let gap = self.gap;
        let wait = self
            .wait
            .get_or_insert_with(|| Box::pin(actix_web::rt::time::sleep(gap)));
        if wait.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.wait = None;
        let take = self.piece.min(self.rest.len());
        let piece = self.rest.split_to(take);
        Poll::Ready(Some(Ok(piece)))
    }
}
