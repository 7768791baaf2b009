//! [`Client`]: a blocking IPVS client over a generic netlink socket.
//!
//! Batching: `apply` packs many requests into one `sendmsg` buffer, each
//! with its own sequence number and only the last with `NLM_F_ACK`, then
//! drains the answers with `recvmmsg` and maps each error back to its op by
//! sequence number. The kernel handles a netlink buffer synchronously
//! inside `sendmsg`, so every answer of a chunk is queued when it returns;
//! the chunk size is bounded so that even an error for every op fits the
//! receive buffer (an answer that does not fit is dropped by the kernel and
//! reported as ENOBUFS).

use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard};

use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use crate::packet::{
    decode_typed, dest_from_genl, parse_replies_with, push_family_request, push_operation,
    push_request, service_from_genl, DecodeFn, IpvsMessage, Reply, FLAGS_CHANGE,
    FLAGS_CHANGE_QUIET, FLAGS_DUMP, IPVS_GENL_NAME,
};
use crate::{
    Daemon, DaemonState, Destination, Error, Family, Info, IpvsCmd, Operation, Service, ServiceKey,
    Timeouts,
};

/// Most request bytes per `sendmsg`: below the default `wmem_default`
/// (212992), which `netlink_sendmsg` enforces as `sk_sndbuf - 32`.
const CHUNK_BYTES: usize = 128 * 1024;
/// Receive buffer asked for (`SO_RCVBUFFORCE` as root, else `SO_RCVBUF`
/// capped by `rmem_max`).
const RCVBUF: usize = 8 * 1024 * 1024;
/// What one queued ack costs against the receive buffer: its skb's
/// truesize (~700 bytes on x86-64), rounded up for safety.
const ACK_TRUESIZE: usize = 1024;
/// Slots per `recvmmsg` call (an ack is 36 bytes with `NETLINK_CAP_ACK`,
/// one datagram each).
const RECV_SLOTS: usize = 128;
/// Slots per receive call when waiting for the answer of one request.
const QUERY_SLOTS: usize = 8;

/// Bytes per receive slot. Deliberately small: the kernel sizes every
/// dump part it allocates by the largest receive buffer the socket ever
/// offered (`max_recvmsg_len`, capped at 32 KiB), and with
/// `init_on_alloc` (Debian's default) it zeroes that allocation twice per
/// dump. A 32 KiB slot made that zeroing ~10% of `lvsadm -Ln` (one
/// GET_DEST dump per service). `NLMSG_GOODSIZE`, the size of every
/// non-dump reply and the floor of a dump part, is just under one page
/// (capped at 8 KiB), so one page (at most 8 KiB) always holds a whole
/// datagram.
fn slot_bytes() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096).clamp(4096, 8192)
}
/// Upper bound on receive calls for one request or chunk, so a kernel
/// that never answers cannot hang us forever (each call blocks at most
/// the socket's timeout).
const MAX_RECV_CALLS: usize = 1 << 20;

/// The socket and its state; behind a mutex so one [`Client`] can be
/// shared by threads (requests on one socket are serial anyway).
struct Inner {
    sock: Socket,
    family: u16,
    seq: u32,
    /// Ops a chunk may hold so that all their acks fit in the receive buffer.
    max_ops: usize,
    /// `RECV_SLOTS` receive slots of `slot` bytes, allocated on first use.
    slots: Vec<u8>,
    slot: usize,
}

/// Blocking IPVS client over generic netlink (family "IPVS", version 1),
/// for the network namespace the process is in. Reading and changing the
/// table needs `CAP_NET_ADMIN`.
///
/// ```no_run
/// use ipvs_netlink::Client;
///
/// let ipvs = Client::new()?;
/// for service in ipvs.services()? {
///     println!("{} {}", service.key, service.scheduler);
/// }
/// # Ok::<(), ipvs_netlink::Error>(())
/// ```
pub struct Client {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

/// The error of a socket failure while `op` was under way (`None`: while
/// setting up or resolving the family).
fn io(op: Option<IpvsCmd>) -> impl Fn(std::io::Error) -> Error {
    move |source| match op {
        Some(op) => Error::Io { op, source },
        None => Error::Socket { source },
    }
}

/// The error of a reply to `op` that did not decode.
fn bad_reply(op: Option<IpvsCmd>, reason: String) -> Error {
    match op {
        Some(op) => Error::Decode { op, reason },
        None => Error::Socket {
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
        },
    }
}

fn decode(op: Option<IpvsCmd>) -> impl Fn(netlink_packet_core::DecodeError) -> Error {
    move |e| bad_reply(op, e.to_string())
}

fn setsockopt_int(fd: i32, opt: i32, val: i32) -> bool {
    // SAFETY: plain setsockopt on our own socket with a valid int.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            &val as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    r == 0
}

impl Client {
    /// Open a netlink socket and resolve the IPVS family; [`Error::NoFamily`]
    /// when the kernel has no IPVS (module not loaded).
    pub fn new() -> Result<Client, Error> {
        let op = None;
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(io(op))?;
        sock.bind_auto().map_err(io(op))?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io(op))?;
        // Error acks without a copy of the request: smaller, more fit.
        let _ = sock.set_cap_ack(true);
        let fd = sock.as_raw_fd();
        let want = RCVBUF as i32;
        if !setsockopt_int(fd, libc::SO_RCVBUFFORCE, want) {
            let _ = setsockopt_int(fd, libc::SO_RCVBUF, want);
        }
        // A bounded wait per receive: the kernel answers synchronously, so
        // a long silence means something is wrong, not slow.
        let tv = libc::timeval {
            tv_sec: 30,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a valid timeval on our socket.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        let rcvbuf = sock.get_rx_buf_sz().unwrap_or(212_992);
        // Half the buffer for acks, leaving room for anything else.
        let max_ops = (rcvbuf / 2 / ACK_TRUESIZE).clamp(16, 8192);
        let mut inner = Inner {
            sock,
            family: 0,
            seq: 1,
            max_ops,
            slots: Vec::new(),
            slot: slot_bytes(),
        };
        inner.family = inner.resolve()?;
        Ok(Client {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        // Skip 0: some tools treat it as "no sequence".
        self.seq = self.seq.wrapping_add(1).max(1);
        s
    }

    fn send_all(&self, buf: &[u8], op: Option<IpvsCmd>) -> Result<(), Error> {
        let n = self.sock.send(buf, 0).map_err(io(op))?;
        if n != buf.len() {
            return Err(io(op)(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("sent {n} of {} bytes", buf.len()),
            )));
        }
        Ok(())
    }

    /// One `recvmmsg`: blocks for the first message, then takes whatever
    /// else is queued, up to `RECV_SLOTS`. Returns the replies in order.
    fn recv_batch(&mut self, op: Option<IpvsCmd>) -> Result<Vec<Reply>, Error> {
        self.recv_batch_with(op, RECV_SLOTS, &mut decode_typed)
    }

    /// `recv_batch` into at most `want` slots, with IPVS data messages
    /// decoded by `dec`.
    fn recv_batch_with<M>(
        &mut self,
        op: Option<IpvsCmd>,
        want: usize,
        dec: &mut DecodeFn<'_, M>,
    ) -> Result<Vec<Reply<M>>, Error> {
        if self.slots.is_empty() {
            // One zeroed allocation: pages are faulted in only when used.
            self.slots = vec![0u8; self.slot * RECV_SLOTS];
        }
        let slot = self.slot;
        let mut iov: Vec<libc::iovec> = self
            .slots
            .chunks_mut(slot)
            .take(want.clamp(1, RECV_SLOTS))
            .map(|s| libc::iovec {
                iov_base: s.as_mut_ptr() as *mut libc::c_void,
                iov_len: s.len(),
            })
            .collect();
        let mut hdrs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: mmsghdr is plain data; all-zero is a valid value.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = v as *mut libc::iovec;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        let fd = self.sock.as_raw_fd();
        let n = loop {
            // SAFETY: hdrs/iov point into self.slots, alive and unaliased
            // for the duration of the call; vlen matches hdrs.len().
            let r = unsafe {
                libc::recvmmsg(
                    fd,
                    hdrs.as_mut_ptr(),
                    hdrs.len() as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if r >= 0 {
                break r as usize;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io(op)(e));
            }
        };
        let mut out = Vec::new();
        for (h, slot) in hdrs.iter().zip(self.slots.chunks(slot)).take(n) {
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                return Err(bad_reply(
                    op,
                    "netlink message larger than the receive slot".into(),
                ));
            }
            let len = (h.msg_len as usize).min(slot.len());
            let bytes = slot.get(..len).unwrap_or_default();
            out.extend(parse_replies_with(bytes, self.family, dec).map_err(decode(op))?);
        }
        Ok(out)
    }

    /// Resolve the "IPVS" family id through nlctrl.
    fn resolve(&mut self) -> Result<u16, Error> {
        let op = None;
        let seq = self.next_seq();
        let mut buf = Vec::new();
        push_family_request(&mut buf, seq, IPVS_GENL_NAME);
        self.send_all(&buf, op)?;
        let mut id = None;
        for _ in 0..MAX_RECV_CALLS {
            for r in self.recv_batch(op)? {
                match r {
                    Reply::Family { seq: s, id: got } if s == seq => id = got,
                    Reply::Ack { seq: s } if s == seq => {
                        return id.ok_or(Error::NoFamily);
                    }
                    // nlctrl answers ENOENT for an unknown family.
                    Reply::Error { seq: s, .. } if s == seq => return Err(Error::NoFamily),
                    _ => {}
                }
            }
        }
        Err(Error::NoFamily)
    }

    /// Send one request and collect its data replies until its ack, its
    /// error or (dumps) `NLMSG_DONE`.
    fn query(
        &mut self,
        op: IpvsCmd,
        msg: IpvsMessage,
        dump: bool,
    ) -> Result<Vec<IpvsMessage>, Error> {
        self.query_with(op, msg, dump, &mut decode_typed)
    }

    /// `query` with the data replies decoded by `dec`.
    fn query_with<M>(
        &mut self,
        op: IpvsCmd,
        msg: IpvsMessage,
        dump: bool,
        dec: &mut DecodeFn<'_, M>,
    ) -> Result<Vec<M>, Error> {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        let flags = if dump { FLAGS_DUMP } else { FLAGS_CHANGE };
        push_request(&mut buf, self.family, flags, seq, msg);
        self.send_all(&buf, Some(op))?;
        let mut out = Vec::new();
        for _ in 0..MAX_RECV_CALLS {
            // A dump part arrives with at most its NLMSG_DONE behind it
            // (the kernel makes the next part only when this one is
            // read): a few slots are enough, and each costs setup.
            for r in self.recv_batch_with(Some(op), QUERY_SLOTS, dec)? {
                match r {
                    Reply::Data { seq: s, msg, .. } if s == seq => out.push(msg),
                    Reply::Error { seq: s, errno } if s == seq => {
                        return Err(Error::Kernel { op, errno });
                    }
                    Reply::Done { seq: s, errno } if s == seq => {
                        return if errno > 0 {
                            Err(Error::Kernel { op, errno })
                        } else {
                            Ok(out)
                        };
                    }
                    Reply::Ack { seq: s } if s == seq && !dump => return Ok(out),
                    Reply::Overrun { .. } => {
                        return Err(Error::Io {
                            op,
                            source: std::io::Error::from_raw_os_error(libc::ENOBUFS),
                        })
                    }
                    _ => {}
                }
            }
        }
        Err(Error::Decode {
            op,
            reason: "no end of reply".into(),
        })
    }

    /// Send one chunk of ops and fill their results.
    fn apply_chunk(&mut self, ops: &[Operation], results: &mut [Option<Result<(), Error>>]) {
        let first = self.seq;
        let mut buf = Vec::with_capacity(CHUNK_BYTES);
        let mut seqs = Vec::with_capacity(ops.len());
        // Only the last request asks for an ack. The kernel handles the
        // requests of one buffer in order and answers a request without
        // NLM_F_ACK only when it fails, so once the last one is answered
        // every failure is in: a request not named by then succeeded. This
        // spares the kernel an ack allocation per op and us reading it
        // (together about 15% of an 11,000-line `-R`).
        for (i, op) in ops.iter().enumerate() {
            let seq = self.next_seq();
            seqs.push(seq);
            let flags = if i + 1 == ops.len() {
                FLAGS_CHANGE
            } else {
                FLAGS_CHANGE_QUIET
            };
            // Straight into the buffer (same bytes as the typed
            // `IpvsMessage::request`, see `packet::push_operation`).
            push_operation(&mut buf, self.family, flags, seq, op);
        }
        let last_seq = seqs.last().copied();
        let kind0 = ops.first().map(Operation::cmd).unwrap_or(IpvsCmd::Flush);
        let fail_all = |results: &mut [Option<Result<(), Error>>], e: &Error| {
            for (slot, op) in results.iter_mut().zip(ops) {
                if slot.is_none() {
                    *slot = Some(Err(e.duplicate(op.cmd())));
                }
            }
        };
        if let Err(e) = self.send_all(&buf, Some(kind0)) {
            // A send buffer smaller than our chunk (a lowered wmem_default):
            // nothing was sent, so halve the chunk and try again.
            if e.errno() == Some(libc::EMSGSIZE) && ops.len() > 1 && results.len() == ops.len() {
                let mid = ops.len() / 2;
                let (ra, rb) = results.split_at_mut(mid);
                if let (Some(a), Some(b)) = (ops.get(..mid), ops.get(mid..)) {
                    self.apply_chunk(a, ra);
                    self.apply_chunk(b, rb);
                    return;
                }
            }
            fail_all(results, &e);
            return;
        }
        // Map a sequence number back to the op's index in this chunk.
        let index = |s: u32| -> Option<usize> {
            let i = s.wrapping_sub(first) as usize;
            (i < seqs.len() && seqs.get(i) == Some(&s)).then_some(i)
        };
        let mut done = false;
        for _ in 0..MAX_RECV_CALLS {
            if done {
                for slot in results.iter_mut().filter(|s| s.is_none()) {
                    *slot = Some(Ok(()));
                }
                return;
            }
            let replies = match self.recv_batch(Some(kind0)) {
                Ok(r) => r,
                Err(e) => {
                    fail_all(results, &e);
                    return;
                }
            };
            for r in replies {
                let (seq, res) = match r {
                    Reply::Ack { seq } => (seq, Ok(())),
                    Reply::Error { seq, errno } => (seq, Err(errno)),
                    _ => continue,
                };
                let Some(i) = index(seq) else { continue };
                let (Some(slot), Some(op)) = (results.get_mut(i), ops.get(i)) else {
                    continue;
                };
                if slot.is_none() {
                    *slot = Some(res.map_err(|errno| Error::Kernel {
                        op: op.cmd(),
                        errno,
                    }));
                }
                done |= Some(seq) == last_seq;
            }
        }
        fail_all(
            results,
            &Error::Decode {
                op: kind0,
                reason: "no answer to the last request of a batch".into(),
            },
        );
    }
}

/// ESRCH: what the kernel answers for a service that does not exist.
const ESRCH: i32 = libc::ESRCH;

impl Client {
    /// `IPVS_CMD_GET_INFO`: the IPVS version and connection table size.
    pub fn info(&self) -> Result<Info, Error> {
        let op = IpvsCmd::GetInfo;
        let replies = self.lock().query(op, IpvsMessage::get_info(), false)?;
        replies
            .first()
            .ok_or(Error::Decode {
                op,
                reason: "empty info reply".into(),
            })?
            .to_info()
            .map_err(decode(Some(op)))
    }

    /// Every virtual service, with its counters, in kernel order.
    pub fn services(&self) -> Result<Vec<Service>, Error> {
        let op = IpvsCmd::GetService;
        // Straight into the typed value, as `destinations` does.
        self.lock()
            .query_with(op, IpvsMessage::get_services(), true, &mut |p, _| {
                service_from_genl(p)
            })
    }

    /// One virtual service; [`Error::Kernel`] with `ESRCH` if it does not
    /// exist.
    pub fn service(&self, key: &ServiceKey) -> Result<Service, Error> {
        let op = IpvsCmd::GetService;
        let replies = self
            .lock()
            .query(op, IpvsMessage::get_service(key), false)?;
        replies
            .first()
            .ok_or(Error::Kernel { op, errno: ESRCH })?
            .to_service()
            .map_err(decode(Some(op)))
    }

    /// The destinations (real servers) of a service, with counters, in
    /// kernel order (newest first). Like the kernel, a service that does
    /// not exist has none: an empty list, not an error.
    pub fn destinations(&self, key: &ServiceKey) -> Result<Vec<Destination>, Error> {
        let op = IpvsCmd::GetDest;
        let family: Family = key.family();
        // Straight into the typed value: a listing decodes one reply per
        // destination, and the attribute list in between was most of the
        // cost of a large listing.
        self.lock()
            .query_with(op, IpvsMessage::get_dests(key), true, &mut move |p, _| {
                dest_from_genl(p, family)
            })
    }

    /// `IPVS_CMD_GET_CONFIG`: the global connection timeouts.
    pub fn timeouts(&self) -> Result<Timeouts, Error> {
        let op = IpvsCmd::GetConfig;
        let replies = self.lock().query(op, IpvsMessage::get_config(), false)?;
        Ok(replies
            .first()
            .map(IpvsMessage::to_timeouts)
            .unwrap_or_default())
    }

    /// The running connection-sync daemons (at most a master and a backup).
    pub fn daemons(&self) -> Result<Vec<Daemon>, Error> {
        let op = IpvsCmd::GetDaemon;
        let replies = self.lock().query(op, IpvsMessage::get_daemons(), true)?;
        replies
            .iter()
            .map(|m| m.to_daemon().map_err(decode(Some(op))))
            .collect()
    }

    /// Apply `ops` in order, as few `sendmsg` calls as fit; one result per
    /// operation, in the same order. A failed operation does not stop the
    /// ones after it (the kernel handles each request on its own), and its
    /// error keeps the command and the kernel's errno. Callers that must
    /// stop at the first error send one operation at a time.
    ///
    /// ```no_run
    /// use ipvs_netlink::{Client, Destination, Operation, Protocol, Service, ServiceKey};
    ///
    /// let key = ServiceKey::Addr {
    ///     protocol: Protocol::Tcp,
    ///     addr: "192.0.2.1".parse().unwrap(),
    ///     port: 80,
    /// };
    /// let ops = [
    ///     Operation::AddService(Service::new(key)),
    ///     Operation::AddDest(key, Destination::new("198.51.100.1".parse().unwrap(), 80)),
    /// ];
    /// for (op, result) in ops.iter().zip(Client::new()?.apply(&ops)) {
    ///     if let Err(e) = result {
    ///         eprintln!("{op:?}: {e}");
    ///     }
    /// }
    /// # Ok::<(), ipvs_netlink::Error>(())
    /// ```
    pub fn apply(&self, ops: &[Operation]) -> Vec<Result<(), Error>> {
        let mut inner = self.lock();
        let mut results: Vec<Option<Result<(), Error>>> = (0..ops.len()).map(|_| None).collect();
        let max_ops = inner.max_ops;
        for range in plan_chunks(ops, max_ops, CHUNK_BYTES) {
            let (Some(chunk), Some(res)) = (ops.get(range.clone()), results.get_mut(range)) else {
                break;
            };
            inner.apply_chunk(chunk, res);
        }
        results
            .into_iter()
            .zip(ops)
            .map(|(r, op)| {
                r.unwrap_or(Err(Error::Decode {
                    op: op.cmd(),
                    reason: "operation not sent".into(),
                }))
            })
            .collect()
    }

    /// Apply one operation.
    pub fn apply_one(&self, op: Operation) -> Result<(), Error> {
        let cmd = op.cmd();
        self.apply(std::slice::from_ref(&op))
            .into_iter()
            .next()
            .unwrap_or(Err(Error::Decode {
                op: cmd,
                reason: "no result for the operation".into(),
            }))
    }

    /// `ipvsadm -A`: add a virtual service.
    pub fn add_service(&self, service: &Service) -> Result<(), Error> {
        self.apply_one(Operation::AddService(service.clone()))
    }

    /// `ipvsadm -D`: delete a virtual service and its destinations.
    pub fn del_service(&self, key: &ServiceKey) -> Result<(), Error> {
        self.apply_one(Operation::DelService(*key))
    }

    /// `ipvsadm -a`: add a destination to a service.
    pub fn add_destination(&self, key: &ServiceKey, dest: &Destination) -> Result<(), Error> {
        self.apply_one(Operation::AddDest(*key, dest.clone()))
    }

    /// `ipvsadm -d`: delete a destination (by address and port).
    pub fn del_destination(
        &self,
        key: &ServiceKey,
        addr: std::net::IpAddr,
        port: u16,
    ) -> Result<(), Error> {
        self.apply_one(Operation::DelDest(*key, addr, port))
    }

    /// `ipvsadm --start-daemon`.
    pub fn start_daemon(&self, daemon: &Daemon) -> Result<(), Error> {
        self.apply_one(Operation::StartDaemon(daemon.clone()))
    }

    /// `ipvsadm --stop-daemon`.
    pub fn stop_daemon(&self, state: DaemonState) -> Result<(), Error> {
        self.apply_one(Operation::StopDaemon(state))
    }
}

/// Split `ops` into consecutive chunks of at most `max_ops` ops and (unless
/// a single op is larger) at most `max_bytes` encoded bytes.
fn plan_chunks(ops: &[Operation], max_ops: usize, max_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < ops.len() {
        let mut end = start;
        let mut bytes = 0;
        // An estimate per op, not an encoding: chunking must not cost a
        // second serialisation of 11,000 requests.
        while end < ops.len() && end - start < max_ops.max(1) {
            let est = ops.get(end).map(op_size).unwrap_or(0);
            if bytes + est > max_bytes && end > start {
                break;
            }
            bytes += est;
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// Upper bound of an op's encoded size (netlink + genl headers included).
fn op_size(op: &Operation) -> usize {
    match op {
        Operation::Flush | Operation::Zero(None) => 20,
        Operation::SetTimeouts(_) => 44,
        Operation::StartDaemon(_) | Operation::StopDaemon(_) => 128,
        Operation::AddService(_)
        | Operation::EditService(_)
        | Operation::DelService(_)
        | Operation::Zero(Some(_)) => 160,
        Operation::AddDest(..) | Operation::EditDest(..) | Operation::DelDest(..) => 256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DaemonState, Forward, Protocol};
    use std::net::IpAddr;

    fn big_ops() -> Vec<Operation> {
        // Worst cases: IPv6, longest scheduler/PE/interface names.
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "2001:db8::1".parse().unwrap(),
            port: 80,
        };
        let mut svc = Service::new(key);
        svc.scheduler = "x".repeat(15);
        svc.pe_name = Some("y".repeat(15));
        let mut rs = Destination::new("2001:db8::2".parse::<IpAddr>().unwrap(), 80);
        rs.forward = Forward::Tunnel;
        let d = Daemon {
            state: DaemonState::Backup,
            mcast_ifn: "z".repeat(15),
            syncid: 1,
            sync_maxlen: 1,
            mcast_group: Some("ff02::1".parse().unwrap()),
            mcast_port: 1,
            mcast_ttl: 1,
        };
        vec![
            Operation::AddService(svc.clone()),
            Operation::EditService(svc),
            Operation::DelService(key),
            Operation::Flush,
            Operation::AddDest(key, rs.clone()),
            Operation::EditDest(key, rs.clone()),
            Operation::DelDest(key, rs.addr, 80),
            Operation::Zero(Some(key)),
            Operation::Zero(None),
            Operation::SetTimeouts(Timeouts::default()),
            Operation::StartDaemon(d),
            Operation::StopDaemon(DaemonState::Master),
        ]
    }

    #[test]
    fn op_size_bounds_the_encoding() {
        for op in big_ops() {
            let mut buf = Vec::new();
            push_request(&mut buf, 42, FLAGS_CHANGE, 1, IpvsMessage::request(&op));
            assert!(
                buf.len() <= op_size(&op),
                "{op:?}: {} > {}",
                buf.len(),
                op_size(&op)
            );
        }
    }

    #[test]
    fn chunks_respect_count_and_bytes_and_cover_everything() {
        let ops: Vec<Operation> = big_ops().into_iter().cycle().take(1000).collect();
        for (max_ops, max_bytes) in [(16, 128 * 1024), (8192, 4096), (1, 10), (5000, 1 << 20)] {
            let plan = plan_chunks(&ops, max_ops, max_bytes);
            let mut next = 0;
            for r in &plan {
                assert_eq!(r.start, next, "contiguous");
                assert!(!r.is_empty());
                assert!(r.len() <= max_ops);
                let bytes: usize = ops[r.clone()].iter().map(op_size).sum();
                assert!(bytes <= max_bytes || r.len() == 1, "{bytes} in {r:?}");
                next = r.end;
            }
            assert_eq!(next, ops.len());
        }
        assert!(plan_chunks(&[], 16, 1024).is_empty());
    }
}
