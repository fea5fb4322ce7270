//! Connection admission: which TCP connections may handshake, and which may stay.
//!
//! A client that opens sockets and never finishes TLS must not lock agents out. So:
//! - a handshake needs a handshake slot (as many as `max_connections`), held at most the
//!   handshake timeout;
//! - one address may hold at most `max_per_address` handshakes at once (one host's flood is
//!   closed at once, beyond that, and counted);
//! - after the handshake, a connection needs a slot to stay: a quarter of them are reserved for
//!   peers that showed an agent certificate, so a flood of certificate-less clients (or
//!   dashboard users) cannot fill the server to the agents' exclusion.
//!
//! Every table here is bounded: the per-address map holds one entry per address with a
//! handshake in flight, and those are bounded by the handshake slots.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every handshake slot is taken.
    Handshakes,
    /// This address already has `max_per_address` handshakes in flight.
    Address,
}

#[derive(Debug)]
pub struct Admission {
    handshakes: Arc<Semaphore>,
    /// Slots any connection may take.
    general: Arc<Semaphore>,
    /// Slots only agent-authenticated connections may take (when `general` is full).
    reserved: Arc<Semaphore>,
    in_flight: Mutex<HashMap<IpAddr, usize>>,
    max_per_address: usize,
}

/// A handshake in progress: holds its slot and its address's count until dropped.
#[derive(Debug)]
pub struct HandshakeTicket {
    admission: Arc<Admission>,
    address: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl Drop for HandshakeTicket {
    fn drop(&mut self) {
        let mut map = self.admission.lock();
        if let Some(n) = map.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.address);
            }
        }
    }
}

impl Admission {
    pub fn new(max_connections: usize, max_per_address: usize) -> Arc<Admission> {
        let max = max_connections.max(2);
        let reserved = (max / 4).max(1);
        Arc::new(Admission {
            handshakes: Arc::new(Semaphore::new(max)),
            general: Arc::new(Semaphore::new(max - reserved)),
            reserved: Arc::new(Semaphore::new(reserved)),
            in_flight: Mutex::new(HashMap::new()),
            max_per_address: max_per_address.max(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // The map is only counts: a panic elsewhere cannot leave it inconsistent.
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot to handshake from `address`, or why not.
    pub fn handshake(self: &Arc<Self>, address: IpAddr) -> Result<HandshakeTicket, Refusal> {
        let mut map = self.lock();
        let n = map.get(&address).copied().unwrap_or(0);
        if n >= self.max_per_address {
            return Err(Refusal::Address);
        }
        let slot = Arc::clone(&self.handshakes)
            .try_acquire_owned()
            .map_err(|_| Refusal::Handshakes)?;
        map.insert(address, n + 1);
        Ok(HandshakeTicket {
            admission: Arc::clone(self),
            address,
            _slot: slot,
        })
    }

    /// A slot to stay connected after the handshake: agents may use the reserve.
    pub fn stay(&self, agent: bool) -> Option<OwnedSemaphorePermit> {
        let general = Arc::clone(&self.general).try_acquire_owned().ok();
        if general.is_some() || !agent {
            return general;
        }
        Arc::clone(&self.reserved).try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_take_every_handshake_slot() {
        let a = Admission::new(100, 3);
        let flood: IpAddr = "10.0.0.9".parse().expect("ip");
        let agent: IpAddr = "10.0.0.1".parse().expect("ip");
        let held: Vec<_> = (0..3).map(|_| a.handshake(flood).expect("slot")).collect();
        assert_eq!(a.handshake(flood).map(|_| ()), Err(Refusal::Address));
        assert!(a.handshake(agent).is_ok());
        drop(held);
        assert!(
            a.handshake(flood).is_ok(),
            "slots come back when handshakes end"
        );
        assert!(a.lock().is_empty(), "no entry left for finished addresses");
    }

    #[test]
    fn handshake_slots_are_bounded_overall() {
        let a = Admission::new(4, 100);
        let held: Vec<_> = (0..4u8)
            .map(|i| a.handshake(IpAddr::from([10, 0, 0, i])).expect("slot"))
            .collect();
        assert_eq!(
            a.handshake("10.0.1.1".parse().expect("ip")).map(|_| ()),
            Err(Refusal::Handshakes)
        );
        assert_eq!(held.len(), 4);
    }

    #[test]
    fn a_quarter_of_the_slots_is_kept_for_agents() {
        let a = Admission::new(8, 8);
        let others: Vec<_> = std::iter::from_fn(|| a.stay(false)).take(100).collect();
        assert_eq!(
            others.len(),
            6,
            "certificate-less peers fill the general slots only"
        );
        let agents: Vec<_> = std::iter::from_fn(|| a.stay(true)).take(100).collect();
        assert_eq!(agents.len(), 2, "agents still get the reserve");
    }
}
