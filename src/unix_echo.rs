//! Port of `docs/python/echo_server.py` onto a Unix-domain stream socket
//! (`socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)`), on the protocol layer.
//!
//! Python binds with `bind(path)`, and the course advises `os.unlink(path)` first. A Unix
//! socket is named by a file, and the file outlives the server: after a crash it is still
//! there, and `bind` fails with "address already in use" although nobody listens.
//! Unlinking it blindly is how a second server silently steals a live one's path, or
//! deletes a file that was never a socket. So [`bind`] looks first:
//!
//! * nothing at the path: bind;
//! * a socket nobody answers on (connecting is refused): stale, removed, then bind;
//! * a socket a server answers on: an error that says so, and the file is left alone;
//! * anything else (a regular file, a directory): an error that says so, left alone.
//!
//! And the server removes its own socket file when it stops ([`SocketFile`]), but only if
//! the file at the path is still the one it created.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use log::{info, warn};

use crate::event_loop::{Context, EventLoop, LoopHandle, Lost, Protocol};
use crate::Stop;

/// The example's default path, in the current directory.
pub const DEFAULT_PATH: &str = "./mio-selectors-echo.sock";

/// The socket file a server created; removed when dropped, if it is still that file.
///
/// Python: the `os.unlink(path)` in a `finally:` block.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// Device and inode of the file `bind` created: another server's file at the same path
    /// (after ours was removed by hand) is not ours to remove.
    id: (u64, u64),
}

impl SocketFile {
    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now, if it is still ours; `Ok(false)` if it was gone or replaced.
    ///
    /// # Errors
    /// If it is ours but cannot be removed.
    pub fn remove(&mut self) -> io::Result<bool> {
        match fs::symlink_metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.id => {
                fs::remove_file(&self.path)?;
                self.id = (0, 0); // removed: never again
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self.id != (0, 0) {
            match self.remove() {
                Ok(true) => info!("removed {}", self.path.display()),
                Ok(false) => {}
                Err(err) => warn!("cannot remove {}: {err}", self.path.display()),
            }
        }
    }
}

/// Listens on the Unix socket `path`, removing a stale socket file first (see the module
/// docs).
///
/// # Errors
/// `AddrInUse` if a server is listening at `path`; `AlreadyExists` if something that is not
/// a socket is there; any error from binding. Each message names the path and what was
/// found.
///
/// # Examples
///
/// ```
/// use mio_selectors::unix_echo::bind;
///
/// # fn main() -> std::io::Result<()> {
/// let dir = std::env::temp_dir().join(format!("unix-echo-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("echo.sock");
/// let (listener, file) = bind(&path)?;
/// // A second server is refused while the first listens, and the file stays.
/// let err = bind(&path).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
/// assert!(path.exists());
/// drop((listener, file)); // the file goes with the server
/// assert!(!path.exists());
/// # std::fs::remove_dir(&dir)
/// # }
/// ```
pub fn bind(path: impl AsRef<Path>) -> io::Result<(UnixListener, SocketFile)> {
    let path = path.as_ref();
    let listener = match UnixListener::bind(path) {
        Ok(listener) => listener,
        Err(err) if err.kind() == io::ErrorKind::AddrInUse => {
            remove_if_stale(path)?;
            UnixListener::bind(path).map_err(|err| with_path(path, err))?
        }
        Err(err) => return Err(with_path(path, err)),
    };
    let meta = fs::symlink_metadata(path).map_err(|err| with_path(path, err))?;
    let file = SocketFile {
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
    };
    Ok((listener, file))
}

/// Something is at `path`: remove it if it is a socket nobody listens on, else say why not.
fn remove_if_stale(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|err| with_path(path, err))?;
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{}: exists and is not a socket; not removing it",
                path.display()
            ),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{}: another server is listening on this socket",
                path.display()
            ),
        )),
        // Nobody accepts on it: left behind by a server that is gone.
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            warn!("{}: removing a stale socket file", path.display());
            // Between the connect and here another server could bind it; the window is
            // tiny and the cost (removing its name) is what `unlink` first would do always.
            fs::remove_file(path).map_err(|err| with_path(path, err))
        }
        Err(err) => Err(with_path(path, err)),
    }
}

fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// Echo, with backpressure: stop reading a client while its echo waits above the
/// high-water mark. Half-close: what came before the end of input is echoed, then the
/// connection closes (the layer flushes first).
struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        let _ = ctx.write(data);
    }

    fn pause_writing(&mut self, ctx: &mut Context<'_>) {
        ctx.transport().pause_reading();
    }

    fn resume_writing(&mut self, ctx: &mut Context<'_>) {
        ctx.transport().resume_reading();
    }

    fn connection_lost(&mut self, ctx: &mut Context<'_>, reason: Lost) {
        info!("{}: {reason}", ctx.id());
    }
}

/// The Unix-socket echo server; its socket file is removed when it is dropped.
///
/// # Examples
///
/// ```
/// use mio_selectors::unix_echo::UnixEchoServer;
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// # fn main() -> std::io::Result<()> {
/// let dir = std::env::temp_dir().join(format!("unix-echo-server-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("echo.sock");
/// let (tx, rx) = std::sync::mpsc::channel();
/// let server_path = path.clone();
/// let thread = std::thread::spawn(move || -> std::io::Result<()> {
///     let mut server = UnixEchoServer::bind(&server_path)?;
///     tx.send(server.stop_handle()).unwrap();
///     server.run()
/// });
/// let stop = rx.recv().unwrap();
///
/// let mut client = UnixStream::connect(&path)?;
/// client.write_all(b"hello")?;
/// let mut echo = [0; 5];
/// client.read_exact(&mut echo)?;
/// assert_eq!(&echo, b"hello");
///
/// stop.stop();
/// thread.join().unwrap()?;
/// assert!(!path.exists()); // removed when the server stopped
/// # std::fs::remove_dir(&dir)
/// # }
/// ```
pub struct UnixEchoServer {
    lp: EventLoop,
    file: SocketFile,
}

impl UnixEchoServer {
    /// Binds `path` (see [`bind`]) and makes a server on it.
    ///
    /// # Errors
    /// As [`bind`], or if the loop cannot be created.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixEchoServer> {
        let (listener, file) = bind(path)?;
        UnixEchoServer::new(listener, file)
    }

    /// A server on a listener made by [`bind`].
    ///
    /// # Errors
    /// If the loop cannot be created or the listener registered.
    pub fn new(listener: UnixListener, file: SocketFile) -> io::Result<UnixEchoServer> {
        let mut lp = EventLoop::new(())?;
        lp.listen_unix(listener, || Echo)?;
        Ok(UnixEchoServer { lp, file })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// A handle that stops [`run`](Self::run) from any thread (or a signal handler).
    pub fn stop_handle(&self) -> Stop {
        self.lp.handle().stop_handle()
    }

    /// The loop's handle.
    pub fn handle(&self) -> LoopHandle<()> {
        self.lp.handle()
    }

    /// Serves until stopped, then removes the socket file (if it is still ours).
    ///
    /// # Errors
    /// If the selector fails, or the file cannot be removed.
    pub fn run(&mut self) -> io::Result<()> {
        let served = self.lp.run();
        let removed = self.file.remove();
        served?;
        if removed? {
            info!("removed {}", self.file.path().display());
        }
        Ok(())
    }
}

impl fmt::Debug for UnixEchoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixEchoServer")
            .field("path", &self.file.path)
            .finish_non_exhaustive()
    }
}
