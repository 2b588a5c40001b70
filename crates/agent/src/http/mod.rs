//! The agent's HTTP endpoints (being written).
