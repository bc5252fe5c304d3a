//! The FFI edge: the few librdmacm/libibverbs calls the RDMA transport needs,
//! as owned handles that release themselves. rdma-core is loaded at run time
//! (rdma-mummy-sys), so without it every call here fails with an error.
//!
//! Everything unsafe in the RDMA transport is in this file. The protocol
//! logic above it only sees safe handles, byte counts and offsets.

use std::ffi::{CStr, c_int, c_void};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::time::Duration;

use rdma_mummy_sys as sys;

pub use sys::ibv_wc_opcode as wc_opcode;
pub use sys::ibv_wc_status as wc_status;
pub use sys::rdma_cm_event_type as cm_event;

/// `enum { RDMA_OPTION_ID = 0 }` and `RDMA_OPTION_ID_AFONLY = 2` from
/// rdma_cma.h (anonymous enums the bindings leave out).
const RDMA_OPTION_ID: c_int = 0;
const RDMA_OPTION_ID_AFONLY: c_int = 2;
const RDMA_OPTION_ID_ACK_TIMEOUT: c_int = 3;
/// Local ACK timeout exponent: 4.096 µs × 2^16 ≈ 268 ms per try. Without
/// it soft-RoCE retransmits never time out, so a send to a dead peer
/// (our keepalive) would hang instead of failing after the retries.
const ACK_TIMEOUT: u8 = 16;
/// Retries forever on "receiver not ready" (the peer has not re-posted a
/// receive yet): a slow peer is not an error.
const RNR_RETRY_INFINITE: u8 = 7;

fn os_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn check(ret: c_int, what: &str) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(os_error(what))
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; no memory is passed.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
    };
    if ok {
        Ok(())
    } else {
        Err(os_error("fcntl(O_NONBLOCK)"))
    }
}

/// Lists the RDMA devices; the error says why there are none.
pub fn device_count() -> io::Result<usize> {
    let mut n: c_int = 0;
    // SAFETY: ibv_get_device_list writes the count to `n` and returns an
    // array we free at once; we read nothing from it.
    let list = unsafe { sys::ibv_get_device_list(&mut n) };
    if list.is_null() {
        return Err(os_error("ibv_get_device_list"));
    }
    // SAFETY: `list` came from ibv_get_device_list and is freed once.
    unsafe { sys::ibv_free_device_list(list) };
    Ok(n.max(0) as usize)
}

/// Raises the soft locked-memory limit (RLIMIT_MEMLOCK) to the hard one:
/// every registered region is pinned and counts against it. Returns the
/// limit now in force in bytes (None: unlimited, or running as root, whose
/// CAP_IPC_LOCK lifts the limit).
pub fn raise_memlock_limit() -> io::Result<Option<u64>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(None);
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we pass, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) != 0 {
            return Err(os_error("getrlimit(RLIMIT_MEMLOCK)"));
        }
        if lim.rlim_cur != lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) != 0 {
                return Err(os_error("setrlimit(RLIMIT_MEMLOCK)"));
            }
        }
    }
    Ok((lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur))
}

/// Text of a work-completion status ("transport retry counter exceeded").
pub fn wc_status_str(status: u32) -> String {
    // SAFETY: returns a pointer to a static string or NULL.
    let p = unsafe { sys::ibv_wc_status_str(status) };
    if p.is_null() {
        format!("status {status}")
    } else {
        // SAFETY: non-null pointers from ibv_wc_status_str are static C strings.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Name of a connection-manager event ("RDMA_CM_EVENT_ESTABLISHED").
pub fn cm_event_str(event: u32) -> String {
    // SAFETY: as for wc_status_str.
    let p = unsafe { sys::rdma_event_str(event) };
    if p.is_null() {
        format!("cm event {event}")
    } else {
        // SAFETY: a static C string.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// An rdma_cm event channel (its fd is non-blocking).
pub struct EventChannel(NonNull<sys::rdma_event_channel>);

/// One connection-manager event, already acknowledged. Not `Copy`: a
/// CONNECT_REQUEST carries a new id that exactly one owner takes.
#[derive(Debug)]
pub struct CmEvent {
    pub kind: u32,
    pub status: i32,
    /// The id the event is about: for CONNECT_REQUEST a new id that the
    /// receiver now owns (see [`CmId::from_request`]).
    id: *mut sys::rdma_cm_id,
}

impl EventChannel {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain constructor; NULL on failure.
        let ch = unsafe { sys::rdma_create_event_channel() };
        let ch = NonNull::new(ch).ok_or_else(|| os_error("rdma_create_event_channel"))?;
        let channel = EventChannel(ch);
        set_nonblocking(channel.fd())?;
        Ok(channel)
    }

    pub fn fd(&self) -> RawFd {
        // SAFETY: the channel is live while self is.
        unsafe { self.0.as_ref().fd }
    }

    /// The next event, or None when none is queued.
    pub fn next_event(&self) -> io::Result<Option<CmEvent>> {
        let mut ev: *mut sys::rdma_cm_event = ptr::null_mut();
        // SAFETY: the channel is live; on success `ev` points to an event
        // we copy the fields of and acknowledge exactly once.
        unsafe {
            if sys::rdma_get_cm_event(self.0.as_ptr(), &mut ev) != 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(None),
                    _ => Err(io::Error::new(e.kind(), format!("rdma_get_cm_event: {e}"))),
                };
            }
            let out = CmEvent {
                kind: (*ev).event,
                status: (*ev).status,
                id: (*ev).id,
            };
            sys::rdma_ack_cm_event(ev);
            Ok(Some(out))
        }
    }
}

impl Drop for EventChannel {
    fn drop(&mut self) {
        // SAFETY: every id on this channel was destroyed or migrated first
        // (ids are declared before their channel in the owning structs).
        unsafe { sys::rdma_destroy_event_channel(self.0.as_ptr()) }
    }
}

fn to_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { ptr::write(ptr::addr_of_mut!(ss).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { ptr::write(ptr::addr_of_mut!(ss).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// Reads a socket address that librdmacm stored in a sockaddr_storage-sized
/// slot (`rdma_addr`'s unions are that size).
///
/// SAFETY: `sa` must point to at least sizeof(sockaddr_storage) readable bytes.
unsafe fn from_sockaddr(sa: *const libc::sockaddr) -> Option<SocketAddr> {
    // SAFETY: guaranteed by the caller; the family tells which layout it is.
    unsafe {
        match c_int::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::new(
                    IpAddr::V6(ip),
                    u16::from_be(sin6.sin6_port),
                ))
            }
            _ => None,
        }
    }
}

/// An rdma_cm identifier (a listener, or one connection's endpoint).
pub struct CmId(NonNull<sys::rdma_cm_id>);

impl CmId {
    pub fn new(channel: &EventChannel) -> io::Result<Self> {
        let mut id = ptr::null_mut();
        // SAFETY: `channel` is live; on success `id` is a new id we own.
        let ret = unsafe {
            sys::rdma_create_id(
                channel.0.as_ptr(),
                &mut id,
                ptr::null_mut(),
                sys::rdma_port_space::RDMA_PS_TCP,
            )
        };
        check(ret, "rdma_create_id")?;
        NonNull::new(id)
            .map(CmId)
            .ok_or_else(|| io::Error::other("rdma_create_id returned NULL"))
    }

    /// Takes ownership of the new id a CONNECT_REQUEST carries (consuming
    /// the event, so the id has one owner; it is destroyed on drop).
    fn from_request(ev: CmEvent) -> Option<Self> {
        (ev.kind == cm_event::RDMA_CM_EVENT_CONNECT_REQUEST)
            .then_some(ev.id)
            .and_then(NonNull::new)
            .map(CmId)
    }

    /// Whether `ev` is about this id.
    pub fn owns(&self, ev: &CmEvent) -> bool {
        ev.id == self.0.as_ptr()
    }

    fn raw(&self) -> *mut sys::rdma_cm_id {
        self.0.as_ptr()
    }

    /// Moves the id's events to `channel` (each connection gets its own, so
    /// its fd wakes exactly that connection).
    pub fn migrate(&self, channel: &EventChannel) -> io::Result<()> {
        // SAFETY: both live; every event of this id has been acknowledged
        // (CmEvent acknowledges on receipt), so this does not block.
        check(
            unsafe { sys::rdma_migrate_id(self.raw(), channel.0.as_ptr()) },
            "rdma_migrate_id",
        )
    }

    /// Listens on `addr` (IPv6 listeners do not take IPv4: AFONLY).
    pub fn listen(&self, addr: SocketAddr, backlog: i32) -> io::Result<()> {
        let mut afonly: c_int = 1;
        // SAFETY: the option value is a c_int that outlives the call.
        let ret = unsafe {
            sys::rdma_set_option(
                self.raw(),
                RDMA_OPTION_ID,
                RDMA_OPTION_ID_AFONLY,
                ptr::addr_of_mut!(afonly).cast(),
                std::mem::size_of::<c_int>(),
            )
        };
        check(ret, "rdma_set_option(AFONLY)")?;
        let (mut ss, _) = to_sockaddr(addr);
        // SAFETY: `ss` holds a valid sockaddr for the call's duration.
        check(
            unsafe { sys::rdma_bind_addr(self.raw(), ptr::addr_of_mut!(ss).cast()) },
            "rdma_bind_addr",
        )?;
        // SAFETY: a bound id.
        check(
            unsafe { sys::rdma_listen(self.raw(), backlog) },
            "rdma_listen",
        )
    }

    pub fn resolve_addr(&self, dst: SocketAddr, timeout_ms: i32) -> io::Result<()> {
        let (mut ss, _) = to_sockaddr(dst);
        // SAFETY: `ss` is a valid sockaddr for the call.
        check(
            unsafe {
                sys::rdma_resolve_addr(
                    self.raw(),
                    ptr::null_mut(),
                    ptr::addr_of_mut!(ss).cast(),
                    timeout_ms,
                )
            },
            "rdma_resolve_addr",
        )
    }

    pub fn resolve_route(&self, timeout_ms: i32) -> io::Result<()> {
        // SAFETY: a live id with a resolved address.
        check(
            unsafe { sys::rdma_resolve_route(self.raw(), timeout_ms) },
            "rdma_resolve_route",
        )
    }

    fn set_ack_timeout(&self) -> io::Result<()> {
        let mut t: u8 = ACK_TIMEOUT;
        // SAFETY: the option value is a u8 that outlives the call.
        let ret = unsafe {
            sys::rdma_set_option(
                self.raw(),
                RDMA_OPTION_ID,
                RDMA_OPTION_ID_ACK_TIMEOUT,
                ptr::addr_of_mut!(t).cast(),
                1,
            )
        };
        check(ret, "rdma_set_option(ACK_TIMEOUT)")
    }

    fn conn_param(retry_count: u8) -> sys::rdma_conn_param {
        sys::rdma_conn_param {
            private_data: ptr::null(),
            private_data_len: 0,
            responder_resources: 1,
            initiator_depth: 1,
            flow_control: 0,
            retry_count,
            rnr_retry_count: RNR_RETRY_INFINITE,
            srq: 0,
            qp_num: 0,
        }
    }

    /// Accepts a connection request (server side; Valkey: retry count 5).
    pub fn accept(&self) -> io::Result<()> {
        self.set_ack_timeout()?;
        let mut param = Self::conn_param(5);
        // SAFETY: a live id from a CONNECT_REQUEST with its QP created.
        check(
            unsafe { sys::rdma_accept(self.raw(), &mut param) },
            "rdma_accept",
        )
    }

    pub fn reject(&self) {
        // SAFETY: a live id from a CONNECT_REQUEST.
        unsafe { sys::rdma_reject(self.raw(), ptr::null(), 0) };
    }

    /// Connects (client side; Valkey: retry count 7).
    pub fn connect(&self) -> io::Result<()> {
        self.set_ack_timeout()?;
        let mut param = Self::conn_param(7);
        // SAFETY: a live id with a resolved route and its QP created.
        check(
            unsafe { sys::rdma_connect(self.raw(), &mut param) },
            "rdma_connect",
        )
    }

    pub fn disconnect(&self) {
        // SAFETY: a live id; harmless if not connected.
        unsafe { sys::rdma_disconnect(self.raw()) };
    }

    /// The device context (known once the address is resolved or the
    /// request arrived).
    fn verbs(&self) -> io::Result<NonNull<sys::ibv_context>> {
        // SAFETY: reading a field of a live id.
        NonNull::new(unsafe { self.0.as_ref().verbs })
            .ok_or_else(|| io::Error::other("rdma_cm id has no device"))
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        // SAFETY: the union slot is sockaddr_storage-sized and lives in the id.
        unsafe { from_sockaddr(sys::rdma_get_local_addr(self.0.as_ref())) }
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        // SAFETY: as for local_addr.
        unsafe { from_sockaddr(sys::rdma_get_peer_addr(self.0.as_ref())) }
    }
}

impl Drop for CmId {
    fn drop(&mut self) {
        // SAFETY: the id's QP was destroyed first (QueuePair's Drop) and all
        // of its events were acknowledged.
        unsafe { sys::rdma_destroy_id(self.raw()) };
    }
}

/// Memory registered with a protection domain: page-aligned, zeroed, owned.
///
/// The device may write it at any time (with REMOTE_WRITE, the peer may), so
/// Rust never holds a reference into it: bytes move in and out by copies
/// through raw pointers, of ranges the protocol says are settled.
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
    mr: NonNull<sys::ibv_mr>,
}

const PAGE: usize = 4096;

impl Region {
    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(len.max(1), PAGE).expect("page-aligned layout")
    }

    fn new(pd: &ProtectionDomain, len: usize, access: u32) -> io::Result<Self> {
        let layout = Self::layout(len);
        // SAFETY: a non-zero-sized layout.
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "RDMA buffer"))?;
        // SAFETY: `ptr..ptr+len` is our allocation, alive until Drop (which
        // deregisters before freeing).
        let mr =
            unsafe { sys::ibv_reg_mr(pd.0.as_ptr(), ptr.as_ptr().cast(), len, access as c_int) };
        match NonNull::new(mr) {
            Some(mr) => Ok(Region { ptr, len, mr }),
            None => {
                let e = os_error("ibv_reg_mr (is the locked-memory limit, ulimit -l, too low?)");
                // SAFETY: allocated above with this layout, never registered.
                unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) };
                Err(e)
            }
        }
    }

    pub fn size(&self) -> usize {
        self.len
    }

    pub fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub fn lkey(&self) -> u32 {
        // SAFETY: the MR is live while self is.
        unsafe { self.mr.as_ref().lkey }
    }

    pub fn rkey(&self) -> u32 {
        // SAFETY: as for lkey.
        unsafe { self.mr.as_ref().rkey }
    }

    /// Copies `out.len()` bytes starting at `offset` out of the region.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset <= self.len && out.len() <= self.len - offset);
        // SAFETY: the range is inside the allocation (checked above) and
        // does not overlap `out`, which is ordinary Rust memory.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(offset), out.as_mut_ptr(), out.len())
        };
    }

    /// Copies `data` into the region at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) {
        assert!(offset <= self.len && data.len() <= self.len - offset);
        // SAFETY: as for read, in the other direction.
        unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(offset), data.len())
        };
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: deregistered once, then freed with the layout it was
        // allocated with; no work request using it is outstanding because
        // the QP is destroyed before its regions (QueuePair's Drop).
        unsafe {
            sys::ibv_dereg_mr(self.mr.as_ptr());
            std::alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.len));
        }
    }
}

struct ProtectionDomain(NonNull<sys::ibv_pd>);

impl Drop for ProtectionDomain {
    fn drop(&mut self) {
        // SAFETY: its QP and MRs are gone (declared before it in QueuePair).
        unsafe { sys::ibv_dealloc_pd(self.0.as_ptr()) };
    }
}

struct CompChannel(NonNull<sys::ibv_comp_channel>);

impl Drop for CompChannel {
    fn drop(&mut self) {
        // SAFETY: its CQ was destroyed first (declared before it).
        unsafe { sys::ibv_destroy_comp_channel(self.0.as_ptr()) };
    }
}

struct CompletionQueue {
    cq: NonNull<sys::ibv_cq>,
    /// Completion events taken from the channel but not yet acknowledged
    /// (ibv_destroy_cq waits for all of them).
    unacked: u32,
}

impl Drop for CompletionQueue {
    fn drop(&mut self) {
        // SAFETY: the QP using this CQ is destroyed first; acknowledging the
        // events we took lets ibv_destroy_cq return.
        unsafe {
            if self.unacked > 0 {
                sys::ibv_ack_cq_events(self.cq.as_ptr(), self.unacked);
            }
            sys::ibv_destroy_cq(self.cq.as_ptr());
        }
    }
}

/// One work completion, copied out of the CQ.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    pub wr_id: u64,
    pub status: u32,
    pub opcode: u32,
    pub byte_len: u32,
    /// The immediate, converted from network order.
    pub imm: u32,
}

/// What a posted send request does.
enum Op {
    Send,
    /// RDMA WRITE to the peer's (address, rkey).
    Write((u64, u32)),
    /// RDMA WRITE WITH IMM: target and immediate.
    WriteImm((u64, u32), u32),
}

/// Sizes of one connection's queues and buffers.
#[derive(Clone, Copy, Debug)]
pub struct QueueSizes {
    pub cq_entries: u32,
    pub send_wr: u32,
    pub recv_wr: u32,
    pub comp_vector: i32,
}

/// Access rights of a region.
#[derive(Clone, Copy, Debug)]
pub enum Access {
    /// Only our device writes it (receives, staging for our own sends).
    Local,
    /// The peer may RDMA-write it (our receive buffer).
    RemoteWrite,
}

/// Everything one RDMA connection owns: its cm id and event channel, PD,
/// completion channel, CQ and RC queue pair. Fields drop in declaration
/// order after `drop` destroyed the QP, so each handle goes before the
/// ones it depends on.
pub struct QueuePair {
    regions: Vec<Region>,
    cq: CompletionQueue,
    comp: CompChannel,
    pd: ProtectionDomain,
    ep: CmEndpoint,
}

impl QueuePair {
    /// Creates the PD, completion channel, CQ and QP on the endpoint's id
    /// (which has a device: a connect request, or a resolved route).
    pub fn new(ep: CmEndpoint, sizes: QueueSizes) -> io::Result<Self> {
        let ctx = ep.id.verbs()?;
        // SAFETY: `ctx` is the id's live device context.
        let pd = NonNull::new(unsafe { sys::ibv_alloc_pd(ctx.as_ptr()) })
            .map(ProtectionDomain)
            .ok_or_else(|| os_error("ibv_alloc_pd"))?;
        // SAFETY: as above.
        let comp = NonNull::new(unsafe { sys::ibv_create_comp_channel(ctx.as_ptr()) })
            .map(CompChannel)
            .ok_or_else(|| os_error("ibv_create_comp_channel"))?;
        // SAFETY: reading the fd of the live channel.
        set_nonblocking(unsafe { comp.0.as_ref().fd })?;
        // Negative: any vector (Valkey picks one at random); wrap to the count.
        // SAFETY: reading a field of the live context.
        let vectors = unsafe { ctx.as_ref().num_comp_vectors }.max(1);
        let comp_vector = if sizes.comp_vector < 0 {
            (std::process::id() as i32).rem_euclid(vectors)
        } else {
            sizes.comp_vector % vectors
        };
        // SAFETY: context and channel are live; the CQ is destroyed before them.
        let cq = unsafe {
            sys::ibv_create_cq(
                ctx.as_ptr(),
                sizes.cq_entries as c_int,
                ptr::null_mut(),
                comp.0.as_ptr(),
                comp_vector,
            )
        };
        let cq = NonNull::new(cq)
            .map(|cq| CompletionQueue { cq, unacked: 0 })
            .ok_or_else(|| os_error("ibv_create_cq"))?;
        // SAFETY: an all-zero ibv_qp_init_attr is valid; we fill the fields used.
        let mut attr: sys::ibv_qp_init_attr = unsafe { std::mem::zeroed() };
        attr.send_cq = cq.cq.as_ptr();
        attr.recv_cq = cq.cq.as_ptr();
        attr.qp_type = sys::ibv_qp_type::IBV_QPT_RC;
        attr.cap.max_send_wr = sizes.send_wr;
        attr.cap.max_recv_wr = sizes.recv_wr;
        attr.cap.max_send_sge = 1;
        attr.cap.max_recv_sge = 1;
        attr.sq_sig_all = 0;
        // SAFETY: id, pd and attr are live; the QP is destroyed in Drop
        // before the CQ and PD.
        check(
            unsafe { sys::rdma_create_qp(ep.id.raw(), pd.0.as_ptr(), &mut attr) },
            "rdma_create_qp",
        )?;
        let qp = QueuePair {
            regions: Vec::new(),
            cq,
            comp,
            pd,
            ep,
        };
        // Completions raise channel events from now on.
        qp.arm()?;
        Ok(qp)
    }

    pub fn id(&self) -> &CmId {
        &self.ep.id
    }

    pub fn cm_fd(&self) -> RawFd {
        self.ep.channel.fd()
    }

    pub fn cm_channel(&self) -> &EventChannel {
        &self.ep.channel
    }

    pub fn comp_fd(&self) -> RawFd {
        // SAFETY: reading a field of the live channel.
        unsafe { self.comp.0.as_ref().fd }
    }

    /// Duplicates (close-on-exec) of [`cm_fd`](Self::cm_fd) and
    /// [`comp_fd`](Self::comp_fd), for event loops that take ownership of
    /// the fds they watch. A duplicate shares the open file description, so
    /// it is readable exactly when the original is.
    pub fn dup_fds(&self) -> io::Result<[OwnedFd; 2]> {
        let dup = |fd: RawFd| {
            // SAFETY: `fd` belongs to a channel that `self` owns, so it stays
            // open while borrowed here; the duplicate is a new fd of our own.
            unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()
        };
        Ok([dup(self.cm_fd())?, dup(self.comp_fd())?])
    }

    /// Registers a new region of `len` bytes; returns its index.
    pub fn register(&mut self, len: usize, access: Access) -> io::Result<usize> {
        let flags = match access {
            Access::Local => sys::ibv_access_flags::IBV_ACCESS_LOCAL_WRITE.0,
            Access::RemoteWrite => {
                (sys::ibv_access_flags::IBV_ACCESS_LOCAL_WRITE
                    | sys::ibv_access_flags::IBV_ACCESS_REMOTE_WRITE)
                    .0
            }
        };
        let region = Region::new(&self.pd, len, flags)?;
        self.regions.push(region);
        Ok(self.regions.len() - 1)
    }

    /// Replaces region `index` by a new one of `len` bytes (no work request
    /// may still use the old one).
    pub fn reregister(&mut self, index: usize, len: usize, access: Access) -> io::Result<()> {
        let last = self.register(len, access)?;
        self.regions.swap_remove(index);
        debug_assert!(last == self.regions.len());
        Ok(())
    }

    pub fn regions(&self) -> usize {
        self.regions.len()
    }

    pub fn region(&self, index: usize) -> &Region {
        &self.regions[index]
    }

    /// Posts one receive of `len` bytes at `offset` in region `index`.
    pub fn post_recv(&self, wr_id: u64, index: usize, offset: usize, len: u32) -> io::Result<()> {
        let r = &self.regions[index];
        assert!(offset + len as usize <= r.len);
        let mut sge = sys::ibv_sge {
            addr: r.addr() + offset as u64,
            length: len,
            lkey: r.lkey(),
        };
        let mut wr = sys::ibv_recv_wr {
            wr_id,
            next: ptr::null_mut(),
            sg_list: &mut sge,
            num_sge: 1,
        };
        let mut bad = ptr::null_mut();
        // SAFETY: the SGE lies inside a registered region (asserted) that
        // outlives the QP; wr and sge live through the call, which copies them.
        let ret = unsafe { sys::ibv_post_recv(self.ep.id.0.as_ref().qp, &mut wr, &mut bad) };
        if ret == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(ret))
        }
    }

    /// Posts a SEND of `len` bytes from region `index` at `offset`.
    pub fn post_send(&self, wr_id: u64, index: usize, offset: usize, len: u32) -> io::Result<()> {
        self.post(wr_id, (index, offset, len), Op::Send, true)
    }

    /// Posts an RDMA WRITE WITH IMM of `len` bytes from region `index` at
    /// `offset` to the peer's `remote_addr`/`rkey`; the immediate (big-endian
    /// on the wire) is `imm`, which the protocol sets to `len`.
    pub fn post_write_imm(
        &self,
        wr_id: u64,
        index: usize,
        offset: usize,
        (len, imm): (u32, u32),
        remote: (u64, u32),
        signaled: bool,
    ) -> io::Result<()> {
        self.post(
            wr_id,
            (index, offset, len),
            Op::WriteImm(remote, imm),
            signaled,
        )
    }

    /// Posts a signaled RDMA WRITE of no bytes (from region `index`, to the
    /// peer's advertised `remote` buffer, which it leaves unchanged; no
    /// immediate, so the peer sees nothing): it completes after every
    /// request posted before it.
    pub fn post_marker(&self, wr_id: u64, index: usize, remote: (u64, u32)) -> io::Result<()> {
        self.post(wr_id, (index, 0, 0), Op::Write(remote), true)
    }

    fn post(
        &self,
        wr_id: u64,
        (index, offset, len): (usize, usize, u32),
        op: Op,
        signaled: bool,
    ) -> io::Result<()> {
        let r = &self.regions[index];
        assert!(offset + len as usize <= r.len);
        let mut sge = sys::ibv_sge {
            addr: r.addr() + offset as u64,
            length: len,
            lkey: r.lkey(),
        };
        // SAFETY: an all-zero ibv_send_wr is valid (null next, no flags).
        let mut wr: sys::ibv_send_wr = unsafe { std::mem::zeroed() };
        wr.wr_id = wr_id;
        wr.sg_list = &mut sge;
        // An empty write carries no SGE at all (some providers reject a
        // zero-length one).
        wr.num_sge = i32::from(len > 0);
        if signaled {
            wr.send_flags = sys::ibv_send_flags::IBV_SEND_SIGNALED.0;
        }
        let rdma = |(remote_addr, rkey): (u64, u32)| sys::rdma_t { remote_addr, rkey };
        match op {
            Op::Send => wr.opcode = sys::ibv_wr_opcode::IBV_WR_SEND,
            Op::Write(remote) => {
                wr.opcode = sys::ibv_wr_opcode::IBV_WR_RDMA_WRITE;
                wr.wr.rdma = rdma(remote);
            }
            Op::WriteImm(remote, imm) => {
                wr.opcode = sys::ibv_wr_opcode::IBV_WR_RDMA_WRITE_WITH_IMM;
                wr.imm_data_invalidated_rkey_union.imm_data = imm.to_be();
                wr.wr.rdma = rdma(remote);
            }
        }
        let mut bad = ptr::null_mut();
        // SAFETY: the SGE lies inside a registered region (asserted) that
        // outlives the QP; the call copies wr and sge.
        let ret = unsafe { sys::ibv_post_send(self.ep.id.0.as_ref().qp, &mut wr, &mut bad) };
        if ret == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(ret))
        }
    }

    /// Takes every queued completion event off the channel (acknowledging
    /// them in batches). Returns how many there were.
    pub fn take_events(&mut self) -> io::Result<u32> {
        let mut n = 0;
        loop {
            let mut cq = ptr::null_mut();
            let mut ctx: *mut c_void = ptr::null_mut();
            // SAFETY: the channel is live and non-blocking.
            let ret = unsafe { sys::ibv_get_cq_event(self.comp.0.as_ptr(), &mut cq, &mut ctx) };
            if ret != 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::WouldBlock {
                    return Err(io::Error::new(e.kind(), format!("ibv_get_cq_event: {e}")));
                }
                break;
            }
            n += 1;
            self.cq.unacked += 1;
        }
        if self.cq.unacked >= 64 {
            // SAFETY: acknowledging events we received on this CQ.
            unsafe { sys::ibv_ack_cq_events(self.cq.cq.as_ptr(), self.cq.unacked) };
            self.cq.unacked = 0;
        }
        Ok(n)
    }

    /// Asks for a channel event at the next completion.
    pub fn arm(&self) -> io::Result<()> {
        // SAFETY: a live CQ.
        let ret = unsafe { sys::ibv_req_notify_cq(self.cq.cq.as_ptr(), 0) };
        if ret == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(ret))
        }
    }

    /// Polls up to `out.len()` completions.
    pub fn poll(&self, out: &mut Vec<Completion>, max: usize) -> io::Result<usize> {
        const BATCH: usize = 32;
        // SAFETY: ibv_wc is plain data; all-zero is valid.
        let mut wcs: [sys::ibv_wc; BATCH] = unsafe { std::mem::zeroed() };
        let want = max.min(BATCH) as c_int;
        // SAFETY: the CQ is live and `wcs` has room for `want` entries.
        let n = unsafe { sys::ibv_poll_cq(self.cq.cq.as_ptr(), want, wcs.as_mut_ptr()) };
        if n < 0 {
            return Err(io::Error::other(format!("ibv_poll_cq failed ({n})")));
        }
        for wc in &wcs[..n as usize] {
            out.push(Completion {
                wr_id: wc.wr_id,
                status: wc.status,
                opcode: wc.opcode,
                byte_len: wc.byte_len,
                // SAFETY: a 4-byte union of integers; any bits are valid.
                imm: u32::from_be(unsafe { wc.imm_data_invalidated_rkey_union.imm_data }),
            });
        }
        Ok(n as usize)
    }
}

// SAFETY: libibverbs and librdmacm objects may be used from any thread;
// QueuePair hands out no shared access (its methods take &self only for
// posting and polling, which the verbs API allows concurrently, and the
// owner moves it between threads whole).
unsafe impl Send for QueuePair {}

impl Drop for QueuePair {
    fn drop(&mut self) {
        // SAFETY: the id is live and has a QP (created in new); destroying it
        // first means no work request still uses the regions, CQ or PD that
        // the fields' drops release next.
        unsafe { sys::rdma_destroy_qp(self.ep.id.raw()) };
    }
}

/// An rdma_cm id with the event channel it reports to: a listener, or one
/// connection's. The id is declared first, so it is destroyed before its
/// channel (rdma_destroy_id uses the channel) on every path.
pub struct CmEndpoint {
    pub id: CmId,
    pub channel: EventChannel,
}

impl CmEndpoint {
    /// A new id on a new channel.
    pub fn new() -> io::Result<Self> {
        let channel = EventChannel::new()?;
        let id = CmId::new(&channel)?;
        Ok(CmEndpoint { id, channel })
    }

    /// A listener on `addr`.
    pub fn listen(addr: SocketAddr, backlog: i32) -> io::Result<Self> {
        let ep = Self::new()?;
        ep.id.listen(addr, backlog)?;
        Ok(ep)
    }

    /// Takes the id a CONNECT_REQUEST carries onto a channel of its own (so
    /// its fd wakes exactly that connection). On failure the id is dropped,
    /// which rejects the request.
    pub fn from_request(ev: CmEvent) -> io::Result<Self> {
        let id = CmId::from_request(ev).ok_or_else(|| io::Error::other("not a connect request"))?;
        let channel = EventChannel::new()?;
        id.migrate(&channel)?;
        Ok(CmEndpoint { id, channel })
    }
}

/// Blocks until one of `fds` is readable or `timeout` passes (`Ok(false)`).
pub fn wait_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |t| t.as_millis().clamp(1, i32::MAX as u128) as i32);
    // SAFETY: `pfds` is a valid array of pollfd for the call's duration.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    match n {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(true)
            } else {
                Err(e)
            }
        }
    }
}
