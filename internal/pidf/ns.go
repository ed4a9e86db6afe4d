package pidf

import "bytes"

// nsClass is the namespace of a name as far as the parser cares.
type nsClass uint8

const (
	nsNone      nsClass = iota // no namespace (or one declared as "")
	nsPIDF                     // NSPIDF
	nsDataModel                // NSDataModel
	nsRPID                     // NSRPID
	nsOther                    // any other namespace, or an undeclared prefix
)

// classify returns the class of a declared namespace URI.
func classify(uri []byte) nsClass {
	switch string(uri) {
	case "":
		return nsNone
	case NSPIDF:
		return nsPIDF
	case NSDataModel:
		return nsDataModel
	case NSRPID:
		return nsRPID
	}
	return nsOther
}

// namespaces are the namespace declarations in scope, as a stack. A
// document declares a handful, which are searched from the innermost; a
// document with many (an attack on the search, as every element looks its
// prefix up) gets an index.
type namespaces struct {
	binds []binding      // innermost last
	index map[string]int // prefix to innermost binding, once there are indexFrom
}

// indexFrom is the number of declarations in scope from which namespaces
// keeps an index.
const indexFrom = 32

// binding is a namespace declaration: the prefix buf[start:end] (empty
// for the default namespace) stands for space.
type binding struct {
	start, end int
	space      nsClass
	prev       int // with an index: the binding this one shadows, or -1
}

// declare brings a declaration into scope.
func (ns *namespaces) declare(buf []byte, b binding) {
	if ns.index == nil && len(ns.binds) >= indexFrom {
		ns.index = make(map[string]int, 2*len(ns.binds))
		for i := range ns.binds {
			ns.binds[i].prev = ns.indexBinding(buf, ns.binds[i], i)
		}
	}
	if ns.index != nil {
		b.prev = ns.indexBinding(buf, b, len(ns.binds))
	}
	ns.binds = append(ns.binds, b)
}

// indexBinding makes binding i, b, the innermost for its prefix and
// returns the one it shadows, or -1.
func (ns *namespaces) indexBinding(buf []byte, b binding, i int) int {
	key := string(buf[b.start:b.end])
	prev, ok := ns.index[key]
	ns.index[key] = i
	if !ok {
		return -1
	}
	return prev
}

// truncate takes the declarations from the n-th on out of scope.
func (ns *namespaces) truncate(buf []byte, n int) {
	if ns.index != nil {
		for i := len(ns.binds) - 1; i >= n; i-- {
			b := ns.binds[i]
			if b.prev >= 0 {
				ns.index[string(buf[b.start:b.end])] = b.prev
			} else {
				delete(ns.index, string(buf[b.start:b.end]))
			}
		}
	}
	ns.binds = ns.binds[:n]
}

// lookup returns the class of the namespace prefix is bound to.
func (ns *namespaces) lookup(buf, prefix []byte) (nsClass, bool) {
	if ns.index != nil {
		i, ok := ns.index[string(prefix)]
		if !ok {
			return 0, false
		}
		return ns.binds[i].space, true
	}
	for i := len(ns.binds) - 1; i >= 0; i-- {
		if b := ns.binds[i]; bytes.Equal(buf[b.start:b.end], prefix) {
			return b.space, true
		}
	}
	return 0, false
}

// push opens an element and brings its xmlns and xmlns:p declarations
// into scope, later ones shadowing earlier ones.
func (s *scanner) push(name qname) {
	s.open = append(s.open, openElem{name: name, binds: len(s.ns.binds)})
	for _, a := range s.attrs {
		switch prefix := s.prefix(a.name); {
		case string(prefix) == "xmlns":
			s.ns.declare(s.buf, binding{start: a.name.local, end: a.name.end, space: classify(s.value(a))})
		case prefix == nil && string(s.local(a.name)) == "xmlns":
			s.ns.declare(s.buf, binding{space: classify(s.value(a))})
		}
	}
}

// pop closes the innermost element and its declarations.
func (s *scanner) pop() {
	e := s.open[len(s.open)-1]
	s.ns.truncate(s.buf, e.binds)
	s.open = s.open[:len(s.open)-1]
}

// resolve returns the namespace of an element name the way
// encoding/xml's Decoder.Token does: an undeclared prefix stands for
// itself (so for no namespace we know), "xml" and "xmlns" are never ours,
// and an element named xmlns is left without a namespace.
func (s *scanner) resolve(name qname) nsClass {
	prefix := s.prefix(name)
	switch {
	case len(prefix) == 0 && string(s.local(name)) == "xmlns":
		return nsNone
	case string(prefix) == "xmlns" || string(prefix) == "xml":
		return nsOther
	}
	if space, ok := s.ns.lookup(s.buf, prefix); ok {
		return space
	}
	if len(prefix) == 0 {
		return nsNone
	}
	return nsOther
}

// attrUnqualified reports whether an attribute with this prefix has no
// namespace: the default namespace does not apply to attributes, but a
// prefix declared as "" gives no namespace too.
func (s *scanner) attrUnqualified(prefix []byte) bool {
	if len(prefix) == 0 {
		return true
	}
	if string(prefix) == "xmlns" || string(prefix) == "xml" {
		return false
	}
	space, ok := s.ns.lookup(s.buf, prefix)
	return ok && space == nsNone
}
