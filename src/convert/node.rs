//! The encoder's bound form of a batch: one [`Node`] per field holding that field's values
//! for every row, which first adds each row's encoded size ([`Node::add_sizes`]) and then
//! writes each row's bytes at the row's cursor ([`Node::write`]).

use arrow::array::{
    BinaryArray, BinaryViewArray, FixedSizeBinaryArray, LargeBinaryArray, LargeStringArray,
    StringArray, StringViewArray,
};
use arrow::buffer::NullBuffer;

use super::values::is_valid;
use super::wire::{put_bytes, put_varint, varint_len, Tag};

/// Bytes of a string or binary column.
pub(super) enum ByteSource {
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    Utf8View(StringViewArray),
    Binary(BinaryArray),
    LargeBinary(LargeBinaryArray),
    BinaryView(BinaryViewArray),
    Fixed(FixedSizeBinaryArray),
}

impl ByteSource {
    #[inline]
    pub(super) fn value(&self, i: usize) -> &[u8] {
        match self {
            ByteSource::Utf8(a) => a.value(i).as_bytes(),
            ByteSource::LargeUtf8(a) => a.value(i).as_bytes(),
            ByteSource::Utf8View(a) => a.value(i).as_bytes(),
            ByteSource::Binary(a) => a.value(i),
            ByteSource::LargeBinary(a) => a.value(i),
            ByteSource::BinaryView(a) => a.value(i),
            ByteSource::Fixed(a) => a.value(i),
        }
    }
}

pub(super) enum Packed {
    Varint(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// One field, bound to the arrays of one batch. `valid` is the effective validity in the
/// node's index space: its own nulls and those of every enclosing struct or list row.
pub(super) enum Node {
    Varint {
        tag: Tag,
        vals: Vec<u64>,
        valid: Option<NullBuffer>,
    },
    Fixed32 {
        tag: Tag,
        vals: Vec<f32>,
        valid: Option<NullBuffer>,
    },
    Fixed64 {
        tag: Tag,
        vals: Vec<f64>,
        valid: Option<NullBuffer>,
    },
    Bytes {
        tag: Tag,
        src: ByteSource,
        valid: Option<NullBuffer>,
    },
    Message {
        tag: Tag,
        children: Vec<Node>,
        valid: Option<NullBuffer>,
        inner: Vec<usize>,
    },
    Repeated {
        ranges: Vec<(usize, usize)>,
        n_elems: usize,
        valid: Option<NullBuffer>,
        elem: Box<Node>,
        elem_sizes: Vec<usize>,
        elem_cursors: Vec<usize>,
    },
    Packed {
        tag: Tag,
        ranges: Vec<(usize, usize)>,
        valid: Option<NullBuffer>,
        vals: Packed,
        payload: Vec<usize>,
    },
}

impl Node {
    pub(super) fn add_sizes(&mut self, out: &mut [usize]) {
        match self {
            Node::Varint { tag, vals, valid } => {
                let t = tag.len();
                match valid {
                    None => out
                        .iter_mut()
                        .zip(vals.iter())
                        .for_each(|(o, v)| *o += t + varint_len(*v)),
                    Some(_) => {
                        for (i, (o, v)) in out.iter_mut().zip(vals.iter()).enumerate() {
                            if is_valid(valid, i) {
                                *o += t + varint_len(*v);
                            }
                        }
                    }
                }
            }
            Node::Fixed32 { tag, valid, .. } => add_fixed(out, tag.len() + 4, valid),
            Node::Fixed64 { tag, valid, .. } => add_fixed(out, tag.len() + 8, valid),
            Node::Bytes { tag, src, valid } => {
                let t = tag.len();
                for (i, o) in out.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        let l = src.value(i).len();
                        *o += t + varint_len(l as u64) + l;
                    }
                }
            }
            Node::Message {
                tag,
                children,
                valid,
                inner,
            } => {
                inner.clear();
                inner.resize(out.len(), 0);
                for c in children.iter_mut() {
                    c.add_sizes(inner);
                }
                let t = tag.len();
                for (i, o) in out.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        *o += t + varint_len(inner[i] as u64) + inner[i];
                    }
                }
            }
            Node::Repeated {
                ranges,
                n_elems,
                valid,
                elem,
                elem_sizes,
                ..
            } => {
                elem_sizes.clear();
                elem_sizes.resize(*n_elems, 0);
                elem.add_sizes(elem_sizes);
                for (i, o) in out.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        let (s, e) = ranges[i];
                        *o += elem_sizes[s..e].iter().sum::<usize>();
                    }
                }
            }
            Node::Packed {
                tag,
                ranges,
                valid,
                vals,
                payload,
            } => {
                payload.clear();
                payload.resize(out.len(), 0);
                for (i, o) in out.iter_mut().enumerate() {
                    let (s, e) = ranges[i];
                    if s == e || !is_valid(valid, i) {
                        continue;
                    }
                    let p = match vals {
                        Packed::Varint(v) => v[s..e].iter().map(|x| varint_len(*x)).sum(),
                        Packed::F32(_) => (e - s) * 4,
                        Packed::F64(_) => (e - s) * 8,
                    };
                    payload[i] = p;
                    *o += tag.len() + varint_len(p as u64) + p;
                }
            }
        }
    }

    pub(super) fn write(&mut self, buf: &mut [u8], cursors: &mut [usize]) {
        match self {
            Node::Varint { tag, vals, valid } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        tag.put(buf, c);
                        put_varint(buf, c, vals[i]);
                    }
                }
            }
            Node::Fixed32 { tag, vals, valid } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        tag.put(buf, c);
                        put_bytes(buf, c, &vals[i].to_le_bytes());
                    }
                }
            }
            Node::Fixed64 { tag, vals, valid } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        tag.put(buf, c);
                        put_bytes(buf, c, &vals[i].to_le_bytes());
                    }
                }
            }
            Node::Bytes { tag, src, valid } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        let v = src.value(i);
                        tag.put(buf, c);
                        put_varint(buf, c, v.len() as u64);
                        put_bytes(buf, c, v);
                    }
                }
            }
            Node::Message {
                tag,
                children,
                valid,
                inner,
            } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        tag.put(buf, c);
                        put_varint(buf, c, inner[i] as u64);
                    }
                }
                for child in children.iter_mut() {
                    child.write(buf, cursors);
                }
            }
            Node::Repeated {
                ranges,
                valid,
                elem,
                elem_sizes,
                elem_cursors,
                ..
            } => {
                elem_cursors.clear();
                elem_cursors.resize(elem_sizes.len(), 0);
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        let (s, e) = ranges[i];
                        for j in s..e {
                            elem_cursors[j] = *c;
                            *c += elem_sizes[j];
                        }
                    }
                }
                elem.write(buf, elem_cursors);
            }
            Node::Packed {
                tag,
                ranges,
                valid,
                vals,
                payload,
            } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    let (s, e) = ranges[i];
                    if s == e || !is_valid(valid, i) {
                        continue;
                    }
                    tag.put(buf, c);
                    put_varint(buf, c, payload[i] as u64);
                    match vals {
                        Packed::Varint(v) => v[s..e].iter().for_each(|x| put_varint(buf, c, *x)),
                        Packed::F32(v) => v[s..e]
                            .iter()
                            .for_each(|x| put_bytes(buf, c, &x.to_le_bytes())),
                        Packed::F64(v) => v[s..e]
                            .iter()
                            .for_each(|x| put_bytes(buf, c, &x.to_le_bytes())),
                    }
                }
            }
        }
    }
}

fn add_fixed(out: &mut [usize], size: usize, valid: &Option<NullBuffer>) {
    for (i, o) in out.iter_mut().enumerate() {
        if is_valid(valid, i) {
            *o += size;
        }
    }
}
