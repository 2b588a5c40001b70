//! A private dockerd for tests (being written).
