//! connectors (being written)
