//! The mini NameNode: the namespace (directories, files, their blocks and leases) and the
//! ClientNamenodeProtocol calls `hdfs-native` makes, with the checks, exception classes and
//! messages of Hadoop's `FSNamesystem` / `FSDir*Op` for the same situations.
//!
//! The namespace is kept in memory and saved to `<dir>/name/fsimage.json` after every change
//! (write to a temporary file, then rename), so a restarted mini HDFS finds its files again.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use bytes::Bytes;
use prost::Message;

use super::datanode::DataNode;
use super::proto::*;
use crate::hadoop::ipc::server::unknown_method;
use crate::hadoop::ipc::{BoxFuture, Caller, RpcException, RpcService};

pub(crate) const CLIENT_PROTOCOL: &str = "org.apache.hadoop.hdfs.protocol.ClientProtocol";

const FILE_NOT_FOUND: &str = "java.io.FileNotFoundException";
const FILE_ALREADY_EXISTS: &str = "org.apache.hadoop.fs.FileAlreadyExistsException";
const PARENT_NOT_DIRECTORY: &str = "org.apache.hadoop.fs.ParentNotDirectoryException";
const PATH_IS_NOT_EMPTY_DIRECTORY: &str = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException";
const INVALID_PATH: &str = "org.apache.hadoop.fs.InvalidPathException";
const LEASE_EXPIRED: &str = "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException";
const IO_EXCEPTION: &str = "java.io.IOException";
const UNSUPPORTED: &str = "java.lang.UnsupportedOperationException";

/// `dfs.ls.limit`: entries per getListing page.
const LISTING_LIMIT: usize = 1000;
/// `dfs.bytes-per-checksum`.
pub(crate) const BYTES_PER_CHECKSUM: u32 = 512;
/// `dfs.client-write-packet-size`.
const WRITE_PACKET_SIZE: u32 = 64 * 1024;
/// `GenerationStamp.LAST_RESERVED_STAMP`: every new block takes the next stamp after it.
const LAST_RESERVED_GENERATION_STAMP: u64 = 1000;
/// First block id of a fresh namespace (`SequentialBlockIdGenerator.LAST_RESERVED_BLOCK_ID + 1`).
const FIRST_BLOCK_ID: u64 = 1_073_741_825;
/// First inode id after the root (`INodeId.ROOT_INODE_ID` is 16385).
const ROOT_INODE_ID: u64 = 16385;

/// Settings of the mini NameNode.
#[derive(Clone, Debug)]
pub struct NameNodeConfig {
    /// `dfs.blocksize`, the default block size.
    pub block_size: u64,
    /// `dfs.namenode.fs-limits.min-block-size`; Hadoop's default is 1 MiB.
    pub min_block_size: u64,
    /// `dfs.replication`; one DataNode, so 1.
    pub replication: u32,
}

impl Default for NameNodeConfig {
    fn default() -> Self {
        NameNodeConfig {
            block_size: 128 * 1024 * 1024,
            min_block_size: 1024 * 1024,
            replication: 1,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Block {
    id: u64,
    generation_stamp: u64,
    num_bytes: u64,
    /// Committed by the client (addBlock's `previous` or complete's `last`).
    committed: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum InodeKind {
    Directory,
    File {
        blocks: Vec<Block>,
        replication: u32,
        block_size: u64,
        /// The client holding the write lease while the file is under construction.
        lease_holder: Option<String>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Inode {
    id: u64,
    kind: InodeKind,
    modification_time: u64,
    access_time: u64,
    permission: u32,
    owner: String,
    group: String,
}

impl Inode {
    fn is_dir(&self) -> bool {
        matches!(self.kind, InodeKind::Directory)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Namespace {
    block_pool_id: String,
    inodes: BTreeMap<String, Inode>,
    next_inode_id: u64,
    next_block_id: u64,
    /// The last generation stamp handed out.
    generation_stamp: u64,
}

/// The NameNode's state and its ClientProtocol implementation.
pub(crate) struct NameNode {
    config: NameNodeConfig,
    image: PathBuf,
    namespace: Mutex<Namespace>,
    datanode: OnceLock<Arc<DataNode>>,
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn child_prefix(dir: &str) -> String {
    if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    }
}

/// Validates and normalises a client path like `DFSUtil.isValidName`: absolute, no `.`/`..`
/// components, no `:`, no empty components except a trailing slash.
fn normalise(src: &str) -> Result<String, RpcException> {
    let invalid = || RpcException::new(INVALID_PATH, format!("Invalid path name {src}"));
    if !src.starts_with('/') {
        return Err(invalid());
    }
    let trimmed = if src.len() > 1 {
        src.trim_end_matches('/')
    } else {
        src
    };
    if trimmed.len() > 1 {
        for component in trimmed[1..].split('/') {
            if component.is_empty()
                || component == "."
                || component == ".."
                || component.contains(':')
            {
                return Err(invalid());
            }
        }
    }
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

impl NameNode {
    /// Loads the namespace from `<dir>/name/fsimage.json` or formats a new one.
    pub(crate) fn open(dir: &std::path::Path, config: NameNodeConfig) -> io::Result<NameNode> {
        let name_dir = dir.join("name");
        std::fs::create_dir_all(&name_dir)?;
        let image = name_dir.join("fsimage.json");
        let namespace = match std::fs::read(&image) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a mini HDFS image: {e}", image.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let now = now_millis();
                let mut inodes = BTreeMap::new();
                inodes.insert(
                    "/".to_string(),
                    Inode {
                        id: ROOT_INODE_ID,
                        kind: InodeKind::Directory,
                        modification_time: now,
                        access_time: 0,
                        permission: 0o755,
                        owner: whoami(),
                        group: "supergroup".to_string(),
                    },
                );
                Namespace {
                    block_pool_id: format!(
                        "BP-{}-127.0.0.1-{now}",
                        rand::random::<u32>() & 0x7fff_ffff
                    ),
                    inodes,
                    next_inode_id: ROOT_INODE_ID + 1,
                    next_block_id: FIRST_BLOCK_ID,
                    generation_stamp: LAST_RESERVED_GENERATION_STAMP,
                }
            }
            Err(e) => return Err(e),
        };
        let namenode = NameNode {
            config,
            image,
            namespace: Mutex::new(namespace),
            datanode: OnceLock::new(),
        };
        namenode.save(&namenode.lock())?;
        Ok(namenode)
    }

    pub(crate) fn block_pool_id(&self) -> String {
        self.lock().block_pool_id.clone()
    }

    /// Connects the DataNode (the in-process stand-in for DataNode registration).
    pub(crate) fn register_datanode(&self, datanode: Arc<DataNode>) {
        let _ = self.datanode.set(datanode);
    }

    fn lock(&self) -> MutexGuard<'_, Namespace> {
        self.namespace.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, ns: &Namespace) -> io::Result<()> {
        let tmp = self.image.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(ns).map_err(io::Error::other)?)?;
        std::fs::rename(&tmp, &self.image)
    }

    fn persist(&self, ns: &Namespace) -> Result<(), RpcException> {
        self.save(ns).map_err(|e| {
            RpcException::new(
                IO_EXCEPTION,
                format!("cannot save the namespace to {}: {e}", self.image.display()),
            )
        })
    }

    fn datanode_info(&self) -> Result<(DatanodeInfoProto, String), RpcException> {
        let datanode = self.datanode.get().ok_or_else(|| {
            RpcException::new(
                IO_EXCEPTION,
                "File could only be written to 0 of the 1 minReplication nodes. There are 0 \
                 datanode(s) running and 0 node(s) are excluded in this operation.",
            )
        })?;
        Ok((datanode.info(), datanode.storage_id()))
    }

    /// The status of the inode at `path`, named `name` (empty for getFileInfo, the local name
    /// in listings).
    fn status(
        &self,
        ns: &Namespace,
        path: &str,
        name: &[u8],
        inode: &Inode,
    ) -> HdfsFileStatusProto {
        let (file_type, length, replication, block_size, children) = match &inode.kind {
            InodeKind::Directory => (FILE_TYPE_DIR, 0, 0, 0, children_of(ns, path).count() as i32),
            InodeKind::File {
                blocks,
                replication,
                block_size,
                ..
            } => (
                FILE_TYPE_FILE,
                blocks.iter().map(|b| b.num_bytes).sum(),
                *replication,
                *block_size,
                0,
            ),
        };
        HdfsFileStatusProto {
            file_type,
            path: name.to_vec(),
            length,
            permission: FsPermissionProto {
                perm: inode.permission,
            },
            owner: inode.owner.clone(),
            group: inode.group.clone(),
            modification_time: inode.modification_time,
            access_time: inode.access_time,
            block_replication: Some(replication),
            blocksize: Some(block_size),
            locations: None,
            file_id: Some(inode.id),
            children_num: Some(children),
            storage_policy: Some(0),
            flags: Some(0),
        }
    }

    fn located_block(
        &self,
        ns: &Namespace,
        block: &Block,
        offset: u64,
    ) -> Result<LocatedBlockProto, RpcException> {
        let (info, storage_id) = self.datanode_info()?;
        Ok(LocatedBlockProto {
            b: ExtendedBlockProto {
                pool_id: ns.block_pool_id.clone(),
                block_id: block.id,
                generation_stamp: block.generation_stamp,
                num_bytes: Some(block.num_bytes),
            },
            offset,
            locs: vec![info],
            corrupt: false,
            // No block access tokens: dfs.block.access.token.enable is false without security.
            block_token: TokenProto {
                identifier: Vec::new(),
                password: Vec::new(),
                kind: String::new(),
                service: String::new(),
            },
            is_cached: vec![false],
            storage_types: vec![STORAGE_TYPE_DISK],
            storage_ids: vec![storage_id],
        })
    }

    // ---- ClientProtocol calls ----

    fn get_file_info(&self, req: GetFileInfoRequestProto) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let ns = self.lock();
        let fs = ns
            .inodes
            .get(&src)
            .map(|inode| self.status(&ns, &src, &[], inode));
        Ok(encode(&GetFileInfoResponseProto { fs }))
    }

    fn get_listing(&self, req: GetListingRequestProto) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let ns = self.lock();
        let Some(inode) = ns.inodes.get(&src) else {
            return Ok(encode(&GetListingResponseProto { dir_list: None }));
        };
        if !inode.is_dir() {
            let listing = DirectoryListingProto {
                partial_listing: vec![self.status(&ns, &src, &[], inode)],
                remaining_entries: 0,
            };
            return Ok(encode(&GetListingResponseProto {
                dir_list: Some(listing),
            }));
        }
        let after = String::from_utf8_lossy(&req.start_after).to_string();
        let mut entries: Vec<(String, &Inode)> = children_of(&ns, &src)
            .filter(|(name, _)| after.is_empty() || *name > after.as_str())
            .map(|(name, inode)| (name.to_string(), inode))
            .collect();
        let remaining = entries.len().saturating_sub(LISTING_LIMIT) as u32;
        entries.truncate(LISTING_LIMIT);
        let partial_listing = entries
            .iter()
            .map(|(name, inode)| {
                let path = format!("{}{name}", child_prefix(&src));
                self.status(&ns, &path, name.as_bytes(), inode)
            })
            .collect();
        Ok(encode(&GetListingResponseProto {
            dir_list: Some(DirectoryListingProto {
                partial_listing,
                remaining_entries: remaining,
            }),
        }))
    }

    fn get_block_locations(
        &self,
        req: GetBlockLocationsRequestProto,
    ) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let ns = self.lock();
        let not_found = || RpcException::new(FILE_NOT_FOUND, format!("File does not exist: {src}"));
        let inode = ns.inodes.get(&src).ok_or_else(not_found)?;
        let InodeKind::File {
            blocks,
            lease_holder,
            ..
        } = &inode.kind
        else {
            return fail(FILE_NOT_FOUND, format!("Path is not a file: {src}"));
        };
        let end = req.offset.saturating_add(req.length);
        let mut located = Vec::new();
        let mut offset = 0u64;
        for block in blocks {
            let block_end = offset + block.num_bytes;
            if block_end > req.offset && offset < end
                || (block.num_bytes == 0 && offset >= req.offset && offset < end)
            {
                located.push(self.located_block(&ns, block, offset)?);
            }
            offset = block_end;
        }
        let under_construction = lease_holder.is_some();
        let last_block = match blocks.last() {
            Some(last) => Some(self.located_block(&ns, last, offset - last.num_bytes)?),
            None => None,
        };
        Ok(encode(&GetBlockLocationsResponseProto {
            locations: Some(LocatedBlocksProto {
                file_length: offset,
                blocks: located,
                under_construction,
                last_block,
                is_last_block_complete: !under_construction,
            }),
        }))
    }

    fn get_server_defaults(&self) -> Result<Vec<u8>, RpcException> {
        Ok(encode(&GetServerDefaultsResponseProto {
            server_defaults: FsServerDefaultsProto {
                block_size: self.config.block_size,
                bytes_per_checksum: BYTES_PER_CHECKSUM,
                write_packet_size: WRITE_PACKET_SIZE,
                replication: self.config.replication,
                file_buffer_size: 4096,
                encrypt_data_transfer: Some(false),
                trash_interval: Some(0),
                checksum_type: Some(CHECKSUM_CRC32C),
            },
        }))
    }

    /// Checks that `path`'s parent exists and is a directory, creating missing ancestors
    /// when `create_parent` (Hadoop's `verifyParentDir` / `createAncestorDirectories`).
    fn ensure_parent(
        &self,
        ns: &mut Namespace,
        path: &str,
        create_parent: bool,
        caller: &Caller,
    ) -> Result<(), RpcException> {
        let parent = parent_of(path);
        // The nearest existing ancestor must be a directory.
        let mut ancestor = parent;
        let mut missing = Vec::new();
        loop {
            match ns.inodes.get(ancestor) {
                Some(inode) if inode.is_dir() => break,
                Some(_) => {
                    return fail(
                        PARENT_NOT_DIRECTORY,
                        format!("Parent path is not a directory: {ancestor}"),
                    )
                }
                None => {
                    missing.push(ancestor.to_string());
                    ancestor = parent_of(ancestor);
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if !create_parent {
            return fail(
                FILE_NOT_FOUND,
                format!("Parent directory doesn't exist: {parent}"),
            );
        }
        for dir in missing.into_iter().rev() {
            let inode = new_inode(ns, InodeKind::Directory, 0o755, caller);
            ns.inodes.insert(dir, inode);
        }
        Ok(())
    }

    fn create(&self, req: CreateRequestProto, caller: &Caller) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        if req.create_flag & CREATE_FLAG_APPEND != 0 {
            return fail(
                UNSUPPORTED,
                format!("append to {src} is not supported by the mini HDFS"),
            );
        }
        if req.block_size < self.config.min_block_size {
            return fail(
                IO_EXCEPTION,
                format!(
                    "Specified block size is less than configured minimum value \
                     (dfs.namenode.fs-limits.min-block-size): {} < {}",
                    req.block_size, self.config.min_block_size
                ),
            );
        }
        let mut ns = self.lock();
        let overwrite = req.create_flag & CREATE_FLAG_OVERWRITE != 0;
        let mut removed = Vec::new();
        match ns.inodes.get(&src) {
            Some(inode) if inode.is_dir() => {
                return fail(
                    FILE_ALREADY_EXISTS,
                    format!("{src} already exists as a directory"),
                )
            }
            Some(_) if !overwrite => {
                return fail(
                    FILE_ALREADY_EXISTS,
                    format!("{src} for client {} already exists", caller.remote.ip()),
                )
            }
            Some(_) => removed = remove_tree(&mut ns, &src),
            None => {
                if req.create_flag & CREATE_FLAG_CREATE == 0 {
                    return fail(
                        FILE_NOT_FOUND,
                        format!("Can't overwrite non-existent {src}"),
                    );
                }
            }
        }
        self.ensure_parent(&mut ns, &src, req.create_parent, caller)?;
        let inode = new_inode(
            &mut ns,
            InodeKind::File {
                blocks: Vec::new(),
                replication: req.replication.max(1),
                block_size: req.block_size,
                lease_holder: Some(req.client_name.clone()),
            },
            req.masked.perm,
            caller,
        );
        let status = self.status(&ns, &src, &[], &inode);
        ns.inodes.insert(src, inode);
        self.persist(&ns)?;
        drop(ns);
        self.invalidate(removed);
        Ok(encode(&CreateResponseProto { fs: Some(status) }))
    }

    /// Finds the file under construction for addBlock/complete/fsync: by inode id when the
    /// client sends one (the file may have been renamed since), else by path; the caller must
    /// hold its lease.
    fn file_under_construction<'a>(
        ns: &'a mut Namespace,
        src: &str,
        file_id: Option<u64>,
        client: &str,
    ) -> Result<(String, &'a mut Inode), RpcException> {
        let path = match file_id.filter(|id| *id != 0) {
            Some(id) => ns
                .inodes
                .iter()
                .find(|(_, inode)| inode.id == id)
                .map(|(path, _)| path.clone()),
            None => ns.inodes.contains_key(src).then(|| src.to_string()),
        };
        let no_lease = |detail: &str| {
            RpcException::new(
                LEASE_EXPIRED,
                format!(
                    "No lease on {src}: {detail} [Lease.  Holder: {client}, pending creates: 0]"
                ),
            )
        };
        let Some(path) = path else {
            return fail(
                FILE_NOT_FOUND,
                format!(
                    "File does not exist: {src} (inode {})",
                    file_id.unwrap_or(0)
                ),
            );
        };
        let Some(inode) = ns.inodes.get_mut(&path) else {
            return Err(no_lease("File does not exist."));
        };
        match &inode.kind {
            InodeKind::File {
                lease_holder: Some(holder),
                ..
            } if holder == client => Ok((path, inode)),
            InodeKind::File {
                lease_holder: Some(holder),
                ..
            } => fail(
                LEASE_EXPIRED,
                format!("Client (={client}) is not the lease owner (={holder}): {src}"),
            ),
            InodeKind::File { .. } => Err(no_lease("File is not open for writing.")),
            InodeKind::Directory => fail(FILE_NOT_FOUND, format!("Path is not a file: {src}")),
        }
    }

    fn add_block(&self, req: AddBlockRequestProto) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let mut ns = self.lock();
        // Like FSNamesystem.createNewBlock: the next block id and the next generation stamp.
        let block_id = ns.next_block_id;
        let generation_stamp = ns.generation_stamp + 1;
        let (_, inode) =
            Self::file_under_construction(&mut ns, &src, req.file_id, &req.client_name)?;
        let InodeKind::File { blocks, .. } = &mut inode.kind else {
            unreachable!("file_under_construction returns files")
        };
        commit_last_block(blocks, req.previous.as_ref(), &src)?;
        let offset = blocks.iter().map(|b| b.num_bytes).sum();
        let block = Block {
            id: block_id,
            generation_stamp,
            num_bytes: 0,
            committed: false,
        };
        blocks.push(block.clone());
        ns.next_block_id += 1;
        ns.generation_stamp = generation_stamp;
        let located = self.located_block(&ns, &block, offset)?;
        self.persist(&ns)?;
        Ok(encode(&AddBlockResponseProto { block: located }))
    }

    fn complete(&self, req: CompleteRequestProto) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let mut ns = self.lock();
        let datanode = self.datanode.get().cloned();
        let (_, inode) =
            Self::file_under_construction(&mut ns, &src, req.file_id, &req.client_name)?;
        let InodeKind::File {
            blocks,
            lease_holder,
            ..
        } = &mut inode.kind
        else {
            unreachable!("file_under_construction returns files")
        };
        commit_last_block(blocks, req.last.as_ref(), &src)?;
        // Like checkFileProgress: every block must have reached minReplication (1) on a
        // DataNode with the committed length; otherwise the client retries complete.
        let replicated = blocks.iter().all(|b| {
            datanode
                .as_ref()
                .and_then(|dn| dn.finalized_length(b.id, b.generation_stamp))
                == Some(b.num_bytes)
        });
        if !replicated {
            return Ok(encode(&CompleteResponseProto { result: false }));
        }
        *lease_holder = None;
        inode.modification_time = now_millis();
        self.persist(&ns)?;
        Ok(encode(&CompleteResponseProto { result: true }))
    }

    fn fsync(&self, req: FsyncRequestProto) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let mut ns = self.lock();
        let (_, inode) = Self::file_under_construction(&mut ns, &src, req.file_id, &req.client)?;
        if let (InodeKind::File { blocks, .. }, Some(len)) =
            (&mut inode.kind, req.last_block_length)
        {
            if let Some(last) = blocks.last_mut() {
                last.num_bytes = last.num_bytes.max(len.max(0) as u64);
            }
        }
        self.persist(&ns)?;
        Ok(encode(&FsyncResponseProto {}))
    }

    fn mkdirs(&self, req: MkdirsRequestProto, caller: &Caller) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let mut ns = self.lock();
        match ns.inodes.get(&src) {
            Some(inode) if inode.is_dir() => {
                return Ok(encode(&MkdirsResponseProto { result: true }))
            }
            Some(_) => {
                return fail(
                    FILE_ALREADY_EXISTS,
                    format!("Path is not a directory: {src}"),
                )
            }
            None => {}
        }
        self.ensure_parent(&mut ns, &src, req.create_parent, caller)?;
        let inode = new_inode(&mut ns, InodeKind::Directory, req.masked.perm, caller);
        ns.inodes.insert(src, inode);
        self.persist(&ns)?;
        Ok(encode(&MkdirsResponseProto { result: true }))
    }

    fn rename2(&self, req: Rename2RequestProto) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let dst = normalise(&req.dst)?;
        let mut ns = self.lock();
        let Some(src_inode) = ns.inodes.get(&src) else {
            return fail(FILE_NOT_FOUND, format!("rename source {src} is not found."));
        };
        if src == "/" {
            return fail(IO_EXCEPTION, "rename source cannot be the root");
        }
        if dst == src {
            return fail(
                FILE_ALREADY_EXISTS,
                format!("The source {src} and destination {dst} are the same"),
            );
        }
        if dst.starts_with(&child_prefix(&src)) {
            return fail(
                IO_EXCEPTION,
                format!("Rename destination {dst} is a directory or file under source {src}"),
            );
        }
        if dst == "/" {
            return fail(IO_EXCEPTION, "rename destination cannot be the root");
        }
        let src_is_dir = src_inode.is_dir();
        let mut removed = Vec::new();
        if let Some(dst_inode) = ns.inodes.get(&dst) {
            if dst_inode.is_dir() != src_is_dir {
                return fail(
                    IO_EXCEPTION,
                    format!("Source {src} and destination {dst} must both be directories"),
                );
            }
            if !req.overwrite_dest {
                return fail(
                    FILE_ALREADY_EXISTS,
                    format!("rename destination {dst} already exists"),
                );
            }
            if dst_inode.is_dir() && children_of(&ns, &dst).next().is_some() {
                return fail(
                    IO_EXCEPTION,
                    format!("rename destination directory is not empty: {dst}"),
                );
            }
        }
        match ns.inodes.get(parent_of(&dst)) {
            None => {
                return fail(
                    FILE_NOT_FOUND,
                    format!("rename destination parent {dst} not found."),
                )
            }
            Some(parent) if !parent.is_dir() => {
                return fail(
                    PARENT_NOT_DIRECTORY,
                    format!("rename destination parent {dst} is a file."),
                )
            }
            Some(_) => {}
        }
        if ns.inodes.contains_key(&dst) {
            removed = remove_tree(&mut ns, &dst);
        }
        // Move the inode and, for a directory, everything under it.
        for old in subtree(&ns, &src) {
            if let Some(inode) = ns.inodes.remove(&old) {
                let new = format!("{dst}{}", &old[src.len()..]);
                ns.inodes.insert(new, inode);
            }
        }
        let now = now_millis();
        for dir in [parent_of(&src).to_string(), parent_of(&dst).to_string()] {
            if let Some(parent) = ns.inodes.get_mut(&dir) {
                parent.modification_time = now;
            }
        }
        self.persist(&ns)?;
        drop(ns);
        self.invalidate(removed);
        Ok(encode(&Rename2ResponseProto {}))
    }

    fn delete(&self, req: DeleteRequestProto) -> Result<Vec<u8>, RpcException> {
        let src = normalise(&req.src)?;
        let mut ns = self.lock();
        let Some(inode) = ns.inodes.get(&src) else {
            return Ok(encode(&DeleteResponseProto { result: false }));
        };
        if inode.is_dir() && !req.recursive && children_of(&ns, &src).next().is_some() {
            return fail(
                PATH_IS_NOT_EMPTY_DIRECTORY,
                format!("`{src} is non empty': Directory is not empty"),
            );
        }
        if src == "/" {
            // Hadoop refuses to delete the root and reports false.
            return Ok(encode(&DeleteResponseProto { result: false }));
        }
        let removed = remove_tree(&mut ns, &src);
        if let Some(parent) = ns.inodes.get_mut(parent_of(&src)) {
            parent.modification_time = now_millis();
        }
        self.persist(&ns)?;
        drop(ns);
        self.invalidate(removed);
        Ok(encode(&DeleteResponseProto { result: true }))
    }

    /// Tells the DataNode to delete replicas of removed files (a real NameNode sends this as
    /// an invalidate command in a heartbeat response).
    fn invalidate(&self, blocks: Vec<u64>) {
        if let Some(datanode) = self.datanode.get() {
            datanode.invalidate(&blocks);
        }
    }
}

/// Fails a call with a Hadoop exception (class name and message).
fn fail<T>(class: &str, message: impl Into<String>) -> Result<T, RpcException> {
    Err(RpcException::new(class, message))
}

/// Decodes a request body the way the RPC server hands it over (without its length prefix).
fn decode<M: Message + Default>(request: &[u8]) -> Result<M, RpcException> {
    M::decode(request).map_err(|e| {
        RpcException::new(
            "org.apache.hadoop.ipc.RpcServerException",
            format!("cannot decode the request: {e}"),
        )
    })
}

/// Encodes a response body (the server adds the length prefix).
fn encode<M: Message>(response: &M) -> Vec<u8> {
    response.encode_to_vec()
}

fn whoami() -> String {
    std::env::var("HADOOP_USER_NAME")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "hdfs".to_string())
}

fn new_inode(ns: &mut Namespace, kind: InodeKind, permission: u32, caller: &Caller) -> Inode {
    let now = now_millis();
    let id = ns.next_inode_id;
    ns.next_inode_id += 1;
    let is_file = matches!(kind, InodeKind::File { .. });
    Inode {
        id,
        kind,
        modification_time: now,
        access_time: if is_file { now } else { 0 },
        permission: permission & 0o7777,
        owner: caller.user.clone(),
        group: "supergroup".to_string(),
    }
}

/// The direct children of `dir` as (local name, inode), in name order.
fn children_of<'a>(ns: &'a Namespace, dir: &str) -> impl Iterator<Item = (&'a str, &'a Inode)> {
    let prefix = child_prefix(dir);
    let start = prefix.len();
    ns.inodes
        .range(prefix.clone()..)
        .take_while(move |(p, _)| p.starts_with(&prefix))
        .filter(move |(p, _)| p.len() > start && !p[start..].contains('/'))
        .map(move |(p, inode)| (&p[start..], inode))
}

/// `path` and the paths of everything under it.
fn subtree(ns: &Namespace, path: &str) -> Vec<String> {
    let prefix = child_prefix(path);
    std::iter::once(path.to_string())
        .chain(
            ns.inodes
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .map(|(p, _)| p.clone()),
        )
        .collect()
}

/// Removes `path` and everything under it; returns the ids of the blocks to invalidate.
fn remove_tree(ns: &mut Namespace, path: &str) -> Vec<u64> {
    let mut blocks = Vec::new();
    for p in subtree(ns, path) {
        if let Some(Inode {
            kind: InodeKind::File { blocks: b, .. },
            ..
        }) = ns.inodes.remove(&p)
        {
            blocks.extend(b.iter().map(|b| b.id));
        }
    }
    blocks
}

/// Commits the file's last block with the length the client reports (`previous` of addBlock,
/// `last` of complete), checking it is the block the NameNode handed out.
fn commit_last_block(
    blocks: &mut [Block],
    reported: Option<&ExtendedBlockProto>,
    src: &str,
) -> Result<(), RpcException> {
    match (blocks.last_mut(), reported) {
        (None, None) => Ok(()),
        (Some(last), Some(reported)) if last.id == reported.block_id => {
            last.num_bytes = reported.num_bytes.unwrap_or(0);
            last.committed = true;
            Ok(())
        }
        (Some(last), None) if last.committed => Ok(()),
        (last, reported) => fail(
            IO_EXCEPTION,
            format!(
                "Trying to commit block {:?} of {src}, but the last block of the file is {:?}",
                reported.map(|b| b.block_id),
                last.map(|b| b.id)
            ),
        ),
    }
}

impl NameNode {
    /// Dispatches one ClientProtocol call.
    fn call(&self, caller: &Caller, method: &str, request: &[u8]) -> Result<Vec<u8>, RpcException> {
        match method {
            "getFileInfo" => self.get_file_info(decode(request)?),
            "getListing" => self.get_listing(decode(request)?),
            "getBlockLocations" => self.get_block_locations(decode(request)?),
            "getServerDefaults" => {
                let _: GetServerDefaultsRequestProto = decode(request)?;
                self.get_server_defaults()
            }
            "create" => self.create(decode(request)?, caller),
            "addBlock" => self.add_block(decode(request)?),
            "complete" => self.complete(decode(request)?),
            "fsync" => self.fsync(decode(request)?),
            "mkdirs" => self.mkdirs(decode(request)?, caller),
            "rename2" => self.rename2(decode(request)?),
            "delete" => self.delete(decode(request)?),
            "renewLease" => {
                // Leases do not expire in the mini HDFS; renewal only has to be accepted.
                let _: RenewLeaseRequestProto = decode(request)?;
                Ok(encode(&RenewLeaseResponseProto {}))
            }
            other => Err(unknown_method(other, CLIENT_PROTOCOL)),
        }
    }
}

/// The NameNode as the Hadoop RPC server's service for `ClientProtocol`.
pub(crate) struct ClientProtocolService(pub(crate) Arc<NameNode>);

impl RpcService for ClientProtocolService {
    fn protocol(&self) -> &str {
        CLIENT_PROTOCOL
    }

    fn call(
        &self,
        caller: Caller,
        method: String,
        request: Bytes,
    ) -> BoxFuture<Result<Vec<u8>, RpcException>> {
        let namenode = self.0.clone();
        // Namespace operations are short and in memory; they run on the server's task.
        Box::pin(async move { namenode.call(&caller, &method, &request) })
    }
}
