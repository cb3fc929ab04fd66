//! Model spec, memory and speed estimates, hardware catalog, doctor rules and fixes.

pub mod catalog;
pub mod hardware;
pub mod memory;
pub mod quant;
pub mod spec;
pub mod speed;
pub mod tensors;
