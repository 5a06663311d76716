//! Reading an answer's body whole, under a cap, telling a body too large from one cut off.

use axum::body::Body;
use futures::StreamExt;

/// Why a body could not be buffered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unread {
    /// Over the limit.
    TooLarge,
    /// Cut off (the upstream failed or timed out partway).
    Broken,
}

/// Reads a whole body of at most `limit` bytes.
pub(crate) async fn buffer(body: Body, limit: usize) -> Result<bytes::Bytes, Unread> {
    let mut chunks = body.into_data_stream();
    let Some(first) = chunks.next().await else {
        return Ok(bytes::Bytes::new());
    };
    let first = first.map_err(|_| Unread::Broken)?;
    let mut whole: Option<bytes::BytesMut> = None;
    let mut len = first.len();
    if len > limit {
        return Err(Unread::TooLarge);
    }
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| Unread::Broken)?;
        len += chunk.len();
        if len > limit {
            return Err(Unread::TooLarge);
        }
        whole
            .get_or_insert_with(|| bytes::BytesMut::from(&first[..]))
            .extend_from_slice(&chunk);
    }
    // A one-chunk body (the usual answer) is passed on without a copy.
    Ok(whole.map_or(first, bytes::BytesMut::freeze))
}
