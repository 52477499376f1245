//go:build linux

package core

// fifo is a growable ring of fragments: a server connection's requests in
// the order their bytes go out, which is the order their responses come
// back. It grows by doubling and never shrinks, so a warm connection
// queues without allocating.
type fifo struct {
	buf        []*fragment
	head, size int
}

func (q *fifo) len() int { return q.size }

func (q *fifo) push(f *fragment) {
	if q.size == len(q.buf) {
		n := 2 * len(q.buf)
		if n == 0 {
			n = 64
		}
		nb := make([]*fragment, n)
		for i := 0; i < q.size; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = f
	q.size++
}

func (q *fifo) peek() *fragment {
	if q.size == 0 {
		return nil
	}
	return q.buf[q.head]
}

func (q *fifo) pop() *fragment {
	if q.size == 0 {
		return nil
	}
	f := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return f
}

// drain empties q into dst and returns it.
func (q *fifo) drain(dst []*fragment) []*fragment {
	for q.size > 0 {
		dst = append(dst, q.pop())
	}
	return dst
}
