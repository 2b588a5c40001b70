//! Container runtime metadata (being written).
