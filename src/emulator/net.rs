//! The emulator's listener: plain TCP, except that a handler can reset the
//! connection it is answering on, so a client sees a connection dropped
//! without any HTTP answer (not even a status line).
//!
//! How: each accepted stream carries a shared "reset" flag, which the
//! handler reaches through axum's connect info. Once the flag is set, the
//! stream refuses every write: hyper gives up on the connection without
//! writing a byte of the response, and the socket is closed with
//! `SO_LINGER` 0, which sends a TCP RST.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections a handler can reset.
pub(crate) struct ResettableListener {
    inner: TcpListener,
}

impl ResettableListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for ResettableListener {
    type Io = ResettableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let stream = ResettableStream {
                        stream,
                        reset: ResetHandle::default(),
                    };
                    return (stream, peer);
                }
                // A client that gave up before we accepted: nothing to serve.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) => {}
                // Out of file descriptors, for instance: wait rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The switch that resets one connection; cloned into each request's
/// extensions through axum's connect info.
#[derive(Clone, Default, Debug)]
pub(crate) struct ResetHandle(Arc<AtomicBool>);

impl ResetHandle {
    /// Resets the connection instead of writing the answer being prepared.
    pub(crate) fn reset(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_reset(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, ResettableListener>> for ResetHandle {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        stream.io().reset.clone()
    }
}

/// An accepted TCP stream that fails every write once reset.
pub(crate) struct ResettableStream {
    stream: TcpStream,
    reset: ResetHandle,
}

impl ResettableStream {
    fn refuse(&self) -> io::Error {
        // Linger 0: closing the socket sends RST instead of FIN, and drops
        // anything still buffered.
        let _ = self.stream.set_zero_linger();
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset by fault injection",
        )
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.reset.is_reset() {
            return Poll::Ready(Err(self.refuse()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.reset.is_reset() {
            return Poll::Ready(Err(self.refuse()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.is_reset() {
            return Poll::Ready(Err(self.refuse()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.is_reset() {
            return Poll::Ready(Err(self.refuse()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
