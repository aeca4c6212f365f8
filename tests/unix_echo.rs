//! `unix_echo`: echo over a Unix-domain socket, and the life of its socket file: a stale
//! file is removed, a live socket or a regular file is refused and left alone, and the
//! server's own file is removed when it stops, by `stop()` or by a real SIGTERM/SIGINT to
//! the example program.
//!
//! Every test works in a directory of its own under the system's temporary directory.

mod common;

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::ServerThread;
use mio_selectors::unix_echo::{self, UnixEchoServer};

const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A fresh directory, removed (with whatever is left in it) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mio-selectors-unix-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the test directory");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A server on a thread of this process (stopped when dropped).
#[track_caller]
fn start(path: &Path) -> ServerThread {
    let path = path.to_path_buf();
    let (server, ()) = ServerThread::spawn("unix echo", move |tx| {
        let mut server = UnixEchoServer::bind(&path)?;
        tx.send((server.stop_handle(), ())).unwrap();
        server.run()
    });
    server
}

/// Connects, sends `data`, shuts down the write side and reads the echo to the end.
#[track_caller]
fn echo(path: &Path, data: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let collector = thread::spawn(move || {
        let mut echoed = Vec::new();
        reader.read_to_end(&mut echoed).map(|_| echoed)
    });
    stream.write_all(data).expect("write");
    stream.shutdown(Shutdown::Write).unwrap();
    collector.join().unwrap().expect("read the echo")
}

/// A patterned payload, so that a lost or repeated chunk shows.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn echoes_every_byte_and_half_close_closes_after_the_echo() {
    common::init();
    let dir = TempDir::new("echo");
    let path = dir.path("echo.sock");
    let server = start(&path);
    assert_eq!(echo(&path, b"hello"), b"hello");
    // 8 MiB: far more than the socket buffers and the high-water mark hold, so reading
    // pauses and resumes on the way (backpressure) and every byte still comes back.
    let big = payload(8 << 20);
    assert!(echo(&path, &big) == big, "the 8 MiB echo differs");
    // A client that resets does not take the server down.
    let gone = UnixStream::connect(&path).unwrap();
    drop(gone);
    assert_eq!(echo(&path, b"still here"), b"still here");
    server.stop().expect("run");
    assert!(!path.exists(), "the socket file outlived the server");
}

#[test]
fn a_stale_socket_file_is_removed_and_the_path_served() {
    common::init();
    let dir = TempDir::new("stale");
    let path = dir.path("echo.sock");
    // A server that went away without removing its file: the file stays, nobody listens.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    assert_eq!(
        UnixStream::connect(&path).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    let server = start(&path);
    assert_eq!(echo(&path, b"after a crash"), b"after a crash");
    server.stop().expect("run");
    assert!(!path.exists());
}

#[test]
fn a_live_socket_is_refused_and_left_serving() {
    common::init();
    let dir = TempDir::new("live");
    let path = dir.path("echo.sock");
    let first = start(&path);
    let err = UnixEchoServer::bind(&path).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("listening"),
        "{message}"
    );
    // The first server still owns the path and answers.
    assert!(path.exists());
    assert_eq!(echo(&path, b"first"), b"first");
    // And the refused one removed nothing on its way out.
    assert_eq!(echo(&path, b"again"), b"again");
    first.stop().expect("run");
}

#[test]
fn a_regular_file_or_a_directory_is_refused_and_left_untouched() {
    common::init();
    let dir = TempDir::new("file");
    let file = dir.path("not-a-socket");
    fs::write(&file, b"precious").unwrap();
    let err = UnixEchoServer::bind(&file).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(fs::read(&file).unwrap(), b"precious");

    let sub = dir.path("a-directory");
    fs::create_dir(&sub).unwrap();
    let err = UnixEchoServer::bind(&sub).unwrap_err();
    assert!(sub.is_dir(), "{err}");
    assert!(
        err.to_string().contains(&sub.display().to_string()),
        "{err}"
    );
}

#[test]
fn the_socket_file_is_left_alone_if_someone_replaced_it() {
    common::init();
    let dir = TempDir::new("replaced");
    let path = dir.path("echo.sock");
    let server = start(&path);
    // Someone removes our file and puts another in its place: it is not ours to remove.
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"someone else's").unwrap();
    server.stop().expect("run");
    assert_eq!(fs::read(&path).unwrap(), b"someone else's");
}

// ---------------------------------------------------------------------------------------
// The example program, stopped by a signal
// ---------------------------------------------------------------------------------------

#[test]
fn the_example_removes_its_socket_file_on_sigterm_and_sigint() {
    common::init();
    let program = common::example("unix_echo");
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = TempDir::new("signal");
        let path = dir.path("echo.sock");
        // A stale file first, which the program must clear away.
        drop(UnixListener::bind(&path).unwrap());
        let mut child = Command::new(&program)
            .arg("--path")
            .arg(&path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unix_echo");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("[unix_echo] {line}");
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let _ = child.kill();
            panic!("unix_echo did not say it was listening");
        }
        assert_eq!(echo(&path, b"before the signal"), b"before the signal");
        // A client still connected when the signal comes.
        let _connected = UnixStream::connect(&path).unwrap();
        common::sys::kill(child.id(), signal).unwrap();
        let deadline = Instant::now() + common::LOADED;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "unix_echo still running {:?} after signal {signal}",
                    common::LOADED
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success(), "signal {signal}: exit status {status}");
        assert!(
            !path.exists(),
            "signal {signal}: the socket file is still there"
        );
    }
}

#[test]
fn bind_names_the_path_in_its_errors() {
    let dir = TempDir::new("errors");
    let missing = dir.path("no/such/dir/echo.sock");
    let err = unix_echo::bind(&missing).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}
