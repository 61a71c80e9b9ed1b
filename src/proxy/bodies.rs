//! The proxy's HTTP bodies as concrete types: what goes to the Graph API, what comes back, and
//! what the application gets. As `axum::body::Body` each was a box of its own (the client's
//! request, the upstream request, Meta's answer, the application's answer: four allocations
//! per request, issue 21); these are enums the HTTP connections take as they are.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::Response;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::upstream::Deadline;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The proxy's answer to the application.
pub type Reply = Response<ToClient>;

/// A request body as it goes upstream.
pub enum UpstreamBody {
    /// Known whole: sent with its `Content-Length`, and again for a retry.
    Whole(Bytes),
    /// Arriving as it is sent (chunked); sent once.
    Stream(Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            // Handed over once: what is left is empty, the end.
            UpstreamBody::Whole(bytes) if bytes.is_empty() => Poll::Ready(None),
            UpstreamBody::Whole(bytes) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes))))),
            UpstreamBody::Stream(stream) => stream
                .as_mut()
                .poll_next(cx)
                .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, UpstreamBody::Whole(bytes) if bytes.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Whole(bytes) => SizeHint::with_exact(bytes.len() as u64),
            UpstreamBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// Meta's answer body as it comes.
pub enum FromGraph {
    /// From the proxy's own connections, ending in an error once `[proxy] timeout` passed.
    Direct(Deadline<Incoming>),
    /// Through reqwest, when an HTTP proxy of the environment carries the Graph host.
    Proxied(axum::body::Body),
}

impl Body for FromGraph {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            FromGraph::Direct(body) => Pin::new(body).poll_frame(cx),
            FromGraph::Proxied(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            FromGraph::Direct(body) => body.is_end_stream(),
            FromGraph::Proxied(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            FromGraph::Direct(body) => body.size_hint(),
            FromGraph::Proxied(body) => body.size_hint(),
        }
    }
}

/// The body of the application's answer: Meta's, read whole or passed through, or the
/// proxy's own.
pub enum ToClient {
    Whole(Bytes),
    Graph(FromGraph),
}

impl Body for ToClient {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ToClient::Whole(bytes) if bytes.is_empty() => Poll::Ready(None),
            ToClient::Whole(bytes) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes))))),
            ToClient::Graph(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ToClient::Whole(bytes) => bytes.is_empty(),
            ToClient::Graph(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ToClient::Whole(bytes) => SizeHint::with_exact(bytes.len() as u64),
            ToClient::Graph(body) => body.size_hint(),
        }
    }
}

/// The next data frame of `body` (trailers are skipped), `None` at its end.
pub async fn next_data<B>(body: &mut B) -> Option<Result<Bytes, B::Error>>
where
    B: Body<Data = Bytes> + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await? {
            Ok(frame) => match frame.into_data() {
                Ok(data) => return Some(Ok(data)),
                Err(_trailers) => continue,
            },
            Err(err) => return Some(Err(err)),
        }
    }
}

/// `body` read whole, `None` when it failed or grew past `limit` bytes. A body that comes in
/// one frame (a small answer read with its head) is kept as it is, without a copy.
pub async fn read_whole<B>(mut body: B, limit: usize) -> Option<Bytes>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    let mut size: usize = 0;
    while let Some(chunk) = next_data(&mut body).await {
        let chunk = chunk.ok()?;
        size = size.saturating_add(chunk.len());
        if size > limit {
            return None;
        }
        match first.take() {
            None if more.is_empty() => first = Some(chunk),
            earlier => {
                more.extend_from_slice(&earlier.unwrap_or_default());
                more.extend_from_slice(&chunk);
            }
        }
    }
    Some(first.unwrap_or_else(|| more.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of these chunks, one frame each.
    fn chunks(parts: &[&'static str]) -> UpstreamBody {
        let parts: Vec<Result<Bytes, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        UpstreamBody::Stream(Box::pin(futures_util::stream::iter(parts)))
    }

    #[tokio::test]
    async fn a_body_is_read_whole_in_one_frame_or_many_within_the_limit() {
        let one = read_whole(UpstreamBody::Whole(Bytes::from_static(b"answer")), 6).await;
        assert_eq!(one.as_deref(), Some(&b"answer"[..]));
        let many = read_whole(chunks(&["an", "sw", "er"]), 6).await;
        assert_eq!(many.as_deref(), Some(&b"answer"[..]));
        assert_eq!(read_whole(chunks(&["an", "swer!"]), 6).await, None);
        assert_eq!(read_whole(chunks(&[]), 6).await.as_deref(), Some(&b""[..]));
    }

    #[tokio::test]
    async fn a_whole_body_is_sent_once_with_its_length() {
        let mut body = UpstreamBody::Whole(Bytes::from_static(b"{}"));
        assert_eq!(body.size_hint().exact(), Some(2));
        assert!(!body.is_end_stream());
        assert_eq!(next_data(&mut body).await.unwrap().unwrap(), "{}");
        assert!(body.is_end_stream());
        assert!(next_data(&mut body).await.is_none());
        let empty = UpstreamBody::Whole(Bytes::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
    }
}
