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

use super::listpack::{Item, Listpack};
use std::collections::VecDeque;

/// Node size limits for negative `list-max-listpack-size` values -1..-5.
const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// A node's size cap when the limit is a count.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// quicklist.c's estimate of an entry's overhead in a node.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;

/// `list-max-listpack-size` as limits: (bytes, entries).
#[derive(Clone, Copy, Debug)]
pub struct Fill(pub i64);

impl Fill {
    fn limits(self) -> (usize, usize) {
        if self.0 >= 0 {
            (usize::MAX, (self.0 as usize).max(1))
        } else {
            let level = ((-self.0 - 1) as usize).min(SIZE_LEVELS.len() - 1);
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
        if self.0 >= 0 {
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
}

impl Node {
    fn len(&self) -> usize {
        match self {
            Node::Packed(lp) => lp.len(),
            Node::Plain(_) => 1,
        }
    }

    /// _quicklistNodeAllowInsert.
    fn takes(&self, fill: Fill, len: usize) -> bool {
        match self {
            Node::Plain(_) => false,
            Node::Packed(_) if fill.is_large(len) => false,
            Node::Packed(lp) => !fill.exceeded(
                lp.total_bytes() + len + SIZE_ESTIMATE_OVERHEAD,
                lp.len() + 1,
            ),
        }
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
}

/// The nodes, with the element count kept (LLEN and every push reply
/// need it; summing the nodes would cost one step per node).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Quicklist {
    nodes: VecDeque<Node>,
    count: usize,
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

/// Where an element sits: (node, offset in its listpack; 0 for plain).
type Pos = (usize, usize);

impl List {
    /// Heap bytes held, the quicklist's node sizes estimated from up to
    /// `samples` nodes (0: all), as Valkey's MEMORY USAGE does.
    pub fn heap_bytes(&self, samples: usize) -> usize {
        match self {
            List::Listpack(lp) => lp.heap_bytes(),
            List::Quicklist(q) => {
                let node = |n: &Node| match n {
                    Node::Packed(lp) => lp.heap_bytes(),
                    Node::Plain(v) => v.capacity(),
                };
                size_of::<Quicklist>()
                    + q.nodes.capacity() * size_of::<Node>()
                    + super::sampled(q.nodes.iter().map(node), q.nodes.len(), samples)
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
            && let Some(Node::Packed(lp)) = q.nodes.front_mut()
            && lp.total_bytes() <= size_limit / 2
            && lp.len() <= count_limit / 2
        {
            let lp = std::mem::take(lp);
            *self = List::Listpack(lp);
        }
    }

    /// LPUSH / RPUSH of one element (call `grow_for` first).
    pub fn push(&mut self, fill: Fill, ele: &[u8], head: bool) {
        match self {
            List::Listpack(lp) if head => lp.push_front(ele),
            List::Listpack(lp) => lp.push_back(ele),
            List::Quicklist(q) => {
                q.count += 1;
                let nodes = &mut q.nodes;
                let end = if head {
                    nodes.front_mut()
                } else {
                    nodes.back_mut()
                };
                match end {
                    Some(node @ Node::Packed(_)) if node.takes(fill, ele.len()) => {
                        let Node::Packed(lp) = node else {
                            unreachable!()
                        };
                        if head {
                            lp.push_front(ele)
                        } else {
                            lp.push_back(ele)
                        }
                    }
                    _ if head => nodes.push_front(Node::new(fill, ele)),
                    _ => nodes.push_back(Node::new(fill, ele)),
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
        let (v, emptied) = match node {
            Node::Plain(v) => (std::mem::take(v), true),
            Node::Packed(lp) => {
                let p = if head { lp.first() } else { lp.last() }.expect("nodes are never empty");
                let v = lp.get(p).to_vec();
                lp.delete_range(p, 1);
                (v, lp.is_empty())
            }
        };
        if emptied {
            if head {
                q.nodes.pop_front();
            } else {
                q.nodes.pop_back();
            }
        }
        q.count -= 1;
        Some(v)
    }

    /// The position of element `index` (negative: from the end).
    fn locate(&self, index: i64) -> Option<Pos> {
        let len = self.len() as i64;
        let i = if index < 0 { len + index } else { index };
        if i < 0 || i >= len {
            return None;
        }
        let mut i = i as usize;
        match self {
            List::Listpack(lp) => Some((0, lp.seek(i as i64)?)),
            List::Quicklist(q) => {
                for (n, node) in q.nodes.iter().enumerate() {
                    if i < node.len() {
                        return Some(match node {
                            Node::Packed(lp) => (n, lp.seek(i as i64)?),
                            Node::Plain(_) => (n, 0),
                        });
                    }
                    i -= node.len();
                }
                None
            }
        }
    }

    fn item_at(&self, (n, p): Pos) -> Item<'_> {
        match self {
            List::Listpack(lp) => lp.get(p),
            List::Quicklist(q) => match &q.nodes[n] {
                Node::Packed(lp) => lp.get(p),
                Node::Plain(v) => Item::Str(v),
            },
        }
    }

    /// LINDEX.
    pub fn get(&self, index: i64) -> Option<Vec<u8>> {
        Some(self.item_at(self.locate(index)?).to_vec())
    }

    /// LSET: false if the index is out of range (call `grow_for` first).
    pub fn set(&mut self, fill: Fill, index: i64, ele: &[u8]) -> bool {
        let Some((n, p)) = self.locate(index) else {
            return false;
        };
        match self {
            List::Listpack(lp) => lp.replace(p, ele),
            List::Quicklist(q) => {
                let large = fill.is_large(ele.len());
                match &mut q.nodes[n] {
                    Node::Packed(lp) if !large => lp.replace(p, ele),
                    Node::Plain(v) if large => *v = ele.to_vec(),
                    _ => {
                        // The element changes kind: it moves to a node of
                        // its own kind, splitting a packed node around it.
                        let i = self.index_of((n, p));
                        self.delete(i, 1);
                        self.insert_at(fill, i, ele);
                    }
                }
            }
        }
        true
    }

    /// The list index of a position.
    fn index_of(&self, (n, p): Pos) -> usize {
        match self {
            List::Listpack(lp) => count_before(lp, p),
            List::Quicklist(q) => {
                let before: usize = q.nodes.iter().take(n).map(Node::len).sum();
                before
                    + match &q.nodes[n] {
                        Node::Packed(lp) => count_before(lp, p),
                        Node::Plain(_) => 0,
                    }
            }
        }
    }

    /// Inserts `ele` so that it becomes element `i` (0..=len).
    pub fn insert_at(&mut self, fill: Fill, i: usize, ele: &[u8]) {
        let len = self.len();
        if i == 0 {
            return self.push(fill, ele, true);
        }
        if i == len {
            return self.push(fill, ele, false);
        }
        match self {
            List::Listpack(lp) => {
                let p = lp.seek(i as i64).expect("inside");
                lp.insert(p, ele);
            }
            List::Quicklist(q) => {
                q.count += 1;
                let nodes = &mut q.nodes;
                // The node holding element i - 1; insert after it.
                let (mut n, mut k) = (0, i);
                while k > nodes[n].len() {
                    k -= nodes[n].len();
                    n += 1;
                }
                // k in 1..=len(node): insert at offset k of node n.
                let node_len = nodes[n].len();
                if nodes[n].takes(fill, ele.len()) {
                    let Node::Packed(lp) = &mut nodes[n] else {
                        unreachable!()
                    };
                    let p = lp.seek(k as i64).unwrap_or(lp.end());
                    lp.insert(p, ele);
                } else if k == node_len
                    && nodes
                        .get(n + 1)
                        .is_some_and(|next| next.takes(fill, ele.len()))
                {
                    let Node::Packed(lp) = &mut nodes[n + 1] else {
                        unreachable!()
                    };
                    lp.push_front(ele);
                } else if k == node_len {
                    nodes.insert(n + 1, Node::new(fill, ele));
                } else {
                    // Inside a full node: split it, the new element heading
                    // the second half (or a node of its own if large).
                    let Node::Packed(lp) = &mut nodes[n] else {
                        unreachable!("plain nodes hold one")
                    };
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
            }
        }
    }

    /// Deletes `count` elements from index `i` (0 <= i < len).
    pub fn delete(&mut self, i: usize, count: usize) {
        match self {
            List::Listpack(lp) => {
                if let Some(p) = lp.seek(i as i64) {
                    lp.delete_range(p, count);
                }
            }
            List::Quicklist(q) => {
                let nodes = &mut q.nodes;
                let (mut n, mut k, mut left) = (0, i, count);
                while left > 0 && n < nodes.len() {
                    let node_len = nodes[n].len();
                    if k >= node_len {
                        k -= node_len;
                        n += 1;
                        continue;
                    }
                    let take = left.min(node_len - k);
                    match &mut nodes[n] {
                        Node::Packed(lp) if take < node_len => {
                            let p = lp.seek(k as i64).expect("inside");
                            lp.delete_range(p, take);
                            n += 1;
                        }
                        _ => {
                            nodes.remove(n);
                        }
                    }
                    left -= take;
                    q.count -= take;
                    k = 0;
                }
            }
        }
    }

    /// Elements `start..=end` (indexes already clamped), in order.
    pub fn range(&self, start: usize, end: usize) -> Vec<Vec<u8>> {
        self.iter()
            .skip(start)
            .take(end + 1 - start)
            .map(|i| i.to_vec())
            .collect()
    }

    /// All elements, front to back (double-ended).
    pub fn iter(&self) -> Box<dyn DoubleEndedIterator<Item = Item<'_>> + '_> {
        match self {
            List::Listpack(lp) => Box::new(lp.iter()),
            List::Quicklist(q) => Box::new(q.nodes.iter().flat_map(
                |node| -> Box<dyn DoubleEndedIterator<Item = Item<'_>> + '_> {
                    match node {
                        Node::Packed(lp) => Box::new(lp.iter()),
                        Node::Plain(v) => Box::new(std::iter::once(Item::Str(v))),
                    }
                },
            )),
        }
    }
}

/// Elements of `lp` before offset `p`.
fn count_before(lp: &Listpack, p: usize) -> usize {
    let mut n = 0;
    let mut q = lp.first();
    while let Some(x) = q {
        if x >= p {
            break;
        }
        n += 1;
        q = lp.next(x);
    }
    n
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
            1 => proptest::collection::vec(any::<u8>(), 5000..10000),
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

    proptest! {
        /// A list against a VecDeque, through random edits, with the
        /// conversions in between; under every fill setting.
        #[test]
        fn behaves_like_a_deque(ops in proptest::collection::vec(op(), 0..150), fill in prop_oneof![Just(-2i64), Just(-1), Just(5), Just(128), Just(0)]) {
            let fill = Fill(fill);
            let mut list = List::default();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push(e, head) => {
                        list.grow_for(fill, std::iter::once(e.len()));
                        list.push(fill, &e, head);
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
                        list.insert_at(fill, i, &e);
                        model.insert(i, e);
                    }
                    Op::Set(i, e) if !model.is_empty() => {
                        let i = i % model.len();
                        list.grow_for(fill, std::iter::once(e.len()));
                        prop_assert!(list.set(fill, i as i64, &e));
                        model[i] = e;
                        list.shrunk(fill);
                    }
                    Op::Delete(i, n) if !model.is_empty() => {
                        let i = i % model.len();
                        list.delete(i, n);
                        model.drain(i..(i + n).min(model.len()));
                        list.shrunk(fill);
                    }
                    _ => {}
                }
                prop_assert_eq!(list.len(), model.len());
                let got: Vec<Vec<u8>> = list.iter().map(|i| i.to_vec()).collect();
                prop_assert_eq!(&got, &Vec::from(model.clone()));
                let back: Vec<Vec<u8>> = list.iter().rev().map(|i| i.to_vec()).collect();
                prop_assert_eq!(back.len(), model.len());
                if let List::Quicklist(q) = &list {
                    prop_assert!(q.nodes.iter().all(|n| n.len() > 0), "no empty nodes");
                    prop_assert_eq!(q.count, q.nodes.iter().map(Node::len).sum::<usize>());
                }
            }
        }
    }
}
