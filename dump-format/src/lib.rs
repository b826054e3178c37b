//! The dump 0.4b47 on-tape format.
