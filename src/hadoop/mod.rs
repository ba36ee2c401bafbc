//! Shared Hadoop plumbing, written from Hadoop's definitions (no Hadoop code or JVM):
//! - [`ipc`]: Hadoop RPC client and server framing with SASL SIMPLE and TOKEN/DIGEST-MD5;
//! - [`security`]: tokens, the credentials (token storage) file, token passwords;
//! - [`conf`]: the Hadoop XML configuration reader (`core-site.xml`, `yarn-site.xml`, ...);
//! - [`proto`]: Hadoop Common's protobuf messages.

pub mod conf;
pub mod ipc;
pub mod proto;
pub mod security;
