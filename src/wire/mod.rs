//! Every byte format lvsd speaks, and nothing else: no sockets, no tokio.
//! May use: `model`.

pub mod announce;
pub mod heartbeat;
pub mod ipvs_proc;
