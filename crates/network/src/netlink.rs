//! Links, addresses and routes over rtnetlink, synchronously: one request,
//! one acknowledgement. `rtnetlink` (the async crate over the same packet
//! types) would bring a tokio runtime into every container's monitor for a
//! handful of messages; the packet crate and a blocking socket do the job.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::Error;
use crate::subnet::Subnet;

/// A link's index.
pub type LinkIndex = u32;

/// An rtnetlink socket in the network namespace it was opened in.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in this thread's network namespace.
    pub fn open() -> Result<Netlink, Error> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(Error::sys("netlink socket"))?;
        socket
            .bind_auto()
            .map_err(Error::sys("netlink socket bind"))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(Error::sys("netlink socket connect"))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// A socket in the network namespace `netns` (a `/proc/PID/ns/net`
    /// descriptor). The socket stays in that namespace for its life; the
    /// thread that opened it there ends at once.
    pub fn open_in(netns: BorrowedFd<'_>) -> Result<Netlink, Error> {
        let raw = netns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: the descriptor outlives this scoped thread (it is
                // borrowed by the caller for the whole call).
                let fd = unsafe { BorrowedFd::borrow_raw(raw) };
                rustix::thread::move_into_link_name_space(
                    fd,
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(|e| Error::sys("entering the container's network namespace")(e.into()))?;
                Netlink::open()
            })
            .join()
            .unwrap_or_else(|_| Err(Error::Invalid("the netlink thread panicked".into())))
        })
    }

    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, Error> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = NetlinkMessage::from(msg);
        // An acknowledgement ends every answer (a GET's reply is followed by
        // one), so the reading loop knows when to stop.
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0u8; req.header.length as usize];
        req.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .map_err(|e| Error::netlink(format!("{what}: {e}")))?;
        let mut answers = Vec::new();
        let mut rbuf = vec![0u8; 1 << 16];
        loop {
            let n = self
                .socket
                .recv(&mut &mut rbuf[..], 0)
                .map_err(|e| Error::netlink(format!("{what}: {e}")))?;
            let mut off = 0;
            while off < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[off..n])
                    .map_err(|e| Error::netlink(format!("{what}: a malformed answer: {e}")))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number != self.seq {
                    off += len.max(1);
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(answers),
                            Some(code) => Err(Error::Netlink {
                                message: format!(
                                    "{what}: {}",
                                    std::io::Error::from_raw_os_error(-code.get())
                                ),
                                errno: Some(-code.get()),
                            }),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// The index of the link named `name`, if there is one.
    pub fn link_index(&mut self, name: &str) -> Result<Option<LinkIndex>, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0, "looking up a link") {
            Ok(answers) => Ok(answers.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.is_errno(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the link is up.
    pub fn link_is_up(&mut self, index: LinkIndex) -> Result<bool, Error> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let answers = self.request(RouteNetlinkMessage::GetLink(msg), 0, "reading a link")?;
        Ok(answers.iter().any(|m| {
            matches!(m, RouteNetlinkMessage::NewLink(l) if l.header.flags.contains(LinkFlags::Up))
        }))
    }

    /// Creates a bridge.
    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<LinkIndex, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating bridge {name}"),
        )?;
        self.link_index(name)?
            .ok_or_else(|| Error::netlink(format!("bridge {name} vanished after its creation")))
    }

    /// Creates a veth pair: `host` here, `peer` moved at once into the
    /// network namespace `peer_netns` (so no name clash with this one's).
    pub fn add_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_netns: BorrowedFd<'_>,
        peer_mac: [u8; 6],
        mtu: Option<u32>,
        controller: LinkIndex,
    ) -> Result<LinkIndex, Error> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg
            .attributes
            .push(LinkAttribute::Address(peer_mac.to_vec()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes.push(LinkAttribute::Controller(controller));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
            peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating veth {host}"),
        )?;
        self.link_index(host)?
            .ok_or_else(|| Error::netlink(format!("veth {host} vanished after its creation")))
    }

    /// Sets a link up.
    pub fn set_up(&mut self, index: LinkIndex) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(
            RouteNetlinkMessage::SetLink(msg),
            NLM_F_ACK,
            "setting a link up",
        )?;
        Ok(())
    }

    /// Deletes a link (a veth takes its peer with it).
    pub fn delete_link(&mut self, index: LinkIndex) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.request(
            RouteNetlinkMessage::DelLink(msg),
            NLM_F_ACK,
            "deleting a link",
        )?;
        Ok(())
    }

    /// Adds `ip/prefix` to a link (an existing equal address is fine).
    pub fn add_address(&mut self, index: LinkIndex, ip: Ipv4Addr, prefix: u8) -> Result<(), Error> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(std::net::IpAddr::V4(ip)));
        msg.attributes
            .push(AddressAttribute::Address(std::net::IpAddr::V4(ip)));
        if prefix < 31 {
            let bcast = Subnet::containing(ip, prefix).broadcast();
            msg.attributes.push(AddressAttribute::Broadcast(bcast));
        }
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("adding address {ip}/{prefix}"),
        ) {
            Err(e) if e.is_errno(libc::EEXIST) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The IPv4 subnets of every address on every link, up or down: a
    /// docker or podman bridge that is down has no route but still owns its
    /// subnet.
    pub fn address_subnets(&mut self) -> Result<Vec<Subnet>, Error> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let answers = self.request(
            RouteNetlinkMessage::GetAddress(msg),
            NLM_F_DUMP,
            "listing addresses",
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => a.attributes.iter().find_map(|at| match at {
                    AddressAttribute::Local(std::net::IpAddr::V4(ip)) => {
                        Some(Subnet::containing(*ip, a.header.prefix_len))
                    }
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }

    /// Adds the default route through `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), Error> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("adding the default route via {gateway}"),
        )?;
        Ok(())
    }

    /// The IPv4 destinations of the main table's routes, default routes aside:
    /// networks a new bridge must not overlap.
    pub fn routed_subnets(&mut self) -> Result<Vec<Subnet>, Error> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let answers = self.request(
            RouteNetlinkMessage::GetRoute(msg),
            NLM_F_DUMP,
            "listing routes",
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == RouteHeader::RT_TABLE_MAIN
                        && r.header.destination_prefix_length > 0 =>
                {
                    r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => {
                            Some(Subnet::containing(*d, r.header.destination_prefix_length))
                        }
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }
}
