//! Server-sent-event answers: the request stays in flight on its key until
//! the last event is out (or the client goes away).

use super::state::InFlight;
use axum::body::{Body, Bytes};
use axum::response::Response;
use futures_util::StreamExt;
use std::convert::Infallible;
use std::time::Duration;

/// How long a stream waits between its chunks.
pub const STREAM_CHUNK_INTERVAL: Duration = Duration::from_millis(150);

/// A reply in three pieces, for streams.
pub(super) fn split_reply(reply: &str) -> Vec<String> {
    let chars: Vec<char> = reply.chars().collect();
    let third = chars.len().div_ceil(3).max(1);
    chars.chunks(third).map(|c| c.iter().collect()).collect()
}

/// A server-sent-events response: the first event at once, the rest
/// `STREAM_CHUNK_INTERVAL` apart; the key counts as in flight until the end.
pub(super) fn sse(events: Vec<String>, in_flight: InFlight) -> Response {
    let stream = futures_util::stream::unfold(
        (events.into_iter(), 0usize, in_flight),
        |(mut events, i, guard)| async move {
            let event = events.next()?;
            if i > 0 {
                tokio::time::sleep(STREAM_CHUNK_INTERVAL).await;
            }
            Some((
                Ok::<_, Infallible>(Bytes::from(event)),
                (events, i + 1, guard),
            ))
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .expect("invariant: a valid response")
}

/// `event` `times` times over, with no pauses; the key counts as in flight
/// until the end.
pub(super) fn big_stream(event: String, times: usize, in_flight: InFlight) -> Response {
    let events = futures_util::stream::iter(
        (0..times).map(move |_| Ok::<_, Infallible>(Bytes::from(event.clone()))),
    );
    let guarded =
        futures_util::stream::unfold((events, in_flight), |(mut events, guard)| async move {
            let next = events.next().await?;
            Some((next, (events, guard)))
        });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(guarded))
        .expect("invariant: a valid response")
}
