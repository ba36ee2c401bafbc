//! A mini HDFS for tests (and for trying `hdfs://` by hand): one NameNode and one DataNode on
//! 127.0.0.1 that speak Hadoop's real wire protocols to the unmodified `hdfs-native` client.
//!
//! - `namenode`: ClientNamenodeProtocol over Hadoop RPC ([`crate::hadoop::ipc`]'s server with
//!   SIMPLE authentication, as on a cluster without Kerberos) — getFileInfo,
//!   getListing, getBlockLocations, getServerDefaults, create, addBlock, complete, fsync,
//!   mkdirs, rename2, delete, renewLease — with Hadoop's exception classes and messages.
//! - `datanode`: DataTransferProtocol WRITE_BLOCK (packets with CRC32C chunk checksums,
//!   pipeline acks, hsync) and READ_BLOCK (finalized replicas and, up to the acknowledged
//!   length, replicas still being written).
//! - Everything persists under one directory, so a restart on the same directory keeps files.
//!
//! Not there (a call gets Hadoop's `RpcNoSuchMethodException` or an explicit refusal): append,
//! lease expiry and recovery, more than one DataNode (so no pipeline forwarding or recovery),
//! block access tokens and SASL on data transfer (a Kerberos cluster's features), erasure
//! coding, snapshots, quotas, ACLs and permission checks.
//!
//! The NameNode and the DataNode live in one process and talk to each other by method calls
//! where real ones use DatanodeProtocol (registration, block received, invalidation).
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let hdfs = strato::fs::mini_hdfs::MiniHdfs::start(dir.path(), Default::default())?;
//! let uri = hdfs.uri(); // "hdfs://127.0.0.1:<port>"
//! # Ok(()) }
//! ```

mod datanode;
mod namenode;
mod proto;
mod server;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use namenode::NameNodeConfig;

use crate::hadoop::ipc::{AuthConfig, RpcServer};
use datanode::DataNode;
use namenode::{ClientProtocolService, NameNode};
use server::Server;

/// Where and how to start the mini HDFS.
#[derive(Clone, Debug, Default)]
pub struct MiniHdfsConfig {
    /// NameNode RPC port; 0 picks a free one.
    pub namenode_port: u16,
    /// DataNode transfer port; 0 picks a free one.
    pub datanode_port: u16,
    /// Block size, replication and limits of the NameNode.
    pub namenode: NameNodeConfig,
}

/// A running mini HDFS. Dropping it stops both servers and closes their connections; the
/// data stays in the directory.
pub struct MiniHdfs {
    dir: PathBuf,
    namenode_addr: SocketAddr,
    /// The NameNode's RPC server and the runtime it runs on (None once stopped).
    namenode_server: Option<(RpcServer, tokio::runtime::Runtime)>,
    datanode_server: Server,
}

impl MiniHdfs {
    /// Starts a NameNode and a DataNode on 127.0.0.1 persisting under `dir`.
    pub fn start(dir: &Path, config: MiniHdfsConfig) -> io::Result<MiniHdfs> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("mini HDFS in {}: {what}: {e}", dir.display()),
            )
        };
        let namenode = Arc::new(
            NameNode::open(dir, config.namenode).map_err(|e| context("NameNode storage", e))?,
        );
        let datanode = Arc::new(
            DataNode::open(dir, &namenode.block_pool_id())
                .map_err(|e| context("DataNode storage", e))?,
        );
        let datanode_server = {
            let datanode = datanode.clone();
            Server::start("mini-datanode", config.datanode_port, move |stream| {
                datanode.serve_connection(stream)
            })
            .map_err(|e| context("DataNode port", e))?
        };
        datanode.set_addr(datanode_server.addr());
        namenode.register_datanode(datanode);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mini-namenode")
            .enable_all()
            .build()
            .map_err(|e| context("NameNode runtime", e))?;
        let service = Arc::new(ClientProtocolService(namenode));
        let addr = SocketAddr::from(([127, 0, 0, 1], config.namenode_port));
        let handle = runtime.handle().clone();
        // Started from a plain thread so that callers inside an async runtime can start it too.
        let rpc_server = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    handle.block_on(RpcServer::start(addr, AuthConfig::simple_only(), service))
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the NameNode start panicked")))
        })
        .map_err(|e| context("NameNode port", e))?;
        Ok(MiniHdfs {
            dir: dir.to_path_buf(),
            namenode_addr: rpc_server.local_addr(),
            namenode_server: Some((rpc_server, runtime)),
            datanode_server,
        })
    }

    /// The file system URI clients use: `hdfs://127.0.0.1:<namenode port>`.
    pub fn uri(&self) -> String {
        format!("hdfs://{}", self.namenode_addr())
    }

    /// The NameNode's RPC address.
    pub fn namenode_addr(&self) -> SocketAddr {
        self.namenode_addr
    }

    /// The DataNode's data transfer address.
    pub fn datanode_addr(&self) -> SocketAddr {
        self.datanode_server.addr()
    }

    /// The directory holding the namespace image and the block files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops both servers and closes their connections (also done on drop).
    pub fn stop(&mut self) {
        if let Some((server, runtime)) = self.namenode_server.take() {
            drop(server);
            // Ends the connection tasks too; allowed even from inside another runtime.
            runtime.shutdown_background();
        }
        self.datanode_server.stop();
    }
}

impl Drop for MiniHdfs {
    fn drop(&mut self) {
        self.stop();
    }
}
