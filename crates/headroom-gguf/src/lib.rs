//! GGUF reader and writer: the whole header, exactly, without touching tensor data.
