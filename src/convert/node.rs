//! The encoder's bound form of a batch: one [`Node`] per field holding that field's values
//! for every row, which first adds each row's encoded size ([`Node::add_sizes`]) and then
//! writes each row's bytes at the row's cursor ([`Node::write`]).

use arrow::array::{
    BinaryArray, BinaryViewArray, FixedSizeBinaryArray, GenericByteArray, GenericByteViewArray,
    LargeBinaryArray, LargeStringArray, StringArray, StringViewArray,
};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{ByteArrayType, ByteViewType};

use super::wire::{put_array, put_bytes, put_varint, varint_len, Tag};

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

/// The bytes of value `i` of one kind of byte array, so that the loops over a byte column
/// are compiled once per kind instead of asking the kind at every value.
trait ByteValues {
    fn bytes(&self, i: usize) -> &[u8];
}

impl<T: ByteArrayType> ByteValues for GenericByteArray<T> {
    #[inline(always)]
    fn bytes(&self, i: usize) -> &[u8] {
        self.value(i).as_ref()
    }
}

impl<T: ByteViewType + ?Sized> ByteValues for GenericByteViewArray<T> {
    #[inline(always)]
    fn bytes(&self, i: usize) -> &[u8] {
        self.value(i).as_ref()
    }
}

impl ByteValues for FixedSizeBinaryArray {
    #[inline(always)]
    fn bytes(&self, i: usize) -> &[u8] {
        self.value(i)
    }
}

/// `$body` with `$a` bound to the array of `$src`, whatever its kind.
macro_rules! with_byte_values {
    ($src:expr, $a:ident => $body:expr) => {
        match $src {
            ByteSource::Utf8($a) => $body,
            ByteSource::LargeUtf8($a) => $body,
            ByteSource::Utf8View($a) => $body,
            ByteSource::Binary($a) => $body,
            ByteSource::LargeBinary($a) => $body,
            ByteSource::BinaryView($a) => $body,
            ByteSource::Fixed($a) => $body,
        }
    };
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
    F32(ScalarBuffer<f32>),
    F64(ScalarBuffer<f64>),
}

/// One field, bound to the arrays of one batch. `valid` is the effective validity in the
/// node's index space: its own nulls and those of every enclosing struct or list row.
pub(super) enum Node {
    Varint {
        tag: Tag,
        vals: Vec<u64>,
        valid: Option<NullBuffer>,
    },
    /// Values shared with the Arrow array (no copy).
    Fixed32 {
        tag: Tag,
        vals: ScalarBuffer<f32>,
        valid: Option<NullBuffer>,
    },
    /// Values shared with the Arrow array (no copy) unless widened from f32.
    Fixed64 {
        tag: Tag,
        vals: ScalarBuffer<f64>,
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
        /// Row `i` holds elements `offsets[i]..offsets[i + 1]`.
        offsets: Vec<usize>,
        valid: Option<NullBuffer>,
        elem: Box<Node>,
        elem_sizes: Vec<usize>,
        elem_cursors: Vec<usize>,
    },
    /// Numbers packed into one field per row. A null row holds no elements (the walk
    /// leaves them out), so it writes nothing, as an empty one does.
    Packed {
        tag: Tag,
        /// Row `i` holds elements `offsets[i]..offsets[i + 1]`.
        offsets: Vec<usize>,
        vals: Packed,
        payload: Vec<usize>,
    },
}

impl Node {
    /// Add each row's encoded size of this field to `out` (one entry per row).
    pub(super) fn add_sizes(&mut self, out: &mut [usize]) {
        match self {
            Node::Varint { tag, vals, valid } => {
                let t = tag.len();
                match valid {
                    None => out
                        .iter_mut()
                        .zip(vals.iter())
                        .for_each(|(o, v)| *o += t + varint_len(*v)),
                    Some(_) => each_valid(out, valid, |i, o| *o += t + varint_len(vals[i])),
                }
            }
            Node::Fixed32 { tag, valid, .. } => {
                let size = tag.len() + 4;
                each_valid(out, valid, |_, o| *o += size)
            }
            Node::Fixed64 { tag, valid, .. } => {
                let size = tag.len() + 8;
                each_valid(out, valid, |_, o| *o += size)
            }
            Node::Bytes { tag, src, valid } => {
                let t = tag.len();
                with_byte_values!(src, a => each_valid(out, valid, |i, o| {
                    let l = a.bytes(i).len();
                    *o += t + varint_len(l as u64) + l;
                }))
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
                each_valid(out, valid, |i, o| {
                    *o += t + varint_len(inner[i] as u64) + inner[i]
                })
            }
            Node::Repeated {
                offsets,
                valid,
                elem,
                elem_sizes,
                ..
            } => {
                elem_sizes.clear();
                elem_sizes.resize(offsets.last().copied().unwrap_or(0), 0);
                elem.add_sizes(elem_sizes);
                each_valid(out, valid, |i, o| {
                    let (s, e) = (offsets[i], offsets[i + 1]);
                    *o += elem_sizes[s..e].iter().sum::<usize>();
                })
            }
            Node::Packed {
                tag,
                offsets,
                vals,
                payload,
            } => {
                // A row without elements (empty or null) adds nothing.
                vals.payloads(offsets, payload);
                let t = tag.len();
                for (o, &p) in out.iter_mut().zip(payload.iter()) {
                    *o += usize::from(p != 0) * (t + varint_len(p as u64)) + p;
                }
            }
        }
    }

    /// Write this field of every row at the row's cursor (sizes added first).
    pub(super) fn write(&mut self, buf: &mut [u8], cursors: &mut [usize]) {
        match self {
            Node::Varint { tag, vals, valid } => each_valid(cursors, valid, |i, c| {
                tag.put(buf, c);
                put_varint(buf, c, vals[i]);
            }),
            Node::Fixed32 { tag, vals, valid } => each_valid(cursors, valid, |i, c| {
                tag.put(buf, c);
                put_array(buf, c, vals[i].to_le_bytes());
            }),
            Node::Fixed64 { tag, vals, valid } => each_valid(cursors, valid, |i, c| {
                tag.put(buf, c);
                put_array(buf, c, vals[i].to_le_bytes());
            }),
            Node::Bytes { tag, src, valid } => {
                with_byte_values!(src, a => each_valid(cursors, valid, |i, c| {
                    let v = a.bytes(i);
                    tag.put(buf, c);
                    put_varint(buf, c, v.len() as u64);
                    put_bytes(buf, c, v);
                }))
            }
            Node::Message {
                tag,
                children,
                valid,
                inner,
            } => {
                each_valid(cursors, valid, |i, c| {
                    tag.put(buf, c);
                    put_varint(buf, c, inner[i] as u64);
                });
                for child in children.iter_mut() {
                    child.write(buf, cursors);
                }
            }
            Node::Repeated {
                offsets,
                valid,
                elem,
                elem_sizes,
                elem_cursors,
                ..
            } => {
                elem_cursors.clear();
                elem_cursors.resize(elem_sizes.len(), 0);
                each_valid(cursors, valid, |i, c| {
                    let (s, e) = (offsets[i], offsets[i + 1]);
                    for j in s..e {
                        elem_cursors[j] = *c;
                        *c += elem_sizes[j];
                    }
                });
                elem.write(buf, elem_cursors);
            }
            Node::Packed {
                tag,
                offsets,
                vals,
                payload,
            } => vals.write_rows(buf, cursors, *tag, offsets, payload),
        }
    }
}

impl Packed {
    /// `payload[i]`: the bytes of row `i`'s elements packed (rows `offsets` apart).
    fn payloads(&self, offsets: &[usize], payload: &mut Vec<usize>) {
        payload.clear();
        let rows = offsets.windows(2);
        match self {
            Packed::Varint(v) => {
                // The bytes of all elements before each one, then each row's as a
                // difference: no loop per row, whose length varies and mispredicts.
                let mut before = Vec::with_capacity(v.len() + 1);
                let mut sum = 0;
                before.push(0);
                before.extend(v.iter().map(|x| {
                    sum += varint_len(*x);
                    sum
                }));
                payload.extend(rows.map(|w| before[w[1]] - before[w[0]]));
            }
            Packed::F32(_) => payload.extend(rows.map(|w| (w[1] - w[0]) * 4)),
            Packed::F64(_) => payload.extend(rows.map(|w| (w[1] - w[0]) * 8)),
        }
    }

    /// Write each row's elements (the key, the payload's length, the elements) at the
    /// row's cursor; a row without elements writes nothing.
    fn write_rows(
        &self,
        buf: &mut [u8],
        cursors: &mut [usize],
        tag: Tag,
        offsets: &[usize],
        payload: &[usize],
    ) {
        let rows = (tag, offsets, payload);
        match self {
            Packed::Varint(v) => write_packed(buf, cursors, rows, v, put_varint),
            Packed::F32(v) => write_packed(buf, cursors, rows, v, |b, c, x| {
                put_array(b, c, x.to_le_bytes())
            }),
            Packed::F64(v) => write_packed(buf, cursors, rows, v, |b, c, x| {
                put_array(b, c, x.to_le_bytes())
            }),
        }
    }
}

/// [`Packed::write_rows`] for one element type (`rows`: the key, the rows' element offsets
/// and payload sizes), `put` writing one element: one loop over rows with the element's
/// writing inlined, where a closure per row was a call per row.
#[inline(always)]
fn write_packed<T: Copy>(
    buf: &mut [u8],
    cursors: &mut [usize],
    (tag, offsets, payload): (Tag, &[usize], &[usize]),
    vals: &[T],
    put: impl Fn(&mut [u8], &mut usize, T),
) {
    for ((c, w), &p) in cursors.iter_mut().zip(offsets.windows(2)).zip(payload) {
        if p != 0 {
            tag.put(buf, c);
            put_varint(buf, c, p as u64);
            for x in &vals[w[0]..w[1]] {
                put(buf, c, *x);
            }
        }
    }
}

/// `f(i, &mut slots[i])` for every row `i` that `valid` says is valid.
#[inline(always)]
fn each_valid<T>(slots: &mut [T], valid: &Option<NullBuffer>, mut f: impl FnMut(usize, &mut T)) {
    match valid {
        None => slots.iter_mut().enumerate().for_each(|(i, s)| f(i, s)),
        Some(v) => slots
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| v.is_valid(*i))
            .for_each(|(i, s)| f(i, s)),
    }
}
