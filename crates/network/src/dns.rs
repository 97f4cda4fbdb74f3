//! The DNS of user-defined networks: a small server on each network's
//! gateway that answers A queries for the names of the network's containers
//! (name, aliases, short ID) and relays every other query, as it came, to
//! the host's resolvers. Only the question section of a query is read; the
//! relay passes bytes through, so nothing else of DNS is needed (a whole DNS
//! library such as hickory would be most of the binary's new code for it).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// Time to live of berth's answers, docker's 600 s.
const TTL: u32 = 600;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// A query's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name, lower case, without the final dot.
    pub name: String,
    /// The record type.
    pub qtype: u16,
    /// The class.
    pub qclass: u16,
    /// Where the question section ends in the packet.
    end: usize,
}

/// Reads the one question of a query; `None` for anything else (answers,
/// several questions, compression in a question, truncation).
pub fn parse_query(packet: &[u8]) -> Option<Question> {
    if packet.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    let qdcount = u16::from_be_bytes([packet[4], packet[5]]);
    if flags & 0x8000 != 0 || qdcount != 1 {
        return None;
    }
    let mut at = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = *packet.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        let label = packet.get(at..at + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
        if at > 12 + 255 {
            return None;
        }
    }
    let qtype = u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]);
    let qclass = u16::from_be_bytes([*packet.get(at + 2)?, *packet.get(at + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        qclass,
        end: at + 4,
    })
}

/// The answer to `query` (whose question is `q`) with these addresses: A
/// records for an A query, an empty answer otherwise (the name exists, it
/// has no address of that type).
pub fn answer(query: &[u8], q: &Question, addrs: &[Ipv4Addr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + 16 * addrs.len());
    out.extend_from_slice(&query[..2]);
    let rd = query[2] & 0x01;
    // QR, opcode 0, AA, RD as asked; RA; rcode 0.
    out.push(0x84 | rd);
    out.push(0x80);
    let records: &[Ipv4Addr] = if q.qtype == TYPE_A && q.qclass == CLASS_IN {
        addrs
    } else {
        &[]
    };
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    for ip in records {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// A SERVFAIL answer, when no upstream resolver answered.
pub fn server_failure(query: &[u8], q: &Question) -> Vec<u8> {
    let mut out = answer(query, q, &[]);
    out[3] = 0x82;
    out
}

/// Whether a query type is one a local name answers (A; AAAA gets an empty
/// answer so resolvers do not fall through to upstream).
pub fn is_address_query(q: &Question) -> bool {
    q.qtype == TYPE_A || q.qtype == TYPE_AAAA
}

/// Sends `query` to the first upstream resolver that answers and returns its
/// answer.
pub fn relay(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(s) = UdpSocket::bind(bind) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        if s.connect(up).is_err() || s.send(query).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(n) = s.recv(&mut buf) {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// The names of one network: name → addresses.
pub type Names = HashMap<String, Vec<Ipv4Addr>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    #[test]
    fn answers_a_queries() {
        let packet = query("Web.example", TYPE_A);
        let q = parse_query(&packet).unwrap();
        assert_eq!(q.name, "web.example");
        let a = answer(&packet, &q, &[Ipv4Addr::new(172, 18, 0, 2)]);
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[2] & 0x80, 0x80, "a response");
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1, "one answer");
        assert_eq!(&a[a.len() - 4..], &[172, 18, 0, 2]);
        let aaaa = query("web", TYPE_AAAA);
        let q = parse_query(&aaaa).unwrap();
        let a = answer(&aaaa, &q, &[Ipv4Addr::new(172, 18, 0, 2)]);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0, "no AAAA records");
    }

    #[test]
    fn refuses_what_is_not_a_query() {
        assert!(parse_query(&[]).is_none());
        assert!(parse_query(&[0; 11]).is_none());
        let mut p = query("web", TYPE_A);
        p[2] |= 0x80;
        assert!(parse_query(&p).is_none(), "an answer");
        let mut p = query("web", TYPE_A);
        p.truncate(p.len() - 3);
        assert!(parse_query(&p).is_none(), "truncated");
        let mut p = query("web", TYPE_A);
        p[12] = 0xc0;
        assert!(parse_query(&p).is_none(), "compressed");
    }
}
