//! Thin wrappers over the system calls the AF_PACKET source needs. Each returns
//! `io::Result` with the errno, and each `unsafe` block says why it is sound. File descriptors
//! are `OwnedFd` (closed on drop), the ring mapping is [`Mapping`] (unmapped on drop).

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Interface index by name (`if_nametoindex`, in the calling thread's network namespace).
pub(crate) fn if_index(name: &str) -> io::Result<u32> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; if_nametoindex only
    // reads it.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// The interface's hardware type (`ARPHRD_*`), via `SIOCGIFHWADDR` on a throwaway UDP socket
/// (needs no privilege).
pub(crate) fn if_arphrd(name: &str) -> io::Result<u16> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    // SAFETY: plain socket(2) call; the returned fd is checked and then owned by `OwnedFd`.
    let raw =
        cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is a plain C struct (arrays, integers, a union of those and a pointer);
    // all-zero is a valid value of it.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: `req` is a valid, writable ifreq with a NUL-terminated name (length checked
    // above, rest zeroed); SIOCGIFHWADDR writes only inside it.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) })?;
    // SAFETY: after a successful SIOCGIFHWADDR the kernel filled `ifru_hwaddr`; reading a
    // `sockaddr` (plain integers) out of the union is valid for any bit pattern.
    let family = unsafe { req.ifr_ifru.ifru_hwaddr.sa_family };
    Ok(family)
}

/// A new `AF_PACKET` socket of `sock_type` (`SOCK_RAW` or `SOCK_DGRAM`) that receives nothing
/// until it is bound with a protocol.
pub(crate) fn packet_socket(sock_type: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call. Protocol 0: no packets are queued before `bind`.
    let raw = cvt(unsafe { libc::socket(libc::AF_PACKET, sock_type | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `setsockopt(fd, level, name, &value, sizeof value)`.
pub(crate) fn set_opt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(mem::size_of::<T>())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `value` points to a live, initialised `T` of exactly `len` bytes; the kernel only
    // reads it for the duration of the call. `T: Copy` rules out types with drop glue or
    // interior pointers we would be handing out ownership of.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    })?;
    Ok(())
}

/// Attach (or atomically replace) a classic BPF socket filter.
pub(crate) fn attach_filter(fd: BorrowedFd<'_>, prog: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast_mut(),
    };
    // The kernel copies the program during the call and never writes through `filter`.
    set_opt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Bind the packet socket to one interface for every protocol (`ETH_P_ALL`).
pub(crate) fn bind_all(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is a plain C struct of integers; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex =
        libc::c_int::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    let len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll of `len` bytes, read by the kernel during the call.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
            len,
        )
    })?;
    Ok(())
}

/// `getsockopt(PACKET_STATISTICS)` for a TPACKET_V3 socket. The kernel resets the counters on
/// every read, so callers accumulate.
pub(crate) fn packet_stats(fd: BorrowedFd<'_>) -> io::Result<libc::tpacket_stats_v3> {
    // SAFETY: tpacket_stats_v3 is three u32s; all-zero is valid.
    let mut st: libc::tpacket_stats_v3 = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
    // SAFETY: `st` is writable for `len` bytes and `len` is a valid in/out length; the kernel
    // writes at most `len` bytes.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats_v3).cast::<libc::c_void>(),
            &mut len,
        )
    })?;
    Ok(st)
}

/// The pending socket error (`SO_ERROR`, cleared by reading), 0 if none.
pub(crate) fn socket_error(fd: BorrowedFd<'_>) -> io::Result<i32> {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` is a writable c_int and `len` its size.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast::<libc::c_void>(),
            &mut len,
        )
    })?;
    Ok(err)
}

/// A non-blocking, close-on-exec eventfd (the stop handle's wake-up).
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain eventfd(2) call; the returned fd is checked and then owned.
    let raw = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Wait until the socket or the wake-up eventfd is readable, or `timeout_ms` passed, and
/// return the socket's `revents` (the caller re-checks the ring and the stop flag either way).
/// `EINTR` counts as a (spurious) wake-up.
pub(crate) fn poll2(
    sock: BorrowedFd<'_>,
    wake: BorrowedFd<'_>,
    timeout_ms: libc::c_int,
) -> io::Result<libc::c_short> {
    let mut fds = [
        libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDNORM | libc::POLLERR,
            revents: 0,
        },
        libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a valid, writable array of 2 pollfd for the duration of the call.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(fds[0].revents)
}

/// The ring, mapped shared and read-write (user space writes block status words back).
/// Unmapped on drop. The kernel keeps the ring's pages alive while the socket is open; this
/// struct only owns the mapping, so it must be dropped before or with the socket, never used
/// after it (the source owns both).
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    pub(crate) fn new(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        // SAFETY: we ask for a fresh mapping (addr NULL) of `len` bytes of the socket's ring;
        // the kernel validates `len` against the ring it set up. The result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?;
        Ok(Mapping { ptr, len })
    }

    /// Anonymous zeroed memory standing in for a kernel ring in tests.
    #[cfg(test)]
    pub(crate) fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh private anonymous mapping of `len` bytes; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?;
        Ok(Mapping { ptr, len })
    }

    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, unmapped once (here). No slice
        // into the mapping outlives `self`: frames borrow the source that owns the mapping.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast::<libc::c_void>(), self.len);
        }
    }
}
