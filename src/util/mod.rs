//! util (being written)
