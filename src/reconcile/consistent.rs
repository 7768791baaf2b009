//! Consistent hashing across directors: what an announced virtual needs so
//! that every director behind one ECMP route maps a flow to the same real.
//!
//! The reconcile side of it lives in [`super::desired`] (`consistent`:
//! quiesce, never delete) and [`super::diff`] (mh reals added in one
//! canonical order); this module holds the check the config layer calls and
//! the proof that directors with the same reals build identical tables.

use crate::model::maglev::{FLAG_FALLBACK, FLAG_PORT};
use crate::model::{ServiceKey, VirtualService};

/// Why a virtual cannot be announced from several directors at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistentError {
    /// Another scheduler picks reals from per-director state (connection
    /// counts, a round-robin pointer): a flow that ECMP moves to another
    /// director would land on another real and be reset.
    #[error(
        "virtual {key} uses scheduler {scheduler}; an announced virtual needs \
         scheduler mh, the only one whose choice of real depends on the flow \
         alone and is the same on every director"
    )]
    NotMh {
        /// The virtual.
        key: ServiceKey,
        /// Its configured scheduler.
        scheduler: String,
    },
    /// Without `mh-fallback` a flow hashed to a quiesced real is dropped.
    #[error(
        "virtual {key} uses mh without the mh-fallback flag; an announced \
         virtual needs it, because lvsd quiesces failed reals (weight 0) \
         instead of deleting them to keep the table identical on every \
         director, and without mh-fallback new flows hashed to such a real \
         find no server"
    )]
    NoFallback {
        /// The virtual.
        key: ServiceKey,
    },
}

/// Check that `service` can be announced by several directors: scheduler
/// `mh` with the `mh-fallback` flag (`mh-port` is optional).
pub fn require_mh(service: &VirtualService) -> Result<(), ConsistentError> {
    if service.scheduler != "mh" {
        return Err(ConsistentError::NotMh {
            key: service.key,
            scheduler: service.scheduler.clone(),
        });
    }
    if service.flags.0 & FLAG_FALLBACK == 0 {
        return Err(ConsistentError::NoFallback { key: service.key });
    }
    Ok(())
}

/// The flags of a service that the mh scheduler reads.
pub fn mh_flags(service: &VirtualService) -> u32 {
    service.flags.0 & (FLAG_FALLBACK | FLAG_PORT)
}

#[cfg(test)]
#[path = "consistent_tests.rs"]
mod tests;
