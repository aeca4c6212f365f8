//! A connection's write buffer: bytes and file regions, in order.
//!
//! Python: asyncio keeps a `deque` of `bytes` and sends with `sendmsg` over up to
//! `SC_IOV_MAX` of them; a file goes through `loop.sendfile()`, which first waits for that
//! buffer to empty. Here a file region is one more entry in the same queue, so an HTTP
//! server can queue "headers, file, next headers, next file" for pipelined requests and the
//! bytes leave in that order. A 1 GiB file costs a few words of memory here; its unsent part
//! still counts toward the water marks (`WriteQueue::unsent`), so a protocol is
//! paused behind it as it would be behind bytes.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::stream::Stream;
use super::transport::is_retry;
use crate::sys;

/// Buffers gathered into one `writev`. Python: `SC_IOV_MAX` (1024 on Linux); 64 is enough
/// to fill a socket buffer and keeps the array on the stack.
const MAX_IOV: usize = 64;

/// Small writes are appended to the last buffer while it stays under this size, so a
/// protocol that writes many small pieces while the socket is full does not queue one
/// allocation per piece.
const COALESCE: usize = 16 * 1024;

/// The most the `pread` fallback reads at once into the loop's file buffer.
const PREAD_STEP: usize = 64 * 1024;

#[derive(Debug)]
enum Chunk {
    /// Bytes to send; `sent` of them already went.
    Bytes { data: Vec<u8>, sent: usize },
    /// `len` bytes of `file` from `offset` still to send.
    File {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
}

/// The queue. Empty and unallocated while a connection is idle.
#[derive(Debug, Default)]
pub(crate) struct WriteQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes held in memory (unsent parts of `Bytes` chunks): `get_write_buffer_size()`.
    buffered: usize,
    /// Bytes of queued file regions not yet sent.
    file_bytes: u64,
}

impl WriteQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// Everything still to send: bytes in memory plus the rest of queued file regions. The
    /// water marks compare this.
    pub(crate) fn unsent(&self) -> u64 {
        self.buffered as u64 + self.file_bytes
    }

    pub(crate) fn clear(&mut self) {
        self.chunks = VecDeque::new();
        self.buffered = 0;
        self.file_bytes = 0;
    }

    pub(crate) fn push_bytes(&mut self, data: &[u8]) {
        self.buffered += data.len();
        if let Some(Chunk::Bytes { data: last, sent }) = self.chunks.back_mut() {
            if last.len() - *sent + data.len() <= COALESCE {
                last.extend_from_slice(data);
                return;
            }
        }
        self.chunks.push_back(Chunk::Bytes {
            data: data.to_vec(),
            sent: 0,
        });
    }

    pub(crate) fn push_file(&mut self, file: Arc<File>, offset: u64, len: u64) {
        self.file_bytes += len;
        self.chunks.push_back(Chunk::File { file, offset, len });
    }

    /// One system call's worth of sending from the front of the queue. `WouldBlock` is not
    /// an error (nothing was sent); any other error is the connection's end.
    /// `file_step` bounds what one `sendfile` moves ([`Config::file_step`](super::Config::file_step)).
    pub(crate) fn write_to(
        &mut self,
        stream: &mut Stream,
        file_buf: &mut Vec<u8>,
        file_step: usize,
    ) -> io::Result<()> {
        let result = match self.chunks.front_mut() {
            None => return Ok(()),
            Some(Chunk::File { file, offset, len }) => {
                match send_file(stream, file, offset, len, file_buf, file_step) {
                    Ok(sent) => {
                        self.file_bytes -= sent;
                        if *len == 0 {
                            self.pop_front();
                        }
                        Ok(())
                    }
                    Err(err) => Err(err),
                }
            }
            Some(Chunk::Bytes { .. }) => self.send_bytes(stream),
        };
        match result {
            Err(err) if !is_retry(&err) => Err(err),
            _ => Ok(()),
        }
    }

    /// A `writev` of the leading byte chunks, then drops what went.
    fn send_bytes(&mut self, stream: &mut Stream) -> io::Result<()> {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        for chunk in self.chunks.iter().take(MAX_IOV) {
            match chunk {
                Chunk::Bytes { data, sent } => {
                    slices[count] = IoSlice::new(&data[*sent..]);
                    count += 1;
                }
                Chunk::File { .. } => break,
            }
        }
        let mut written = if count == 1 {
            stream.write(&slices[0])?
        } else {
            stream.write_vectored(&slices[..count])?
        };
        self.buffered -= written;
        while written > 0 {
            let Some(Chunk::Bytes { data, sent }) = self.chunks.front_mut() else {
                unreachable!("writev wrote more than the byte chunks held");
            };
            let left = data.len() - *sent;
            if written < left {
                *sent += written;
                break;
            }
            written -= left;
            self.pop_front();
        }
        Ok(())
    }

    fn pop_front(&mut self) {
        self.chunks.pop_front();
        if self.chunks.is_empty() {
            // Give the deque's memory back: an idle connection holds no buffer.
            self.chunks = VecDeque::new();
        }
    }
}

/// Sends part of a file region at the front of the queue and pops it when it is done.
fn send_file(
    stream: &mut Stream,
    file: &File,
    offset: &mut u64,
    len: &mut u64,
    file_buf: &mut Vec<u8>,
    file_step: usize,
) -> io::Result<u64> {
    let step = usize::try_from(*len)
        .unwrap_or(usize::MAX)
        .min(file_step.max(1));
    let sent = match sys::sendfile(stream.as_raw_fd(), file.as_raw_fd(), *offset, step) {
        Ok(sent) => sent,
        // sendfile(2) cannot read every kind of file (EINVAL), and not every OS has it
        // (ENOSYS, or `sys::sendfile` returns Unsupported): read a chunk and write it.
        Err(err) if is_sendfile_unsupported(&err) => {
            pread_and_write(stream, file, *offset, step.min(PREAD_STEP), file_buf)?
        }
        Err(err) => return Err(err),
    };
    if sent == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file ended {len} bytes before the region queued with write_file"),
        ));
    }
    *offset += sent as u64;
    *len -= sent as u64;
    Ok(sent as u64)
}

fn is_sendfile_unsupported(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Unsupported
        || matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
}

/// The fallback: `pread` into the loop's file buffer and one `write`. Bytes the socket does
/// not take are simply read again next time, so nothing is held between events.
fn pread_and_write(
    stream: &mut Stream,
    file: &File,
    offset: u64,
    step: usize,
    file_buf: &mut Vec<u8>,
) -> io::Result<usize> {
    file_buf.resize(step, 0);
    let n = file.read_at(&mut file_buf[..step], offset)?;
    if n == 0 {
        return Ok(0);
    }
    stream.write(&file_buf[..n])
}
