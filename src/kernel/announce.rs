//! Puts gratuitous ARP / unsolicited NA frames (built by `wire::announce`)
//! on an interface through an AF_PACKET socket. Needs CAP_NET_RAW.

use std::io;

/// Send each frame once out of interface `ifindex`. Frames are complete
/// Ethernet frames (destination, source, ethertype, payload).
pub fn send_frames(ifindex: u32, frames: &[Vec<u8>]) -> io::Result<()> {
    let index = i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // socket2 opens the AF_PACKET socket (close-on-exec) safely.
    let sock = socket2::Socket::new(socket2::Domain::PACKET, socket2::Type::RAW, None)?;
    for frame in frames {
        let mut addr = [0u8; 8];
        if let Some(dst) = frame.get(..6) {
            addr[..6].copy_from_slice(dst);
        }
        let ethertype = frame
            .get(12..14)
            .map_or(0, |t| u16::from_be_bytes([t[0], t[1]]));
        let sa = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: ethertype.to_be(),
            sll_ifindex: index,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 6,
            sll_addr: addr,
        };
        let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: neither nix nor socket2 builds a link-layer address from
        // its fields (both only convert a raw sockaddr, unsafely), so the
        // conversion is ours: `sa` is a complete, initialised sockaddr_ll
        // that lives across the call, and `len` is its exact size.
        let to = unsafe {
            <nix::sys::socket::LinkAddr as nix::sys::socket::SockaddrLike>::from_raw(
                (&sa as *const libc::sockaddr_ll).cast(),
                Some(len),
            )
        }
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        nix::sys::socket::sendto(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            frame,
            &to,
            nix::sys::socket::MsgFlags::empty(),
        )?;
    }
    Ok(())
}
