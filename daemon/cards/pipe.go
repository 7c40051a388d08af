package cards

import (
	"io"
	"sync"
)

// pipe feeds every chunk read from a card to several sinks (the
// destination file and groups of hashers), each on its own goroutine, so
// that writing and hashing overlap reading and use more than one core. A
// buffer is handed out again only once every sink is done with it, and
// each sink sees the chunks in order.
type pipe struct {
	inline bool // run sinks on the caller's goroutine (benchmark baseline)
	sinks  []*sink
	bufs   [][]byte
	wgs    []*sync.WaitGroup
	next   int
	wg     sync.WaitGroup
}

type chunk struct {
	b  []byte
	wg *sync.WaitGroup
}

type sink struct {
	ch  chan chunk
	w   io.Writer
	mu  sync.Mutex
	err error
}

func (s *sink) getErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// pipeInline makes new pipes run their sinks one after the other on the
// reading goroutine; benchmarks set it to measure what the goroutines buy.
var pipeInline = false

func newPipe(bufSize, depth int, ws ...io.Writer) *pipe {
	p := &pipe{inline: pipeInline}
	if p.inline {
		depth = 1
	}
	for i := 0; i < depth; i++ {
		p.bufs = append(p.bufs, make([]byte, bufSize))
		p.wgs = append(p.wgs, &sync.WaitGroup{})
	}
	for _, w := range ws {
		s := &sink{ch: make(chan chunk, depth), w: w}
		p.sinks = append(p.sinks, s)
		if p.inline {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for c := range s.ch {
				if s.getErr() == nil {
					if _, err := s.w.Write(c.b); err != nil {
						s.mu.Lock()
						s.err = err
						s.mu.Unlock()
					}
				}
				c.wg.Done()
			}
		}()
	}
	return p
}

// buffer returns the next buffer to read into, once the sinks released it.
func (p *pipe) buffer() []byte {
	p.wgs[p.next].Wait()
	return p.bufs[p.next]
}

// submit hands the first n bytes of the buffer from buffer() to every sink.
func (p *pipe) submit(n int) {
	if p.inline {
		for _, s := range p.sinks {
			if s.err == nil {
				_, s.err = s.w.Write(p.bufs[0][:n])
			}
		}
		return
	}
	wg := p.wgs[p.next]
	wg.Add(len(p.sinks))
	for _, s := range p.sinks {
		s.ch <- chunk{p.bufs[p.next][:n], wg}
	}
	p.next = (p.next + 1) % len(p.bufs)
}

// err returns the first write error of sink i so far.
func (p *pipe) err(i int) error { return p.sinks[i].getErr() }

// close waits until every sink has consumed everything submitted.
func (p *pipe) close() {
	if p.inline {
		return
	}
	for _, s := range p.sinks {
		close(s.ch)
	}
	p.wg.Wait()
}
