//! `NetlinkIpvs`: the real IPVS client over a generic netlink socket.
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

use super::{Error, Ipvs, Op, OpKind};
use crate::model::{
    Family, RealServer, ServiceKey, SyncDaemon, Table, TableEntry, Timeouts, VersionInfo,
    VirtualService,
};
use crate::wire::ipvs::{
    decode_typed, dest_from_genl, parse_replies_with, push_family_request, push_request, DecodeFn,
    IpvsMessage, Reply, FLAGS_CHANGE, FLAGS_CHANGE_QUIET, FLAGS_DUMP, IPVS_GENL_NAME,
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

/// IPVS client over generic netlink (family "IPVS", version 1), for the
/// network namespace the process is in.
pub struct NetlinkIpvs {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for NetlinkIpvs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetlinkIpvs").finish_non_exhaustive()
    }
}

fn io(op: OpKind) -> impl Fn(std::io::Error) -> Error {
    move |source| Error::Io { op, source }
}

fn decode(op: OpKind) -> impl Fn(netlink_packet_core::DecodeError) -> Error {
    move |e| Error::Decode {
        op,
        reason: e.to_string(),
    }
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

impl NetlinkIpvs {
    /// Open a netlink socket and resolve the IPVS family; `Error::NoFamily`
    /// when the kernel has no IPVS (module not loaded).
    pub fn new() -> Result<NetlinkIpvs, Error> {
        let op = OpKind::Resolve;
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
        tracing::debug!(
            family = inner.family,
            rcvbuf,
            max_ops,
            "IPVS family resolved"
        );
        Ok(NetlinkIpvs {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The request for one op.
fn request(op: &Op) -> IpvsMessage {
    match op {
        Op::AddService(s) => IpvsMessage::new_service(s),
        Op::EditService(s) => IpvsMessage::set_service(s),
        Op::DelService(k) => IpvsMessage::del_service(k),
        Op::Flush => IpvsMessage::flush(),
        Op::AddDest(k, r) => IpvsMessage::new_dest(k, r),
        Op::EditDest(k, r) => IpvsMessage::set_dest(k, r),
        Op::DelDest(k, a, p) => IpvsMessage::del_dest(k, *a, *p),
        Op::Zero(k) => IpvsMessage::zero(k.as_ref()),
        Op::SetTimeouts(t) => IpvsMessage::set_config(t),
        Op::StartDaemon(d) => IpvsMessage::new_daemon(d),
        Op::StopDaemon(s) => IpvsMessage::del_daemon(*s),
    }
}

impl Inner {
    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        // Skip 0: some tools treat it as "no sequence".
        self.seq = self.seq.wrapping_add(1).max(1);
        s
    }

    fn send_all(&self, buf: &[u8], op: OpKind) -> Result<(), Error> {
        let n = self.sock.send(buf, 0).map_err(io(op))?;
        if n != buf.len() {
            return Err(Error::Io {
                op,
                source: std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    format!("sent {n} of {} bytes", buf.len()),
                ),
            });
        }
        Ok(())
    }

    /// One `recvmmsg`: blocks for the first message, then takes whatever
    /// else is queued, up to `RECV_SLOTS`. Returns the replies in order.
    fn recv_batch(&mut self, op: OpKind) -> Result<Vec<Reply>, Error> {
        self.recv_batch_with(op, RECV_SLOTS, &mut decode_typed)
    }

    /// `recv_batch` into at most `want` slots, with IPVS data messages
    /// decoded by `dec`.
    fn recv_batch_with<M>(
        &mut self,
        op: OpKind,
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
                return Err(Error::Io { op, source: e });
            }
        };
        let mut out = Vec::new();
        for (h, slot) in hdrs.iter().zip(self.slots.chunks(slot)).take(n) {
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                return Err(Error::Decode {
                    op,
                    reason: "netlink message larger than the receive slot".into(),
                });
            }
            let len = (h.msg_len as usize).min(slot.len());
            let bytes = slot.get(..len).unwrap_or_default();
            out.extend(parse_replies_with(bytes, self.family, dec).map_err(decode(op))?);
        }
        Ok(out)
    }

    /// Resolve the "IPVS" family id through nlctrl.
    fn resolve(&mut self) -> Result<u16, Error> {
        let op = OpKind::Resolve;
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
        op: OpKind,
        msg: IpvsMessage,
        dump: bool,
    ) -> Result<Vec<IpvsMessage>, Error> {
        self.query_with(op, msg, dump, &mut decode_typed)
    }

    /// `query` with the data replies decoded by `dec`.
    fn query_with<M>(
        &mut self,
        op: OpKind,
        msg: IpvsMessage,
        dump: bool,
        dec: &mut DecodeFn<'_, M>,
    ) -> Result<Vec<M>, Error> {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        let flags = if dump { FLAGS_DUMP } else { FLAGS_CHANGE };
        push_request(&mut buf, self.family, flags, seq, msg);
        self.send_all(&buf, op)?;
        let mut out = Vec::new();
        for _ in 0..MAX_RECV_CALLS {
            // A dump part arrives with at most its NLMSG_DONE behind it
            // (the kernel makes the next part only when this one is
            // read): a few slots are enough, and each costs setup.
            for r in self.recv_batch_with(op, QUERY_SLOTS, dec)? {
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
    fn apply_chunk(&mut self, ops: &[Op], results: &mut [Option<Result<(), Error>>]) {
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
            push_request(&mut buf, self.family, flags, seq, request(op));
        }
        let last_seq = seqs.last().copied();
        let kind0 = ops.first().map(Op::kind).unwrap_or(OpKind::Flush);
        let fail_all = |results: &mut [Option<Result<(), Error>>], e: &Error| {
            for (slot, op) in results.iter_mut().zip(ops) {
                if slot.is_none() {
                    *slot = Some(Err(e.duplicate(op.kind())));
                }
            }
        };
        if let Err(e) = self.send_all(&buf, kind0) {
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
            let replies = match self.recv_batch(kind0) {
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
                        op: op.kind(),
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

/// Services below this many are listed on one socket: a second socket
/// (and its family lookup) costs more than it saves.
const PARALLEL_DUMP_MIN: usize = 64;
/// Most sockets (and threads) one listing uses.
const PARALLEL_DUMP_MAX: usize = 4;

impl NetlinkIpvs {
    /// The reals of each of `services`, in order, on this socket.
    fn dests_of(&self, services: &[VirtualService]) -> Result<Vec<Vec<RealServer>>, Error> {
        services.iter().map(|s| self.dests(&s.key)).collect()
    }

    /// The reals of every service, by GET_DEST dumps. The kernel runs one
    /// dump at a time per socket and this needs one dump per service, so
    /// with one socket 1,000 services are 1,000 strictly serial round
    /// trips; large lists are split over a few sockets on scoped threads
    /// (one per CPU, at most `PARALLEL_DUMP_MAX`). The result, and the
    /// first error in service order, are the same as the serial walk's.
    fn table_of(&self, services: Vec<VirtualService>) -> Result<Table, Error> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let ways = if services.len() < PARALLEL_DUMP_MIN {
            1
        } else {
            cpus.clamp(1, PARALLEL_DUMP_MAX)
        };
        let per = services.len().div_ceil(ways).max(1);
        let mut chunks = services.chunks(per);
        let first = chunks.next().unwrap_or_default();
        let reals = std::thread::scope(|scope| -> Result<Vec<Vec<RealServer>>, Error> {
            let others: Vec<_> = chunks
                .map(|c| scope.spawn(move || NetlinkIpvs::new()?.dests_of(c)))
                .collect();
            let mut all = self.dests_of(first)?;
            for h in others {
                let part = h.join().map_err(|_| Error::Decode {
                    op: OpKind::GetDest,
                    reason: "listing thread panicked".into(),
                })??;
                all.extend(part);
            }
            Ok(all)
        })?;
        let entries = services
            .into_iter()
            .zip(reals)
            .map(|(service, reals)| TableEntry { service, reals })
            .collect();
        Ok(Table { entries })
    }
}

/// Where the kernel writes the services and reals of the reader's network
/// namespace as text.
const PROC_IP_VS: &str = "/proc/net/ip_vs";

impl Ipvs for NetlinkIpvs {
    fn table(&self) -> Result<Table, Error> {
        let services = self.services()?;
        self.table_of(services)
    }

    /// Services by netlink (flags, persistence, pe: all of it), reals from
    /// one read of `/proc/net/ip_vs` instead of a dump per service; a
    /// service the text does not place (added since, or ambiguous) is
    /// dumped over netlink, and so is everything when the file cannot be
    /// read or parsed. ipvsadm's own listing is no snapshot either: it too
    /// reads the services first and each service's reals after.
    fn listing(&self) -> Result<Table, Error> {
        let services = self.services()?;
        let blocks = std::fs::read_to_string(PROC_IP_VS)
            .map_err(|e| e.to_string())
            .and_then(|text| crate::wire::ipvs_proc::parse_ip_vs(&text));
        let blocks = match blocks {
            Ok(b) => b,
            Err(why) => {
                tracing::debug!("listing without {PROC_IP_VS}: {why}");
                return self.table_of(services);
            }
        };
        let placed = super::place_reals(&services, blocks);
        let mut entries = Vec::with_capacity(services.len());
        for (service, reals) in services.into_iter().zip(placed) {
            let reals = match reals {
                Some(r) => r,
                None => self.dests(&service.key)?,
            };
            entries.push(TableEntry { service, reals });
        }
        Ok(Table { entries })
    }

    fn info(&self) -> Result<VersionInfo, Error> {
        let op = OpKind::GetInfo;
        let replies = self.lock().query(op, IpvsMessage::get_info(), false)?;
        replies
            .first()
            .ok_or(Error::Decode {
                op,
                reason: "empty info reply".into(),
            })?
            .to_info()
            .map_err(decode(op))
    }

    fn services(&self) -> Result<Vec<VirtualService>, Error> {
        let op = OpKind::GetService;
        let replies = self.lock().query(op, IpvsMessage::get_services(), true)?;
        replies
            .iter()
            .map(|m| m.to_service().map_err(decode(op)))
            .collect()
    }

    fn service(&self, key: &ServiceKey) -> Result<VirtualService, Error> {
        let op = OpKind::GetService;
        let replies = self
            .lock()
            .query(op, IpvsMessage::get_service(key), false)?;
        replies
            .first()
            .ok_or(Error::Kernel {
                op,
                errno: libc::ESRCH,
            })?
            .to_service()
            .map_err(decode(op))
    }

    fn dests(&self, key: &ServiceKey) -> Result<Vec<RealServer>, Error> {
        let op = OpKind::GetDest;
        let family: Family = key.family();
        // Straight into the model: a listing decodes one reply per real.
        self.lock()
            .query_with(op, IpvsMessage::get_dests(key), true, &mut move |p, _| {
                dest_from_genl(p, family)
            })
    }

    fn timeouts(&self) -> Result<Timeouts, Error> {
        let op = OpKind::GetTimeouts;
        let replies = self.lock().query(op, IpvsMessage::get_config(), false)?;
        Ok(replies
            .first()
            .map(IpvsMessage::to_timeouts)
            .unwrap_or_default())
    }

    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error> {
        let op = OpKind::GetDaemon;
        let replies = self.lock().query(op, IpvsMessage::get_daemons(), true)?;
        replies
            .iter()
            .map(|m| m.to_daemon().map_err(decode(op)))
            .collect()
    }

    fn apply(&self, ops: &[Op]) -> Vec<Result<(), Error>> {
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
                    op: op.kind(),
                    reason: "op not sent".into(),
                }))
            })
            .collect()
    }
}

/// Split `ops` into consecutive chunks of at most `max_ops` ops and (unless
/// a single op is larger) at most `max_bytes` encoded bytes.
fn plan_chunks(ops: &[Op], max_ops: usize, max_bytes: usize) -> Vec<std::ops::Range<usize>> {
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
fn op_size(op: &Op) -> usize {
    match op {
        Op::Flush | Op::Zero(None) => 20,
        Op::SetTimeouts(_) => 44,
        Op::StartDaemon(_) | Op::StopDaemon(_) => 128,
        Op::AddService(_) | Op::EditService(_) | Op::DelService(_) | Op::Zero(Some(_)) => 160,
        Op::AddDest(..) | Op::EditDest(..) | Op::DelDest(..) => 256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Forward, Protocol, SyncState};
    use std::net::IpAddr;

    fn big_ops() -> Vec<Op> {
        // Worst cases: IPv6, longest scheduler/PE/interface names.
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "2001:db8::1".parse().unwrap(),
            port: 80,
        };
        let mut svc = VirtualService::new(key);
        svc.scheduler = "x".repeat(15);
        svc.pe_name = Some("y".repeat(15));
        let mut rs = RealServer::new("2001:db8::2".parse::<IpAddr>().unwrap(), 80);
        rs.forward = Forward::Tunnel;
        let d = SyncDaemon {
            state: SyncState::Backup,
            mcast_ifn: "z".repeat(15),
            syncid: 1,
            sync_maxlen: 1,
            mcast_group: Some("ff02::1".parse().unwrap()),
            mcast_port: 1,
            mcast_ttl: 1,
        };
        vec![
            Op::AddService(svc.clone()),
            Op::EditService(svc),
            Op::DelService(key),
            Op::Flush,
            Op::AddDest(key, rs.clone()),
            Op::EditDest(key, rs.clone()),
            Op::DelDest(key, rs.addr, 80),
            Op::Zero(Some(key)),
            Op::Zero(None),
            Op::SetTimeouts(Timeouts::default()),
            Op::StartDaemon(d),
            Op::StopDaemon(SyncState::Master),
        ]
    }

    #[test]
    fn op_size_bounds_the_encoding() {
        for op in big_ops() {
            let mut buf = Vec::new();
            push_request(&mut buf, 42, FLAGS_CHANGE, 1, request(&op));
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
        let ops: Vec<Op> = big_ops().into_iter().cycle().take(1000).collect();
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
