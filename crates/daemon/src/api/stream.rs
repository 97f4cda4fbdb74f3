//! Streamed response bodies: the headers go out at once, the body as the
//! work produces it (wait, logs --follow, and later pull progress and
//! events). A handler's blocking work writes into a [`Sink`]; when the client
//! goes away the sink's writes fail, and the work stops.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame};
use tokio::sync::mpsc;

use super::Body;

/// The writing end of a streamed body.
#[derive(Clone)]
pub struct Sink(mpsc::Sender<Event>);

impl Sink {
    /// Whether the client has gone.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Sends one chunk (one whole message: clients parse per write); an error
    /// when the client has gone.
    pub fn send(&self, chunk: impl Into<Bytes>) -> std::io::Result<()> {
        self.0
            .blocking_send(Event::Data(chunk.into()))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })
    }
}

/// A body and the sink that fills it, the headers sent at once.
pub fn channel() -> (Sink, Body) {
    let (tx, rx) = mpsc::channel(16);
    let body = EventBody {
        first: None,
        rx,
        failure: Failure::Abort,
    };
    (Sink(tx), body.boxed())
}

/// What a JSON-message stream's work produces.
enum Event {
    Data(Bytes),
    Failed(super::ApiError),
}

/// The writing end of a stream of docker's JSON messages (pull, push, load,
/// build): one whole message per write.
pub struct JsonSink(mpsc::Sender<Event>);

impl JsonSink {
    /// Sends one message; false when the client has gone.
    pub fn send(&self, message: &serde_json::Value) -> bool {
        let mut line = message.to_string();
        line.push_str("\r\n");
        self.0.blocking_send(Event::Data(Bytes::from(line))).is_ok()
    }
}

/// How a failure after the headers went out reaches the client.
#[derive(Clone, Copy)]
enum Failure {
    /// As docker's `errorDetail` message, in the stream (JSON messages).
    InBand,
    /// By ending the connection without HTTP's last chunk (archives), so a
    /// cut archive never looks complete.
    Abort,
}

/// The reading end of a streamed answer: the first chunk already taken
/// (it decided the status), then the rest.
struct EventBody {
    first: Option<Bytes>,
    rx: mpsc::Receiver<Event>,
    failure: Failure,
}

impl HttpBody for EventBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        let failure = self.failure;
        self.rx.poll_recv(cx).map(|e| {
            e.map(|e| match (e, failure) {
                (Event::Data(b), _) => Ok(Frame::data(b)),
                (Event::Failed(err), Failure::InBand) => {
                    let m = serde_json::json!({
                        "errorDetail": {"message": err.message},
                        "error": err.message,
                    });
                    Ok(Frame::data(Bytes::from(format!("{m}\r\n"))))
                }
                (Event::Failed(err), Failure::Abort) => Err(std::io::Error::other(err.message)),
            })
        })
    }
}

/// Waits for the work's first event: a failure is an ordinary error
/// answer; otherwise the answer streams from it on.
async fn answer(
    mut rx: mpsc::Receiver<Event>,
    failure: Failure,
    content_type: &'static str,
) -> Result<hyper::Response<Body>, super::ApiError> {
    let first = match rx.recv().await {
        Some(Event::Failed(e)) => return Err(e),
        Some(Event::Data(b)) => Some(b),
        None => None,
    };
    let mut r = hyper::Response::new(EventBody { first, rx, failure }.boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    Ok(r)
}

/// Runs `work` on a blocking thread and answers with the JSON messages it
/// sends. A failure before its first message is an ordinary error answer
/// (a 404 for an unknown image, as dockerd gives), after it an
/// `errorDetail` message in the stream.
pub async fn json_messages(
    work: impl FnOnce(&JsonSink) -> Result<(), super::ApiError> + Send + 'static,
) -> Result<hyper::Response<Body>, super::ApiError> {
    let (tx, rx) = mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        let sink = JsonSink(tx);
        if let Err(e) = work(&sink) {
            let _ = sink.0.blocking_send(Event::Failed(e));
        }
    });
    answer(rx, Failure::InBand, "application/json").await
}

/// The writing end of a byte stream (an archive) as `std::io::Write`, in
/// chunks of 64 KiB.
pub struct ByteSink {
    tx: mpsc::Sender<Event>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 << 10;

impl ByteSink {
    fn push(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Event::Data(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl std::io::Write for ByteSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.push()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.push()
    }
}

/// Runs `work` on a blocking thread and answers with the bytes it writes
/// (an archive), typed `content_type`. A failure before the first chunk is
/// an ordinary error answer; after it, the response is cut.
pub async fn bytes(
    content_type: &'static str,
    work: impl FnOnce(&mut ByteSink) -> Result<(), super::ApiError> + Send + 'static,
) -> Result<hyper::Response<Body>, super::ApiError> {
    let (tx, rx) = mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let mut sink = ByteSink {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let done = work(&mut sink).and_then(|()| {
            sink.push()
                .map_err(|e| super::ApiError::internal(e.to_string()))
        });
        if let Err(e) = done {
            let _ = tx.blocking_send(Event::Failed(e));
        }
    });
    answer(rx, Failure::Abort, content_type).await
}

/// A request body as `std::io::Read`, for the engine's blocking readers
/// (load, archive upload); at most `limit` bytes.
pub struct BodyReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl BodyReader {
    /// Starts pumping `body` into the reader.
    pub fn new(body: hyper::body::Incoming) -> BodyReader {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut body = body;
            while let Some(frame) = body.frame().await {
                let item = frame
                    .map_err(std::io::Error::other)
                    .map(|f| f.into_data().unwrap_or_default());
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        BodyReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl std::io::Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
