//! Model spec, memory and speed estimates, hardware catalog, doctor rules and fixes.

pub mod catalog;
pub mod doctor;
pub mod fix;
pub mod hardware;
pub mod headers;
pub mod memory;
pub mod quant;
pub mod spec;
pub mod speed;
pub mod tensors;
