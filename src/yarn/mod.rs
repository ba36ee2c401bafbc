//! YARN client side, written to Hadoop 3's wire formats, and the mini YARN cluster tests run
//! against:
//! - [`rest`]: ResourceManager REST client (new application, submit, report, kill, ...);
//! - [`amrm`]: ApplicationMasterProtocol client (register, allocate, finish);
//! - [`nm`]: ContainerManagementProtocol client (start, stop, statuses);
//! - [`proto`], [`ids`], [`tokens`]: YARN's messages, identifiers and token identifiers;
//! - [`mini`]: a protocol-faithful ResourceManager + NodeManagers for tests and local use.

pub mod ids;
pub mod proto;
pub mod tokens;

/// `declaringClassProtocolName` of the scheduler protocol.
pub const APPLICATION_MASTER_PROTOCOL: &str =
    "org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB";
/// `declaringClassProtocolName` of the NodeManager protocol.
pub const CONTAINER_MANAGEMENT_PROTOCOL: &str =
    "org.apache.hadoop.yarn.api.ContainerManagementProtocolPB";
