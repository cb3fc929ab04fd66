//! Model spec, memory and speed estimates, hardware catalog, doctor rules and fixes.
