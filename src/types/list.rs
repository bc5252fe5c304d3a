//! The list value and Valkey's two encodings of it: one `listpack` while
//! small, a `quicklist` (a deque of listpack nodes; elements too large for
//! a node get a "plain" node of their own) past `list-max-listpack-size`.
//!
//! Conversions happen where Valkey's do (t_list.c): before elements are
//! added, a listpack whose bytes plus the new elements' would pass the
//! limit becomes a quicklist; after elements are removed, a quicklist of
//! one packed node within half the limit becomes a listpack again. Node
//! filling follows quicklist.c (a node takes an element while its size
//! plus the element's plus 8 stays within the limit), so the encoding
//! OBJECT ENCODING reports matches Valkey's.
//!
//! Under `list-compress-depth` N (taken when the quicklist is made, as
//! Valkey does), the nodes more than N from either end are kept
//! LZF-compressed when that saves more than 8 bytes: reads decompress a
//! copy, edits decompress the node in place, and every edit ends by
//! restoring that rule around the nodes it touched. A quicklist also
//! keeps the `list-max-listpack-size` it was made with for filling its
//! nodes; conversions follow the current setting.

use super::listpack::{Item, Listpack};
use super::rdb;
use crate::util::lzf;
use std::borrow::Cow;
use std::collections::VecDeque;

/// Node size limits for negative `list-max-listpack-size` values -1..-5.
const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// A node's size cap when the limit is a count.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// quicklist.c's estimate of an entry's overhead in a node.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Nodes smaller than this are not compressed (quicklist.c).
const MIN_COMPRESS_BYTES: usize = 48;
/// Compression is kept only when it saves more than this many bytes.
const MIN_COMPRESS_IMPROVE: usize = 8;
/// The deepest `list-compress-depth` a quicklist takes (16 bits in Valkey).
const MAX_DEPTH: usize = (1 << 16) - 1;

/// `list-max-listpack-size`, with `list-compress-depth` for the
/// quicklists a list becomes.
#[derive(Clone, Copy, Debug)]
pub struct Fill {
    pub size: i64,
    pub depth: i64,
}

impl Fill {
    fn limits(self) -> (usize, usize) {
        if self.size >= 0 {
            (usize::MAX, (self.size as usize).max(1))
        } else {
            let level = ((-self.size - 1) as usize).min(SIZE_LEVELS.len() - 1);
            (SIZE_LEVELS[level], usize::MAX)
        }
    }

    /// quicklistNodeExceedsLimit.
    fn exceeded(self, bytes: usize, count: usize) -> bool {
        let (size_limit, count_limit) = self.limits();
        if size_limit != usize::MAX {
            bytes > size_limit
        } else {
            bytes > SIZE_SAFETY_LIMIT || count > count_limit
        }
    }

    /// Whether an element this large gets a plain node of its own.
    fn is_large(self, len: usize) -> bool {
        if self.size >= 0 {
            len > SIZE_SAFETY_LIMIT
        } else {
            len > self.limits().0
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Packed(Listpack),
    Plain(Vec<u8>),
    /// Either of the above, LZF-compressed (an interior node).
    Lzf(Compressed),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Compressed {
    lzf: Box<[u8]>,
    raw_len: usize,
    count: u32,
    plain: bool,
}

impl Compressed {
    fn expand(&self) -> Node {
        let raw = lzf::decompress(&self.lzf, self.raw_len).expect("a node this list compressed");
        if self.plain {
            Node::Plain(raw)
        } else {
            Node::Packed(Listpack::from_own_bytes(raw))
        }
    }
}

impl Node {
    fn len(&self) -> usize {
        match self {
            Node::Packed(lp) => lp.len(),
            Node::Plain(_) => 1,
            Node::Lzf(c) => c.count as usize,
        }
    }

    /// Its bytes uncompressed.
    fn raw_len(&self) -> usize {
        match self {
            Node::Packed(lp) => lp.total_bytes(),
            Node::Plain(v) => v.len(),
            Node::Lzf(c) => c.raw_len,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Node::Packed(lp) => lp.heap_bytes(),
            Node::Plain(v) => v.capacity(),
            Node::Lzf(c) => c.lzf.len(),
        }
    }

    fn is_plain(&self) -> bool {
        matches!(
            self,
            Node::Plain(_) | Node::Lzf(Compressed { plain: true, .. })
        )
    }

    /// _quicklistNodeAllowInsert.
    fn takes(&self, fill: Fill, len: usize) -> bool {
        !self.is_plain()
            && !fill.is_large(len)
            && !fill.exceeded(
                self.raw_len() + len + SIZE_ESTIMATE_OVERHEAD,
                self.len() + 1,
            )
    }

    fn new(fill: Fill, ele: &[u8]) -> Node {
        if fill.is_large(ele.len()) {
            Node::Plain(ele.to_vec())
        } else {
            let mut lp = Listpack::new();
            lp.push_back(ele);
            Node::Packed(lp)
        }
    }

    /// The node readable: a decompressed copy if it is compressed.
    fn view(&self) -> Cow<'_, Node> {
        match self {
            Node::Lzf(c) => Cow::Owned(c.expand()),
            node => Cow::Borrowed(node),
        }
    }

    /// Decompressed in place, for an edit.
    fn expand(&mut self) -> &mut Node {
        if let Node::Lzf(c) = self {
            *self = c.expand();
        }
        self
    }

    /// The listpack of a packed node, decompressed in place if need be.
    fn packed_mut(&mut self) -> Option<&mut Listpack> {
        match self.expand() {
            Node::Packed(lp) => Some(lp),
            _ => None,
        }
    }

    /// Compressed in place if that saves enough (__quicklistCompressNode).
    fn compress(&mut self) {
        let (raw, plain) = match self {
            Node::Packed(lp) => (lp.as_bytes(), false),
            Node::Plain(v) => (&v[..], true),
            Node::Lzf(_) => return,
        };
        if raw.len() < MIN_COMPRESS_BYTES {
            return;
        }
        if let Some(lzf) = lzf::compress(raw, raw.len() - MIN_COMPRESS_IMPROVE - 1) {
            *self = Node::Lzf(Compressed {
                lzf: lzf.into_boxed_slice(),
                raw_len: raw.len(),
                count: self.len() as u32,
                plain,
            });
        }
    }

    /// Element `k` of the node (0 for a plain one).
    fn element(&self, k: usize) -> Vec<u8> {
        match &*self.view() {
            Node::Packed(lp) => lp.get(lp.seek(k as i64).expect("inside")).to_vec(),
            Node::Plain(v) => v.clone(),
            Node::Lzf(_) => unreachable!("a view is never compressed"),
        }
    }
}

/// The nodes, with the element count kept (LLEN and every push reply
/// need it; summing the nodes would cost one step per node).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Quicklist {
    nodes: VecDeque<Node>,
    count: usize,
    /// Nodes kept uncompressed at each end (0: none compressed).
    depth: usize,
    /// `list-max-listpack-size` when it was made, which fills its nodes
    /// from then on (Valkey's quicklist keeps its fill too).
    size: i64,
}

impl Quicklist {
    /// After an edit, `touched` naming the nodes (indexes after the edit)
    /// it changed or moved out of an end's reach: the `depth` nodes at
    /// each end uncompressed, the touched nodes between them compressed
    /// (__quicklistCompress); nodes the edit did not touch keep the rule.
    /// Slots of a deque that shrank to a quarter are given back.
    fn settle(&mut self, touched: impl IntoIterator<Item = usize>) {
        if self.nodes.capacity() > 4 * self.nodes.len() + 16 {
            self.nodes.shrink_to(2 * self.nodes.len());
        }
        let (depth, len) = (self.depth, self.nodes.len());
        if depth == 0 {
            return;
        }
        for i in 0..depth.min(len) {
            self.nodes[i].expand();
            self.nodes[len - 1 - i].expand();
        }
        let interior = depth..len.saturating_sub(depth);
        for i in touched {
            if interior.contains(&i) {
                self.nodes[i].compress();
            }
        }
    }

    /// The nodes an end's reach can have let go of when `added` nodes were
    /// inserted: the first ones past each end's `depth`.
    fn past_the_ends(&self, added: usize) -> impl Iterator<Item = usize> {
        let (depth, len) = (self.depth, self.nodes.len());
        let back = len.saturating_sub(depth + added)..len.saturating_sub(depth);
        (depth..depth + added).chain(back)
    }

    /// Its RDB length (rdb::value_len): each node as a string of its
    /// bytes, a compressed one as its LZF data.
    pub fn rdb_len(&self) -> usize {
        let blob = |node: &Node| match node {
            Node::Packed(lp) => rdb::string_len(lp.as_bytes()),
            Node::Plain(v) => rdb::string_len(v),
            Node::Lzf(c) => rdb::lzf_blob_len(c.lzf.len(), c.raw_len),
        };
        rdb::quicklist_len(self.nodes.len(), self.nodes.iter().map(blob))
    }

    /// DEBUG OBJECT's figures: nodes, elements, node fill, whether it
    /// compresses, bytes uncompressed.
    pub fn shape(&self) -> (usize, usize, i64, bool, usize) {
        let raw = self.nodes.iter().map(Node::raw_len).sum();
        (
            self.nodes.len(),
            self.count,
            self.size,
            self.depth != 0,
            raw,
        )
    }

    /// The limits its nodes fill to.
    fn fill(&self) -> Fill {
        Fill {
            size: self.size,
            depth: self.depth as i64,
        }
    }

    /// The node holding element `i` (< count) and `i`'s index in it.
    fn node_of(&self, mut i: usize) -> (usize, usize) {
        for (n, node) in self.nodes.iter().enumerate() {
            if i < node.len() {
                return (n, i);
            }
            i -= node.len();
        }
        unreachable!("an index past the count")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum List {
    Listpack(Listpack),
    Quicklist(Box<Quicklist>),
}

impl Default for List {
    fn default() -> Self {
        List::Listpack(Listpack::new())
    }
}

/// An element as read: borrowed from its node, or owned when the node had
/// to be decompressed to read it.
#[derive(Clone, Debug, PartialEq)]
pub enum Elem<'a> {
    Int(i64),
    Str(Cow<'a, [u8]>),
}

impl<'a> From<Item<'a>> for Elem<'a> {
    fn from(item: Item<'a>) -> Self {
        match item {
            Item::Int(v) => Elem::Int(v),
            Item::Str(s) => Elem::Str(Cow::Borrowed(s)),
        }
    }
}

impl Elem<'_> {
    /// Whether the element equals `other` as a string.
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        match self {
            Elem::Int(v) => Item::Int(*v).eq_bytes(other),
            Elem::Str(s) => **s == *other,
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Elem::Int(v) => Item::Int(v).to_vec(),
            Elem::Str(s) => s.into_owned(),
        }
    }
}

type Elems<'a> = Box<dyn DoubleEndedIterator<Item = Elem<'a>> + 'a>;

impl List {
    /// Heap bytes held, the quicklist's node sizes estimated from up to
    /// `samples` nodes (0: all), as Valkey's MEMORY USAGE does.
    pub fn heap_bytes(&self, samples: usize) -> usize {
        match self {
            List::Listpack(lp) => lp.heap_bytes(),
            List::Quicklist(q) => {
                size_of::<Quicklist>()
                    + q.nodes.capacity() * size_of::<Node>()
                    + super::sampled(q.nodes.iter().map(Node::heap_bytes), q.nodes.len(), samples)
            }
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            List::Listpack(_) => "listpack",
            List::Quicklist(_) => "quicklist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            List::Listpack(lp) => lp.len(),
            List::Quicklist(q) => q.count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Before adding elements of these sizes: a listpack that would pass
    /// the limit becomes a quicklist (listTypeTryConvertListpack).
    pub fn grow_for(&mut self, fill: Fill, sizes: impl Iterator<Item = usize>) {
        let List::Listpack(lp) = self else { return };
        let (mut bytes, mut count) = (lp.total_bytes(), lp.len());
        for s in sizes {
            bytes += s;
            count += 1;
        }
        if fill.exceeded(bytes, count) {
            let lp = std::mem::take(lp);
            let mut q = Quicklist {
                nodes: VecDeque::new(),
                count: lp.len(),
                depth: (fill.depth.max(0) as usize).min(MAX_DEPTH),
                size: fill.size,
            };
            if !lp.is_empty() {
                q.nodes.push_back(Node::Packed(lp));
            }
            *self = List::Quicklist(Box::new(q));
        }
    }

    /// After removing elements: a quicklist of one packed node within half
    /// the limits becomes a listpack (listTypeTryConvertQuicklist).
    pub fn shrunk(&mut self, fill: Fill) {
        let List::Quicklist(q) = self else { return };
        let (size_limit, count_limit) = fill.limits();
        if q.nodes.len() == 1
            && let Some(lp) = q.nodes[0].packed_mut()
            && lp.total_bytes() <= size_limit / 2
            && lp.len() <= count_limit / 2
        {
            let lp = std::mem::take(lp);
            *self = List::Listpack(lp);
        }
    }

    /// LPUSH / RPUSH of one element (call `grow_for` first).
    pub fn push(&mut self, ele: &[u8], head: bool) {
        match self {
            List::Listpack(lp) if head => lp.push_front(ele),
            List::Listpack(lp) => lp.push_back(ele),
            List::Quicklist(q) => {
                let fill = q.fill();
                q.count += 1;
                let nodes = &mut q.nodes;
                let end = if head {
                    nodes.front_mut()
                } else {
                    nodes.back_mut()
                };
                match end {
                    Some(node) if node.takes(fill, ele.len()) => {
                        let lp = node.packed_mut().expect("takes() saw a packed node");
                        if head {
                            lp.push_front(ele)
                        } else {
                            lp.push_back(ele)
                        }
                        q.settle([]);
                    }
                    _ => {
                        if head {
                            nodes.push_front(Node::new(fill, ele));
                        } else {
                            nodes.push_back(Node::new(fill, ele));
                        }
                        let moved: Vec<usize> = q.past_the_ends(1).collect();
                        q.settle(moved);
                    }
                }
            }
        }
    }

    /// LPOP / RPOP of one element (call `shrunk` after the command's pops).
    pub fn pop(&mut self, head: bool) -> Option<Vec<u8>> {
        let List::Quicklist(q) = self else {
            let i = if head { 0 } else { self.len().checked_sub(1)? };
            let v = self.get(i as i64)?;
            self.delete(i, 1);
            return Some(v);
        };
        // Straight from the end node, without walking the list.
        let node = if head {
            q.nodes.front_mut()?
        } else {
            q.nodes.back_mut()?
        };
        let (v, emptied) = match node.expand() {
            Node::Plain(v) => (std::mem::take(v), true),
            Node::Packed(lp) => {
                let p = if head { lp.first() } else { lp.last() }.expect("nodes are never empty");
                let v = lp.get(p).to_vec();
                lp.delete_range(p, 1);
                (v, lp.is_empty())
            }
            Node::Lzf(_) => unreachable!("expanded"),
        };
        if emptied {
            if head {
                q.nodes.pop_front();
            } else {
                q.nodes.pop_back();
            }
        }
        q.count -= 1;
        q.settle([]);
        Some(v)
    }

    /// `index` counted from the front (negative: from the end), if inside.
    fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// LINDEX.
    pub fn get(&self, index: i64) -> Option<Vec<u8>> {
        let i = self.resolve(index)?;
        match self {
            List::Listpack(lp) => Some(lp.get(lp.seek(i as i64)?).to_vec()),
            List::Quicklist(q) => {
                let (n, k) = q.node_of(i);
                Some(q.nodes[n].element(k))
            }
        }
    }

    /// LSET: false if the index is out of range (call `grow_for` first).
    pub fn set(&mut self, index: i64, ele: &[u8]) -> bool {
        let Some(i) = self.resolve(index) else {
            return false;
        };
        match self {
            List::Listpack(lp) => {
                let p = lp.seek(i as i64).expect("inside");
                lp.replace(p, ele)
            }
            List::Quicklist(q) => {
                let fill = q.fill();
                let (n, k) = q.node_of(i);
                let large = fill.is_large(ele.len());
                match q.nodes[n].expand() {
                    Node::Packed(lp) if !large => {
                        let p = lp.seek(k as i64).expect("inside");
                        lp.replace(p, ele)
                    }
                    Node::Plain(v) if large => *v = ele.to_vec(),
                    _ => {
                        // The element changes kind: it moves to a node of
                        // its own kind, splitting a packed node around it.
                        self.delete(i, 1);
                        self.insert_at(i, ele);
                        return true;
                    }
                }
                q.settle([n]);
            }
        }
        true
    }

    /// Inserts `ele` so that it becomes element `i` (0..=len).
    pub fn insert_at(&mut self, i: usize, ele: &[u8]) {
        let len = self.len();
        if i == 0 {
            return self.push(ele, true);
        }
        if i == len {
            return self.push(ele, false);
        }
        match self {
            List::Listpack(lp) => {
                let p = lp.seek(i as i64).expect("inside");
                lp.insert(p, ele);
            }
            List::Quicklist(q) => {
                let fill = q.fill();
                q.count += 1;
                // The node holding element i - 1; insert after it, at
                // offset k in 1..=len(node).
                let (n, k) = q.node_of(i - 1);
                let k = k + 1;
                let nodes = &mut q.nodes;
                let (node_len, before) = (nodes[n].len(), nodes.len());
                if nodes[n].takes(fill, ele.len()) {
                    let lp = nodes[n].packed_mut().expect("takes() saw a packed node");
                    let p = lp.seek(k as i64).unwrap_or(lp.end());
                    lp.insert(p, ele);
                } else if k == node_len
                    && nodes
                        .get(n + 1)
                        .is_some_and(|next| next.takes(fill, ele.len()))
                {
                    let lp = nodes[n + 1]
                        .packed_mut()
                        .expect("takes() saw a packed node");
                    lp.push_front(ele);
                } else if k == node_len {
                    nodes.insert(n + 1, Node::new(fill, ele));
                } else {
                    // Inside a full node: split it, the new element heading
                    // the second half (or a node of its own if large).
                    let lp = nodes[n].packed_mut().expect("plain nodes hold one");
                    let mut right = Listpack::new();
                    let at = lp.seek(k as i64).expect("inside");
                    let mut p = Some(at);
                    while let Some(q) = p {
                        right.push_back(&lp.get(q).to_vec());
                        p = lp.next(q);
                    }
                    lp.delete_range(at, usize::MAX);
                    if fill.is_large(ele.len()) {
                        nodes.insert(n + 1, Node::Plain(ele.to_vec()));
                        nodes.insert(n + 2, Node::Packed(right));
                    } else {
                        right.push_front(ele);
                        nodes.insert(n + 1, Node::Packed(right));
                    }
                }
                let added = q.nodes.len() - before;
                let moved: Vec<usize> = q.past_the_ends(added).collect();
                q.settle((n..n + 2 + added).chain(moved));
            }
        }
    }

    /// Deletes `count` elements from index `i` (none if `i` is past the
    /// end).
    pub fn delete(&mut self, i: usize, count: usize) {
        if i >= self.len() || count == 0 {
            return;
        }
        match self {
            List::Listpack(lp) => {
                if let Some(p) = lp.seek(i as i64) {
                    lp.delete_range(p, count);
                }
            }
            List::Quicklist(q) => {
                let (first, mut k) = q.node_of(i);
                let (mut n, mut left) = (first, count);
                while left > 0 && n < q.nodes.len() {
                    let node_len = q.nodes[n].len();
                    let take = left.min(node_len - k);
                    if take < node_len {
                        let lp = q.nodes[n].packed_mut().expect("plain nodes hold one");
                        let p = lp.seek(k as i64).expect("inside");
                        lp.delete_range(p, take);
                        n += 1;
                    } else {
                        q.nodes.remove(n);
                    }
                    left -= take;
                    q.count -= take;
                    k = 0;
                }
                // Edited nodes are left at `first` and the one after it.
                q.settle(first..first + 2);
            }
        }
    }

    /// Elements `start..=end` (indexes already clamped), in order.
    pub fn range(&self, start: usize, end: usize) -> Vec<Vec<u8>> {
        self.iter()
            .skip(start)
            .take(end + 1 - start)
            .map(Elem::into_vec)
            .collect()
    }

    /// All elements, front to back (double-ended).
    pub fn iter(&self) -> Elems<'_> {
        match self {
            List::Listpack(lp) => Box::new(lp.iter().map(Elem::from)),
            List::Quicklist(q) => Box::new(q.nodes.iter().flat_map(|node| -> Elems<'_> {
                match node {
                    Node::Packed(lp) => Box::new(lp.iter().map(Elem::from)),
                    Node::Plain(v) => Box::new(std::iter::once(Elem::Str(Cow::Borrowed(v)))),
                    // Read from a decompressed copy, so owned.
                    Node::Lzf(c) => {
                        let owned: Vec<Elem<'static>> = match c.expand() {
                            Node::Packed(lp) => lp
                                .iter()
                                .map(|i| match i {
                                    Item::Int(v) => Elem::Int(v),
                                    Item::Str(s) => Elem::Str(Cow::Owned(s.to_vec())),
                                })
                                .collect(),
                            Node::Plain(v) => vec![Elem::Str(Cow::Owned(v))],
                            Node::Lzf(_) => unreachable!("expanded"),
                        };
                        Box::new(owned.into_iter())
                    }
                }
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Push(Vec<u8>, bool),
        Pop(bool),
        Insert(usize, Vec<u8>),
        Set(usize, Vec<u8>),
        Delete(usize, usize),
    }

    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => (0i64..100000).prop_map(|v| v.to_string().into_bytes()),
            4 => proptest::collection::vec(any::<u8>(), 0..300),
            // Compressible: runs of one byte.
            4 => (any::<u8>(), 1usize..400).prop_map(|(b, n)| vec![b; n]),
            1 => proptest::collection::vec(any::<u8>(), 5000..10000),
            1 => (any::<u8>(), 5000usize..10000).prop_map(|(b, n)| vec![b; n]),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (element(), any::<bool>()).prop_map(|(e, h)| Op::Push(e, h)),
            2 => any::<bool>().prop_map(Op::Pop),
            1 => (any::<usize>(), element()).prop_map(|(i, e)| Op::Insert(i, e)),
            1 => (any::<usize>(), element()).prop_map(|(i, e)| Op::Set(i, e)),
            1 => (any::<usize>(), 0usize..40).prop_map(|(i, n)| Op::Delete(i, n)),
        ]
    }

    /// Whether `list` keeps the compression rule: the `depth` nodes at each
    /// end uncompressed, every other node compressed unless compression
    /// would not pay.
    fn compression_holds(list: &List) -> bool {
        let List::Quicklist(q) = list else {
            return true;
        };
        let len = q.nodes.len();
        q.nodes.iter().enumerate().all(|(i, node)| {
            let at_end = q.depth == 0 || i < q.depth || i >= len.saturating_sub(q.depth);
            match node {
                Node::Lzf(_) => !at_end,
                _ if at_end => true,
                raw => {
                    let mut again = raw.clone();
                    again.compress();
                    again == *raw
                }
            }
        })
    }

    /// Interior nodes of a long list of compressible elements are kept
    /// compressed, the ends are not, and the list reads the same.
    #[test]
    fn interior_nodes_compress() {
        let element = |i: usize| format!("{:0>40}", i % 97).into_bytes();
        let build = |depth| {
            let fill = Fill { size: -2, depth };
            let mut list = List::default();
            for i in 0..5000 {
                list.grow_for(fill, std::iter::once(40));
                list.push(&element(i), i % 3 == 0);
            }
            list
        };
        let (plain, compressed) = (build(0), build(1));
        let List::Quicklist(q) = &compressed else {
            panic!("a quicklist")
        };
        let lzf = q.nodes.iter().filter(|n| matches!(n, Node::Lzf(_))).count();
        assert_eq!(lzf, q.nodes.len() - 2, "all but the two ends");
        assert!(compression_holds(&compressed));
        assert!(compressed.heap_bytes(0) * 4 < plain.heap_bytes(0));
        let all = |l: &List| l.iter().map(Elem::into_vec).collect::<Vec<_>>();
        assert_eq!(all(&compressed), all(&plain));
        assert_eq!(compressed.range(2000, 2010), plain.range(2000, 2010));
        assert_eq!(compressed.get(2500), plain.get(2500));
    }

    proptest! {
        /// A list against a VecDeque, through random edits, with the
        /// conversions in between; under every fill setting, compressed
        /// or not.
        #[test]
        fn behaves_like_a_deque(ops in proptest::collection::vec(op(), 0..150), size in prop_oneof![Just(-2i64), Just(-1), Just(5), Just(128), Just(0)], depth in 0i64..3) {
            let fill = Fill { size, depth };
            let mut list = List::default();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push(e, head) => {
                        list.grow_for(fill, std::iter::once(e.len()));
                        list.push(&e, head);
                        if head { model.push_front(e) } else { model.push_back(e) }
                    }
                    Op::Pop(head) => {
                        let want = if head { model.pop_front() } else { model.pop_back() };
                        prop_assert_eq!(list.pop(head), want);
                        list.shrunk(fill);
                    }
                    Op::Insert(i, e) => {
                        let i = i % (model.len() + 1);
                        list.grow_for(fill, std::iter::once(e.len()));
                        list.insert_at(i, &e);
                        model.insert(i, e);
                    }
                    Op::Set(i, e) if !model.is_empty() => {
                        let i = i % model.len();
                        list.grow_for(fill, std::iter::once(e.len()));
                        prop_assert!(list.set(i as i64, &e));
                        model[i] = e;
                        list.shrunk(fill);
                    }
                    Op::Delete(i, n) => {
                        // Up to one past the end (LTRIM deletes nothing there).
                        let i = i % (model.len() + 1);
                        list.delete(i, n);
                        model.drain(i..(i + n).min(model.len()));
                        list.shrunk(fill);
                    }
                    _ => {}
                }
                prop_assert_eq!(list.len(), model.len());
                let got: Vec<Vec<u8>> = list.iter().map(Elem::into_vec).collect();
                prop_assert_eq!(&got, &Vec::from(model.clone()));
                let mut back: Vec<Vec<u8>> = list.iter().rev().map(Elem::into_vec).collect();
                back.reverse();
                prop_assert_eq!(&back, &got);
                if !model.is_empty() {
                    let k = model.len() / 2;
                    prop_assert_eq!(list.get(k as i64), Some(model[k].clone()));
                    prop_assert_eq!(list.get(-1), model.back().cloned());
                }
                prop_assert!(compression_holds(&list), "compression rule");
                if let List::Quicklist(q) = &list {
                    prop_assert!(q.nodes.iter().all(|n| n.len() > 0), "no empty nodes");
                    prop_assert_eq!(q.count, q.nodes.iter().map(Node::len).sum::<usize>());
                }
            }
        }
    }
}
