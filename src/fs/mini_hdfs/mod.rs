//! A mini HDFS for tests: a NameNode and a DataNode on loopback speaking Hadoop's real
//! ClientNamenodeProtocol and DataTransferProtocol, persisting under a directory.
