//! WebSocket frames taken apart (and put together) by hand: RFC 6455, section 5.2.
//!
//! ```text
//!  byte 0          byte 1          then
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| payload len | extended length: 2 bytes if   |
//! |I|S|S|S|  (4)  |A|     (7)     | len is 126, 8 bytes if 127    |
//! |N|V|V|V|       |S|             +-------------------------------+
//! | |1|2|3|       |K|             | masking key: 4 bytes if MASK  |
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! | payload: len bytes, each XORed with key[i % 4] if masked      |
//! +---------------------------------------------------------------+
//! ```
//!
//! Opcodes: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong. A client must mask
//! every frame; a server never masks. tungstenite does all of this for real; this module is for
//! the handshake lesson, which shows one frame field by field, and for tests that must send
//! frames no polite library would.

use std::io::{self, Read};

/// One frame, as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    /// The three reserved bits; nonzero only with an extension (we negotiate none).
    pub rsv: u8,
    pub opcode: u8,
    /// The masking key, if the frame was masked.
    pub mask: Option<[u8; 4]>,
    /// The payload, already unmasked.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The name of this frame's opcode.
    pub fn kind(&self) -> &'static str {
        match self.opcode {
            0x0 => "continuation",
            0x1 => "text",
            0x2 => "binary",
            0x8 => "close",
            0x9 => "ping",
            0xA => "pong",
            _ => "reserved",
        }
    }

    /// The close code of a close frame (the first two payload bytes, big-endian).
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 0x8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one frame; refuses a payload over `max` bytes before reading it.
pub fn read(stream: &mut impl Read, max: u64) -> io::Result<Frame> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    let fin = head[0] & 0x80 != 0;
    let rsv = (head[0] >> 4) & 0x07;
    let opcode = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => {
            let mut n = [0u8; 2];
            stream.read_exact(&mut n)?;
            u64::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0u8; 8];
            stream.read_exact(&mut n)?;
            u64::from_be_bytes(n)
        }
        n => u64::from(n),
    };
    if len > max {
        let why = format!("a frame of {len} bytes; the limit is {max}");
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    let mask = if masked {
        let mut key = [0u8; 4];
        stream.read_exact(&mut key)?;
        Some(key)
    } else {
        None
    };
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload)?;
    if let Some(key) = mask {
        // Masking is a XOR with the key, repeated: doing it again undoes it.
        payload.iter_mut().enumerate().for_each(|(i, byte)| *byte ^= key[i % 4]);
    }
    Ok(Frame { fin, rsv, opcode, mask, payload })
}

/// Encodes one final frame (FIN set) with `opcode` and `payload`, masked with `mask` if given.
pub fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | (opcode & 0x0F)];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_examples_decode() {
        // RFC 6455 section 5.7: "Hello", unmasked, then masked with 37 fa 21 3d.
        let unmasked = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let masked = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let frame = read(&mut &unmasked[..], 125).unwrap();
        assert_eq!((frame.fin, frame.opcode, frame.mask, frame.kind()), (true, 1, None, "text"));
        assert_eq!(frame.payload, b"Hello");
        let frame = read(&mut &masked[..], 125).unwrap();
        assert_eq!((frame.mask, frame.payload.as_slice()), (Some([0x37, 0xfa, 0x21, 0x3d]), &b"Hello"[..]));
        assert_eq!(encode(0x1, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])), masked);
        assert_eq!(encode(0x1, b"Hello", None), unmasked);
    }

    #[test]
    fn lengths_use_7_16_or_64_bits_and_round_trip() {
        for len in [0, 125, 126, 65535, 65536] {
            let payload = vec![b'x'; len];
            let bytes = encode(0x2, &payload, Some([1, 2, 3, 4]));
            let header = match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            };
            assert_eq!(bytes.len(), header + 4 + len);
            assert_eq!(read(&mut &bytes[..], 1 << 20).unwrap().payload, payload);
        }
        let close = encode(0x8, &[0x03, 0xe9], None);
        assert_eq!(read(&mut &close[..], 125).unwrap().close_code(), Some(1001));
    }

    #[test]
    fn an_announced_length_over_the_limit_is_refused_before_reading() {
        let header = [0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(read(&mut &header[..], 1 << 20).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
