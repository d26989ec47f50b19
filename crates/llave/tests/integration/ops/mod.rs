//! Operating llave as a cluster of nodes (issue 18): readiness, the shared key-encryption
//! key, signing keys made once, metrics, JSON logs with request ids, graceful shutdown, and
//! periodic work run once across nodes.

mod any_node;
mod cluster;
mod health;
mod metrics;
mod process;
