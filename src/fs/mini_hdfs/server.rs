//! A loopback TCP server with one thread per connection, shared by the NameNode and the
//! DataNode. Blocking I/O keeps the servers simple and fast; `stop` closes the listener and
//! every open connection so no thread outlives the mini cluster for long.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub(crate) struct Server {
    addr: SocketAddr,
    stopped: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `127.0.0.1:port` (0 for an ephemeral port) and serves every connection with
    /// `handle` on its own thread.
    pub(crate) fn start<H>(name: &str, port: u16, handle: H) -> io::Result<Server>
    where
        H: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stopped = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let handle = Arc::new(handle);
        let acceptor = {
            let (stopped, connections) = (stopped.clone(), connections.clone());
            let thread_name = format!("{name}-{}", addr.port());
            std::thread::Builder::new()
                .name(thread_name.clone())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stopped.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let _ = stream.set_nodelay(true);
                        if let Ok(clone) = stream.try_clone() {
                            let mut open = connections.lock().unwrap_or_else(|p| p.into_inner());
                            // Forget connections that have closed since.
                            open.retain(|s| s.peer_addr().is_ok());
                            open.push(clone);
                        }
                        let handle = handle.clone();
                        let spawned = std::thread::Builder::new()
                            .name(format!("{thread_name}-conn"))
                            .spawn(move || handle(stream));
                        if let Err(e) = spawned {
                            tracing::warn!("{thread_name}: cannot start a connection thread: {e}");
                        }
                    }
                })?
        };
        Ok(Server {
            addr,
            stopped,
            connections,
            acceptor: Some(acceptor),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every open connection.
    pub(crate) fn stop(&mut self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the acceptor blocked in accept().
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let open = std::mem::take(&mut *self.connections.lock().unwrap_or_else(|p| p.into_inner()));
        for stream in open {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
