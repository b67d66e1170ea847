//! What an instance said to ZooKeeper and was answered, decoded from the
//! bytes its own proxy saw (`TcpProxy::set_tap`): the session it asked for
//! (clientid, requested timeout), the session it got, and each create,
//! watch and close. This is how conform judges a binary without its
//! cooperation: ZooKeeper's client protocol is the same for every client.
//!
//! Frames: a big-endian i32 length, then the body. A connection opens with
//! ConnectRequest `(i32 protocol, i64 lastZxid, i32 timeout, i64 session,
//! buffer passwd[, bool readOnly])` and its ConnectResponse `(i32 protocol,
//! i32 timeout, i64 session, buffer passwd[, bool])`, timeout 0 and session
//! 0 meaning "expired"; then requests `(i32 xid, i32 type, body)` and
//! replies `(i32 xid, i64 zxid, i32 err, body)`.

use std::collections::HashMap;

/// ZooKeeper's request types this module decodes (`ZooDefs.OpCode`).
const OP_CREATE: i32 = 1;
const OP_EXISTS: i32 = 3;
const OP_GET_DATA: i32 = 4;
const OP_GET_CHILDREN: i32 = 8;
const OP_GET_CHILDREN2: i32 = 12;
const OP_CREATE2: i32 = 15;
const OP_CREATE_CONTAINER: i32 = 19;
const OP_CREATE_TTL: i32 = 21;
const OP_CLOSE: i32 = -11;
/// The largest frame believed (ZooKeeper's default jute.maxbuffer is 1 MiB).
const MAX_FRAME: usize = 4 << 20;

/// One decoded event, at `t` (ms on conform's clock). Every decoded field
/// is kept, for a wire log's Debug output, used by the judgement or not.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub enum Wire {
    /// A ConnectRequest: `session` 0 is a new session (clientid NULL).
    Connect {
        t: f64,
        link: u64,
        session: i64,
        timeout: i32,
        forwarded: bool,
    },
    /// A ConnectResponse: `timeout` 0 means the session is expired.
    Connected {
        t: f64,
        link: u64,
        session: i64,
        timeout: i32,
        /// The session's password (16 bytes), to end it from outside.
        passwd: Vec<u8>,
    },
    /// A create request (and, once answered, its result).
    Create {
        t: f64,
        link: u64,
        xid: i32,
        path: String,
        data: Vec<u8>,
        /// `(perms, scheme, id)` of each ACL entry.
        acl: Vec<(i32, String, String)>,
        flags: i32,
        rc: Option<i32>,
        forwarded: bool,
    },
    /// An exists / getData / getChildren with the watch flag set.
    Watch {
        t: f64,
        link: u64,
        op: i32,
        path: String,
    },
    /// closeSession.
    Close { t: f64, link: u64 },
}

impl Wire {
    pub fn t(&self) -> f64 {
        match self {
            Wire::Connect { t, .. }
            | Wire::Connected { t, .. }
            | Wire::Create { t, .. }
            | Wire::Watch { t, .. }
            | Wire::Close { t, .. } => *t,
        }
    }
}

/// The bytes of one direction of one connection not yet decoded.
#[derive(Default)]
struct Stream {
    buf: Vec<u8>,
    /// Frames seen (the first is the connect handshake).
    frames: u64,
    /// Set when the bytes stopped making sense: nothing more is decoded.
    lost: bool,
}

/// Every event of one instance's connections, in order.
#[derive(Default)]
pub struct WireLog {
    pub events: Vec<Wire>,
    streams: HashMap<(u64, bool), Stream>,
    /// Index in `events` of each link's unanswered create, by xid.
    pending: HashMap<(u64, i32), usize>,
}

impl WireLog {
    /// Takes one chunk of bytes read by the proxy.
    pub fn feed(&mut self, t: f64, link: u64, from_client: bool, forwarded: bool, bytes: &[u8]) {
        // What the server answered counts only when it reached the client.
        if !from_client && !forwarded {
            return;
        }
        let stream = self.streams.entry((link, from_client)).or_default();
        if stream.lost {
            return;
        }
        stream.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        loop {
            if stream.buf.len() < 4 {
                break;
            }
            let len = i32::from_be_bytes(stream.buf[..4].try_into().expect("4 bytes"));
            if len < 0 || len as usize > MAX_FRAME {
                stream.lost = true;
                break;
            }
            let end = 4 + len as usize;
            if stream.buf.len() < end {
                break;
            }
            let body = stream.buf[4..end].to_vec();
            stream.buf.drain(..end);
            frames.push((stream.frames, body));
            stream.frames += 1;
        }
        for (n, body) in frames {
            self.decode(t, link, from_client, forwarded, n == 0, &body);
        }
    }

    fn decode(
        &mut self,
        t: f64,
        link: u64,
        from_client: bool,
        forwarded: bool,
        first: bool,
        b: &[u8],
    ) {
        let mut r = Reader { b, at: 0 };
        match (from_client, first) {
            (true, true) => {
                let (Some(_), Some(_), Some(timeout), Some(session)) =
                    (r.i32(), r.i64(), r.i32(), r.i64())
                else {
                    return;
                };
                self.events.push(Wire::Connect {
                    t,
                    link,
                    session,
                    timeout,
                    forwarded,
                });
            }
            (false, true) => {
                let (Some(_), Some(timeout), Some(session)) = (r.i32(), r.i32(), r.i64()) else {
                    return;
                };
                let passwd = r.buffer().unwrap_or_default();
                self.events.push(Wire::Connected {
                    t,
                    link,
                    session,
                    timeout,
                    passwd,
                });
            }
            (true, false) => {
                let (Some(xid), Some(op)) = (r.i32(), r.i32()) else {
                    return;
                };
                match op {
                    OP_CREATE | OP_CREATE2 | OP_CREATE_CONTAINER | OP_CREATE_TTL => {
                        let Some(create) = decode_create(&mut r) else {
                            return;
                        };
                        let (path, data, acl, flags) = create;
                        self.pending.insert((link, xid), self.events.len());
                        self.events.push(Wire::Create {
                            t,
                            link,
                            xid,
                            path,
                            data,
                            acl,
                            flags,
                            rc: None,
                            forwarded,
                        });
                    }
                    OP_EXISTS | OP_GET_DATA | OP_GET_CHILDREN | OP_GET_CHILDREN2 => {
                        if let (Some(path), Some(watch)) = (r.string(), r.bool()) {
                            if watch {
                                self.events.push(Wire::Watch { t, link, op, path });
                            }
                        }
                    }
                    OP_CLOSE => self.events.push(Wire::Close { t, link }),
                    _ => {}
                }
            }
            (false, false) => {
                let (Some(xid), Some(_), Some(err)) = (r.i32(), r.i64(), r.i32()) else {
                    return;
                };
                if let Some(i) = self.pending.remove(&(link, xid)) {
                    if let Some(Wire::Create { rc, .. }) = self.events.get_mut(i) {
                        *rc = Some(err);
                    }
                }
            }
        }
    }
}

type Create = (String, Vec<u8>, Vec<(i32, String, String)>, i32);

/// CreateRequest: `ustring path, buffer data, vector<ACL> acl, int flags`
/// (ACL: `int perms, ustring scheme, ustring id`).
fn decode_create(r: &mut Reader) -> Option<Create> {
    let path = r.string()?;
    let data = r.buffer()?;
    let n = r.i32()?;
    let mut acl = Vec::new();
    for _ in 0..n.max(0) {
        acl.push((r.i32()?, r.string()?, r.string()?));
    }
    let flags = r.i32()?;
    Some((path, data, acl, flags))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bool(&mut self) -> Option<bool> {
        Some(self.take(1)?[0] != 0)
    }
    fn buffer(&mut self) -> Option<Vec<u8>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(Vec::new());
        }
        Some(self.take(n as usize)?.to_vec())
    }
    fn string(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(&self.buffer()?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    fn string(s: &str) -> Vec<u8> {
        let mut v = (s.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn a_session_and_a_create_are_decoded_across_chunks() {
        let mut log = WireLog::default();
        let mut connect = 0i32.to_be_bytes().to_vec();
        connect.extend_from_slice(&0i64.to_be_bytes());
        connect.extend_from_slice(&5000i32.to_be_bytes());
        connect.extend_from_slice(&0i64.to_be_bytes());
        connect.extend_from_slice(&string("0123456789abcdef"));
        let mut create = 7i32.to_be_bytes().to_vec();
        create.extend_from_slice(&OP_CREATE.to_be_bytes());
        create.extend_from_slice(&string("/m/test"));
        create.extend_from_slice(&string("10.0.0.1\0"));
        create.extend_from_slice(&1i32.to_be_bytes());
        create.extend_from_slice(&31i32.to_be_bytes());
        create.extend_from_slice(&string("world"));
        create.extend_from_slice(&string("anyone"));
        create.extend_from_slice(&1i32.to_be_bytes());
        let mut bytes = frame(&connect);
        bytes.extend_from_slice(&frame(&create));
        // One byte at a time: frames are put together whatever the chunks.
        for b in &bytes {
            log.feed(1.0, 0, true, true, std::slice::from_ref(b));
        }
        let mut reply = 7i32.to_be_bytes().to_vec();
        reply.extend_from_slice(&9i64.to_be_bytes());
        reply.extend_from_slice(&(-110i32).to_be_bytes());
        let mut answered = frame(&[0u8; 20]);
        answered.extend_from_slice(&frame(&reply));
        log.feed(2.0, 0, false, true, &answered);
        // In the order fed: the client's two frames, then the answer.
        assert!(matches!(
            log.events[0],
            Wire::Connect {
                session: 0,
                timeout: 5000,
                ..
            }
        ));
        assert!(matches!(log.events[2], Wire::Connected { timeout: 0, .. }));
        match &log.events[1] {
            Wire::Create {
                path,
                data,
                acl,
                flags,
                rc,
                ..
            } => {
                assert_eq!(path, "/m/test");
                assert_eq!(data, b"10.0.0.1\0");
                assert_eq!(acl, &[(31, "world".to_owned(), "anyone".to_owned())]);
                assert_eq!((*flags, *rc), (1, Some(-110)));
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn nonsense_stops_the_stream_without_a_panic() {
        let mut log = WireLog::default();
        log.feed(0.0, 0, true, true, &[0xff; 64]);
        log.feed(0.0, 0, true, true, &frame(&[1, 2]));
        assert!(log.events.is_empty());
    }
}
