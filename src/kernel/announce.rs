//! Puts gratuitous ARP / unsolicited NA frames (built by `wire::announce`)
//! on an interface through an AF_PACKET socket. Needs CAP_NET_RAW.

use std::io;

/// Send each frame once out of interface `ifindex`. Frames are complete
/// Ethernet frames (destination, source, ethertype, payload).
pub fn send_frames(ifindex: u32, frames: &[Vec<u8>]) -> io::Result<()> {
    let index = i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain socket(2); the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    for frame in frames {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_ifindex = index;
        sa.sll_halen = 6;
        if let Some(dst) = frame.get(..6) {
            sa.sll_addr[..6].copy_from_slice(dst);
        }
        let ethertype = frame
            .get(12..14)
            .map_or(0, |t| u16::from_be_bytes([t[0], t[1]]));
        sa.sll_protocol = ethertype.to_be();
        // SAFETY: buffer and address pointers are valid for the given lengths.
        let n = unsafe {
            libc::sendto(
                raw,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
